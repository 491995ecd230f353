"""The training loop: batches in, SGD steps with word2vec's linear learning-rate decay, a run out."""

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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from w2v.atomic import atomic_path
from w2v.cbow import CBOW
from w2v.config import TrainConfig, load_config
from w2v.data.batcher import Batch, Batcher
from w2v.data.corpus import find_dataset, open_dataset
from w2v.errors import Interrupted, W2VError
from w2v.model import NegativeSamplingModel, SkipGram
from w2v.rundir import (
    RUN_FORMAT,
    RUN_VERSION,
    RUNS_ROOT,
    find_run,
    is_run,
    new_run_dir,
    read_run_info,
)

MODEL_CLASSES: dict[str, type[NegativeSamplingModel]] = {"skipgram": SkipGram, "cbow": CBOW}


class Vocabulary(Protocol):
    words: list[str]
    counts: np.ndarray

    def save(self, path: Path) -> None: ...


class PreparedData(Protocol):
    path: Path
    tokens: np.ndarray
    offsets: np.ndarray
    vocab: Vocabulary
    meta: dict[str, Any]


@dataclass
class Position:
    """Where training stands: the next batch to run and what has been done before it."""

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


def resolve_device(name: str) -> torch.device:
    """auto takes a GPU when there is one; asking for CUDA where there is none is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise W2VError(f"--device {name}: no CUDA GPU is available here; use --device cpu")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise W2VError(f"--device {name}: there are only {torch.cuda.device_count()} GPUs "
                           f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        return device
    raise W2VError(f"--device must be auto, cpu, cuda or cuda:N, got '{name}'")


def cpu_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def learning_rate(config: TrainConfig, words_done: float, total_words: float) -> float:
    """word2vec's schedule: linear from lr down to lr * min_lr_ratio over all epochs."""
    return config.lr * max(config.min_lr_ratio, 1.0 - words_done / total_words)


class Trainer:
    def __init__(self, data: PreparedData, config: TrainConfig, run_dir: Path,
                 device: torch.device, position: Position | None = None,
                 model: NegativeSamplingModel | None = None, threads: int | None = None) -> None:
        self.data, self.config, self.run_dir, self.device = data, config, run_dir, device
        self.threads = 1 if device.type != "cpu" else (threads or cpu_threads())
        self.batcher = Batcher(data.tokens, data.offsets, data.vocab.counts, config, device)
        if model is None:
            generator = torch.Generator().manual_seed(config.seed)
            model = MODEL_CLASSES[config.model](len(data.vocab.words), config.dim, generator)
        self.model = model.to(device)
        self.position = position or Position()
        self.total_words = float(config.epochs * self.batcher.words_per_epoch)
        self._stop_signal: int | None = None

    def run(self, progress: bool = True) -> TrainResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.position.steps == 0:
            self._write_start_files()
        self._write_run_info("running", self._result(math.nan))
        with self._signals_caught(), self._thread_pool():
            last_loss = self._loop(progress)
        self._write_vectors()
        result = self._result(last_loss)
        self._write_run_info("complete", result)
        return result

    def _loop(self, progress: bool) -> float:
        cfg, pos = self.config, self.position
        loss_sum = torch.zeros((), device=self.device)
        count_sum = torch.zeros((), device=self.device)
        last_loss = math.nan
        started = time.perf_counter() - pos.seconds
        bar = tqdm(total=self.total_words, initial=pos.words, unit="word", unit_scale=True,
                   disable=not progress, dynamic_ncols=True, mininterval=0.5)
        with bar, open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as metrics:
            for epoch in range(pos.epoch, cfg.epochs):
                batches = self.batcher.epoch(epoch, pos.chunk if epoch == pos.epoch else 0,
                                             pos.batch if epoch == pos.epoch else 0)
                for chunk, index, batch in batches:
                    lr = learning_rate(cfg, pos.words, self.total_words)
                    loss, count = self._step(batch, lr)
                    loss_sum += loss
                    count_sum += count
                    pos.epoch, pos.chunk, pos.batch = epoch, chunk, index + 1
                    pos.words += batch.words
                    pos.centers += batch.centers_count
                    pos.steps += 1
                    bar.update(batch.words)
                    if pos.steps % cfg.log_every == 0:
                        pos.seconds = time.perf_counter() - started
                        last_loss = (loss_sum / count_sum.clamp(min=1)).item()
                        self._log(metrics, bar, last_loss, lr)
                        self._check_finite(last_loss)
                        loss_sum.zero_()
                        count_sum.zero_()
                    if self._stop_signal is not None:
                        pos.seconds = time.perf_counter() - started
                        self._interrupt()
                pos.epoch, pos.chunk, pos.batch = epoch + 1, 0, 0
                pos.seconds = time.perf_counter() - started
                self.save_checkpoint()
            if count_sum.item() > 0:
                last_loss = (loss_sum / count_sum).item()
        return last_loss

    def _step(self, batch: Batch, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step; on a multi-core CPU, one thread per slice of the batch.

        Every slice's gradient is taken from the same tables and the updates are applied in a
        fixed order, so the result does not depend on thread timing.
        """
        if self._pool is None:
            return self.model.sgd_step(batch, lr)
        parts = batch.split(self.threads)
        pending = [self._pool.submit(self.model.gradients, part) for part in parts[1:]]
        steps = [self.model.gradients(parts[0])] + [p.result() for p in pending]
        context_done = self._pool.submit(self.model.apply_context, steps, lr)
        self.model.apply_center(steps, lr)
        context_done.result()
        return sum(s.loss for s in steps), sum(s.count for s in steps)

    @contextmanager
    def _thread_pool(self) -> Iterator[None]:
        """Python threads over single-threaded ops: small ops pay no fork-join at every call."""
        if self.threads <= 1:
            self._pool = None
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        with ThreadPoolExecutor(self.threads - 1) as self._pool:
            try:
                yield
            finally:
                torch.set_num_threads(previous)

    def _log(self, metrics: Any, bar: tqdm, loss: float, lr: float) -> None:
        pos = self.position
        speed = pos.words / max(pos.seconds, 1e-9)
        record = {"step": pos.steps, "epoch": pos.epoch, "words": round(pos.words),
                  "loss": round(loss, 6), "lr": lr, "words_per_s": round(speed),
                  "seconds": round(pos.seconds, 3)}
        metrics.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.5f}", refresh=False)

    def _check_finite(self, loss: float) -> None:
        if not math.isfinite(loss):
            raise W2VError(
                f"training diverged: the loss became {loss} at step {self.position.steps}; "
                f"the last good checkpoint (end of epoch {self._checkpoint_epoch()}) is kept in "
                f"{self.run_dir}; lower --lr (now {self.config.lr}) and train again")

    def _checkpoint_epoch(self) -> int:
        path = self.run_dir / "checkpoint.pt"
        if not path.exists():
            return 0
        return int(torch.load(path, weights_only=True)["position"]["epoch"])

    def _interrupt(self) -> None:
        self.save_checkpoint()
        self._write_vectors()
        self._write_run_info("interrupted", self._result(math.nan))
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "signal"
        raise Interrupted(f"stopped by {name} at epoch {self.position.epoch + 1}; checkpoint saved in "
                          f"{self.run_dir}; continue with: w2v train --resume --run-dir {self.run_dir}")

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

    def save_checkpoint(self) -> None:
        pos = self.position
        state = {
            "format": RUN_FORMAT, "version": RUN_VERSION,
            "config": self.config.to_dict(),
            "position": {"epoch": pos.epoch, "chunk": pos.chunk, "batch": pos.batch,
                         "words": pos.words, "centers": pos.centers, "steps": pos.steps,
                         "seconds": pos.seconds},
            "center": self.model.center.weight.detach().cpu(),
            "context": self.model.context.weight.detach().cpu(),
        }
        with atomic_path(self.run_dir / "checkpoint.pt") as tmp:
            torch.save(state, tmp)

    def _write_start_files(self) -> None:
        with atomic_path(self.run_dir / "config.json") as tmp:
            tmp.write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")
        with atomic_path(self.run_dir / "vocab.tsv") as tmp:
            shutil.copyfile(Path(self.data.path) / "vocab.tsv", tmp)
        (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)

    def _write_vectors(self) -> None:
        with atomic_path(self.run_dir / "vectors.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, self.model.word_vectors().detach().cpu().numpy())

    def _result(self, loss: float) -> TrainResult:
        pos = self.position
        seconds = max(pos.seconds, 1e-9)
        return TrainResult(self.run_dir, loss, pos.words / seconds, pos.centers / seconds,
                           str(self.device), pos.seconds)

    def _write_run_info(self, status: str, result: TrainResult) -> None:
        info = {
            "format": RUN_FORMAT, "version": RUN_VERSION, "status": status,
            "dataset": str(Path(self.data.path).resolve()),
            "corpus": self.data.meta.get("source"),
            "vocab_size": len(self.data.vocab.words), "dim": self.config.dim,
            "epochs_done": self.position.epoch, "device": result.device,
            "seconds": round(result.seconds, 3), "words": round(self.position.words),
            "words_per_s": round(result.words_per_s), "centers_per_s": round(result.centers_per_s),
            "final_loss": None if math.isnan(result.loss) else round(result.loss, 6),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with atomic_path(self.run_dir / "run.json") as tmp:
            tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def load_checkpoint(run_dir: Path) -> tuple[dict[str, Any], Position, dict[str, torch.Tensor]]:
    """(config dict, position, tables) from a run's checkpoint, loaded without executing code."""
    path = run_dir / "checkpoint.pt"
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
        position = Position(**state["position"])
        tables = {"center": state["center"], "context": state["context"]}
        return state["config"], position, tables
    except FileNotFoundError:
        raise W2VError(f"no checkpoint in {run_dir}; start a new run without --resume") from None
    except Exception as e:  # noqa: BLE001 (a damaged file fails in many ways inside torch.load)
        raise W2VError(f"the checkpoint {path} is damaged ({type(e).__name__}); "
                       f"start a new run without --resume") from None


def start_run(data: Path | None, run_dir: Path | None, config_file: Path | None,
              overrides: dict[str, Any], device: str, progress: bool = True) -> TrainResult:
    """Train a new run on a prepared dataset (default: the most recent one under ./data)."""
    config = load_config(config_file, **overrides)
    dataset = open_dataset(find_dataset(data))
    if run_dir is None:
        run_dir = new_run_dir(RUNS_ROOT, dataset.path.name)
    elif is_run(run_dir):
        raise W2VError(f"{run_dir} already holds a run; continue it with --resume, "
                       f"or choose another --run-dir")
    return Trainer(dataset, config, run_dir, resolve_device(device)).run(progress)


def resume_run(run_dir: Path | None, data: Path | None, config_file: Path | None,
               overrides: dict[str, Any], device: str, force: bool,
               progress: bool = True) -> TrainResult:
    """Continue a run from its checkpoint; settings that differ need force."""
    run = find_run(run_dir)
    info = read_run_info(run)
    saved, position, tables = load_checkpoint(run)
    config = TrainConfig(**saved)
    asked = load_config(config_file, **overrides).to_dict() if config_file else overrides
    changed = {k: v for k, v in asked.items() if v is not None and saved.get(k) != v}
    if changed and not force:
        names = ", ".join(f"{k} ({saved.get(k)} -> {v})" for k, v in changed.items())
        raise W2VError(f"--resume with settings that differ from the checkpoint's: {names}; "
                       f"drop them, or add --force to continue with them")
    config = config.replace(**changed)
    dataset = open_dataset(find_dataset(data if data is not None else Path(info["dataset"])))
    if len(dataset.vocab.words) != tables["center"].shape[0]:
        raise W2VError(f"the dataset {dataset.path} has {len(dataset.vocab.words)} words but the "
                       f"run was trained on {tables['center'].shape[0]}; give the run's dataset "
                       f"with --data")
    model = MODEL_CLASSES[config.model](tables["center"].shape[0], tables["center"].shape[1])
    with torch.no_grad():
        model.center.weight.copy_(tables["center"])
        model.context.weight.copy_(tables["context"])
    trainer = Trainer(dataset, config, run, resolve_device(device), position, model)
    return trainer.run(progress)
