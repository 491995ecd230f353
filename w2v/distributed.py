"""Training on several processes with torch.distributed: who we are, which part of the corpus
each process trains on, and keeping the tables in step.

`torchrun --nproc-per-node N -m w2v train ...` sets RANK, WORLD_SIZE and friends; `w2v train
--nproc N` starts the same N processes itself. Each rank trains on its own shard of the corpus;
at sync points the ranks add up what each changed in the tables since the last one, so all
ranks hold the same tables after every sync (gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from w2v.config import TrainConfig
from w2v.data.batcher import Batcher, even_chunks, expected_keep_share
from w2v.data.corpus import Dataset
from w2v.errors import W2VError


@dataclass(frozen=True)
class Cluster:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


SINGLE_PROCESS = Cluster()


def join(device_type: str) -> Cluster:
    """This process's place in the job, joining the process group when there is one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return SINGLE_PROCESS
    cluster = Cluster(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")),
                      int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size))))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend)
    return cluster


def leave(cluster: Cluster) -> None:
    if cluster.distributed and dist.is_initialized():
        dist.destroy_process_group()


def broadcast(value: Any, cluster: Cluster) -> Any:
    """Rank 0's value, on every rank."""
    if not cluster.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any, cluster: Cluster) -> list[Any]:
    """Every rank's value, in rank order, on every rank."""
    if not cluster.distributed:
        return [value]
    values: list[Any] = [None] * cluster.world_size
    dist.all_gather_object(values, value)
    return values


def sync_interval(config: TrainConfig, device: torch.device) -> int:
    """Steps between the processes' syncs: the config's, or, where it is 0, by device.

    gloo's all-reduce of both tables takes about 6 ms on a CPU: on PTB with 2 processes, syncing
    every 4 steps trained in 18.7 s and every 32 in 8.0 s, at the same score; NCCL's is cheap.
    """
    if config.sync_every:
        return config.sync_every
    return 4 if device.type == "cuda" else 32


def shard(data: Dataset, config: TrainConfig, device: torch.device,
          cluster: Cluster) -> tuple[Batcher, int]:
    """This rank's batcher over its part of the corpus, and the sync points in each chunk.

    Every rank cuts its part into as many chunks as every other rank's, and each takes its share
    of a batch, so a synced step is one step of batch_size centers.
    """
    counts = data.vocab.counts
    if not cluster.distributed:
        return Batcher(data.tokens, data.offsets, counts, config, device), 1
    shards = even_chunks(data.offsets, cluster.world_size)
    largest = max(end - start for start, end in shards)
    n_chunks = -(-largest // config.chunk_tokens)
    start, end = shards[cluster.rank]
    first, last = np.searchsorted(data.offsets, [start, end])
    offsets = data.offsets[first:last + 1] - start
    share = max(1, config.batch_size // config.group_size // cluster.world_size) * config.group_size
    config = config.replace(batch_size=share)
    batcher = Batcher(data.tokens[start:end], offsets, counts, config, device,
                      shard=cluster.rank, chunks=even_chunks(offsets, n_chunks))
    kept_per_chunk = largest / n_chunks * expected_keep_share(counts, config.sample)
    centers_between_syncs = config.batch_size * sync_interval(config, device)
    return batcher, max(1, math.ceil(kept_per_chunk / centers_between_syncs))


class TableSync:
    """Adds up every rank's changes to the tables since the last sync, on every rank."""

    def __init__(self, tables: list[torch.Tensor]) -> None:
        self.tables = tables
        self.anchors = [t.detach().clone() for t in tables]

    def __call__(self, counters: torch.Tensor) -> torch.Tensor:
        """Sync the tables; return the counters summed over ranks (one tensor, summed in place)."""
        for table, anchor in zip(self.tables, self.anchors, strict=True):
            table.sub_(anchor)
            dist.all_reduce(table)
            table.add_(anchor)
            anchor.copy_(table)
        dist.all_reduce(counters)
        return counters


def table_digest(tables: list[torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for table in tables:
        digest.update(table.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def launch(nproc: int, target: Callable[..., None], *args: Any) -> None:
    """Run target(*args) in nproc processes on this machine, as torchrun would."""
    if nproc < 1:
        raise W2VError(f"--nproc must be at least 1, got {nproc}")
    port = _free_port()
    context = mp.start_processes(_run_rank, args=(nproc, port, target, args), nprocs=nproc,
                                 join=False, start_method="spawn")
    try:
        _join(context)
    except mp.ProcessExitedException as e:
        raise SystemExit(e.exit_code or 1) from None
    except mp.ProcessRaisedException as e:
        last = str(e).strip().splitlines()[-1]
        raise W2VError(f"training process {e.error_index} of {nproc} failed: {last}") from None


# When one process ends with an error, how long the others have to end on their own (they
# usually end at the same sync point) before they are terminated.
GRACE_S = 10


def _join(context: mp.ProcessContext) -> None:
    """Wait for the processes; a stop signal here (Ctrl-C, SIGTERM) is passed on to them, so
    that they stop together at their next sync point."""
    try:
        while not context.join(grace_period=GRACE_S):
            pass
    except KeyboardInterrupt:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
        while not context.join(grace_period=GRACE_S):
            pass


def _run_rank(rank: int, nproc: int, port: int, target: Callable[..., None], args: tuple) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc),
                       "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    target(*args)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
