"""The subword input side: a word's vector is the mean of its bag of input rows (EmbeddingBag
against a dense reference under autograd), and the fast step's updates flow back to exactly
those rows, every row by its word's update, damped where the batch's words share it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from w2v.config import TrainConfig
from w2v.data.batcher import Batch, Batcher
from w2v.models import CBOW, SkipGram
from w2v.models.reference import dense_batch, masked_bce
from w2v.models.subword import SHARED_ROW_DAMPING, SubwordInput
from w2v.step import SGD
from w2v.subwords import Subwords, char_ngrams, fasttext_hash

WORDS = ["the", "stock", "stocks", "market", "fell", "été", "naïve", "日本", "a", "marketing",
         "x", "rose", "sharply", "chip", "chips", "😀", "prices", "price", "up", "down"]
BUCKETS = 60  # few, so that n-grams of different words share rows
DIM = 5
LAYOUTS = pytest.mark.parametrize("padded", [False, True], ids=["flat", "padded"])


def bag_counts() -> Tensor:
    """[V, V + buckets]: how many times each row is in each word's bag, built one n-gram at a
    time from fastText's rules (an n-gram that occurs twice counts twice)."""
    counts = torch.zeros(len(WORDS), len(WORDS) + BUCKETS, dtype=torch.float64)
    for i, word in enumerate(WORDS):
        counts[i, i] += 1
        for ngram in char_ngrams(word, 3, 6):
            counts[i, len(WORDS) + fasttext_hash(ngram.encode()) % BUCKETS] += 1
    return counts


def dense_means() -> Tensor:
    """[V, V + buckets]: row i averages word i's bag."""
    counts = bag_counts()
    return counts / counts.sum(1, keepdim=True)


def subword_input(table: Tensor, padded: bool) -> SubwordInput:
    """An input side over every bucket (none left out), holding `table`."""
    bags = Subwords(3, 6, BUCKETS).vocab_bags(WORDS)
    side = SubwordInput(nn.Embedding.from_pretrained(table.clone(), freeze=False),
                        Subwords(3, 6, BUCKETS), bags.ids, bags.offsets, np.arange(BUCKETS))
    side.padded = padded
    return side


def batch_of(seed: int, model: str = "skipgram") -> Batch:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, size=40)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = rng.integers(len(WORDS), size=int(offsets[-1])).astype(np.int32)
    counts = np.bincount(tokens, minlength=len(WORDS)) + 1
    config = TrainConfig(model=model, window=2, negatives=3, batch_size=64, group_size=16,
                         sample=0.0, seed=seed)
    batch = next(Batcher(tokens, offsets, counts, config, torch.device("cpu")).epoch(0))[3]
    return Batch(batch.centers, batch.stream, batch.context_mask.double(), batch.noise,
                 batch.noise_mask.double(), batch.words, batch.centers_count)


def tables(seed: int) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(len(WORDS) + BUCKETS, DIM, generator=gen, dtype=torch.float64),
            torch.randn(len(WORDS), DIM, generator=gen, dtype=torch.float64))


def model_with(kind: type[SkipGram | CBOW], seed: int, padded: bool) -> SkipGram | CBOW:
    input_table, output_table = tables(seed)
    model = kind(len(WORDS), DIM).double()
    model.words = subword_input(input_table, padded)
    with torch.no_grad():
        model.output.weight.copy_(output_table)
    return model


def table_update(updates, rows: int) -> Tensor:
    total = torch.zeros(rows, DIM, dtype=torch.float64)
    for ids, part in zip(updates.ids, updates.rows, strict=True):
        total.index_add_(0, ids, part)
    return total


def expected_input_update(vector_grads: Tensor, present: Tensor) -> Tensor:
    """Each row moves by minus the gradient of every word vector whose bag holds it (times how
    often it holds it), divided by SHARED_ROW_DAMPING-th power of how many of the batch's words
    hold it."""
    counts = bag_counts()
    holders = counts[present].sum(0).clamp(min=1)
    return -(counts.T @ vector_grads) / holders.pow(SHARED_ROW_DAMPING)[:, None]


@LAYOUTS
def test_embedding_bag_forward_and_gradient_equal_the_dense_reference(padded: bool) -> None:
    weights, _ = tables(0)
    words = torch.tensor([0, 5, 5, 9, 15, 2, 19, 7, 10])
    probe = torch.randn(len(words), DIM, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(1))
    side = subword_input(weights, padded)
    vectors = side.vectors(words)
    (vectors * probe).sum().backward()

    dense_table = nn.Parameter(weights.clone())
    reference = dense_means()[words] @ dense_table
    (reference * probe).sum().backward()

    torch.testing.assert_close(vectors, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(side.table.weight.grad, dense_table.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(side.word_vectors(), dense_means() @ weights)


def test_bags_made_once_per_words_are_made_again_when_the_words_change() -> None:
    weights, _ = tables(0)
    side = subword_input(weights, padded=False)
    words = torch.tensor([0, 5, 9])
    first = side.vectors(words)
    torch.testing.assert_close(side.vectors(words), first)  # the same words: the same bags
    words[1] = 15  # changed in place: the bags of the new words
    torch.testing.assert_close(side.vectors(words), (dense_means() @ weights)[[0, 15, 9]],
                               rtol=1e-12, atol=1e-12)


@LAYOUTS
def test_weighted_sums_of_bags_equal_the_dense_reference(padded: bool) -> None:
    weights, _ = tables(1)
    words = torch.tensor([[0, 5, 5], [9, 15, 2], [19, 7, 0]])
    shares = torch.rand(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    sums = subword_input(weights, padded).weighted_sums(words, shares)
    reference = torch.einsum("bj,bjd->bd", shares, (dense_means() @ weights)[words])
    torch.testing.assert_close(sums, reference, rtol=1e-12, atol=1e-12)


@LAYOUTS
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skipgram_step_equals_autograd_through_the_bags(seed: int, padded: bool) -> None:
    batch = batch_of(seed)
    model = model_with(SkipGram, seed, padded)
    input_table, output_table = tables(seed)

    centers, contexts_negatives, mask, labels = dense_batch(batch)
    word_vectors = (dense_means() @ input_table).requires_grad_()
    output = nn.Parameter(output_table.clone())
    logits = torch.bmm(word_vectors[centers].unsqueeze(1),
                       output[contexts_negatives].transpose(1, 2)).squeeze(1)
    loss_ref = masked_bce(logits, labels, mask, reduction="sum")
    loss_ref.backward()

    step = model.updates(batch, lr=1.0)
    torch.testing.assert_close(step.loss, loss_ref.detach(), rtol=1e-10, atol=0)
    torch.testing.assert_close(table_update(step.output, len(WORDS)), -output.grad,
                               rtol=1e-9, atol=1e-12)
    present = torch.zeros(len(WORDS), dtype=torch.bool)
    present[batch.centers] = True
    input_update = table_update(step.input, len(input_table))
    torch.testing.assert_close(input_update, expected_input_update(word_vectors.grad, present),
                               rtol=1e-9, atol=1e-12)
    assert input_update[len(WORDS):].abs().sum() > 0  # the buckets learn


@LAYOUTS
def test_cbow_step_sends_each_windows_update_to_its_words_bags(padded: bool) -> None:
    batch = batch_of(3, "cbow")
    model = model_with(CBOW, 3, padded)
    input_table, _ = tables(3)
    word_vectors = (dense_means() @ input_table).requires_grad_()
    plain = CBOW(len(WORDS), DIM).double()  # the same model on the word vectors as its rows
    with torch.no_grad():
        plain.input.weight.copy_(word_vectors)
        plain.output.weight.copy_(model.output.weight)
    plain_step, step = plain.updates(batch, lr=1.0), model.updates(batch, lr=1.0)
    torch.testing.assert_close(step.loss, plain_step.loss, rtol=1e-10, atol=0)
    torch.testing.assert_close(table_update(step.output, len(WORDS)),
                               table_update(plain_step.output, len(WORDS)))
    present = torch.zeros(len(WORDS), dtype=torch.bool)
    present[batch.stream] = True
    # the plain model's update of a word's row is minus the gradient of its vector
    grads = -table_update(plain_step.input, len(WORDS))
    torch.testing.assert_close(table_update(step.input, len(input_table)),
                               expected_input_update(grads, present), rtol=1e-9, atol=1e-12)


def test_the_update_touches_only_the_rows_of_the_batchs_bags() -> None:
    whole = batch_of(4)  # its first group of centers, which leaves some words out
    batch = Batch(whole.centers[:16], whole.stream[:16 + 4], whole.context_mask[:16],
                  whole.noise[:1], whole.noise_mask[:16], 0, 16)
    model = model_with(SkipGram, 4, padded=False)
    step = model.updates(batch, lr=1.0)
    bags = Subwords(3, 6, BUCKETS).vocab_bags(WORDS)
    expected = {int(r) for c in batch.centers.tolist() for r in bags.bag(c)}
    assert set(step.input.ids[0].tolist()) == expected
    update = table_update(step.input, len(WORDS) + BUCKETS)
    untouched = torch.ones(len(update), dtype=torch.bool)
    untouched[list(expected)] = False
    assert untouched.any() and not update[untouched].any()


def test_a_new_input_side_starts_word_rows_random_and_bucket_rows_zero() -> None:
    side = SubwordInput.for_vocabulary(WORDS, Subwords(3, 6, 2_000_000), DIM,
                                       torch.Generator().manual_seed(0))
    weight = side.table.weight
    used = np.unique(Subwords(3, 6, 2_000_000).bucket_bags(WORDS).ids)
    assert weight.shape == (len(WORDS) + len(used), DIM)  # only the buckets the words use
    assert np.array_equal(side.stored, used)
    assert weight[:len(WORDS)].abs().max() <= 1 / DIM and weight[:len(WORDS)].abs().min() > 0
    assert not weight[len(WORDS):].any()


@LAYOUTS
def test_each_row_of_a_bag_takes_its_words_stiffness(padded: bool) -> None:
    words = torch.tensor([0, 5, 5, 9, 15])
    given = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    side = subword_input(tables(0)[0], padded)
    updates = side.row_updates(words, torch.zeros(5, DIM, dtype=torch.float64), ((words, given),))
    (ids, stiffness), = updates.stiffness
    at_rows = torch.zeros(len(WORDS) + BUCKETS, dtype=torch.float64).index_add_(0, ids, stiffness)
    per_word = torch.zeros(len(WORDS), dtype=torch.float64).index_add_(0, words, given)
    torch.testing.assert_close(at_rows, bag_counts().T @ per_word)


@LAYOUTS
def test_under_the_step_limit_a_words_rows_take_its_n_grams_mean_scale(padded: bool) -> None:
    words = torch.tensor([0, 5, 5, 9, 15, 12])
    given = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 0.5], dtype=torch.float64)
    moves = torch.randn(6, DIM, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = model_with(SkipGram, 0, padded)
    model.words.damping = 0.0  # as the trainer sets it under the limit
    before = model.input.weight.detach().clone()
    limit = 4.0

    updates = model.words.row_updates(words, moves.clone(), ((words, given),))
    SGD(model).apply("input", [updates], limit=limit)

    counts = bag_counts()
    per_word = torch.zeros(len(WORDS), dtype=torch.float64).index_add_(0, words, given)
    row_scales = (limit / (counts.T @ per_word)).clamp(max=1.0)  # inf where no word: 1
    ngrams = counts[:, len(WORDS):]
    word_scales = (ngrams @ row_scales[len(WORDS):]) / ngrams.sum(1)
    word_moves = torch.zeros(len(WORDS), DIM, dtype=torch.float64).index_add_(0, words, moves)
    expected = counts.T @ (word_moves * word_scales[:, None])
    torch.testing.assert_close(model.input.weight.detach() - before, expected)
    assert 0 < word_scales[words].min() < word_scales[words].max() < 1  # scales differ by word


def test_a_subword_run_trains_with_the_step_limit() -> None:
    batch = batch_of(5)
    model = model_with(SkipGram, 5, padded=False)
    before = model.input.weight.detach().clone()
    SGD(model, step_limit=0.5).step(batch, lr=1.0)
    moved = (model.input.weight.detach() - before).norm(dim=1)
    unlimited = model_with(SkipGram, 5, padded=False)
    SGD(unlimited).step(batch, lr=1.0)
    moved_freely = (unlimited.input.weight.detach() - before).norm(dim=1)
    assert (moved <= moved_freely + 1e-12).all() and (moved < moved_freely - 1e-6).any()


def test_shared_rows_are_damped_with_plain_sgd_and_left_to_the_step_limit_under_it() -> None:
    from w2v.trainer import new_model

    limited = new_model(TrainConfig(subwords="3-6", dim=DIM), WORDS).words
    plain = new_model(TrainConfig(subwords="3-6", dim=DIM, step_limit=0.0), WORDS).words
    assert (limited.damping, plain.damping) == (0.0, SHARED_ROW_DAMPING)
    # a row that k of the words' bags hold moves by k updates of 1, times k to the -damping
    words = torch.tensor([1, 2, 3, 9])  # stock, stocks, market, marketing: shared n-grams
    for side in (limited, plain):
        rows = side.row_updates(words, torch.ones(4, DIM))
        size = side.table.weight.shape[0]
        total = torch.zeros(size, DIM).index_add_(0, rows.ids[0], rows.rows[0])
        holders = torch.zeros(size).index_add_(0, rows.ids[0], torch.ones(len(rows.ids[0])))
        held = holders > 0
        torch.testing.assert_close(total[held, 0], holders[held] ** (1 - side.damping))
    assert (holders > 1).any()  # some rows are shared, so the two differ
