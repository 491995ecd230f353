"""The training loop: batches in, SGD steps with word2vec's linear learning-rate decay, a run out.

Every so often the loop reaches a sync point: in one process, every `log_every` steps; across
several, `syncs` evenly spaced points per chunk, the same count on every rank, where the ranks
add up their table changes. There the loop logs, checks the loss, and honours a stop signal.
At the end of each epoch it saves a checkpoint, scores the vectors (with evaluation files),
and calls the callbacks, any of which can stop the run there.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from w2v.config import TrainConfig
from w2v.data.batcher import Batch, keep_probabilities
from w2v.data.corpus import Dataset
from w2v.device import step_threads
from w2v.distributed import (
    SINGLE_PROCESS,
    Cluster,
    TableSync,
    broadcast,
    gather,
    shard,
    table_digest,
)
from w2v.errors import Interrupted, W2VError
from w2v.models import MODEL_CLASSES, NegativeSamplingModel
from w2v.models.subword import SubwordInput
from w2v.run import Checkpoint, Position, RunWriter, TrainResult, vocab_digest
from w2v.step import SGD, GraphStep, Step

if TYPE_CHECKING:
    from w2v.vectors import Vectors

# The loss is only reported, so it is computed on every LOSS_EVERY-th step and on each step
# before a sync point (so every logged interval has one); that saves about a tenth of the time.
LOSS_EVERY = 4
# Every term of the loss starts at ln 2 (the output table starts at zero, so every logit is 0),
# and falls as the model learns; a loss far above that start is divergence.
START_LOSS = math.log(2)
DIVERGED_LOSS = 10 * START_LOSS
# Rows of trained tables have norms under about 20 (PTB); far beyond, training has diverged.
DIVERGED_NORM = 1e3

Evaluation = tuple[Sequence[Path], Sequence[Path]]


@dataclass(frozen=True)
class EpochEvent:
    """What a callback gets at the end of an epoch; `vectors()` gives the vectors."""

    epoch: int  # epochs done, from 1
    words: int  # corpus words trained on so far (over all processes)
    loss: float  # the mean loss per term over the last logged interval
    lr: float  # the learning rate of the epoch's last step
    words_per_s: float
    seconds: float  # training time so far
    scores: dict[str, Any] | None  # the evaluation's scores, when the run evaluates
    _vectors: Callable[[], Vectors]

    def vectors(self) -> Vectors:
        """A copy of the word vectors as they are when it is called: in the callback, those of
        the epoch's end."""
        return self._vectors()


Callback = Callable[[EpochEvent], "bool | None"]


def learning_rate(config: TrainConfig, words_done: float, total_words: float) -> float:
    """word2vec's schedule: linear from lr down to lr * min_lr_ratio over all epochs."""
    return config.lr * max(config.min_lr_ratio, 1.0 - words_done / total_words)


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


def new_model(config: TrainConfig, words: Sequence[str]) -> NegativeSamplingModel:
    """A new model of `config` for the vocabulary `words`, with its word input or, with
    subwords, fastText's."""
    generator = torch.Generator().manual_seed(config.seed)
    model = MODEL_CLASSES[config.model](len(words), config.dim, generator)
    ngrams = config.ngrams()
    if ngrams is not None:
        model.words = SubwordInput.for_vocabulary(words, ngrams, config.dim, generator)
        if config.step_limit:  # the limit holds shared n-gram rows back instead of damping
            model.words.damping = 0.0
    return model


@dataclass
class _Pending:
    """What this rank did since the last sync point."""

    words: int = 0
    centers: int = 0
    loss: torch.Tensor | float = 0.0
    count: torch.Tensor | float = 0.0


class Trainer:
    """Trains a model on a dataset into a run directory; `writer` is None on all but the main
    rank."""

    def __init__(self, data: Dataset, config: TrainConfig, writer: RunWriter | None,
                 device: torch.device, *, cluster: Cluster = SINGLE_PROCESS,
                 model: NegativeSamplingModel | None = None, position: Position | None = None,
                 threads: int | None = None, frozen: torch.Tensor | None = None,
                 evaluation: Evaluation | None = None, callbacks: Sequence[Callback] = ()) -> None:
        self.data, self.config, self.writer, self.device = data, config, writer, device
        self.cluster = cluster
        self.evaluation, self.callbacks = evaluation, callbacks
        self.batcher, self.syncs_per_chunk = shard(data, config, device, cluster)
        self.model = (model or new_model(config, data.vocab.words)).to(device)
        if device.type != "cpu":
            self.model.gather_contexts = True
        self.frozen = None if frozen is None else frozen.to(device)
        sgd = SGD(self.model, self.frozen, config.step_limit)
        # a subword step's bag layout is built when first used, which a graph cannot capture
        graphs = config.cuda_graphs and device.type == "cuda" and not cluster.distributed \
            and config.ngrams() is None
        self.step = GraphStep(sgd, device) if graphs \
            else Step(sgd, device, threads or step_threads(device, cluster))
        self.position = position or Position()
        self.total_words = float(config.epochs * int(data.offsets[-1]))
        self.scores: dict[str, Any] | None = None
        self._pending = _Pending()
        self._stop_signal: int | None = None
        self._high_loss: float | None = None  # a loss far above its start, seen at a sync point
        self._ended = False  # how the run ended (diverged, interrupted, ...) is recorded
        self.table_sync = None
        if cluster.distributed:  # several processes: they sync the rows their updates change
            self.table_sync = TableSync({"input": self.model.input.weight.data,
                                         "output": self.model.output.weight.data})
            self.step.sgd.before_update = self.table_sync.before_update

    def run(self, progress: bool = True) -> TrainResult:
        """Train from the position on; the run directory says how it ended."""
        with self._signals_caught():  # a signal from here on stops at the next sync point
            try:
                return self._train(progress)
            except BaseException as e:
                self._failed(e)
                raise

    def _train(self, progress: bool) -> TrainResult:
        if self.writer is not None:
            if self.position.steps == 0:
                self.writer.start(self.config, self.data.vocab)
            else:
                self.writer.trim_metrics(self.position)
                self.writer.write_info("running", self._result(math.nan), self.position)
        bar = tqdm(total=self.total_words, initial=self.position.words, unit="word",
                   unit_scale=True, disable=not (progress and self.cluster.is_main),
                   dynamic_ncols=True, mininterval=0.5)
        metrics = self.writer.metrics() if self.writer is not None else nullcontext()
        with metrics as log, self.step.threads_started(), bar:
            loss, stopped = self._loop(bar, log)
        return self._finish(loss, stopped)

    def _loop(self, bar: tqdm, log: IO[str] | None) -> tuple[float, bool]:
        """(the last logged loss, whether a callback stopped the run)."""
        cfg, pos = self.config, self.position
        self._started = time.perf_counter() - pos.seconds
        loss, lr = math.nan, cfg.lr
        for epoch in range(pos.epoch, cfg.epochs):
            here = epoch == pos.epoch
            batches = self.batcher.epoch(epoch, pos.chunk if here else 0, pos.batch if here else 0)
            for chunk, index, n_batches, batch in batches:
                lr = learning_rate(cfg, self._words_estimate(), self.total_words)
                pos.steps += 1
                syncs = self._syncs_due(index + 1, n_batches)
                with_loss = syncs > 0 or pos.steps % LOSS_EVERY == 0
                self._add_pending(batch, *self.step(batch, lr, with_loss))
                pos.epoch, pos.chunk, pos.batch = epoch, chunk, index + 1
                for _ in range(syncs):
                    loss = self._sync_point(lr, bar, log)
            pos.epoch, pos.chunk, pos.batch = epoch + 1, 0, 0
            if self.writer is not None:
                self._save_checkpoint(self.cluster.world_size * [0])
                if self.evaluation is not None:
                    self._started += self._evaluate(log, bar)
            if self._callbacks_stop(loss, lr) and epoch + 1 < cfg.epochs:
                return loss, True
        return loss, False

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

    def _sync_point(self, lr: float, bar: tqdm, log: IO[str] | None) -> float:
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
        if log is not None:
            self._log(log, bar, loss, lr)
        self._check_loss(loss)
        if stop:
            self._interrupt()
        return loss

    def _log(self, log: IO[str], bar: tqdm, loss: float, lr: float) -> None:
        pos = self.position
        record = {"step": pos.steps, "epoch": pos.epoch, "words": pos.words,
                  "loss": round(loss, 6), "lr": lr,
                  "words_per_s": round(pos.words / max(pos.seconds, 1e-9)),
                  "seconds": round(pos.seconds, 3)}
        if self.table_sync is not None:
            record.update(self.table_sync.log_fields())
        log.write(_json_line(record))
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.5f}", refresh=False)

    def _evaluate(self, log: IO[str] | None, bar: tqdm) -> float:
        """Score the vectors after an epoch, log and print it; return the seconds it took."""
        from w2v.evaluate import evaluate, summary_line

        begin = time.perf_counter()
        self.scores = evaluate(self._vectors(), *self.evaluation, strict=False)
        if log is not None:
            log.write(_json_line({"epoch": self.position.epoch, "words": self.position.words,
                                  "eval": self.scores}))
        bar.write(f"epoch {self.position.epoch}: {summary_line(self.scores)}")
        return time.perf_counter() - begin

    def _callbacks_stop(self, loss: float, lr: float) -> bool:
        """Call the callbacks (on the main rank); whether one of them asked to stop."""
        stop = False
        if self.callbacks and self.cluster.is_main:
            begin = time.perf_counter()
            pos = self.position
            event = EpochEvent(pos.epoch, pos.words, loss, lr,
                               pos.words / max(pos.seconds, 1e-9), pos.seconds, self.scores,
                               self._vectors)
            answers = [callback(event) for callback in self.callbacks]  # each one is called
            stop = any(answer is False for answer in answers)
            self._started += time.perf_counter() - begin
        return bool(broadcast(stop, self.cluster)) if self.cluster.distributed else stop

    def _check_loss(self, loss: float) -> None:
        """A loss that is not finite is divergence; one far above its start is divergence too,
        reported at the next check (this sync point's successor, the epoch's checkpoint or the
        run's end), by then often with a loss or weights that are no longer finite."""
        if not math.isfinite(loss):
            self._diverged(f"the loss became {loss}")
        self._check_high_loss()
        if loss > DIVERGED_LOSS:
            self._high_loss = loss

    def _check_high_loss(self) -> None:
        if self._high_loss is not None:
            self._diverged(f"the loss became {self._high_loss:.3g}, far above its start "
                           f"({START_LOSS:.3f} per term)")

    def _check_tables(self, norms: bool) -> None:
        """Finite tables, a sane loss (and, with `norms`, rows of sane size), or divergence."""
        tables = (self.model.input.weight, self.model.output.weight)
        if not all(torch.isfinite(t).all() for t in tables):
            self._diverged("the weights became infinite or NaN")
        self._check_high_loss()
        if norms:
            largest = max(float(t.detach().norm(dim=1).max()) for t in tables)
            if largest > DIVERGED_NORM:
                self._diverged(f"rows of the tables grew to a norm of {largest:.3g}",
                               max_norm=DIVERGED_NORM)

    def _diverged(self, what: str, max_norm: float | None = None) -> None:
        """Stop without saving: the checkpoint on disk is the last good one."""
        kept = "no checkpoint had been saved yet"
        if self.writer is not None:
            self._write_end("diverged", math.nan)
            kept = self.writer.checkpoint_kept(max_norm)
        limit = f"--step-limit (now {self.config.step_limit:g})" if self.config.step_limit \
            else f"--batch-size (now {self.config.batch_size}) or set --step-limit 3"
        raise W2VError(f"training diverged: {what} at step {self.position.steps}; lower --lr "
                       f"(now {self.config.lr}) or {limit}, and train again; {kept}")

    def _interrupt(self) -> None:
        batches = gather(self.position.batch, self.cluster)
        if self.writer is not None:
            self._save_checkpoint(batches)
            self._check_tables(norms=True)
            self._write_vectors()
            self._write_end("interrupted", math.nan)
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "another process"
        where = self._run_path()
        raise Interrupted(f"stopped by {name} at epoch {self.position.epoch + 1}; checkpoint saved "
                          f"in {where}; continue with: w2v train --resume --run-dir {where}")

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

    def _save_checkpoint(self, batches: list[int]) -> None:
        """Both tables and the position; `batches` holds each rank's next batch."""
        self._check_tables(norms=False)
        position = Position(**vars(self.position))
        self.writer.save_checkpoint(Checkpoint(
            self.config, position, batches, self.model.input.weight, self.model.output.weight,
            vocab_digest(self.data.vocab.words), self.frozen))

    def _finish(self, loss: float, stopped: bool) -> TrainResult:
        tables = [self.model.input.weight, self.model.output.weight]
        digests = gather(table_digest(tables), self.cluster)
        self._check_tables(norms=True)
        result = self._result(loss)
        if self.writer is not None:
            self._write_vectors()
            self._write_end("stopped" if stopped else "complete", loss, digests)
        if len(set(digests)) > 1:
            raise W2VError(f"the {len(digests)} processes ended with different tables "
                           f"({', '.join(digests)}); the run in {self._run_path()} is not usable")
        return result

    def _failed(self, error: BaseException) -> None:
        """The run records the truth when training stops on an error it did not record."""
        if self.writer is None or self._ended:
            return
        try:
            self._write_end("failed", math.nan, error=str(error) or type(error).__name__)
        except (OSError, W2VError):
            pass  # the disk may be what failed; the lock tells that nothing trains the run

    def _write_end(self, status: str, loss: float, digests: list[str] | None = None,
                   error: str | None = None) -> None:
        self._ended = True
        sync = None if self.table_sync is None else self.table_sync.summary()
        self.writer.write_info(status, self._result(loss), self.position, scores=self.scores,
                            digests=digests, error=error, sync=sync)

    def _word_vectors(self) -> np.ndarray:
        return self.model.word_vectors().detach().cpu().numpy()

    def _write_vectors(self) -> None:
        self.writer.write_vectors(self._word_vectors(), self.model.words.subword_table())

    def _vectors(self) -> Vectors:
        from w2v.vectors import Vectors

        vocab = self.data.vocab
        return Vectors(vocab.words, self._word_vectors().copy(), vocab.counts,
                       subwords=self.model.words.subword_table())

    def _run_path(self) -> Path:
        """The run directory (known to the main rank, which writes it)."""
        return self.writer.path if self.writer is not None else Path("the run directory")

    def _result(self, loss: float) -> TrainResult:
        pos = self.position
        seconds = max(pos.seconds, 1e-9)
        return TrainResult(self._run_path(), loss, pos.words / seconds, pos.centers / seconds,
                           str(self.device), pos.seconds)


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record) + "\n"
