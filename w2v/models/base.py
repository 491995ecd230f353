"""The model contract: two tables, and the SGD updates of their rows for a batch.

Every model holds word2vec's two tables, with the same meaning whatever the model:

`input`  (word2vec's syn0) [vocab, dim]: the vectors users get. Skip-gram reads a center word's
         row; CBOW averages the rows of a center's context words.
`output` (word2vec's syn1neg) [vocab, dim]: the vectors an input vector is scored against.
         Skip-gram scores a center against its context words' rows and noise words' rows;
         CBOW scores a window's mean against its center word's row and noise words' rows.

A model computes, for one batch, `Updates`: the rows of each table to change and what to add
to them (-lr times the gradient of the summed masked sigmoid cross-entropy). It reads the
tables only; `SGD` (w2v.step) adds the updates to the tables, in one place.

How a word's input vector is formed from rows of the input table, and how an update of that
vector flows back to those rows, is `WordInput`'s job: here a word's vector is its own row.

Asked `with_stiffness`, a model also says how stiff the batch makes each row it updates, for
the step limit of `SGD`: a row's stiffness in a step is

    the sum over the loss terms that touch the row of ( |l'(x)| + l''(x) |other|^2 )

where x is the term's logit, l its cross-entropy and `other` the vector the term pairs the row
with: l'' |other|^2 is the term's curvature along the row (how much moving the row changes its
own gradient), |l'| its coupling to the other table (a center row and a context row pulling each
other along). A row's summed update is stable while lr times its stiffness stays near 1 or
below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from w2v.data.batcher import Batch
from w2v.subwords import SubwordTable

# (row ids [m], stiffness [m]) parts: a row's stiffness is the sum of those given for it
RowStiffness = tuple[tuple[Tensor, Tensor], ...]


@dataclass
class RowUpdates:
    """What to add to rows of one table: table[ids[k][i]] += rows[k][i], in parts.

    A row id may repeat, within a part and across parts: its updates add up.
    """

    ids: tuple[Tensor, ...]  # [n] row ids, for each part
    rows: tuple[Tensor, ...]  # [n, dim] the update of each of those rows
    stiffness: RowStiffness = ()  # when asked for
    # Rows that move together, for a single part: the rows of each word's bag (w2v.models.subword)
    bags: Bags | None = None


@dataclass
class Bags:
    """Entry i of a part belongs to bag `bag_of[i]` (of `count`); under the step limit every
    entry of a bag takes one scale, the mean of those of its entries marked in `votes` (the
    bag's own where none is marked)."""

    bag_of: Tensor  # [n] int64
    votes: Tensor  # [n] bool
    count: int


@dataclass
class Updates:
    """One batch's SGD updates of both tables, and its summed loss (when asked for)."""

    input: RowUpdates
    output: RowUpdates
    loss: Tensor | None  # the summed masked loss
    count: Tensor | None  # the number of unmasked slots the loss sums over


class WordInput(nn.Module):
    """The input side: a word's input vector is its row of the input table (word2vec).

    Models read input vectors and send their updates back only through this, so another way
    of forming them (fastText's: a word's row plus its character n-gram rows, from one input
    table of vocab + buckets rows: `w2v.models.subword`) replaces this class, not the models.
    """

    def __init__(self, table: nn.Embedding) -> None:
        super().__init__()
        self.table = table

    def vectors(self, words: Tensor) -> Tensor:
        """[n, dim] the input vectors of `words` [n]."""
        return self.table.weight.index_select(0, words)

    def weighted_sums(self, words: Tensor, weights: Tensor) -> Tensor:
        """[B, dim]: row b is the sum of weights[b, j] times the input vector of words[b, j]."""
        return F.embedding_bag(words, self.table.weight, per_sample_weights=weights, mode="sum")

    def row_updates(self, words: Tensor, updates: Tensor,
                    stiffness: RowStiffness = ()) -> RowUpdates:
        """The input-table updates that move the input vectors of `words` [n] by `updates`,
        with the stiffness given for input vectors as (words, stiffness) parts, at their rows."""
        return RowUpdates((words,), (updates,), stiffness)

    def word_vectors(self) -> Tensor:
        """[vocab, dim] every word's input vector: the vectors users get."""
        return self.table.weight

    def subword_table(self) -> SubwordTable | None:
        """What forms the vectors of words outside the vocabulary: nothing here."""
        return None


class NegativeSamplingModel(nn.Module, ABC):
    """Two tables trained by negative sampling; subclasses say what a batch trains."""

    name: ClassVar[str]  # as the `model` setting names it
    # Where each operation costs a kernel launch (GPUs), fewer and larger operations pay; on a
    # CPU, operations on views that copy nothing do. The trainer sets this for its device;
    # models that have a choice read it.
    gather_contexts: bool = False

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.words = WordInput(nn.Embedding(vocab_size, dim))
        self.output = nn.Embedding(vocab_size, dim)
        with torch.no_grad():
            # word2vec's start: input vectors uniform in [-0.5/dim, 0.5/dim), output vectors zero
            self.input.weight.copy_((torch.rand(vocab_size, dim, generator=generator) - 0.5) / dim)
            self.output.weight.zero_()

    @property
    def input(self) -> nn.Embedding:
        """The input table, which `words` forms input vectors from."""
        return self.words.table

    @abstractmethod
    def updates(self, batch: Batch, lr: float | Tensor, with_loss: bool = True,
                with_stiffness: bool = False) -> Updates:
        """-lr times the gradient of the batch's summed masked loss, as row updates, with
        their stiffness when asked. `lr` may be a 0-dimensional tensor on the tables' device.

        Reads the tables only.
        """

    def word_vectors(self) -> Tensor:
        """[vocab, dim] the vectors users get: the input vectors (word2vec's syn0)."""
        return self.words.word_vectors()


def squared_norms(rows: Tensor) -> Tensor:
    """|row|^2 over the last dimension."""
    return torch.linalg.vector_norm(rows, dim=-1).square_()


def curvatures(slopes: Tensor) -> Tensor:
    """l''(x) of each term from its slope |l'(x)| (0 where masked): for the sigmoid
    cross-entropy, l'' = |l'| (1 - |l'|)."""
    return torch.addcmul(slopes, slopes, slopes, value=-1)
