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
import time
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
    """Adds up every rank's changes to the tables since the last sync, on every rank, moving only
    the rows that some rank changed.

    Before a rank changes rows, it flags them and keeps their values (`before_update`). At a sync
    the ranks take the union of their flags (an all-reduce of one byte per row, max), then
    all-reduce the changes of the flagged rows only: the traffic grows with the rows touched
    between syncs, not with the vocabulary. A row that no rank flagged holds the same value on
    every rank already. A flagged row ends as (its value at the last sync) + (the sum of every
    rank's change): the arithmetic of all-reducing whole tables, so all ranks end a sync with the
    same tables, bit for bit.
    """

    def __init__(self, tables: dict[str, torch.Tensor], keep_all: bool | None = None) -> None:
        self.tables = tables
        first = next(iter(tables.values()))
        # Picking out the rows not kept yet needs their count on the host: on a GPU that would
        # wait for the device at every step, so there the rows of every update are kept (the
        # earliest value of a row counts). keep_all chooses either way on any device.
        self.keep_all = first.is_cuda if keep_all is None else keep_all
        sizes = [len(t) for t in tables.values()]
        # all tables' flags in one buffer, so that one all-reduce takes their union
        self._flags = torch.zeros(sum(sizes), dtype=torch.uint8, device=first.device)
        self.flags = dict(zip(tables, self._flags.split(sizes), strict=True))
        # per table, (rows, their values before an update), in the order the updates came
        self._kept: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {n: [] for n in tables}
        self._kept_rows = dict.fromkeys(tables, 0)
        # reused from sync to sync: buffers this large would be fresh, page-faulting memory
        self._buffer = torch.empty(0, first.shape[1], dtype=first.dtype, device=first.device)
        self.totals = SyncTotals(started=time.perf_counter())

    def before_update(self, table: str, rows: torch.Tensor) -> None:
        """`rows` of `table` are about to change: flag them and keep their values."""
        flags, weights = self.flags[table], self.tables[table]
        if not self.keep_all:
            rows = rows[flags[rows] == 0]
        flags[rows] = 1
        self._kept[table].append((rows, weights.index_select(0, rows)))
        self._kept_rows[table] += len(rows)
        if self._kept_rows[table] > len(weights):  # never keep more than a table's worth
            self._compact(table)

    def _compact(self, table: str) -> None:
        """Keep each flagged row once, with its earliest kept value."""
        values = self.tables[table].clone()
        for rows, kept in reversed(self._kept[table]):
            values.index_copy_(0, rows, kept)
        flagged = self.flags[table].nonzero().squeeze(1)
        self._kept[table] = [(flagged, values[flagged])]
        self._kept_rows[table] = len(flagged)

    def __call__(self, counters: torch.Tensor) -> list[float]:
        """Sync the tables; return the counters summed over ranks."""
        begin = time.perf_counter()
        counted = dist.all_reduce(counters, async_op=True)
        dist.all_reduce(self._flags, op=dist.ReduceOp.MAX)
        rows = {name: flags.nonzero().squeeze(1) for name, flags in self.flags.items()}
        self._flags.zero_()
        changes, bases = self._buffers(sum(len(r) for r in rows.values()))
        for (name, r), current, base in zip(rows.items(), *self._by_table(rows, changes, bases),
                                            strict=True):
            torch.index_select(self.tables[name], 0, r, out=current)
            base.copy_(current)  # a row this rank did not change is as it was at the last sync
            for kept_rows, kept in reversed(self._kept[name]):  # the earliest value lands last
                base.index_copy_(0, torch.searchsorted(r, kept_rows), kept)
            self._kept[name].clear()
            self._kept_rows[name] = 0
        dist.all_reduce(changes.sub_(bases))
        synced = bases.add_(changes)
        for (name, r), new in zip(rows.items(), self._by_table(rows, synced)[0], strict=True):
            self.tables[name].index_copy_(0, r, new)
        counted.wait()
        summed = counters.tolist()  # waits for the device, so the time below is the sync's
        self.totals.add(len(changes), _nbytes(self._flags) + _nbytes(changes) + _nbytes(counters),
                        time.perf_counter() - begin)
        return summed

    def _buffers(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Two [n, dim] buffers, from storage kept for the next sync."""
        if self._buffer.shape[0] < 2 * n:
            self._buffer = self._buffer.new_empty(2 * n + n // 2, self._buffer.shape[1])
        return self._buffer[:n], self._buffer[n:2 * n]

    @staticmethod
    def _by_table(rows: dict[str, torch.Tensor],
                  *buffers: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Each buffer cut into one part per table, as long as its rows."""
        return [buffer.split([len(r) for r in rows.values()]) for buffer in buffers]

    def log_fields(self) -> dict[str, float]:
        """For the metrics line of a sync: its rows and bytes, and the time share of syncs so far."""
        t = self.totals
        return {"sync_rows": t.last_rows, "sync_bytes": t.last_bytes, "sync_share": t.share()}

    def summary(self) -> dict[str, float]:
        """What the syncs moved and took since this process started (or resumed) training."""
        t = self.totals
        return {"syncs": t.syncs, "bytes_per_sync": round(t.bytes / max(t.syncs, 1)),
                "dense_bytes": sum(_nbytes(table) for table in self.tables.values()),
                "seconds": round(t.seconds, 3), "share": t.share()}


@dataclass
class SyncTotals:
    """The syncs of this process, added up; `started` is when it began to train."""

    started: float
    syncs: int = 0
    bytes: int = 0
    seconds: float = 0.0
    last_rows: int = 0
    last_bytes: int = 0

    def add(self, rows: int, nbytes: int, seconds: float) -> None:
        self.syncs, self.bytes, self.seconds = self.syncs + 1, self.bytes + nbytes, self.seconds + seconds
        self.last_rows, self.last_bytes = rows, nbytes

    def share(self) -> float:
        """The share of the time since `started` spent in syncs (waiting for the others included)."""
        return round(self.seconds / max(time.perf_counter() - self.started, 1e-9), 4)


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


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
