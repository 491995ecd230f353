"""Starting and resuming training runs, in this process or in several (torch.distributed)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from w2v.config import TrainConfig, load_config
from w2v.data.corpus import find_dataset, open_dataset
from w2v.distributed import Cluster, broadcast, join, launch, leave
from w2v.errors import Interrupted, W2VError
from w2v.rundir import RUNS_ROOT, find_run, is_run, new_run_dir, read_run_info
from w2v.train import MODEL_CLASSES, Position, Trainer, TrainResult, check_device, resolve_device

Evaluation = tuple[list[Path], list[Path]] | None


def start_run(data: Path | None, run_dir: Path | None, config_file: Path | None,
              overrides: dict[str, Any], device: str, progress: bool = True,
              evaluation: Evaluation = None, nproc: int = 1) -> TrainResult | None:
    """Train a new run on a prepared dataset (default: the most recent one under ./data).

    Returns the result on the main process, None on the others.
    """
    config = load_config(config_file, **overrides)
    dataset = find_dataset(data)
    open_dataset(dataset)
    _check_launch(device, nproc)
    if nproc > 1:
        run_dir = _choose_run_dir(run_dir, dataset)
        launch(nproc, _in_rank, _train, dataset, run_dir, config, device, progress, evaluation,
               False)
        return _result_of(run_dir)
    return _train(dataset, run_dir, config, device, progress, evaluation, False)


def resume_run(run_dir: Path | None, data: Path | None, config_file: Path | None,
               overrides: dict[str, Any], device: str, force: bool, progress: bool = True,
               evaluation: Evaluation = None, nproc: int = 1) -> TrainResult | None:
    """Continue a run from its checkpoint; settings that differ from it need force."""
    run = find_run(run_dir, option="--run-dir")
    info = read_run_info(run)
    saved, position, batches, tables = load_checkpoint(run)
    config = load_config(config_file, saved, **overrides)
    before = saved.to_dict()
    changed = {k: v for k, v in config.to_dict().items() if before[k] != v}
    if changed and not force:
        names = ", ".join(f"{k} ({before[k]} -> {v})" for k, v in changed.items())
        raise W2VError(f"--resume with settings that differ from the checkpoint's: {names}; "
                       f"drop them, or add --force to continue with them")
    _check_changes(changed, position, batches)
    if config.dim != tables["center"].shape[1]:
        raise W2VError(f"--resume cannot change dim: the checkpoint's vectors have "
                       f"{tables['center'].shape[1]} dimensions; start a new run instead")
    if position.epoch >= config.epochs:
        raise W2VError(f"the run in {run} has finished all {config.epochs} epochs; nothing to "
                       f"resume (to train longer, add --epochs N --force)")
    dataset = find_dataset(data if data is not None else Path(info["dataset"]))
    words = len(open_dataset(dataset).vocab.words)
    if words != tables["center"].shape[0]:
        raise W2VError(f"the dataset {dataset} has {words} words but the run was trained on "
                       f"{tables['center'].shape[0]}; give the run's dataset with --data")
    _check_launch(device, nproc)
    world = nproc if nproc > 1 else int(os.environ.get("WORLD_SIZE", "1"))
    _check_world(batches, world)
    if nproc > 1:
        launch(nproc, _in_rank, _train, dataset, run, config, device, progress, evaluation, True)
        return _result_of(run)
    return _train(dataset, run, config, device, progress, evaluation, True)


def _train(dataset_path: Path, run_dir: Path | None, config: TrainConfig, device: str,
           progress: bool, evaluation: Evaluation, resume: bool) -> TrainResult | None:
    """This process's part of a run: join the others (if any), train, leave."""
    cluster = join(check_device(device))
    try:
        dataset = open_dataset(dataset_path)
        position, model = None, None
        if resume:
            _, position, batches, tables = load_checkpoint(run_dir)
            position.batch = batches[cluster.rank] if _mid_epoch(position, batches) else 0
            model = MODEL_CLASSES[config.model](*tables["center"].shape)
            with torch.no_grad():
                model.center.weight.copy_(tables["center"])
                model.context.weight.copy_(tables["context"])
        else:
            run_dir = _on_main(cluster, lambda: _choose_run_dir(run_dir, dataset_path))
        trainer = Trainer(dataset, config, run_dir, resolve_device(device, cluster),
                          cluster=cluster, position=position, model=model, evaluation=evaluation)
        result = trainer.run(progress)
    finally:
        leave(cluster)
    return result if cluster.is_main else None


def _check_launch(device: str, nproc: int) -> None:
    """Refuse a device or process count that cannot work, before any process starts."""
    if nproc < 1:
        raise W2VError(f"--nproc must be at least 1, got {nproc}")
    check_device(device)


def _choose_run_dir(run_dir: Path | None, dataset: Path) -> Path:
    if run_dir is None:
        return new_run_dir(RUNS_ROOT, dataset.name)
    if is_run(run_dir):
        raise W2VError(f"{run_dir} already holds a run; continue it with --resume, "
                       f"or choose another --run-dir")
    return run_dir


def _on_main(cluster: Cluster, decide: Callable[[], Any]) -> Any:
    """decide() on the main process; every process gets its answer, or its error."""
    if not cluster.distributed:
        return decide()
    answer, error = None, None
    if cluster.is_main:
        try:
            answer = decide()
        except W2VError as e:
            error = str(e)
    answer, error = broadcast((answer, error), cluster)
    if error is not None:
        raise W2VError(error)
    return answer


# Settings that decide which batches an epoch is cut into: a checkpoint taken in the middle of an
# epoch points at a batch of the old cutting, so they can change only at an epoch's end.
EPOCH_LAYOUT = ("window", "negatives", "sample", "batch_size", "group_size", "chunk_tokens", "seed")


def _check_changes(changed: dict[str, Any], position: Position, batches: list[int]) -> None:
    """Refuse, even with --force, changes that would make the resumed run wrong."""
    if "model" in changed:
        raise W2VError("--resume cannot change the model: its tables mean other things in "
                       "another model; start a new run instead")
    layout = [name for name in EPOCH_LAYOUT if name in changed]
    if layout and _mid_epoch(position, batches):
        flags = ", ".join("--" + name.replace("_", "-") for name in layout)
        raise W2VError(f"the checkpoint was taken in the middle of epoch {position.epoch + 1}, "
                       f"and {flags} would cut that epoch into other batches; resume without "
                       f"changing it, or change it once the epoch is done")


def _mid_epoch(position: Position, batches: list[int]) -> bool:
    return position.chunk > 0 or any(batches)


def _check_world(batches: list[int], world: int) -> None:
    if any(batches) and len(batches) != world:
        raise W2VError(f"the checkpoint was written by {len(batches)} processes in the middle of "
                       f"an epoch; resume it with --nproc {len(batches)}")


def load_checkpoint(run_dir: Path) -> tuple[TrainConfig, Position, list[int],
                                            dict[str, torch.Tensor]]:
    """(config, position, next batch of each rank, tables), loaded without executing code."""
    path = run_dir / "checkpoint.pt"
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
        saved = dict(state["position"])
        batches = [int(b) for b in saved.pop("batches")]
        tables = {"center": state["center"], "context": state["context"]}
        return TrainConfig(**state["config"]), Position(**saved), batches, tables
    except FileNotFoundError:
        raise W2VError(f"no checkpoint in {run_dir}; start a new run without --resume") from None
    except Exception as e:  # noqa: BLE001 (a damaged file fails in many ways inside torch.load)
        raise W2VError(f"the checkpoint {path} is damaged ({type(e).__name__}); "
                       f"start a new run without --resume") from None


def _in_rank(function: Callable[..., Any], *args: Any) -> None:
    """A spawned rank: run, and report a user error once (from rank 0) as one line."""
    try:
        function(*args)
    except W2VError as e:
        if os.environ.get("RANK") == "0":
            print(f"w2v: error: {e}", file=sys.stderr)
        sys.exit(130 if isinstance(e, Interrupted) else 1)


def _result_of(run: Path) -> TrainResult:
    info = read_run_info(run)
    return TrainResult(run, info["final_loss"] or float("nan"), info["words_per_s"],
                       info["centers_per_s"], f"{info['device']} x {info['processes']}",
                       info["seconds"])
