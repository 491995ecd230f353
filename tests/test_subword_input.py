"""The subword input side: a center's vector is the mean of its bag of input rows, and the fast
step's updates flow back to exactly those rows, as autograd through a dense reference says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from w2v.config import TrainConfig
from w2v.data.batcher import Batch, Batcher
from w2v.model import SkipGram, masked_bce
from w2v.subword_input import SubwordInput
from w2v.subwords import Subwords, char_ngrams, fasttext_hash

WORDS = ["the", "stock", "stocks", "market", "fell", "été", "naïve", "日本", "a", "marketing",
         "x", "rose", "sharply", "chip", "chips", "😀", "prices", "price", "up", "down"]
BUCKETS = 60  # few, so that n-grams of different words share rows
DIM = 5


def dense_bag_matrix(words: list[str], minn: int, maxn: int, buckets: int) -> Tensor:
    """[V, V + buckets]: row i averages word i's own row and its n-grams' rows, built one
    n-gram at a time from fastText's rules (an n-gram that occurs twice counts twice)."""
    matrix = torch.zeros(len(words), len(words) + buckets, dtype=torch.float64)
    for i, word in enumerate(words):
        rows = [i] + [len(words) + fasttext_hash(n.encode()) % buckets
                      for n in char_ngrams(word, minn, maxn)]
        for row in rows:
            matrix[i, row] += 1 / len(rows)
    return matrix


def batch_of(seed: int, window: int = 2, negatives: int = 3) -> Batch:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, size=40)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = rng.integers(len(WORDS), size=int(offsets[-1])).astype(np.int32)
    counts = np.bincount(tokens, minlength=len(WORDS)) + 1
    config = TrainConfig(window=window, negatives=negatives, batch_size=64, group_size=16,
                         sample=0.0, seed=seed)
    batch = next(Batcher(tokens, offsets, counts, config, torch.device("cpu")).epoch(0))[3]
    return Batch(batch.centers, batch.stream, batch.context_mask.double(), batch.noise,
                 batch.noise_mask.double(), batch.words, batch.centers_count)


def tables(seed: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(len(WORDS) + BUCKETS, DIM, generator=gen, dtype=torch.float64),
            torch.randn(len(WORDS), DIM, generator=gen, dtype=torch.float64))


def subword_input(padded: bool) -> SubwordInput:
    bags = Subwords(3, 6, BUCKETS).vocab_bags(WORDS)
    return SubwordInput(bags, padded=padded, dtype=torch.float64)


@pytest.mark.parametrize("padded", [False, True], ids=["flat", "padded"])
def test_embedding_bag_forward_and_gradient_equal_the_dense_reference(padded: bool) -> None:
    weights, _ = tables(0)
    centers = torch.tensor([0, 5, 5, 9, 15, 2, 19, 7, 10])
    probe = torch.randn(len(centers), DIM, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(1))

    bag_table = nn.Parameter(weights.clone())
    vectors = SubwordInput.vectors(bag_table, subword_input(padded).gather(centers))
    (vectors * probe).sum().backward()

    dense_table = nn.Parameter(weights.clone())
    reference = dense_bag_matrix(WORDS, 3, 6, BUCKETS)[centers] @ dense_table
    (reference * probe).sum().backward()

    torch.testing.assert_close(vectors, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bag_table.grad, dense_table.grad, rtol=1e-12, atol=1e-12)


def reference_gradients(input_table: Tensor, context_table: Tensor,
                        batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, input grad, context grad) of the masked BCE of skip-gram whose center vectors are
    the dense bag matrix times the input table, by autograd."""
    centers, contexts_negatives, mask, labels = batch.dense()
    inputs = nn.Parameter(input_table.clone())
    contexts = nn.Parameter(context_table.clone())
    v = (dense_bag_matrix(WORDS, 3, 6, BUCKETS) @ inputs)[centers]  # [B, d]
    logits = torch.bmm(v.unsqueeze(1), contexts[contexts_negatives].transpose(1, 2)).squeeze(1)
    loss = masked_bce(logits, labels, mask, reduction="sum")
    loss.backward()
    return loss.detach(), inputs.grad, contexts.grad


def fast_updates(input_table: Tensor, context_table: Tensor, batch: Batch,
                 padded: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(loss, input update, context update, rows touched) at lr 1: skip-gram's fast step on
    the centers' vectors, whose center update then flows back to the rows of their bags."""
    side = subword_input(padded)
    bags = side.gather(batch.centers)
    model = SkipGram(len(WORDS), DIM).double()
    with torch.no_grad():
        # the fast step reads a center's vector from the center table: put each center's there
        model.center.weight.index_copy_(0, batch.centers,
                                        SubwordInput.vectors(input_table, bags))
        model.context.weight.copy_(context_table)
    step = model.gradients(batch, lr=1.0)
    (center_rows,), (center_update,) = step.center_ids, step.center_update
    assert torch.equal(center_rows, batch.centers)
    rows, row_updates = SubwordInput.row_updates(bags, center_update)
    input_update = torch.zeros_like(input_table).index_add_(0, rows, row_updates)
    context_update = torch.zeros_like(context_table)
    for ids, update in zip(step.context_ids, step.context_update, strict=True):
        context_update.index_add_(0, ids, update)
    return step.loss, input_update, context_update, rows


@pytest.mark.parametrize("padded", [False, True], ids=["flat", "padded"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_step_equals_autograd_through_the_bags(seed: int, padded: bool) -> None:
    batch = batch_of(seed)
    input_table, context_table = tables(seed)
    loss_ref, input_grad, context_grad = reference_gradients(input_table, context_table, batch)
    loss, input_update, context_update, _ = fast_updates(input_table, context_table, batch,
                                                         padded)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-10, atol=0)
    torch.testing.assert_close(input_update, -input_grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(context_update, -context_grad, rtol=1e-9, atol=1e-12)
    assert input_update[len(WORDS):].abs().sum() > 0  # the buckets learn


def test_the_update_touches_only_the_rows_of_the_batchs_bags() -> None:
    batch = batch_of(4)
    batch = Batch(batch.centers[:16], batch.stream[:16 + 4], batch.context_mask[:16],
                  batch.noise[:1], batch.noise_mask[:16], 0, 16)
    input_table, context_table = tables(4)
    _, input_update, _, rows = fast_updates(input_table, context_table, batch, padded=False)
    bags = Subwords(3, 6, BUCKETS).vocab_bags(WORDS)
    expected = {int(r) for c in batch.centers.tolist() for r in bags.bag(c)}
    assert set(rows.tolist()) == expected
    untouched = torch.ones(len(input_table), dtype=torch.bool)
    untouched[list(expected)] = False
    assert untouched.any() and not input_update[untouched].any()


def test_the_flat_layout_gathers_each_distinct_words_bag_once() -> None:
    centers = torch.tensor([3, 3, 0, 16, 19, 0, 3])
    flat, padded = subword_input(False).gather(centers), subword_input(True).gather(centers)
    lengths = Subwords(3, 6, BUCKETS).vocab_bags(WORDS).lengths
    assert len(flat.offsets) == 4 and len(flat.rows) == lengths[[0, 3, 16, 19]].sum()
    assert len(padded.offsets) == 7 and len(padded.rows) == 7 * lengths.max()
    for bags, count in ((flat, 4), (padded, 7)):
        weight_per_bag = torch.zeros(count, dtype=torch.float64).index_add_(
            0, bags.owners, bags.weights)
        torch.testing.assert_close(weight_per_bag, torch.ones(count, dtype=torch.float64))
