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
import time
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


# From this vocabulary size on, CPU processes sync every 128 steps instead of 32: what a sync
# moves grows with the rows changed between syncs, which a long vocabulary tail keeps large
# (BENCHMARKS.md, "One process against two").
LARGE_VOCAB = 100_000


def sync_interval(config: TrainConfig, device: torch.device, vocab_size: int) -> int:
    """Steps between the processes' syncs: the config's, or, where it is 0, by device and
    vocabulary.

    On PTB with 2 CPU processes, syncing every 4 steps trained in 18.7 s and every 32 in 8.0 s,
    at the same score. At 230k and 2M words a sync every 32 steps still took a third of the
    time; every 128 steps, the same loss in less time. NCCL's all-reduce is cheap.
    """
    if config.sync_every:
        return config.sync_every
    if device.type == "cuda":
        return 4
    return 128 if vocab_size >= LARGE_VOCAB else 32


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
    centers_between_syncs = config.batch_size * sync_interval(config, device, len(counts))
    return batcher, max(1, math.ceil(kept_per_chunk / centers_between_syncs))


@dataclass
class _Layout:
    """A sync's changed rows of one table: per rank (row ids, the first `alone` of them changed
    by that rank alone), and the order that takes this rank's kept rows to its ids there."""

    per_rank: list[tuple[torch.Tensor, int]]
    own_order: torch.Tensor


class TableSync:
    """Adds up every rank's changes to the tables since the last sync, on every rank, moving only
    the rows that some rank changed.

    Before a rank first changes a row after a sync, it keeps the row's value (`before_update`).
    At a sync the ranks first tell each other which rows they changed, so that every rank knows
    how many ranks changed each row. A row that one rank alone changed is sent as its value now:
    that rank leaves it as it is and the others copy it. A row that several ranks changed is
    sent as (value now - value kept): every rank sets it to the value of the last sync and adds
    every rank's change, in rank order. A row that no rank changed holds the same value on every
    rank already. So every rank ends a sync with the same tables, bit for bit, and the traffic
    grows with the rows changed between syncs, not with the vocabulary; against all-reducing the
    change of every row of the whole tables, a row that one rank changed keeps exactly the value
    it trained to, and a row that several changed is the same sum up to the order in which its
    changes are rounded.
    """

    def __init__(self, tables: dict[str, torch.Tensor], keep_all: bool | None = None) -> None:
        self.tables = tables
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        first = next(iter(tables.values()))
        # Picking out the rows not kept yet needs their count on the host: on a GPU that would
        # wait for the device at every step, so there the rows of every update are kept and the
        # earliest value of a row counts. keep_all chooses either way on any device.
        self.keep_all = first.is_cuda if keep_all is None else keep_all
        # where rows are picked: per table, a flag per row, set while this rank keeps the row,
        # and a slot per row where `before_update` finds one place of each row in an update
        self.flags = {} if self.keep_all else {
            name: torch.zeros(len(t), dtype=torch.uint8, device=t.device)
            for name, t in tables.items()}
        self.slots = {} if self.keep_all else {
            name: torch.zeros(len(t), dtype=torch.int64, device=t.device)
            for name, t in tables.items()}
        # per table, during a sync: how many ranks changed each row (a byte per row while
        # the count fits: a quarter of the memory traffic of int32)
        counts = torch.uint8 if self.world < 256 else torch.int32
        self.changers = {name: torch.zeros(len(t), dtype=counts, device=t.device)
                         for name, t in tables.items()}
        self.kept = {name: KeptRows(t) for name, t in tables.items()}
        self.scratch = Scratch(first)
        self.totals = SyncTotals(started=time.perf_counter())

    def before_update(self, table: str, rows: torch.Tensor) -> None:
        """`rows` of `table` are about to change: keep the values of those not kept yet."""
        if not self.keep_all:
            flags = self.flags[table]
            rows = rows[flags[rows] == 0]
            flags.index_fill_(0, rows, 1)
            rows = _distinct(rows, self.slots[table])
        self.kept[table].add(rows, self.tables[table])

    def __call__(self, counters: torch.Tensor) -> list[float]:
        """Sync the tables; return the counters summed over ranks."""
        begin = time.perf_counter()
        rank, world = self.rank, self.world
        self.scratch.reset()
        own = {name: self.kept[name].take(unique=not self.keep_all) for name in self.tables}
        head = torch.cat([counters, counters.new_tensor([len(ids) for ids, _ in own.values()])])
        heads = [torch.empty_like(head) for _ in range(world)]
        dist.all_gather(heads, head)
        sizes = [[int(n) for n in h[len(counters):].tolist()] for h in heads]
        every_ids = self._exchange({name: ids for name, (ids, _) in own.items()}, sizes)
        payloads, layouts, last_values = {}, {}, {}
        for t, (name, (_, kept)) in enumerate(own.items()):
            layout = layouts[name] = self._alone_first(name, every_ids[t])
            ids, alone = layout.per_rank[rank]
            # the rows several ranks changed, as they were at the last sync
            last_values[name] = torch.index_select(kept, 0, layout.own_order[alone:],
                                                   out=self.scratch.take(len(ids) - alone))
            payload = torch.index_select(self.tables[name], 0, ids, out=self.scratch.take(len(ids)))
            payload[alone:].sub_(last_values[name])
            payloads[name] = payload
        received = self._exchange(payloads, sizes)
        for t, name in enumerate(own):
            self._apply(name, layouts[name], last_values[name], received[t])
        sent = sum(_nbytes(ids) + _nbytes(p) for (ids, _), p in
                   zip(own.values(), payloads.values(), strict=True))
        self.totals.add(sum(map(sum, sizes)), (world - 1) * sent + _nbytes(head) * world,
                        time.perf_counter() - begin)
        return torch.stack(heads)[:, :len(counters)].sum(0).tolist()

    def _alone_first(self, table: str, every_ids: list[torch.Tensor]) -> _Layout:
        """Every rank's changed rows of `table`, reordered so that those no other rank changed
        come first; every rank forms the same order."""
        changers = self.changers[table]
        for ids in every_ids:
            changers.index_put_((ids,), _ones(changers, len(ids)), accumulate=True)
        per_rank, own_order = [], None
        for r, ids in enumerate(every_ids):
            shared = changers.index_select(0, ids) > 1
            order = torch.argsort(shared.to(torch.uint8), stable=True)
            per_rank.append((ids.index_select(0, order), len(ids) - int(shared.sum())))
            if r == self.rank:
                own_order = order
        for ids in every_ids:
            changers.index_fill_(0, ids, 0)
        return _Layout(per_rank, own_order)

    def _exchange(self, own: dict[str, torch.Tensor],
                  sizes: list[list[int]]) -> list[list[torch.Tensor]]:
        """Send this rank's tensor of each table (row ids, or [n, dim] rows) to every other
        rank; per table, every rank's, in rank order."""
        ops, received = [], []
        for t, mine in enumerate(own.values()):
            per_rank = []
            for peer, peer_sizes in enumerate(sizes):
                if peer == self.rank:
                    per_rank.append(mine)
                    continue
                n = peer_sizes[t]
                theirs = self.scratch.take(n) if mine.dim() == 2 else mine.new_empty(n)
                per_rank.append(theirs)
                if len(mine):
                    ops.append(dist.P2POp(dist.isend, mine, peer, tag=t))
                if n:
                    ops.append(dist.P2POp(dist.irecv, theirs, peer, tag=t))
            received.append(per_rank)
        if ops:
            for work in dist.batch_isend_irecv(ops):
                work.wait()
        return received

    def _apply(self, table: str, layout: _Layout, last_values: torch.Tensor,
               payloads: list[torch.Tensor]) -> None:
        """Copy the rows another rank alone changed; set every row that several ranks changed
        to (its value at the last sync) + each rank's change, added in rank order.
        `last_values` are the last sync's values of this rank's rows that others changed too."""
        weights, rank = self.tables[table], self.rank
        ids, alone = layout.per_rank[rank]
        _copy_rows(weights, ids[alone:], last_values)
        if not self.keep_all:
            self.flags[table].index_fill_(0, ids, 0)
        for r, ((ids, alone), payload) in enumerate(zip(layout.per_rank, payloads, strict=True)):
            if r != rank:
                _copy_rows(weights, ids[:alone], payload[:alone])
            # in rank order, so every rank forms the same sums
            weights.index_add_(0, ids[alone:], payload[alone:])

    def dense_bytes(self) -> int:
        """What each rank sends to all-reduce the whole tables (as a ring all-reduce does)."""
        world = self.world
        return 2 * (world - 1) * sum(_nbytes(t) for t in self.tables.values()) // world

    def log_fields(self) -> dict[str, float]:
        """For the metrics line of a sync: the rows it moved (a row that two ranks changed counts
        twice) and the bytes this rank sent, and the time share of syncs so far."""
        t = self.totals
        return {"sync_rows": t.last_rows, "sync_bytes": t.last_bytes, "sync_share": t.share()}

    def summary(self) -> dict[str, float]:
        """What the syncs moved and took since this process started (or resumed) training."""
        t = self.totals
        return {"syncs": t.syncs, "bytes_per_sync": round(t.bytes / max(t.syncs, 1)),
                "dense_bytes": self.dense_bytes(), "seconds": round(t.seconds, 3),
                "share": t.share()}


class KeptRows:
    """Rows of one table with their values before an update, in the order they were kept."""

    def __init__(self, table: torch.Tensor) -> None:
        self.ids = torch.empty(0, dtype=torch.int64, device=table.device)
        self.values = table.new_empty(0, table.shape[1])
        self.count = 0
        self.limit = len(table)

    def add(self, rows: torch.Tensor, table: torch.Tensor) -> None:
        """Keep `rows` with their values in `table` now."""
        ids, values = self._slots(len(rows))
        ids.copy_(rows)
        torch.index_select(table, 0, rows, out=values)
        if self.count > self.limit:  # never more than one table's worth: keep each row once
            ids, values = self.take(unique=False)
            slots = self._slots(len(ids))
            slots[0].copy_(ids)
            slots[1].copy_(values)

    def take(self, unique: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows kept since the last take, each once, with the value kept first; `unique`
        says that no row was kept twice. Valid until the next `add`."""
        ids, values = self.ids[:self.count], self.values[:self.count]
        self.count = 0
        if unique:
            return ids, values
        ids, order = torch.sort(ids, stable=True)
        first = torch.ones_like(ids, dtype=torch.bool)
        first[1:] = ids[1:] != ids[:-1]
        return ids[first], values[order[first]]

    def _slots(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next n places, in storage that grows by doubling and is reused from sync to sync."""
        end = self.count + n
        if end > len(self.ids):
            size = max(2 * end, 1024)
            self.ids = torch.cat([self.ids[:self.count], self.ids.new_empty(size - self.count)])
            self.values = torch.cat([self.values[:self.count],
                                     self.values.new_empty(size - self.count, self.values.shape[1])])
        start, self.count = self.count, end
        return self.ids[start:end], self.values[start:end]


class Scratch:
    """[n, dim] buffers for one sync, from storage reused from sync to sync: buffers this large
    would otherwise be fresh memory, which the system hands out a page fault at a time."""

    def __init__(self, like: torch.Tensor) -> None:
        self.storage = like.new_empty(0, like.shape[1])
        self.used = 0

    def reset(self) -> None:
        self.used = 0

    def take(self, n: int) -> torch.Tensor:
        if self.used + n > len(self.storage):  # views taken before keep the storage they have
            self.storage = self.storage.new_empty(2 * (self.used + n), self.storage.shape[1])
            self.used = 0
        self.used += n
        return self.storage[self.used - n:self.used]


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


def _distinct(rows: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """`rows` with each id once, without sorting: every place writes its index to its row's slot,
    and the places whose index stayed there are kept, one per id."""
    places = torch.arange(len(rows), device=rows.device)
    slots[rows] = places
    return rows[slots[rows] == places]


def _copy_rows(table: torch.Tensor, ids: torch.Tensor, rows: torch.Tensor) -> None:
    """table[ids] = rows, for distinct ids; on a CPU by numpy, which copies a row at a time
    (a third faster than `index_copy_` on large tables, BENCHMARKS.md)."""
    if table.device.type == "cpu":
        table.numpy()[ids.numpy()] = rows.numpy()
    else:
        table.index_copy_(0, ids, rows)


def _ones(like: torch.Tensor, n: int) -> torch.Tensor:
    return torch.ones(1, dtype=like.dtype, device=like.device).expand(n)


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
