"""Batches: subsampling, windows within sentences, noise slots, coverage of the corpus."""

from __future__ import annotations

import numpy as np
import torch

from w2v.config import TrainConfig
from w2v.data.batcher import Batcher, chunk_bounds, context_offsets, keep_probabilities
from w2v.models.reference import dense_batch


def corpus(seed: int = 0, sentences: int = 300, vocab: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 20, size=sentences)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = rng.integers(vocab, size=int(offsets[-1])).astype(np.int32)
    return tokens, offsets, np.bincount(tokens, minlength=vocab) + 1


def make_batcher(seed: int = 0, **config: object) -> Batcher:
    tokens, offsets, counts = corpus(seed)
    settings = {"window": 3, "negatives": 2, "batch_size": 64, "group_size": 16, "sample": 0.0,
                "seed": seed, **config}
    return Batcher(tokens, offsets, counts, TrainConfig(**settings), torch.device("cpu"))


def test_keep_probability_is_word2vecs_formula() -> None:
    counts = np.array([1000, 100, 10, 1])
    t = 1e-2
    total = counts.sum()
    expected = (np.sqrt(counts / (t * total)) + 1) * (t * total) / counts
    assert np.allclose(keep_probabilities(counts, t), np.minimum(expected, 1))
    assert keep_probabilities(counts, t)[0] < 0.5
    assert np.all(keep_probabilities(counts, 0.0) == 1)


def test_chunks_end_on_sentence_ends_and_cover_the_corpus() -> None:
    offsets = np.array([0, 5, 9, 30, 31, 40])
    bounds = chunk_bounds(offsets, chunk_tokens=10)
    assert bounds == [(0, 9), (9, 30), (30, 40)]
    assert chunk_bounds(offsets, chunk_tokens=1000) == [(0, 40)]


def test_without_subsampling_every_token_is_a_center_once() -> None:
    batcher = make_batcher(chunk_tokens=200)
    tokens, _offsets, _ = corpus(0)
    centers, words = [], 0
    for _, _, _, batch in batcher.epoch(0):
        centers.append(batch.centers[:batch.centers_count])
        words += batch.words
    assert torch.equal(torch.cat(centers), torch.from_numpy(tokens.astype(np.int64)))
    assert words == len(tokens)


def test_contexts_share_the_sentence_and_the_drawn_window() -> None:
    tokens, offsets, _ = corpus(0)
    sentence_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    batch = next(make_batcher().epoch(0))[3]
    _centers, contexts_negatives, mask, labels = dense_batch(batch)
    window = batch.window
    offs = np.array(context_offsets(window))
    for n in range(batch.centers_count):  # a test may loop; the batcher may not
        used = mask[n, :2 * window].numpy().astype(bool)
        positions = n + offs[used]
        assert np.all(sentence_of[positions] == sentence_of[n])
        assert np.array_equal(contexts_negatives[n, :2 * window].numpy()[used], tokens[positions])
        reach = np.abs(offs[used]).max(initial=0)
        assert reach <= window
        # the negatives used are exactly `negatives` per context word
        assert mask[n, 2 * window:].sum() == 2 * used.sum()
    assert torch.equal(labels[:, :2 * window], torch.ones(len(labels), 2 * window))
    assert torch.count_nonzero(labels[:, 2 * window:]) == 0


def test_window_sizes_are_uniform_from_one_to_window() -> None:
    batch = next(make_batcher(window=4, batch_size=1024, group_size=16).epoch(0))[3]
    # a center in a long enough sentence reaches exactly its drawn window on at least one side
    reach = batch.context_mask[:, 4:].sum(1)  # contexts to the right: min(drawn window, room)
    assert set(reach.unique().tolist()) <= {0, 1, 2, 3, 4}
    assert (reach == 4).any() and (reach == 1).any()


def test_same_seed_same_batches_other_epoch_other_draws() -> None:
    first = [b.noise for _, _, _, b in make_batcher(7, sample=1e-2).epoch(0)]
    again = [b.noise for _, _, _, b in make_batcher(7, sample=1e-2).epoch(0)]
    other = [b.noise for _, _, _, b in make_batcher(7, sample=1e-2).epoch(1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=False))


def test_epoch_resumes_at_a_given_batch() -> None:
    batcher = make_batcher(chunk_tokens=300)
    everything = [(c, i, b.centers) for c, i, _, b in batcher.epoch(2)]
    c0, i0, _ = everything[5]
    resumed = [(c, i, b.centers) for c, i, _, b in batcher.epoch(2, c0, i0)]
    assert [(c, i) for c, i, _ in resumed] == [(c, i) for c, i, _ in everything[5:]]
    assert all(torch.equal(a[2], b[2]) for a, b in zip(resumed, everything[5:], strict=True))


def test_chunks_drawn_ahead_are_the_chunks_drawn_on_demand() -> None:
    batcher = make_batcher(chunk_tokens=300, epochs=3, sample=1e-2)
    assert len(batcher.chunks) > 3
    ahead = [(0, c, i, b) for c, i, _, b in batcher.epoch(0)]
    assert batcher._ahead is not None and batcher._ahead[0] == (1, 0)  # the next epoch's first
    ahead += [(e, c, i, b) for e in (1, 2) for c, i, _, b in batcher.epoch(e)]
    reference = make_batcher(chunk_tokens=300, epochs=3, sample=1e-2)
    chunks = {}
    for e, c, i, batch in ahead:
        chunk = chunks.setdefault((e, c), reference._draw_chunk(e, c))
        expected = reference._batch(chunk, i)
        for field in ("centers", "stream", "context_mask", "noise", "noise_mask"):
            assert torch.equal(getattr(batch, field), getattr(expected, field))
    assert len(chunks) == 3 * len(batcher.chunks)
