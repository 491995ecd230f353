"""fastText's input side: a word's input vector is the mean of its own row and the rows of its
character n-grams (Bojanowski et al. 2017), all from one input table.

The input table holds every vocabulary word's own row, then the rows of the n-gram buckets
(`w2v.subwords`) that the vocabulary's words use, in bucket order. A bucket that no word of the
vocabulary uses is never read or written by training, so it is not stored: it stands for a zero
row (fastText and gensim keep it, with its random start), and the table is expanded to
fastText's full matrix only when it is written as a fastText model.

Forming vectors is `nn.EmbeddingBag`: a bag per word, averaged in one call. An update of a word's
vector moves every row of its bag by that update, so the mean moves by it too, as in fastText and
gensim (the gradient of the mean would move each row by 1/len(bag) of it). A step therefore
reads and writes only the rows of the bags of its batch's words, never the whole table.

fastText applies these updates one center at a time. A batch applies all of its centers' at
once, computed from the same tables, so an n-gram that many of the batch's words share (such as
"<th") would move by the sum of hundreds of updates in one step. Under the step limit
(`w2v.step`) the limit holds such a row back, by the stiffness of all the words that hold it,
and every row of a word's bag takes one scale, the mean of its n-gram rows' scales: a word's
vector moves by its scaled update as a whole, and its n-grams learn as much as its own row
(scaled row by row, the word's own row learned what its n-grams could not, and words outside
the vocabulary lost: BENCHMARKS.md).
With plain SGD its update is instead divided by the SHARED_ROW_DAMPING-th power of the number of
the batch's distinct words whose bags hold it (counting repeats); a word's own row, held by one
word, moves by its full update. Both at once held the n-grams back too far (BENCHMARKS.md).

Bucket rows start at zero (fastText and gensim start them random), so an n-gram contributes
only what training taught it: the same as a bucket never stored.

A batch's bags are laid out in one of two ways, with the same results:

* flat (CPUs): the bag of each distinct word once, one after another; the updates of a word's
  occurrences are added up before they flow back to its rows;
* padded (GPUs): every word's bag padded to the longest bag of the vocabulary with weight-0
  entries, so that no shape depends on the data and the GPU never waits for the host; it holds
  vocabulary x longest bag row ids (int32) on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from w2v.models.base import Bags, RowStiffness, RowUpdates, WordInput
from w2v.subwords import Subwords, SubwordTable, compact

# With plain SGD, the power of the count of a batch's words sharing a row that divides the row's
# update (see the module): 0 sums the updates as they are, 1 averages them. Measured on PTB
# (BENCHMARKS.md): 0 needs a smaller learning rate and loses similarity, 0.5 and 1 learn the
# n-grams too slowly.
SHARED_ROW_DAMPING = 0.25


@dataclass
class _FlatBags:
    """The bags of the distinct words of a batch: bag k is the rows of word `distinct[k]`,
    entries offsets[k]..offsets[k+1] of `rows`; `owners` is the bag of each entry, and
    word n of the batch is distinct[inverse[n]]."""

    distinct: Tensor
    inverse: Tensor
    rows: Tensor
    offsets: Tensor
    owners: Tensor


class SubwordInput(WordInput):
    """Input vectors as means of bags of rows: a word's own row and its n-grams' rows."""

    def __init__(self, table: nn.Embedding, subwords: Subwords, bag_rows: np.ndarray,
                 bag_offsets: np.ndarray, stored: np.ndarray) -> None:
        """`bag_rows[bag_offsets[i]:bag_offsets[i + 1]]` are the table rows of word i's bag;
        `stored` [rows after the words] the bucket each of the other rows of `table` holds."""
        super().__init__(table)
        self.subwords = subwords
        self.stored = stored
        lengths = np.diff(bag_offsets)
        self.register_buffer("bag_rows", torch.from_numpy(bag_rows), persistent=False)
        self.register_buffer("bag_starts", torch.from_numpy(bag_offsets[:-1].copy()),
                             persistent=False)
        self.register_buffer("bag_lengths", torch.from_numpy(lengths), persistent=False)
        self._padded: Tensor | None = None  # [vocab, longest bag] on a GPU, made when first used
        # the last flat bags made, with the words they are for (a step asks up to three times)
        self._last_bags: tuple[Tensor, int, _FlatBags] | None = None
        self.damping = SHARED_ROW_DAMPING  # 0 under the step limit (the trainer sets it)
        self.padded: bool | None = None  # the padded layout; None: on GPUs only

    @classmethod
    def for_vocabulary(cls, words: Sequence[str], subwords: Subwords, dim: int,
                       generator: torch.Generator | None = None) -> SubwordInput:
        """A new input side for `words`: word rows uniform in [-1/dim, 1/dim), as fastText and
        gensim start theirs, bucket rows zero (see the module)."""
        bags, stored = compact(subwords.vocab_bags(words), len(words))
        table = nn.Embedding(len(words) + len(stored), dim)
        with torch.no_grad():
            table.weight.zero_()
            table.weight[:len(words)] = (torch.rand(len(words), dim, generator=generator) * 2
                                         - 1) / dim
        return cls(table, subwords, bags.ids, bags.offsets, stored)

    @property
    def vocab_size(self) -> int:
        return self.bag_lengths.shape[0]

    def vectors(self, words: Tensor) -> Tensor:
        weight = self.table.weight
        if self._use_padded(weight):
            rows, weights = self._padded_bags(words)
            return F.embedding_bag(rows, weight, per_sample_weights=weights, mode="sum")
        bags = self._flat_bags(words)
        means = F.embedding_bag(bags.rows, weight, bags.offsets, mode="mean")
        return means.index_select(0, bags.inverse)

    def weighted_sums(self, words: Tensor, weights: Tensor) -> Tensor:
        shape = words.shape
        if self._use_padded(self.table.weight):
            vectors = self.vectors(words.reshape(-1)).view(*shape, -1)
            return torch.einsum("bj,bjd->bd", weights.to(vectors.dtype), vectors)
        bags = self._flat_bags(words.reshape(-1))
        means = F.embedding_bag(bags.rows, self.table.weight, bags.offsets, mode="mean")
        return F.embedding_bag(bags.inverse.view(shape), means, per_sample_weights=weights,
                               mode="sum")

    def row_updates(self, words: Tensor, updates: Tensor,
                    stiffness: RowStiffness = ()) -> RowUpdates:
        """Every row of a word's bag moves by the word's update, damped where the batch's words
        share it (see the module); each row of a word's bag takes the word's stiffness."""
        stiffness = tuple(self._bag_stiffness(ids, part) for ids, part in stiffness)
        if self._use_padded(updates):
            rows, weights = self._padded_bags(words)
            # a padding entry (weight 0) points at row 0 and moves it by nothing
            share = (weights > 0).to(updates.dtype)
            rows = rows.reshape(-1)
            if self.damping:
                share = share * self._padded_damping(words, rows, share).view_as(share)
            moves = updates.unsqueeze(1) * share.unsqueeze(2)
            bags = None
            if stiffness:
                words_of = torch.arange(words.shape[0], device=words.device)
                bags = Bags(words_of.repeat_interleave(weights.shape[1]),
                            (weights > 0).reshape(-1) & (rows >= self.vocab_size),
                            words.shape[0])
            return RowUpdates((rows,), (moves.view(-1, updates.shape[1]),), stiffness, bags)
        bags = self._flat_bags(words)
        per_word = torch.zeros(bags.distinct.shape[0], updates.shape[1], dtype=updates.dtype,
                               device=updates.device).index_add_(0, bags.inverse, updates)
        moves = per_word.index_select(0, bags.owners)
        if self.damping:
            holders = torch.bincount(bags.rows, minlength=self.table.weight.shape[0])
            moves.mul_(_damping(holders.index_select(0, bags.rows).to(updates.dtype),
                                self.damping).unsqueeze(1))
        word_bags = None
        if stiffness:
            word_bags = Bags(bags.owners, bags.rows >= self.vocab_size, bags.distinct.shape[0])
        return RowUpdates((bags.rows,), (moves,), stiffness, word_bags)

    def _padded_damping(self, words: Tensor, rows: Tensor, held: Tensor) -> Tensor:
        """The damping of each entry of the padded bags of `words` (rows: their row ids, flat;
        held: 1 where the entry is not padding)."""
        # each occurrence counts 1/(occurrences of its word): the distinct words holding a row
        occurrences = torch.zeros(self.vocab_size, dtype=held.dtype, device=held.device).index_add_(
            0, words, torch.ones_like(words, dtype=held.dtype))
        holders = torch.zeros(self.table.weight.shape[0], dtype=held.dtype,
                              device=held.device).index_add_(
            0, rows, (held / occurrences.index_select(0, words).unsqueeze(1)).reshape(-1))
        return _damping(holders.index_select(0, rows).clamp_(min=1), self.damping)

    def _bag_stiffness(self, words: Tensor, stiffness: Tensor) -> tuple[Tensor, Tensor]:
        """The stiffness given for the vectors of `words`, at the rows of their bags."""
        if self._use_padded(stiffness):
            rows, weights = self._padded_bags(words)
            return rows.reshape(-1), (stiffness.unsqueeze(1) * (weights > 0)).reshape(-1)
        bags = self._flat_bags(words)
        per_word = torch.zeros(bags.distinct.shape[0], dtype=stiffness.dtype,
                               device=stiffness.device).index_add_(0, bags.inverse, stiffness)
        return bags.rows, per_word.index_select(0, bags.owners)

    def word_vectors(self) -> Tensor:
        """[vocab, dim] every word's vector: the mean of its bag."""
        with torch.no_grad():
            return F.embedding_bag(self.bag_rows, self.table.weight, self.bag_starts, mode="mean")

    def subword_table(self) -> SubwordTable:
        """A copy of the table, with what it takes to form any word's vector from it."""
        rows = self.table.weight.detach().to("cpu", copy=True).numpy()
        return SubwordTable(self.subwords, rows, self.stored)

    def _use_padded(self, like: Tensor) -> bool:
        return like.device.type != "cpu" if self.padded is None else self.padded

    def _flat_bags(self, words: Tensor) -> _FlatBags:
        last = self._last_bags
        # the same tensor, not changed in place since (its version counts in-place changes)
        if last is not None and last[0] is words and last[1] == words._version:
            return last[2]
        bags = self._make_flat_bags(words)
        self._last_bags = (words, words._version, bags)
        return bags

    def _make_flat_bags(self, words: Tensor) -> _FlatBags:
        distinct, inverse = torch.unique(words, return_inverse=True)
        lengths = self.bag_lengths.index_select(0, distinct)
        ends = torch.cumsum(lengths, 0)
        offsets = ends - lengths
        owners = torch.repeat_interleave(torch.arange(distinct.shape[0], device=words.device),
                                         lengths)
        # entry k of the batch's bags is entry k - offsets[owner] of its word's bag
        shift = (self.bag_starts.index_select(0, distinct) - offsets).index_select(0, owners)
        positions = torch.arange(owners.shape[0], device=words.device) + shift
        return _FlatBags(distinct, inverse, self.bag_rows.index_select(0, positions), offsets,
                         owners)

    def _padded_bags(self, words: Tensor) -> tuple[Tensor, Tensor]:
        """([n, longest bag] row ids, [n, longest bag] weights: 1/len(bag), 0 on padding)."""
        if self._padded is None or self._padded.device != words.device:
            width = int(self.bag_lengths.max())
            real = torch.arange(width, device=words.device) < self.bag_lengths[:, None]
            padded = torch.zeros(self.vocab_size, width, dtype=torch.int32, device=words.device)
            padded[real] = self.bag_rows.to(torch.int32)
            self._padded = padded
        lengths = self.bag_lengths.index_select(0, words)
        width = self._padded.shape[1]
        real = torch.arange(width, device=words.device) < lengths[:, None]
        weights = real.to(self.table.weight.dtype) / lengths[:, None].to(self.table.weight.dtype)
        return self._padded.index_select(0, words).long(), weights


def _damping(holders: Tensor, power: float) -> Tensor:
    """The factor of a row's update when `holders` of the batch's words hold it."""
    return holders.pow_(-power)
