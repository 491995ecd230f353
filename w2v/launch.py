"""Starting and resuming training runs, in this process or in several (torch.distributed).

A run is described once, by a `Launch`, after every check a user's mistake can fail: the
settings, the dataset, the device, the memory the settings need, the vectors to start from, the
run directory and, to resume, the checkpoint. Then each process that takes part runs
`train_here`: joins the others, claims the run directory (the main process), builds the model
and trains it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from w2v.config import TrainConfig, load_config
from w2v.data.corpus import Dataset, find_dataset, open_dataset
from w2v.device import check_device, check_memory, resolve_device, step_threads
from w2v.distributed import Cluster, broadcast, join, launch, leave
from w2v.errors import Interrupted, W2VError
from w2v.models import NegativeSamplingModel
from w2v.run import (
    RUNS_ROOT,
    Checkpoint,
    Position,
    Run,
    RunFacts,
    RunWriter,
    check_new_run_dir,
    check_resume_data,
    check_resume_settings,
    checkpoint_stamp,
    find_run,
    in_use,
    is_locked,
    load_checkpoint,
    new_run_dir,
    read_info,
)
from w2v.trainer import Callback, Evaluation, Trainer, TrainResult, check_trainable, new_model


@dataclass(frozen=True)
class Launch:
    """One training run, as every process that takes part in it needs it described."""

    dataset: Path
    run_dir: Path | None  # None: a new one under ./runs, named after the dataset
    config: TrainConfig
    device: str = "auto"
    nproc: int = 1
    resume: bool = False
    force: bool = False  # a new run: start over an existing run in run_dir
    init: Path | None = None  # vectors (a file or a run) the input table starts from
    freeze: bool = False  # rows started from `init` never change
    evaluation: Evaluation | None = None
    progress: bool = True
    checkpoint_stamp: int | None = None  # when resuming: the checkpoint file's mtime in ns




@dataclass
class InitialVectors:
    """Rows of the input table that start from pretrained vectors."""

    source: Path
    ids: np.ndarray  # word ids of the dataset found in the vectors
    rows: np.ndarray  # [len(ids), dim] their vectors
    frozen: bool

    def describe(self) -> dict[str, Any]:
        return {"source": str(self.source), "words": len(self.ids), "frozen": self.frozen}


@dataclass
class Plan:
    """A checked launch, and what checking it read (so that this process need not read it
    again): the dataset, the checkpoint to resume, the vectors to start from."""

    launch: Launch
    dataset: Dataset = field(repr=False)
    checkpoint: Checkpoint | None = field(default=None, repr=False)
    init: InitialVectors | None = field(default=None, repr=False)


def plan_new(data: Dataset | Path | None, run_dir: Path | None, config: TrainConfig, *,
                device: str = "auto", nproc: int = 1, force: bool = False,
                init: Path | None = None, freeze: bool = False,
                evaluation: Evaluation | None = None, progress: bool = True) -> Plan:
    """Check a new run: its dataset (default: the most recent under ./data), device, memory,
    starting vectors and run directory (default: a new one under ./runs)."""
    dataset = data if isinstance(data, Dataset) else open_dataset(find_dataset(data))
    kind = _check_launch(device, nproc, dataset)
    check_trainable(dataset, config)
    _check_memory(config, dataset, device, kind, nproc)
    if freeze and init is None:
        raise W2VError("--freeze keeps the rows that --init sets; give --init VECTORS too")
    if freeze and config.ngrams() is not None:
        raise W2VError("--freeze cannot keep vectors as they are with --subwords: a word's vector "
                       "is the mean of its own row and its n-grams' rows, which other words "
                       "share and train; drop --freeze or --subwords")
    initial = _read_init(init, dataset, config, freeze) if init is not None else None
    if not _under_torchrun():  # there, the main process decides, once the processes have met
        run_dir = run_dir or new_run_dir(RUNS_ROOT, Path(dataset.path).name)
        check_new_run_dir(run_dir, force)
    launch_ = Launch(Path(dataset.path), run_dir, config, device, nproc, False, force, init,
                     freeze, evaluation, progress)
    return Plan(launch_, dataset, init=initial)


def plan_resume(run_dir: Path | None, data: Dataset | Path | None,
                   config_file: Path | None, overrides: dict[str, Any], *,
                   device: str = "auto", nproc: int = 1, force: bool = False,
                   evaluation: Evaluation | None = None, progress: bool = True) -> Plan:
    """Check that a run can continue from its checkpoint; settings that differ need force."""
    run = find_run(run_dir, option="--run-dir")
    info = read_info(run)
    if not _under_torchrun() and is_locked(run):
        raise W2VError(in_use(run))
    checkpoint = load_checkpoint(run)
    config = load_config(config_file, checkpoint.config, **overrides)
    check_resume_settings(run, checkpoint, config, force)
    if isinstance(data, Dataset):
        dataset = data
    else:
        dataset = open_dataset(find_dataset(data if data is not None else Path(info["dataset"])))
    _check_launch(device, nproc, dataset)
    check_resume_data(run, checkpoint, dataset,
                      nproc if nproc > 1 else int(os.environ.get("WORLD_SIZE", "1")))
    launch_ = Launch(Path(dataset.path), run, config, device, nproc, True,
                     evaluation=evaluation, progress=progress,
                     checkpoint_stamp=checkpoint_stamp(run))
    return Plan(launch_, dataset, checkpoint)


def train(plan: Plan, callbacks: Sequence[Callback] = ()) -> Run | None:
    """Train a checked launch here, or in `nproc` processes started here. The run, on the main
    process; None on the others."""
    launch_ = plan.launch
    if launch_.nproc > 1:
        if callbacks:
            raise W2VError("callbacks cannot reach the processes that nproc > 1 starts (they are "
                           "new interpreters, which functions of this one cannot be sent to); "
                           "train with nproc=1, or start your script with torchrun, where each "
                           "process runs it and the main one calls its callbacks")
        launch(launch_.nproc, _in_rank, train_here, launch_)
        return Run(launch_.run_dir)  # chosen before the processes started
    result = train_here(launch_, callbacks, plan)
    return Run(result.run_dir, result) if result is not None else None


def train_here(launch_: Launch, callbacks: Sequence[Callback] = (),
               plan: Plan | None = None) -> TrainResult | None:
    """This process's part of a run: join the others (if any), train, leave.

    `plan` is the launch as this process checked it; a process started for the run reads
    what it needs (without hashing the dataset again). Returns the result on the main process,
    None on the others.
    """
    cluster = join(check_device(launch_.device))
    writer: RunWriter | None = None
    try:
        if plan is None:
            plan = _load(launch_)
        data, config = plan.dataset, launch_.config
        device = resolve_device(launch_.device, cluster)
        threads = step_threads(device, cluster)
        facts = RunFacts.of(data, config, cluster.world_size, threads,
                            plan.init.describe() if plan.init is not None else None)

        def claim() -> None:
            nonlocal writer
            writer = _claim(launch_, facts)

        _on_main(cluster, claim)
        model, position, frozen = _starting_point(plan, cluster)
        trainer = Trainer(data, config, writer, device, cluster=cluster, model=model,
                          position=position, threads=threads, frozen=frozen,
                          evaluation=launch_.evaluation, callbacks=callbacks)
        result = trainer.run(launch_.progress)
    finally:
        if writer is not None:
            writer.close()
        leave(cluster)
    return result if cluster.is_main else None


def _load(launch_: Launch) -> Plan:
    """What a process started for the run reads: what its starter checked."""
    dataset = open_dataset(launch_.dataset, verify=False)
    checkpoint = load_checkpoint(launch_.run_dir) if launch_.resume else None
    init = (_read_init(launch_.init, dataset, launch_.config, launch_.freeze)
            if launch_.init is not None else None)
    return Plan(launch_, dataset, checkpoint, init)


def _claim(launch_: Launch, facts: RunFacts) -> RunWriter:
    """Lock the run directory: a new run's (which must be new, empty, or a run and force), or
    the run to resume, unchanged since its checkpoint was checked."""
    if not launch_.resume:
        name = Path(launch_.dataset).name
        return RunWriter.new(launch_.run_dir or new_run_dir(RUNS_ROOT, name), facts, launch_.force)
    writer = RunWriter.resumed(launch_.run_dir, facts)
    if checkpoint_stamp(launch_.run_dir) != launch_.checkpoint_stamp:
        writer.close()
        raise W2VError(f"the run in {launch_.run_dir} changed while this one was starting "
                       f"(another w2v process trained it); try again")
    return writer


def _starting_point(plan: Plan, cluster: Cluster
                    ) -> tuple[NegativeSamplingModel, Position | None, torch.Tensor | None]:
    """(model, position, frozen input rows): from the checkpoint, or new, or from --init."""
    config, vocab_size = plan.launch.config, len(plan.dataset.vocab)
    checkpoint = plan.checkpoint
    if checkpoint is not None:
        position = replace(checkpoint.position,
                           batch=checkpoint.batches[cluster.rank] if checkpoint.mid_epoch else 0)
        model = new_model(config, plan.dataset.vocab.words)
        with torch.no_grad():
            model.input.weight.copy_(checkpoint.input)
            model.output.weight.copy_(checkpoint.output)
        return model, position, checkpoint.frozen
    model = new_model(config, plan.dataset.vocab.words)
    init = plan.init
    if init is None:
        return model, None, None
    with torch.no_grad():
        model.input.weight[torch.from_numpy(init.ids)] = torch.from_numpy(init.rows)
    frozen = None
    if init.frozen:
        frozen = torch.zeros(vocab_size, dtype=torch.bool)
        frozen[torch.from_numpy(init.ids)] = True
    return model, None, frozen


def _read_init(source: Path, dataset: Dataset, config: TrainConfig,
               freeze: bool) -> InitialVectors:
    """The dataset's words found in `source` (a word2vec file or a run), with their vectors."""
    from w2v.vectors import Vectors

    vectors = Vectors.load(source)
    if vectors.dim != config.dim:
        raise W2VError(f"--init {source} has vectors of dimension {vectors.dim}, but this run's "
                       f"dim is {config.dim}; give --dim {vectors.dim}, or other vectors")
    index = vectors.key_to_index
    found = [(i, index[word]) for i, word in enumerate(dataset.vocab.words) if word in index]
    if not found:
        raise W2VError(f"--init {source}: none of the {len(dataset.vocab):,} words of the dataset "
                       f"{dataset.path} has a vector there")
    ids, rows = (np.array(column, dtype=np.int64) for column in zip(*found, strict=True))
    # + 0.0 turns -0.0 into 0.0, which adding a zero update keeps bit for bit (for --freeze)
    return InitialVectors(source, ids, vectors.vectors[rows] + np.float32(0.0), freeze)


def _check_launch(device: str, nproc: int, dataset: Dataset) -> str:
    """Refuse a device or process count that cannot work, before any process starts; the type
    of the device."""
    if nproc < 1:
        raise W2VError(f"--nproc must be at least 1, got {nproc}")
    kind = check_device(device)
    processes = max(nproc, int(os.environ.get("WORLD_SIZE", "1")))
    if dataset.sentences < processes:
        raise W2VError(f"{dataset.sentences} sentences cannot be split into {processes} parts; "
                       f"use fewer processes or a larger corpus")
    return kind


def _check_memory(config: TrainConfig, dataset: Dataset, device: str, kind: str,
                  nproc: int) -> None:
    """The settings' arrays must fit in memory: on a CPU, all of this machine's processes';
    on GPUs, each process's own (the current one's, here)."""
    local = max(nproc, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    ngrams = config.ngrams()
    check_memory(config, len(dataset.vocab), int(dataset.offsets[-1]),
                 torch.device(device if device.startswith("cuda") else kind),
                 local if kind == "cpu" else 1,
                 0 if ngrams is None else ngrams.count(dataset.vocab.words))


def _under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _on_main(cluster: Cluster, act: Callable[[], None]) -> None:
    """act() on the main process; if it fails, every process fails with its error."""
    if not cluster.distributed:
        act()
        return
    error = None
    if cluster.is_main:
        try:
            act()
        except W2VError as e:
            error = str(e)
    error = broadcast(error, cluster)
    if error is not None:
        raise W2VError(error)


def _in_rank(function: Callable[..., Any], *args: Any) -> None:
    """A spawned rank: run, and report a user error once (from rank 0) as one line."""
    try:
        function(*args)
    except W2VError as e:
        if os.environ.get("RANK") == "0":
            print(f"w2v: error: {e}", file=sys.stderr)
        sys.exit(130 if isinstance(e, Interrupted) else 1)
