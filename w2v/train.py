"""The training loop: batches in, SGD steps with word2vec's linear learning-rate decay, a run out.

Every so often the loop reaches a sync point: in one process, every `log_every` steps; across
several, `syncs` evenly spaced points per chunk, the same count on every rank, where the ranks
add up their table changes. There the loop logs, checks the loss, and honours a stop signal.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from tqdm import tqdm

from w2v.atomic import atomic_path
from w2v.cbow import CBOW
from w2v.config import TrainConfig
from w2v.data.batcher import Batch, Batcher, even_chunks, expected_keep_share, keep_probabilities
from w2v.data.corpus import Dataset
from w2v.distributed import SINGLE_PROCESS, Cluster, TableSync, gather, table_digest
from w2v.errors import Interrupted, W2VError
from w2v.model import NegativeSamplingModel, SkipGram
from w2v.rundir import RUN_FORMAT, RUN_VERSION

# The loss is only reported, so it is computed on every LOSS_EVERY-th step and on each step
# before a sync point (so every logged interval has one); that saves about a tenth of the time.
LOSS_EVERY = 4

MODEL_CLASSES: dict[str, type[NegativeSamplingModel]] = {"skipgram": SkipGram, "cbow": CBOW}


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


@dataclass
class TrainResult:
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


def check_device(name: str) -> str:
    """The device type a --device value asks for ('cpu' or 'cuda'); an error if it cannot work."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise W2VError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
        index = torch.device(name).index or 0
        if index >= torch.cuda.device_count():
            raise W2VError(f"--device {name}: there are only {torch.cuda.device_count()} GPUs")
        return "cuda"
    raise W2VError(f"--device must be auto, cpu, cuda or cuda:N, got '{name}'")


def resolve_device(name: str, cluster: Cluster = SINGLE_PROCESS) -> torch.device:
    """auto takes a GPU when there is one; asking for CUDA where there is none is an error.

    On several processes, each takes the GPU of its local rank.
    """
    if check_device(name) == "cpu":
        return torch.device("cpu")
    index = cluster.local_rank if cluster.distributed else (torch.device(name).index or 0)
    if index >= torch.cuda.device_count():
        raise W2VError(f"--device {name}: process {cluster.rank} needs GPU {index}, but there are "
                       f"only {torch.cuda.device_count()}")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def check_trainable(data: Dataset, config: TrainConfig) -> None:
    """Refuse a dataset that skip-gram with negative sampling cannot learn anything from."""
    words, counts = data.vocab.words, data.vocab.counts
    if len(words) < 2:
        raise W2VError(f"the dataset {data.path} has a vocabulary of one word ({words[0]!r}); "
                       f"negative sampling needs at least 2 words: prepare more text or use a "
                       f"lower --min-count")
    if np.diff(data.offsets).max() < 2:
        raise W2VError(f"every sentence of the dataset {data.path} is a single word, so no word "
                       f"has a context; skip-gram needs sentences of 2 words or more")
    kept = float((counts * keep_probabilities(counts, config.sample)).sum())
    if kept < 2:
        raise W2VError(f"subsampling (sample = {config.sample}) keeps about {kept:.2g} of the "
                       f"{int(counts.sum())} words of this corpus: nothing to train on; use "
                       f"--sample 0 (off) or a larger corpus")


def sync_interval(config: TrainConfig, device: torch.device) -> int:
    """Steps between the processes' syncs: the config's, or, where it is 0, by device.

    gloo's all-reduce of both tables takes about 6 ms on a CPU: on PTB with 2 processes, syncing
    every 4 steps trained in 18.7 s and every 32 in 8.0 s, at the same score; NCCL's is cheap.
    """
    if config.sync_every:
        return config.sync_every
    return 4 if device.type == "cuda" else 32


def cpu_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def learning_rate(config: TrainConfig, words_done: float, total_words: float) -> float:
    """word2vec's schedule: linear from lr down to lr * min_lr_ratio over all epochs."""
    return config.lr * max(config.min_lr_ratio, 1.0 - words_done / total_words)


@dataclass
class _Pending:
    """What this rank did since the last sync point."""

    words: int = 0
    centers: int = 0
    loss: torch.Tensor | float = 0.0
    count: torch.Tensor | float = 0.0


class Trainer:
    def __init__(self, data: Dataset, config: TrainConfig, run_dir: Path,
                 device: torch.device, *, cluster: Cluster = SINGLE_PROCESS,
                 position: Position | None = None, model: NegativeSamplingModel | None = None,
                 threads: int | None = None,
                 evaluation: tuple[list[Path], list[Path]] | None = None) -> None:
        self.data, self.config, self.run_dir, self.device = data, config, run_dir, device
        check_trainable(data, config)
        self.cluster = cluster
        self.threads = 1 if device.type != "cpu" else (
            threads or max(1, cpu_threads() // cluster.local_world_size))
        self.evaluation = evaluation
        self.batcher, self.syncs_per_chunk = self._shard()
        if model is None:
            model = MODEL_CLASSES[config.model](len(data.vocab.words), config.dim,
                                                torch.Generator().manual_seed(config.seed))
        self.model = model.to(device)
        if device.type != "cpu":
            self.model.gather_contexts = True
        self.position = position or Position()
        self.total_words = float(config.epochs * int(data.offsets[-1]))
        self.scores: dict[str, Any] | None = None
        self._pending = _Pending()
        self._stop_signal: int | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.table_sync = None
        if cluster.distributed:  # several processes: sync the rows the updates touch
            self.table_sync = TableSync({"center": model.center.weight.data,
                                         "context": model.context.weight.data})
            self.model.before_update = self.table_sync.before_update

    def _shard(self) -> tuple[Batcher, int]:
        """This rank's part of the corpus, cut into as many chunks as every other rank's."""
        data, cfg, cluster = self.data, self.config, self.cluster
        counts = data.vocab.counts
        if not cluster.distributed:
            return Batcher(data.tokens, data.offsets, counts, cfg, self.device), 1
        shards = even_chunks(data.offsets, cluster.world_size)
        largest = max(end - start for start, end in shards)
        n_chunks = -(-largest // cfg.chunk_tokens)
        start, end = shards[cluster.rank]
        first, last = np.searchsorted(data.offsets, [start, end])
        offsets = data.offsets[first:last + 1] - start
        # each rank takes its share of a batch, so a synced step is one step of batch_size centers
        share = max(1, cfg.batch_size // cfg.group_size // cluster.world_size) * cfg.group_size
        cfg = cfg.replace(batch_size=share)
        batcher = Batcher(data.tokens[start:end], offsets, counts, cfg, self.device,
                          stream=cluster.rank, chunks=even_chunks(offsets, n_chunks))
        kept_per_chunk = largest / n_chunks * expected_keep_share(counts, cfg.sample)
        centers_between_syncs = cfg.batch_size * sync_interval(cfg, self.device)
        return batcher, max(1, math.ceil(kept_per_chunk / centers_between_syncs))

    def run(self, progress: bool = True) -> TrainResult:
        main = self.cluster.is_main
        with self._signals_caught():  # a signal from here on stops at the next sync point
            if main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                if self.position.steps == 0:
                    self._write_start_files()
                else:
                    self._trim_metrics()
                self._write_run_info("running", self._result(math.nan))
            bar = tqdm(total=self.total_words, initial=self.position.words, unit="word",
                       unit_scale=True, disable=not (progress and main), dynamic_ncols=True,
                       mininterval=0.5)
            with self._metrics_file() as metrics, self._thread_pool(), bar:
                loss = self._loop(bar, metrics)
        return self._finish(loss)

    @contextmanager
    def _metrics_file(self) -> Iterator[TextIO | None]:
        if not self.cluster.is_main:
            yield None
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as metrics:
            yield metrics

    def _loop(self, bar: tqdm, metrics: TextIO | None) -> float:
        cfg, pos = self.config, self.position
        self._started = time.perf_counter() - pos.seconds
        loss = math.nan
        for epoch in range(pos.epoch, cfg.epochs):
            here = epoch == pos.epoch
            batches = self.batcher.epoch(epoch, pos.chunk if here else 0, pos.batch if here else 0)
            for chunk, index, n_batches, batch in batches:
                lr = learning_rate(cfg, self._words_estimate(), self.total_words)
                pos.steps += 1
                syncs = self._syncs_due(index + 1, n_batches)
                with_loss = syncs > 0 or pos.steps % LOSS_EVERY == 0
                self._add_pending(batch, *self._step(batch, lr, with_loss))
                pos.epoch, pos.chunk, pos.batch = epoch, chunk, index + 1
                for _ in range(syncs):
                    loss = self._sync_point(lr, bar, metrics)
            pos.epoch, pos.chunk, pos.batch = epoch + 1, 0, 0
            if self.cluster.is_main:
                self.save_checkpoint(self.cluster.world_size * [0])
                if self.evaluation is not None:
                    self._started += self._evaluate(metrics, bar)
        return loss

    def _words_estimate(self) -> float:
        return self.position.words + self._pending.words * self.cluster.world_size

    def _add_pending(self, batch: Batch, loss: torch.Tensor | None,
                     count: torch.Tensor | None) -> None:
        p = self._pending
        p.words += batch.words
        p.centers += batch.centers_count
        if loss is not None:
            p.loss = p.loss + loss
            p.count = p.count + count

    def _syncs_due(self, done: int, n_batches: int) -> int:
        """How many sync points fall after batch number `done` (1-based) of a chunk."""
        if not self.cluster.distributed:
            return int(self.position.steps % self.config.log_every == 0 or done == n_batches)
        s = self.syncs_per_chunk
        return done * s // n_batches - (done - 1) * s // n_batches

    def _sync_point(self, lr: float, bar: tqdm, metrics: TextIO | None) -> float:
        p, pos = self._pending, self.position
        counters = torch.tensor([p.words, p.centers, float(p.loss), float(p.count),
                                 float(self._stop_signal is not None)],
                                dtype=torch.float64, device=self.device)
        synced = counters.tolist() if self.table_sync is None else self.table_sync(counters)
        words, centers, loss_sum, count, stop = synced
        self._pending = _Pending()
        pos.words += round(words)
        pos.centers += round(centers)
        pos.seconds = time.perf_counter() - self._started
        loss = loss_sum / max(count, 1.0)
        bar.update(pos.words - bar.n)
        if metrics is not None:
            self._log(metrics, bar, loss, lr)
        self._check_finite(loss)
        if stop:
            self._interrupt()
        return loss

    def _step(self, batch: Batch, lr: float,
              with_loss: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """One SGD step; on a multi-core CPU, one thread per slice of the batch.

        Every slice's gradient is taken from the same tables and the updates are applied in a
        fixed order, so the result does not depend on thread timing.
        """
        if self._pool is None:
            return self.model.sgd_step(batch, lr, with_loss)
        parts = batch.split(self.threads)
        pending = [self._pool.submit(self.model.gradients, part, lr, with_loss)
                   for part in parts[1:]]
        steps = [self.model.gradients(parts[0], lr, with_loss)] + [p.result() for p in pending]
        context_done = self._pool.submit(self.model.apply_context, steps)
        self.model.apply_center(steps)
        context_done.result()
        if not with_loss:
            return None, None
        return sum(s.loss for s in steps), sum(s.count for s in steps)

    @contextmanager
    def _thread_pool(self) -> Iterator[None]:
        """On the CPU, Python threads over single-threaded ops.

        Small ops under intra-op parallelism pay a fork-join each call, and stall whenever another
        process holds a core; one thread per slice of the batch avoids both.
        """
        if self.device.type != "cpu":
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if self.threads > 1:
                with ThreadPoolExecutor(self.threads - 1) as self._pool:
                    yield
            else:
                yield
        finally:
            self._pool = None
            torch.set_num_threads(previous)

    def _log(self, metrics: TextIO, bar: tqdm, loss: float, lr: float) -> None:
        pos = self.position
        record = {"step": pos.steps, "epoch": pos.epoch, "words": pos.words,
                  "loss": round(loss, 6), "lr": lr,
                  "words_per_s": round(pos.words / max(pos.seconds, 1e-9)),
                  "seconds": round(pos.seconds, 3)}
        if self.table_sync is not None:
            record.update(self.table_sync.log_fields())
        metrics.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.5f}", refresh=False)

    def _evaluate(self, metrics: TextIO | None, bar: tqdm) -> float:
        """Score the vectors after an epoch, log and print it; return the seconds it took."""
        from w2v.evaluate import evaluate, summary_line
        from w2v.vectors import Vectors

        begin = time.perf_counter()
        vectors = Vectors(self.data.vocab.words, self._word_vectors(), self.data.vocab.counts)
        self.scores = evaluate(vectors, *self.evaluation, strict=False)
        if metrics is not None:
            metrics.write(json.dumps({"epoch": self.position.epoch, "words": self.position.words,
                                      "eval": self.scores}) + "\n")
            metrics.flush()
        bar.write(f"epoch {self.position.epoch}: {summary_line(self.scores)}")
        return time.perf_counter() - begin

    def _check_finite(self, loss: float) -> None:
        if not math.isfinite(loss):
            self._diverged(f"the loss became {loss}")

    def _diverged(self, what: str) -> None:
        """Stop without saving: the checkpoint on disk is the last one with finite weights."""
        if self.cluster.is_main:
            self._write_run_info("diverged", self._result(math.nan))
        path = self.run_dir / "checkpoint.pt"
        if path.exists():
            saved = torch.load(path, weights_only=True)["position"]
            kept = (f"the last good checkpoint (step {saved['steps']}, {saved['epoch']} epochs "
                    f"done) is kept in {self.run_dir}")
        else:
            kept = "no checkpoint had been saved yet"
        raise W2VError(f"training diverged: {what} at step {self.position.steps}; lower --lr "
                       f"(now {self.config.lr}) or, for a small vocabulary, --batch-size (now "
                       f"{self.config.batch_size}), and train again; {kept}")

    def _interrupt(self) -> None:
        batches = gather(self.position.batch, self.cluster)
        if self.cluster.is_main:
            self.save_checkpoint(batches)
            self._write_vectors()
            self._write_run_info("interrupted", self._result(math.nan))
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "another process"
        raise Interrupted(f"stopped by {name} at epoch {self.position.epoch + 1}; checkpoint saved "
                          f"in {self.run_dir}; continue with: w2v train --resume --run-dir "
                          f"{self.run_dir}")

    @contextmanager
    def _signals_caught(self) -> Iterator[None]:
        def handler(signum: int, frame: Any) -> None:
            self._stop_signal = signum

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def save_checkpoint(self, batches: list[int]) -> None:
        """Both tables and the position; `batches` holds each rank's next batch."""
        if not all(torch.isfinite(t.weight).all() for t in (self.model.center, self.model.context)):
            self._diverged("the weights became infinite or NaN")
        position = {**asdict(self.position), "batches": batches}
        del position["batch"]
        state = {
            "format": RUN_FORMAT, "version": RUN_VERSION,
            "config": self.config.to_dict(),
            "position": position,
            "center": self.model.center.weight.detach().cpu(),
            "context": self.model.context.weight.detach().cpu(),
        }
        # Through a Python file: a full disk is then an OSError, not a RuntimeError from C++.
        with atomic_path(self.run_dir / "checkpoint.pt") as tmp, open(tmp, "wb") as f:
            torch.save(state, f)

    def _finish(self, loss: float) -> TrainResult:
        digests = gather(table_digest([self.model.center.weight, self.model.context.weight]),
                         self.cluster)
        result = self._result(loss)
        if self.cluster.is_main:
            self._write_vectors()
            self._write_run_info("complete", result, digests)
        if len(set(digests)) > 1:
            raise W2VError(f"the {len(digests)} processes ended with different tables "
                           f"({', '.join(digests)}); the run in {self.run_dir} is not usable")
        return result

    def _word_vectors(self) -> np.ndarray:
        return self.model.word_vectors().detach().cpu().numpy()

    def _write_start_files(self) -> None:
        with atomic_path(self.run_dir / "config.json") as tmp:
            tmp.write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")
        with atomic_path(self.run_dir / "vocab.tsv") as tmp:
            shutil.copyfile(Path(self.data.path) / "vocab.tsv", tmp)
        (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)

    def _trim_metrics(self) -> None:
        """Drop what was logged after the checkpoint, and a half-written last line: on resume
        those steps are run, and logged, again."""
        path = self.run_dir / "metrics.jsonl"
        kept = []
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
        for line in lines:
            try:
                record = json.loads(line)
                later = (record["epoch"] > self.position.epoch if "eval" in record
                         else record["step"] > self.position.steps)
            except (ValueError, KeyError, TypeError):
                break
            if not line.endswith("\n") or later:
                break
            kept.append(line)
        with atomic_path(path) as tmp:
            tmp.write_text("".join(kept), encoding="utf-8")

    def _write_vectors(self) -> None:
        with atomic_path(self.run_dir / "vectors.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, self._word_vectors())

    def _result(self, loss: float) -> TrainResult:
        pos = self.position
        seconds = max(pos.seconds, 1e-9)
        return TrainResult(self.run_dir, loss, pos.words / seconds, pos.centers / seconds,
                           str(self.device), pos.seconds)

    def _write_run_info(self, status: str, result: TrainResult,
                        digests: list[str] | None = None) -> None:
        info = {
            "format": RUN_FORMAT, "version": RUN_VERSION, "status": status,
            "dataset": str(Path(self.data.path).resolve()),
            "corpus": self.data.meta.get("source"),
            "vocab_size": len(self.data.vocab.words), "dim": self.config.dim,
            "epochs_done": self.position.epoch, "device": result.device,
            "processes": self.cluster.world_size, "threads": self.threads,
            "seconds": round(result.seconds, 3), "words": self.position.words,
            "words_per_s": round(result.words_per_s), "centers_per_s": round(result.centers_per_s),
            "final_loss": None if math.isnan(result.loss) else round(result.loss, 6),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "eval": self.scores,
            "table_digests": digests,
            "sync": None if self.table_sync is None else self.table_sync.summary(),
        }
        with atomic_path(self.run_dir / "run.json") as tmp:
            tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
