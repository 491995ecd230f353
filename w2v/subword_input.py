"""The input side of a subword model: a center word's vector is the mean of its bag of rows.

One input table holds fastText's input matrix: row i is word i's own vector and row
nwords + b that of n-gram bucket b (`w2v.subwords`). A center's vector is the mean of its
word's row and its n-grams' rows, which is `nn.EmbeddingBag` in "sum" mode with each row
weighted by 1 / (rows in its bag). The update a step computes for a center's vector flows back
to the rows of its bag with the same weights, so a step reads and writes only the rows its
centers touch, never the whole bucket table.

A batch's bags are laid out in one of two ways, with the same results:

* flat: the bag of each distinct center word once, one after another (the fewest rows; the
  centers of a word share its vector, and their updates are added up before they flow back);
  its sizes depend on the batch, which costs a wait for the device on a GPU;
* padded: every center's bag padded to the longest bag of the vocabulary with weight-0
  entries, so the shapes never depend on the data and a GPU never waits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from w2v.subwords import WordBags


@dataclass
class BatchBags:
    """Bags of input-table rows for a batch, flattened: entry k is row `rows[k]`, weighted by
    `weights[k]`, in bag `owners[k]`; bag n starts at entry `offsets[n]`. Center n's bag is
    bag `words[n]` (flat layout: one bag per distinct word), or bag n where `words` is None."""

    rows: Tensor  # [N] int64
    weights: Tensor  # [N] float, 1 / (its bag's size); 0 on padding
    owners: Tensor  # [N] int64
    offsets: Tensor  # [bags] int64
    words: Tensor | None  # [B] int64
    shares: Tensor | None  # [bags] the weight of every row of a bag, where it has no padding


class SubwordInput:
    """Every vocabulary word's bag of input-table rows, ready to be gathered for a batch."""

    def __init__(self, bags: WordBags, device: torch.device | str = "cpu",
                 padded: bool = False, dtype: torch.dtype = torch.float32) -> None:
        ids = torch.from_numpy(bags.ids).to(device)
        lengths = torch.from_numpy(bags.lengths).to(device)
        self.padded = padded
        if padded:
            width = int(lengths.max())
            real = torch.arange(width, device=device) < lengths[:, None]  # [V, width]
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
        device = centers.device
        if self.padded:
            size, width = centers.shape[0], self.table.shape[1]
            owners = torch.arange(size, device=device).repeat_interleave(width)
            offsets = torch.arange(0, size * width, width, device=device)
            return BatchBags(self.table[centers].reshape(-1), self.weights[centers].reshape(-1),
                             owners, offsets, None, None)
        distinct, words = torch.unique(centers, return_inverse=True)
        lengths = self.lengths[distinct]
        offsets = torch.cumsum(lengths, 0) - lengths
        owners = torch.repeat_interleave(torch.arange(len(distinct), device=device), lengths)
        # entry k of the batch is entry k - offsets[owner] of its word's bag
        positions = torch.arange(owners.shape[0], device=device) + \
            (self.starts[distinct] - offsets)[owners]
        shares = self.shares[distinct]
        return BatchBags(self.ids[positions], shares[owners], owners, offsets, words, shares)

    @staticmethod
    def vectors(table: Tensor, bags: BatchBags) -> Tensor:
        """[B, d] each center's vector: the weighted sum (the mean) of its bag's rows."""
        means = F.embedding_bag(bags.rows, table, bags.offsets, mode="sum",
                                per_sample_weights=bags.weights.to(table.dtype))
        return means if bags.words is None else means.index_select(0, bags.words)

    @staticmethod
    def row_updates(bags: BatchBags, update: Tensor) -> tuple[Tensor, Tensor]:
        """(rows, their updates) for an update [B, d] of the centers' vectors: each row of a
        bag moves by its weight times its centers' update (a row in several bags, or twice in
        one, gets each share; `index_add_` adds them up)."""
        if bags.words is not None:
            update = torch.zeros(bags.offsets.shape[0], update.shape[1], dtype=update.dtype,
                                 device=update.device).index_add_(0, bags.words, update)
        if bags.shares is not None:
            return bags.rows, (update * bags.shares[:, None]).index_select(0, bags.owners)
        return bags.rows, update.index_select(0, bags.owners).mul_(bags.weights[:, None])
