"""Training on several processes with torch.distributed: who we are, and keeping tables in step.

`torchrun --nproc-per-node N -m w2v train ...` sets RANK, WORLD_SIZE and friends; `w2v train
--nproc N` starts the same N processes itself. Each rank trains on its own shard of the corpus;
every so often the ranks add up what each changed in the tables since the last sync, so all
ranks hold the same tables after every sync (gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

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
        while not context.join():
            pass
    except mp.ProcessExitedException as e:
        raise SystemExit(e.exit_code or 1) from None
    except mp.ProcessRaisedException as e:
        last = str(e).strip().splitlines()[-1]
        raise W2VError(f"training process {e.error_index} of {nproc} failed: {last}") from None


def _run_rank(rank: int, nproc: int, port: int, target: Callable[..., None], args: tuple) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc),
                       "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    target(*args)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
