"""The run directory: what a training run leaves behind, the one module that writes and reads it.

Layout (format "w2v-run", version 1):
    run.json        what the run is: status (running, complete, stopped by a callback,
                    interrupted by a signal, diverged, failed with "error"), dataset,
                    vocabulary digest, init, device, times, speeds, final loss, scores, and on
                    several processes what their syncs moved and took ("sync"); written first,
                    so a directory holding it is a run
    config.json     the resolved TrainConfig the run started with
    vocab.tsv       word<TAB>count, line i is word id i (the dataset's vocabulary, `Vocab`)
    metrics.jsonl   one JSON object per logged step (step, epoch, words, loss, lr, words_per_s,
                    seconds; on several processes also the sync's rows and bytes and the time
                    share of syncs so far: sync_rows, sync_bytes, sync_share) and, with
                    evaluation, per epoch (epoch, words, eval); each line is flushed as written
    checkpoint.pt   the tables and the position in training, for --resume (see `Checkpoint`)
    vectors.npy     float32 [vocab, dim], the word vectors: the model's input vectors
    subword_input.npy    with subwords only: float32 [vocab + buckets stored, dim], the input
                    table (each word's own row, then the rows of the n-gram buckets the
                    vocabulary uses), which gives any word a vector (`w2v.subwords.SubwordTable`)
    subword_buckets.npy  with subwords only: int64 [buckets stored], the bucket of each of
                    those n-gram rows, in increasing order
    loss.png        the training loss (and evaluation scores), drawn by `w2v plot`
    words.png       a 2-D map of word vectors, drawn by `w2v plot`

The process that trains a run holds an advisory lock on its directory (flock), which the
operating system releases when that process ends, however it ends: one writer per run, and a
run whose run.json says "running" while nobody holds the lock has crashed. Every file appears
whole or not at all (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from w2v.atomic import atomic_path
from w2v.config import TrainConfig
from w2v.data.vocab import Vocab
from w2v.errors import W2VError
from w2v.lock import DirectoryLock, directory_locked
from w2v.subwords import SubwordTable, TrainingArgs

if TYPE_CHECKING:
    import torch

    from w2v.data.corpus import Dataset
    from w2v.vectors import Vectors

RUN_FORMAT = "w2v-run"
RUN_VERSION = 1
RUNS_ROOT = Path("runs")

INFO = "run.json"
CONFIG = "config.json"
VOCAB = "vocab.tsv"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
VECTORS = "vectors.npy"
SUBWORD_INPUT = "subword_input.npy"
SUBWORD_BUCKETS = "subword_buckets.npy"
LOSS_PNG = "loss.png"
WORDS_PNG = "words.png"
FILES = (INFO, CONFIG, VOCAB, METRICS, CHECKPOINT, VECTORS, SUBWORD_INPUT, SUBWORD_BUCKETS,
         LOSS_PNG, WORDS_PNG)


def vocab_digest(words: Sequence[str]) -> str:
    """A digest of the words in id order: two vocabularies with equal digests give each word
    the same id."""
    return hashlib.sha256("\n".join(words).encode()).hexdigest()[:16]


# The checkpoint


@dataclass
class Position:
    """Where training stands: the next batch to run, and the work done (over all ranks) before it."""

    epoch: int = 0
    chunk: int = 0
    batch: int = 0
    words: int = 0
    centers: int = 0
    steps: int = 0
    seconds: float = 0.0


# Version 1 names the tables as skip-gram sees them: "center" holds the center words' table,
# "context" the context words'. Skip-gram reads a center's input vector, so its input table is
# "center"; CBOW predicts the center from its context's input vectors, so its input table is
# "context".
_TABLE_KEYS = {"skipgram": ("center", "context"), "cbow": ("context", "center")}  # input, output


@dataclass
class Checkpoint:
    """What --resume needs: the settings, the position, and both tables.

    On disk (checkpoint.pt, read with `torch.load(weights_only=True)`): {"format", "version",
    "config": TrainConfig as a dict, "position": Position without `batch`, with "batches" (each
    rank's next batch in its chunk), the two tables (see _TABLE_KEYS), "vocab_digest", and
    "frozen" (bool [vocab], input rows that never change) or None}.
    """

    config: TrainConfig
    position: Position
    batches: list[int]  # the next batch of each rank in its current chunk
    input: torch.Tensor
    output: torch.Tensor
    vocab_digest: str | None = None  # None in checkpoints written before it was kept
    frozen: torch.Tensor | None = None

    @property
    def mid_epoch(self) -> bool:
        return self.position.chunk > 0 or any(self.batches)

    def to_state(self) -> dict[str, Any]:
        position = {**asdict(self.position), "batches": self.batches}
        del position["batch"]
        input_key, output_key = _TABLE_KEYS[self.config.model]
        return {"format": RUN_FORMAT, "version": RUN_VERSION, "config": self.config.to_dict(),
                "position": position, input_key: self.input.detach().cpu(),
                output_key: self.output.detach().cpu(), "vocab_digest": self.vocab_digest,
                "frozen": None if self.frozen is None else self.frozen.cpu()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Checkpoint:
        """Raises KeyError, TypeError or ValueError where the state is not a checkpoint's."""
        import torch

        config = TrainConfig(**state["config"])
        saved = dict(state["position"])
        batches = [int(b) for b in saved.pop("batches")]
        input_key, output_key = _TABLE_KEYS[config.model]
        tables = state[input_key], state[output_key]
        # with subwords, the input table holds n-gram rows after the word rows
        if not all(isinstance(t, torch.Tensor) and t.dim() == 2 and t.is_floating_point()
                   for t in tables) or tables[0].shape[1] != tables[1].shape[1] \
                or tables[0].shape[0] < tables[1].shape[0] \
                or (config.ngrams() is None and tables[0].shape != tables[1].shape):
            raise ValueError("its tables have shapes " + " and ".join(
                str(list(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__
                for t in tables))
        if tables[0].shape[1] != config.dim:
            raise ValueError(f"its tables have {tables[0].shape[1]} columns, its config says dim "
                             f"{config.dim}")
        frozen = state.get("frozen")
        if frozen is not None and (frozen.dtype != torch.bool or frozen.shape != tables[1].shape[:1]):
            raise ValueError("its frozen rows do not match its tables")
        return cls(config, Position(**saved), batches, *tables, state.get("vocab_digest"), frozen)


# The lock


def in_use(path: Path) -> str:
    """The error of a second writer."""
    pid = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        pid = json.loads((path / INFO).read_text(encoding="utf-8")).get("pid")
    holder = f" (process {pid})" if pid else ""
    return (f"another w2v process is training the run in {path}{holder}; wait for it to "
            f"finish, or choose another --run-dir")


def is_locked(path: Path) -> bool:
    """Whether a process holds the lock of the run directory `path` (is training it)."""
    return directory_locked(path)


# Writing a run


@dataclass
class TrainResult:
    """What a run reports at its end."""

    run_dir: Path
    loss: float
    words_per_s: float
    centers_per_s: float
    device: str
    seconds: float

    def line(self) -> str:
        return (f"loss {self.loss:.4f} | {self.words_per_s:,.0f} words/s | "
                f"{self.centers_per_s:,.0f} centers/s | device {self.device} | "
                f"{self.seconds:.1f} s | run {self.run_dir}")


@dataclass
class RunFacts:
    """What run.json says about a run that does not change while it trains."""

    dataset: str
    corpus: str | None
    vocab_size: int
    vocab_digest: str
    dim: int
    processes: int
    threads: int
    init: dict[str, Any] | None = None
    tokenizer: dict[str, Any] | None = None  # the dataset's: queries are read the same way
    phrases: int = 0  # phrases the dataset learned: queries of several words are joined

    @classmethod
    def of(cls, data: Dataset, config: TrainConfig, processes: int, threads: int,
           init: dict[str, Any] | None = None) -> RunFacts:
        return cls(str(Path(data.path).resolve()), data.meta.get("source"), len(data.vocab),
                   vocab_digest(data.vocab.words), config.dim, processes, threads, init,
                   data.tokenizer.to_dict(), len(data.phrases))


@dataclass
class RunWriter:
    """The run directory, as the process that trains it writes it; holds its lock."""

    path: Path
    facts: RunFacts
    _lock: DirectoryLock | None = field(default=None, repr=False)

    @classmethod
    def new(cls, path: Path, facts: RunFacts, force: bool = False) -> RunWriter:
        """Claim `path` for a new run: a new or empty directory, or, with `force`, a run whose
        files are removed first (files w2v did not make stay)."""
        path.mkdir(parents=True, exist_ok=True)
        writer = cls(path, facts, DirectoryLock(path, in_use(path)))
        try:
            check_new_run_dir(path, force, locked=True)
            for name in FILES:
                (path / name).unlink(missing_ok=True)
        except BaseException:
            writer.close()
            raise
        return writer

    @classmethod
    def resumed(cls, path: Path, facts: RunFacts) -> RunWriter:
        """Claim the run in `path` to continue it; it keeps the record of its start."""
        writer = cls(path, facts, DirectoryLock(path, in_use(path)))
        try:
            facts.init = facts.init or read_info(path).get("init")
        except BaseException:
            writer.close()
            raise
        return writer

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def start(self, config: TrainConfig, vocab: Vocab) -> None:
        """The files of a new run: run.json first (so the directory is a run from now on)."""
        self.write_info("running", TrainResult(self.path, math.nan, 0, 0, "", 0), Position())
        with self._writing(CONFIG) as tmp:
            tmp.write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
        vocab.save(self.path / VOCAB)

    @contextmanager
    def metrics(self) -> Iterator[IO[str]]:
        """metrics.jsonl, open for appending; every line reaches the file as it is written."""
        with open(self.path / METRICS, "a", encoding="utf-8", buffering=1) as metrics:
            yield metrics

    def trim_metrics(self, position: Position) -> None:
        """Drop what was logged after the checkpoint, and a half-written last line: on resume
        those steps are run, and logged, again."""
        path = self.path / METRICS
        kept = []
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
        for line in lines:
            try:
                record = json.loads(line)
                later = (record["epoch"] > position.epoch if "eval" in record
                         else record["step"] > position.steps)
            except (ValueError, KeyError, TypeError):
                break
            if not line.endswith("\n") or later:
                break
            kept.append(line)
        with self._writing(METRICS) as tmp:
            tmp.write_text("".join(kept), encoding="utf-8")

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        import torch

        state = checkpoint.to_state()
        with self._writing(CHECKPOINT) as tmp, open(tmp, "wb") as f:
            # torch reports a failed write as a RuntimeError; the OSError behind it is the news
            recorder = _WriteErrors(f)
            try:
                torch.save(state, recorder)
            except RuntimeError:
                if recorder.error is not None:
                    raise recorder.error from None
                raise

    def write_vectors(self, vectors: np.ndarray, subwords: SubwordTable | None = None) -> None:
        """The word vectors and, with subwords, the table that forms any word's vector."""
        written = [(VECTORS, vectors)]
        if subwords is not None:  # the buckets first: a run is read as one by its input table
            written = [(SUBWORD_BUCKETS, subwords.stored), (SUBWORD_INPUT, subwords.input),
                       *written]
        for name, array in written:
            with self._writing(name) as tmp, open(tmp, "wb") as f:
                np.save(f, array)

    def write_info(self, status: str, result: TrainResult, position: Position, *,
                   scores: dict[str, Any] | None = None, digests: list[str] | None = None,
                   error: str | None = None, sync: dict[str, Any] | None = None) -> None:
        f = self.facts
        info = {
            "format": RUN_FORMAT, "version": RUN_VERSION, "status": status, "pid": os.getpid(),
            "dataset": f.dataset, "corpus": f.corpus, "vocab_size": f.vocab_size,
            "vocab_digest": f.vocab_digest, "dim": f.dim, "init": f.init,
            "tokenizer": f.tokenizer, "phrases": f.phrases,
            "epochs_done": position.epoch, "device": result.device,
            "processes": f.processes, "threads": f.threads,
            "seconds": round(result.seconds, 3), "words": position.words,
            "words_per_s": round(result.words_per_s), "centers_per_s": round(result.centers_per_s),
            "final_loss": None if math.isnan(result.loss) else round(result.loss, 6),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "eval": scores,
            "table_digests": digests,
            "sync": sync,
        }
        if error is not None:
            info["error"] = error
        with self._writing(INFO) as tmp:
            tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def checkpoint_kept(self, max_norm: float | None = None) -> str:
        """Which checkpoint a run that cannot go on leaves, for its error message; with
        `max_norm`, whether its rows are no longer than that."""
        try:
            checkpoint = load_checkpoint(self.path)
        except W2VError:
            return "no checkpoint had been saved yet"
        p = checkpoint.position
        done = f"step {p.steps}, {p.epoch} epochs done"
        if max_norm is not None:
            largest = max(float(t.norm(dim=1).max()) for t in (checkpoint.input, checkpoint.output))
            if largest > max_norm:
                return (f"the last checkpoint ({done}) has rows as long ({largest:.3g}), so no "
                        f"good one is kept")
        return f"the last good checkpoint ({done}) is kept in {self.path}"

    @contextmanager
    def _writing(self, name: str) -> Iterator[Path]:
        """A temporary file that becomes `name` when the block ends without an error."""
        target = self.path / name
        try:
            with atomic_path(target) as tmp:
                yield tmp
        except OSError as e:
            if e.errno == errno.EFBIG:
                raise W2VError(f"cannot write {target}: the file is larger than this file system "
                               f"or a size limit (ulimit -f) allows") from e
            raise


class _WriteErrors:
    """A writable file that remembers the OSError its writes raised."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def check_new_run_dir(path: Path, force: bool, locked: bool = False) -> None:
    """Refuse a directory a new run must not go into: one that holds files w2v did not make, or
    a run (unless `force`: start it over), or one another process is training (unless this
    process holds its lock: `locked`)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise W2VError(f"{path} is a file, not a directory; choose another --run-dir")
    if not any(path.iterdir()):
        return
    if not is_w2v_run(path):
        raise W2VError(f"{path} holds files that are not a w2v run; a new run goes into a new or "
                       f"empty directory: choose another --run-dir")
    if not locked and is_locked(path):
        raise W2VError(in_use(path))
    if not force:
        raise W2VError(f"{path} already holds a run; continue it with --resume, start it over "
                       f"with --force, or choose another --run-dir")


def is_w2v_run(path: Path) -> bool:
    """Whether `path` holds a run.json that w2v wrote."""
    try:
        info = json.loads((path / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("format") == RUN_FORMAT


def new_run_dir(root: Path, name: str) -> Path:
    """root/name, or root/name-2, root/name-3, ... whichever does not exist yet."""
    candidate, n = root / name, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{name}-{n}"
    return candidate


# Resuming


# Settings that decide which batches an epoch is cut into: a checkpoint taken in the middle of an
# epoch points at a batch of the old cutting, so they can change only at an epoch's end.
EPOCH_LAYOUT = ("window", "negatives", "sample", "batch_size", "group_size", "chunk_tokens", "seed")


def check_resume_settings(run: Path, checkpoint: Checkpoint, config: TrainConfig,
                          force: bool) -> None:
    """Refuse to resume with `config` where it differs from the checkpoint's without `force`,
    and, even with it, where the resumed run would be wrong or has nothing left to do."""
    before = checkpoint.config.to_dict()
    changed = {k: v for k, v in config.to_dict().items() if before[k] != v}
    if changed and not force:
        names = ", ".join(f"{k} ({before[k]} -> {v})" for k, v in changed.items())
        raise W2VError(f"--resume with settings that differ from the checkpoint's: {names}; "
                       f"drop them, or add --force to continue with them")
    if "model" in changed:
        raise W2VError("--resume cannot change the model: its tables mean other things in "
                       "another model; start a new run instead")
    for name in ("subwords", "buckets"):
        if name in changed:
            raise W2VError(f"--resume cannot change {name}: the input table's rows would mean "
                           f"other n-grams; start a new run instead")
    layout = [name for name in EPOCH_LAYOUT if name in changed]
    if layout and checkpoint.mid_epoch:
        flags = ", ".join("--" + name.replace("_", "-") for name in layout)
        raise W2VError(f"the checkpoint was taken in the middle of epoch "
                       f"{checkpoint.position.epoch + 1}, and {flags} would cut that epoch into "
                       f"other batches; resume without changing it, or change it once the epoch "
                       f"is done")
    if config.dim != checkpoint.input.shape[1]:
        raise W2VError(f"--resume cannot change dim: the checkpoint's vectors have "
                       f"{checkpoint.input.shape[1]} dimensions; start a new run instead")
    if checkpoint.position.epoch >= config.epochs:
        raise W2VError(f"the run in {run} has finished all {config.epochs} epochs; nothing to "
                       f"resume (to train longer, add --epochs N --force)")


def check_resume_data(run: Path, checkpoint: Checkpoint, dataset: Dataset, processes: int) -> None:
    """The dataset must give every word the id it had when the run was trained, and a
    checkpoint from the middle of an epoch needs as many processes as wrote it."""
    words, trained = len(dataset.vocab), checkpoint.output.shape[0]
    if words != trained:
        raise W2VError(f"the dataset {dataset.path} has {words} words but the run was trained on "
                       f"{trained}; give the run's dataset with --data")
    digest = checkpoint.vocab_digest or vocab_digest(Vocab.load(run / VOCAB).words)
    if vocab_digest(dataset.vocab.words) != digest:
        raise W2VError(f"the dataset {dataset.path} has other words than the run in {run} was "
                       f"trained on (as many, {words}, but not the same words with the same "
                       f"ids); give the run's dataset with --data")
    if checkpoint.mid_epoch and len(checkpoint.batches) != processes:
        raise W2VError(f"the checkpoint was written by {len(checkpoint.batches)} processes in the "
                       f"middle of an epoch; resume it with --nproc {len(checkpoint.batches)}")


def checkpoint_stamp(run: Path) -> int:
    """When the checkpoint was last written (ns): a resumed run checks it did not change."""
    return (run / CHECKPOINT).stat().st_mtime_ns


# Reading a run


def load_checkpoint(run_dir: Path) -> Checkpoint:
    """The checkpoint of a run, loaded without executing code."""
    import torch

    path = run_dir / CHECKPOINT
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
        return Checkpoint.from_state(state)
    except FileNotFoundError:
        raise W2VError(f"no checkpoint in {run_dir}; start a new run without --resume") from None
    except (KeyError, TypeError, ValueError) as e:
        why = f"{type(e).__name__}: {e}" if isinstance(e, ValueError) else type(e).__name__
        raise W2VError(f"the checkpoint {path} is damaged ({why}); start a new run without "
                       f"--resume") from None
    except Exception as e:  # noqa: BLE001 (a damaged file fails in many ways inside torch.load)
        raise W2VError(f"the checkpoint {path} is damaged ({type(e).__name__}); "
                       f"start a new run without --resume") from None


def read_info(run: Path) -> dict[str, Any]:
    try:
        info = json.loads((run / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise W2VError(f"{run}/{INFO} is missing or damaged ({e}); train the run again") from None
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT \
            or info.get("version") != RUN_VERSION:
        raise W2VError(f"{run} is not a w2v run of format version {RUN_VERSION}")
    return info


# The tables of a run's checkpoint a user can ask for by the name the checkpoint gives them,
# or their sum (see _TABLE_KEYS for what each is in each model).
Table = Literal["center", "context", "sum"]
TABLES: tuple[Table, ...] = ("center", "context", "sum")


def read_run_vectors(run_dir: str | os.PathLike[str], limit: int | None = None,
                     table: Table | None = None
                     ) -> tuple[list[str], np.ndarray, np.ndarray, SubwordTable | None]:
    """(words, vectors, counts, subwords) of the run in `run_dir`: the first `limit` words
    (None: all); the word vectors, or with `table` the checkpoint's center table, context table
    or their sum; and, for the word vectors of a run with subwords, the table that gives any
    word a vector (else None)."""
    run = Path(run_dir)
    if limit is not None and limit < 1:
        raise W2VError(f"the limit must be a positive number of words, not {limit}")
    needed = (VECTORS if table is None else CHECKPOINT, VOCAB)
    missing = [name for name in needed if not (run / name).is_file()]
    if missing:
        raise W2VError(
            f"run directory {run} has no {' or '.join(missing)}; has training finished writing it?"
        )
    matrix = _read_matrix(run / VECTORS) if table is None else read_run_table(run, table)
    vocab = Vocab.load(run / VOCAB)
    if len(vocab) != len(matrix):
        source = VECTORS if table is None else f"the {table} table of {CHECKPOINT}"
        raise W2VError(
            f"run directory {run} is inconsistent: {VOCAB} has {len(vocab)} "
            f"words but {source} has {len(matrix)} rows"
        )
    subwords = read_run_subwords(run, vocab.counts) if table is None else None
    return (vocab.words[:limit], np.array(matrix[:limit], dtype=np.float32), vocab.counts[:limit],
            subwords)


def read_run_subwords(run: Path, counts: np.ndarray) -> SubwordTable | None:
    """The subword table of a run trained with subwords, memory-mapped, with how it was
    trained (`counts`: the vocabulary's); None for another run."""
    if not (run / SUBWORD_INPUT).is_file():
        return None
    config = Run(run).config
    ngrams, vocab_size = config.ngrams(), len(counts)
    rows, stored = _read_matrix(run / SUBWORD_INPUT), _read_buckets(run / SUBWORD_BUCKETS)
    if ngrams is None or len(rows) != vocab_size + len(stored) or \
            (len(stored) and (stored[0] < 0 or stored[-1] >= ngrams.buckets)):
        raise W2VError(f"run directory {run} is inconsistent: {SUBWORD_INPUT} has {len(rows)} "
                       f"rows for {vocab_size} words and {len(stored)} n-gram buckets")
    # fastText records a min_count: here the smallest count the vocabulary kept
    training = TrainingArgs(config.model, config.window, config.epochs,
                            int(counts.min()) if len(counts) else 1, config.negatives,
                            config.sample)
    return SubwordTable(ngrams, rows, stored, training)


def read_run_query_form(run_dir: str | os.PathLike[str]) -> Callable[[str], str | None] | None:
    """How a query becomes a word of the run's vocabulary, as its dataset read its text:
    tokenized, and joined into a phrase where the dataset learned phrases (None where queries
    are read as they are, or the run does not say)."""
    from w2v.data.phrases import vocabulary_query_form
    from w2v.data.tokenizer import Tokenizer

    try:
        info = read_info(Path(run_dir))
        tokenizer = Tokenizer.from_dict(info.get("tokenizer"))
    except W2VError:
        return None  # no run.json w2v can read: queries are taken as they are
    return vocabulary_query_form(tokenizer, bool(info.get("phrases")))


def read_run_table(run_dir: str | os.PathLike[str], table: Table) -> np.ndarray:
    """The checkpoint's center table, context table or their sum."""
    import torch

    if table not in TABLES:
        raise W2VError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    path = Path(run_dir) / CHECKPOINT
    try:
        state = torch.load(path, weights_only=True, map_location="cpu", mmap=True)
        center, context = (state[name].numpy() for name in ("center", "context"))
    except Exception as e:  # noqa: BLE001 (a damaged file fails in many ways inside torch.load)
        raise W2VError(f"{path} is damaged ({type(e).__name__}); the {table} table is kept only "
                       "there") from None
    if len(center) > len(context):  # skip-gram with subwords: its words' vectors are means
        center = _read_matrix(Path(run_dir) / VECTORS)
    elif len(context) > len(center):  # CBOW with subwords
        context = _read_matrix(Path(run_dir) / VECTORS)
    if center.ndim != 2 or center.shape != context.shape:
        raise W2VError(f"{path} is damaged: tables of shapes {center.shape} and {context.shape}")
    chosen = {"center": center, "context": context}
    return center + context if table == "sum" else chosen[table]


def is_run_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names one of the files of a run directory (existing or not)."""
    path = Path(path)
    run = path.parent
    return path.name in FILES and any((run / name).is_file() for name in (INFO, CHECKPOINT, VECTORS))


def _read_matrix(path: Path) -> np.ndarray:
    """The matrix memory-mapped: rows past a limit are never read."""
    try:
        matrix = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as error:
        raise W2VError(f"{path} is damaged: {error}") from None
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.floating):
        raise W2VError(
            f"{path} is damaged: expected a 2-d float array, found {matrix.ndim}-d {matrix.dtype}"
        )
    return matrix


def _read_buckets(path: Path) -> np.ndarray:
    """The sorted bucket numbers of a run's stored n-gram rows."""
    try:
        buckets = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise W2VError(f"{path} is missing: the run's n-gram rows cannot be placed") from None
    except (OSError, ValueError, EOFError) as error:
        raise W2VError(f"{path} is damaged: {error}") from None
    if buckets.ndim != 1 or not np.issubdtype(buckets.dtype, np.integer) or \
            (len(buckets) > 1 and not (np.diff(buckets) > 0).all()):
        raise W2VError(f"{path} is damaged: expected increasing bucket numbers")
    return buckets


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """The records of metrics.jsonl, in order; none if the run logged nothing yet."""
    path = run / METRICS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            raise W2VError(f"{path} line {number} is not JSON; the metrics are damaged") from None
    return records


def is_run(path: Path) -> bool:
    return (path / INFO).is_file()


def find_run(path: Path | None, root: Path = RUNS_ROOT, option: str = "--run",
             with_vectors: bool = False) -> Path:
    """A run directory itself, or the most recent run inside a folder of runs (default ./runs).

    `option` is the flag that gave `path`, for the error message. `with_vectors`: the newest run
    of a folder must have its vectors (a run that diverged or is still running has none); the
    error names the newest one that has them.
    """
    where = root if path is None else Path(path)
    if is_run(where):
        return where
    runs = [p for p in where.iterdir() if is_run(p)] if where.is_dir() else []
    if not runs:
        hint = ("train one with 'w2v train'" if path is None
                else f"pass a run directory with {option}")
        raise W2VError(f"no training run found in {where}/; {hint}")
    runs.sort(key=lambda p: (p / INFO).stat().st_mtime, reverse=True)
    newest = runs[0]
    if with_vectors and not (newest / VECTORS).is_file():
        status = Run(newest).status
        usable = next((p for p in runs if (p / VECTORS).is_file()), None)
        hint = (f"the newest run with vectors is {usable}: pass --run {usable}" if usable
                else "no run there has vectors yet")
        raise W2VError(f"the newest run in {where}/, {newest}, has no vectors (it is {status}); "
                       f"{hint}")
    return newest


class Run:
    """A training run on disk: what `w2v.train` returns and `Run.load` opens."""

    def __init__(self, path: str | os.PathLike[str], result: TrainResult | None = None) -> None:
        self.path = Path(path)
        self._result = result

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Run:
        """The run in `path` (a run directory, or a folder of runs: the most recent)."""
        return cls(find_run(Path(path)))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, {self.status})"

    @property
    def info(self) -> dict[str, Any]:
        """run.json: status, dataset, vocabulary, device, times, speeds, final loss, scores."""
        return read_info(self.path)

    @property
    def status(self) -> str:
        """How the run stands: running, complete, stopped (by a callback), interrupted (by a
        signal), diverged, failed, or crashed (run.json says running, but no process is)."""
        status = self.info.get("status", "unknown")
        if status == "running" and not is_locked(self.path):
            return "crashed"
        return status

    @property
    def config(self) -> TrainConfig:
        """The settings the run started with."""
        try:
            values = json.loads((self.path / CONFIG).read_text(encoding="utf-8"))
            return TrainConfig(**values)
        except (OSError, ValueError, TypeError) as e:
            raise W2VError(f"{self.path / CONFIG} is missing or damaged ({e})") from None

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """Every logged step ({"step", "epoch", "words", "loss", "lr", "words_per_s", "seconds"})
        and evaluation ({"epoch", "words", "eval"}), in order."""
        return read_metrics(self.path)

    @cached_property
    def vectors(self) -> Vectors:
        from w2v.vectors import Vectors

        return Vectors.load(self.path, "run")

    @property
    def result(self) -> TrainResult:
        """The run's summary: from the training in this process, or from run.json."""
        if self._result is not None:
            return self._result
        info = self.info
        device = info.get("device", "?")
        if info.get("processes", 1) > 1:
            device = f"{device} x {info['processes']}"
        loss = info.get("final_loss")
        return TrainResult(self.path, math.nan if loss is None else loss,
                           info.get("words_per_s", 0), info.get("centers_per_s", 0), device,
                           info.get("seconds", 0.0))

    def init_line(self) -> str:
        """How many words started from pretrained vectors (--init), and from which."""
        init, info = self.info.get("init"), self.info
        if not init:
            return "init: none"
        frozen = ", frozen" if init.get("frozen") else ""
        return (f"init: {_number(init.get('words'))} of {_number(info.get('vocab_size'))} words "
                f"from {init.get('source')}{frozen}")

    def sync_line(self) -> str:
        """How the processes of the run kept their tables in step, and what it cost."""
        info, mb = self.info, 2**20
        sync = info["sync"]
        return (f"{info.get('processes')} processes, {_number(sync.get('syncs'))} syncs of "
                f"{_number(sync.get('bytes_per_sync', 0) / mb, '.1f')} MB each (whole tables: "
                f"{_number(sync.get('dense_bytes', 0) / mb, '.1f')} MB), "
                f"{_number(sync.get('seconds'), '.1f')} s, {_number(sync.get('share'), '.1%')} "
                f"of the time")

    def describe(self) -> str:
        """A few lines on what the run is: corpus, vocabulary, settings, time, speed, loss,
        scores."""
        info = self.info
        try:
            config = json.loads((self.path / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        status = self.status
        epochs = f"{info.get('epochs_done', '?')} of {config.get('epochs', '?')} epochs"
        if status == "crashed":
            status = (f"crashed: run.json says running, but no process is training it "
                      f"({epochs}); continue it with: w2v train --resume --run-dir {self.path}")
        else:
            status = f"{status} ({epochs})"
        lines = [
            f"run          {self.path}",
            f"status       {status}",
            f"corpus       {info.get('corpus')}  (dataset {info.get('dataset')})",
            f"vocabulary   {_number(info.get('vocab_size'))} words, dimension {info.get('dim', '?')}",
            f"device       {info.get('device', '?')}",
            (f"time         {_number(info.get('seconds'), '.1f')} s, "
             f"{_number(info.get('words_per_s'))} words/s, "
             f"{_number(info.get('centers_per_s'))} centers/s"),
            f"final loss   {info.get('final_loss')}",
            "config       " + ", ".join(f"{k}={v}" for k, v in config.items()),
        ]
        if info.get("init"):
            lines.append(f"init         {self.init_line().removeprefix('init: ')}")
        if info.get("sync"):
            lines.append(f"sync         {self.sync_line()}")
        if info.get("error"):
            lines.append(f"error        {info['error']}")
        scores = info.get("eval")
        for name, result in (scores.items() if isinstance(scores, dict) else []):
            shown = {k: v for k, v in result.items() if k != "sections"}
            if "error" in shown:
                lines.append(f"eval         {name}: {shown['error']}")
                continue
            lines.append(f"eval         {name}: " + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
        return "\n".join(lines)


def _number(value: Any, spec: str = ",") -> str:
    return format(value, spec) if isinstance(value, int | float) else "?"
