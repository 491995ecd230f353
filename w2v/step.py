"""One SGD step: a model's row updates for a batch, added to its tables.

`SGD.apply` is the one place where training changes the tables. An update rule that treats a
row's summed update otherwise (scaled by how many examples touched it, say), or a record of the
rows each table had changed since the processes last synced, belongs there.

On a multi-core CPU, `Step` computes the updates of slices of a batch in Python threads over
single-threaded torch operations: small operations under torch's own intra-op threads pay a
fork-join per call, and stall whenever another process holds a core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch
from torch import Tensor

from w2v.data.batcher import Batch
from w2v.models.base import NegativeSamplingModel, RowUpdates, Updates


class SGD:
    """Adds row updates to a model's tables; rows of the input table marked in `frozen` [vocab]
    (bool) never change."""

    def __init__(self, model: NegativeSamplingModel, frozen: Tensor | None = None) -> None:
        self.model = model
        self.frozen = frozen
        # Where set, told the rows of a table ("input" or "output") before they change: the
        # processes' sync keeps them (w2v.distributed.TableSync.before_update).
        self.before_update: Callable[[str, Tensor], None] | None = None

    def step(self, batch: Batch, lr: float,
             with_loss: bool = True) -> tuple[Tensor | None, Tensor | None]:
        """One SGD step on the whole batch in this thread; returns (summed loss, count)."""
        updates = self.model.updates(batch, lr, with_loss)
        self.apply_input([updates])
        self.apply_output([updates])
        return updates.loss, updates.count

    def apply_input(self, updates: Sequence[Updates]) -> None:
        self.apply("input", [u.input for u in updates], self.frozen)

    def apply_output(self, updates: Sequence[Updates]) -> None:
        self.apply("output", [u.output for u in updates])

    @torch.no_grad()
    def apply(self, name: str, updates: Sequence[RowUpdates], frozen: Tensor | None = None) -> None:
        """table[ids] += rows for every part, in order (so the sums are the same every run)."""
        table = getattr(self.model, name).weight
        for row_updates in updates:
            for ids, rows in zip(row_updates.ids, row_updates.rows, strict=True):
                if frozen is not None:
                    rows = rows.masked_fill(frozen[ids].unsqueeze(1), 0.0)
                if self.before_update is not None:
                    self.before_update(name, ids)
                table.index_add_(0, ids, rows)


class Step:
    """SGD steps of a model on a device, with `threads` threads on a CPU."""

    def __init__(self, sgd: SGD, device: torch.device, threads: int = 1) -> None:
        self.sgd = sgd
        self.device = device
        self.threads = threads if device.type == "cpu" else 1
        self._pool: ThreadPoolExecutor | None = None

    def __call__(self, batch: Batch, lr: float,
                 with_loss: bool) -> tuple[Tensor | None, Tensor | None]:
        """One SGD step; returns (summed loss, count) when `with_loss`, else (None, None).

        Every slice's updates are computed from the same tables and applied in a fixed order, so
        the result does not depend on thread timing.
        """
        if self._pool is None:
            return self.sgd.step(batch, lr, with_loss)
        model = self.sgd.model
        parts = batch.split(self.threads)
        pending = [self._pool.submit(model.updates, part, lr, with_loss) for part in parts[1:]]
        updates = [model.updates(parts[0], lr, with_loss)] + [p.result() for p in pending]
        output_done = self._pool.submit(self.sgd.apply_output, updates)
        self.sgd.apply_input(updates)
        output_done.result()
        if not with_loss:
            return None, None
        return sum(u.loss for u in updates), sum(u.count for u in updates)

    @contextmanager
    def threads_started(self) -> Iterator[None]:
        """On a CPU: single-threaded torch operations, and the pool of the other threads."""
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
