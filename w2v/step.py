"""One SGD step: a model's row updates for a batch, added to its tables.

`SGD.apply` is the one place where training changes the tables. An update rule that treats a
row's summed update otherwise, or a record of the rows each table had changed since the
processes last synced, belongs there.

The step limit is such a rule. In one step a row receives the summed update of every loss term
that touches it: for a frequent word thousands, where word2vec's sequential SGD applies them
one at a time against a moving target, and in large batches the sum overshoots and training
diverges. With a step limit, each row's learning rate in a step is min(lr, step_limit / its
stiffness), its stiffness (`w2v.models.base`) summing its terms' coupling and curvature: rows
that few terms touch take plain SGD, the rows of frequent words a step that stays stable. A
cap on the number of terms alone does not stay safe: the curvature grows with the square of the
row norms as training goes on.

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
from w2v.models.base import Bags, NegativeSamplingModel, RowUpdates, Updates


class SGD:
    """Adds row updates to a model's tables; rows of the input table marked in `frozen` [vocab]
    (bool) never change; with `step_limit` > 0, each row's summed update in a step is scaled by
    min(1, step_limit / (lr * its stiffness)); the rows of a word's bag (`RowUpdates.bags`)
    take one scale, `bag_scales`."""

    def __init__(self, model: NegativeSamplingModel, frozen: Tensor | None = None,
                 step_limit: float = 0.0) -> None:
        self.model = model
        self.frozen = frozen
        self.step_limit = step_limit
        # Where set, told the rows of a table ("input" or "output") before they change: the
        # processes' sync keeps them (w2v.distributed.TableSync.before_update).
        self.before_update: Callable[[str, Tensor], None] | None = None
        self._stiffness: dict[str, Tensor] = {}  # per table, zero between steps (`apply`)

    def updates(self, batch: Batch, lr: float | Tensor, with_loss: bool = True) -> Updates:
        """The model's updates for a batch, with the stiffness the step limit needs."""
        return self.model.updates(batch, lr, with_loss, with_stiffness=self.step_limit > 0)

    def step(self, batch: Batch, lr: float | Tensor,
             with_loss: bool = True) -> tuple[Tensor | None, Tensor | None]:
        """One SGD step on the whole batch in this thread; returns (summed loss, count)."""
        updates = self.updates(batch, lr, with_loss)
        self.apply_input([updates], lr)
        self.apply_output([updates], lr)
        return updates.loss, updates.count

    def apply_input(self, updates: Sequence[Updates], lr: float | Tensor) -> None:
        """Adds the input-table updates of a step (of its slices, in order)."""
        self.apply("input", [u.input for u in updates], self.frozen, self._limit(lr))

    def apply_output(self, updates: Sequence[Updates], lr: float | Tensor) -> None:
        """Adds the output-table updates of a step (of its slices, in order)."""
        self.apply("output", [u.output for u in updates], None, self._limit(lr))

    def _limit(self, lr: float | Tensor) -> float | Tensor | None:
        """The largest stiffness a row may have in this step and take the whole of its update."""
        return self.step_limit / lr if self.step_limit else None

    @torch.no_grad()
    def apply(self, name: str, updates: Sequence[RowUpdates], frozen: Tensor | None = None,
              limit: float | Tensor | None = None) -> None:
        """table[ids] += rows for every part, in order (so the sums are the same every run), in
        the table `name` ("input" or "output"); with a limit, each row's rows scaled by
        min(1, limit / its stiffness), or by their bag's scale where the updates have bags."""
        table = getattr(self.model, name).weight
        stiffness = None if limit is None else self._summed_stiffness(name, table, updates)
        for row_updates in updates:
            for ids, rows in zip(row_updates.ids, row_updates.rows, strict=True):
                if stiffness is not None:  # min(1, limit / stiffness); 1 / 0 = inf: scale 1
                    scale = stiffness[ids].reciprocal_().mul_(limit).clamp_(max=1.0)
                    if row_updates.bags is not None:
                        scale = bag_scales(scale, row_updates.bags)
                    rows = rows.mul_(scale.unsqueeze(1))
                if frozen is not None:
                    rows = rows.masked_fill(frozen[ids].unsqueeze(1), 0.0)
                if self.before_update is not None:
                    self.before_update(name, ids)
                table.index_add_(0, ids, rows)
        if stiffness is not None:  # zero again, for the next step
            for row_updates in updates:
                for ids, _ in row_updates.stiffness:
                    stiffness.index_fill_(0, ids, 0.0)

    def _summed_stiffness(self, name: str, table: Tensor,
                          updates: Sequence[RowUpdates]) -> Tensor:
        """[rows of the table] each row's stiffness summed over all the parts of all the
        updates, in a buffer kept zero between steps: only the rows of a step are touched."""
        stiffness = self._stiffness.get(name)
        if stiffness is None or stiffness.shape[0] != table.shape[0]:
            stiffness = self._stiffness[name] = table.new_zeros(table.shape[0])
        for row_updates in updates:
            for ids, part in row_updates.stiffness:
                stiffness.index_add_(0, ids, part)
        return stiffness


def bag_scales(scale: Tensor, bags: Bags) -> Tensor:
    """Each entry's scale replaced by the mean scale of its bag's voting entries."""
    votes = bags.votes.to(scale.dtype)
    sums = scale.new_zeros(bags.count).index_add_(0, bags.bag_of, scale * votes)
    counts = scale.new_zeros(bags.count).index_add_(0, bags.bag_of, votes)
    voted = counts.index_select(0, bags.bag_of) > 0
    return torch.where(voted, (sums / counts).index_select(0, bags.bag_of), scale)


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
        parts = batch.split(self.threads)
        pending = [self._pool.submit(self.sgd.updates, part, lr, with_loss) for part in parts[1:]]
        updates = [self.sgd.updates(parts[0], lr, with_loss)] + [p.result() for p in pending]
        output_done = self._pool.submit(self.sgd.apply_output, updates, lr)
        self.sgd.apply_input(updates, lr)
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


class GraphStep(Step):
    """SGD steps that a CUDA graph replays (the `cuda_graphs` setting), on one device thread.

    A step's shapes never change (the batcher pads a chunk's last batch), and nothing in it
    waits for the device, so after WARMUP eager steps one step is captured, and each later step
    is one graph launch instead of some 50 to 100 operations launched from Python. The batch and
    the learning rate are first copied into static buffers (five copies and a fill), and the
    loss is computed on every step. On a CPU the same static step runs eagerly.
    """

    WARMUP = 3

    def __init__(self, sgd: SGD, device: torch.device) -> None:
        super().__init__(sgd, device, threads=1)
        self._batch: Batch | None = None
        self._lr = torch.zeros((), dtype=sgd.model.output.weight.dtype, device=device)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._steps = 0
        self._outputs: tuple[Tensor | None, Tensor | None] = (None, None)

    def __call__(self, batch: Batch, lr: float,
                 with_loss: bool) -> tuple[Tensor | None, Tensor | None]:
        static = self._load(batch)
        self._lr.fill_(lr)
        if self._graph is not None:
            self._graph.replay()
        elif self.device.type != "cuda":
            self._outputs = self.sgd.step(static, self._lr)
        elif self._steps < self.WARMUP:  # on a side stream, as capturing needs
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._outputs = self.sgd.step(static, self._lr)
            torch.cuda.current_stream(self.device).wait_stream(side)
        else:
            self._graph = torch.cuda.CUDAGraph()
            # thread_local: the batcher draws the next chunk on its own thread meanwhile
            with torch.cuda.graph(self._graph, capture_error_mode="thread_local"):
                self._outputs = self.sgd.step(static, self._lr)
            self._graph.replay()
        self._steps += 1
        return self._outputs

    def _load(self, batch: Batch) -> Batch:
        """The static batch, holding a copy of `batch`'s tensors."""
        tensors = (batch.centers, batch.stream, batch.context_mask, batch.noise, batch.noise_mask)
        if self._batch is None:
            self._batch = Batch(*(t.clone() for t in tensors), batch.words, batch.centers_count)
        else:
            static = self._batch
            for target, source in zip((static.centers, static.stream, static.context_mask,
                                       static.noise, static.noise_mask), tensors, strict=True):
                target.copy_(source, non_blocking=True)
        return self._batch
