"""The input side of a subword model: a center word's vector is the mean of its bag of rows.

One input table holds fastText's input matrix: row i is word i's own vector and row
nwords + b that of n-gram bucket b (`w2v.subwords`). A center's vector is the mean of its
word's row and its n-grams' rows, which is `nn.EmbeddingBag` in "sum" mode with each row
weighted by 1 / (rows in its bag). The update a step computes for a center's vector flows back
to the rows of its bag with the same weights, so a step reads and writes only the rows its
centers touch, never the whole bucket table.

A batch's bags are laid out in one of two ways, with the same results:

* flat: the bags one after another (the fewest rows; its size depends on the batch, which
  costs a wait for the device on a GPU);
* padded: every bag padded to the longest bag of the vocabulary with weight-0 entries, so the
  shapes never depend on the data and a GPU never waits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from w2v.subwords import WordBags


@dataclass
class BatchBags:
    """The bags of a batch of centers, flattened: entry k is row `rows[k]` of the input table,
    weighted by `weights[k]`, in the bag of center `owners[k]`; center n's bag starts at
    `offsets[n]`."""

    rows: Tensor  # [N] int64
    weights: Tensor  # [N] float, 1 / (its bag's size); 0 on padding
    owners: Tensor  # [N] int64
    offsets: Tensor  # [B] int64


class SubwordInput:
    """Every vocabulary word's bag of input-table rows, ready to be gathered for a batch."""

    def __init__(self, bags: WordBags, device: torch.device | str = "cpu",
                 padded: bool = False, dtype: torch.dtype = torch.float32) -> None:
        ids = torch.from_numpy(bags.ids).to(device)
        lengths = torch.from_numpy(bags.lengths).to(device)
        self.padded = padded
        self.vocab_size = len(bags)
        if padded:
            width = int(lengths.max())
            slot = torch.arange(width, device=device)
            real = slot < lengths[:, None]  # [V, width]
            self.table = torch.zeros(len(bags), width, dtype=torch.int64, device=device)
            self.table[real] = ids
            self.weights = real.to(dtype) / lengths[:, None].to(dtype)
        else:
            self.ids = ids
            self.starts = torch.from_numpy(bags.offsets[:-1]).to(device)
            self.lengths = lengths
            self.shares = 1 / lengths.to(dtype)

    def gather(self, centers: Tensor) -> BatchBags:
        """The bags of `centers` [B]."""
        size = centers.shape[0]
        if self.padded:
            width = self.table.shape[1]
            owners = torch.arange(size, device=centers.device).repeat_interleave(width)
            offsets = torch.arange(0, size * width, width, device=centers.device)
            return BatchBags(self.table[centers].reshape(-1), self.weights[centers].reshape(-1),
                             owners, offsets)
        lengths = self.lengths[centers]
        ends = torch.cumsum(lengths, 0)
        offsets = ends - lengths
        owners = torch.repeat_interleave(torch.arange(size, device=centers.device), lengths)
        # entry k of the batch is entry k - offsets[owner] of its word's bag
        positions = torch.arange(owners.shape[0], device=centers.device) + \
            (self.starts[centers] - offsets)[owners]
        return BatchBags(self.ids[positions], self.shares[centers][owners], owners, offsets)

    @staticmethod
    def vectors(table: Tensor, bags: BatchBags) -> Tensor:
        """[B, d] each center's vector: the weighted sum (the mean) of its bag's rows."""
        return F.embedding_bag(bags.rows, table, bags.offsets, mode="sum",
                               per_sample_weights=bags.weights.to(table.dtype))

    @staticmethod
    def row_updates(bags: BatchBags, update: Tensor) -> tuple[Tensor, Tensor]:
        """(rows, their updates) for an update [B, d] of the centers' vectors: each row of a
        bag moves by its weight times its center's update (a row in several bags, or twice in
        one, gets each share; `index_add_` adds them up)."""
        return bags.rows, update.index_select(0, bags.owners).mul_(bags.weights[:, None])
