"""Properties of the batcher and the loss on generated corpora, checked against references
written from word2vec's definitions rather than from the batcher's code."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from w2v.config import TrainConfig
from w2v.data.batcher import Batcher, context_offsets
from w2v.models import SkipGram
from w2v.models.reference import dense_batch, masked_bce, skipgram_logits

CPU = torch.device("cpu")


@st.composite
def corpora(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens, offsets, counts) of a few short sentences over a small vocabulary."""
    vocab = draw(st.integers(2, 6))
    sentences = draw(st.lists(st.lists(st.integers(0, vocab - 1), min_size=1, max_size=12),
                              min_size=1, max_size=8))
    tokens = np.array([t for s in sentences for t in s], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    return tokens, offsets, np.bincount(tokens, minlength=vocab) + 1


@st.composite
def configs(draw: st.DrawFn) -> TrainConfig:
    group = draw(st.sampled_from([1, 2, 4]))
    return TrainConfig(window=draw(st.integers(1, 4)), negatives=draw(st.integers(1, 3)),
                       group_size=group, batch_size=group * draw(st.integers(1, 4)),
                       sample=draw(st.sampled_from([0.0, 0.05, 0.5])),
                       chunk_tokens=draw(st.integers(1, 30)), seed=draw(st.integers(0, 2**40)))


def expected_contexts(chunk, size: int, window: int, batch: int):
    """From the chunk's draws alone: (context mask, context words) of each center of a batch.

    Slot j of the center at kept position p holds the kept word at p + offset j when that word
    exists, is in the same sentence and is no farther than the window drawn for p.
    """
    offsets = context_offsets(window)
    mask = np.zeros((size, 2 * window), dtype=np.float32)
    words = np.full((size, 2 * window), -1, dtype=np.int64)
    kept = chunk.stream[window:window + chunk.n_kept].numpy()
    sentence = chunk.sentence[window:window + chunk.n_kept].numpy()
    for n in range(size):
        p = batch * size + n
        if p >= chunk.n_kept:
            continue
        drawn = int(chunk.windows[p])
        for j, offset in enumerate(offsets):
            q = p + offset
            if 0 <= q < chunk.n_kept and sentence[q] == sentence[p] and abs(offset) <= drawn:
                mask[n, j] = 1
                words[n, j] = kept[q]
    return mask, words


def check_stream_follows_corpus(chunk, bounds: tuple[int, int], tokens: np.ndarray,
                                offsets: np.ndarray, window: int, sample: float) -> None:
    """The kept stream is, sentence by sentence, a subsequence of the corpus (all of it
    without subsampling), so the batcher's sentence ids are the corpus's sentences."""
    start, end = bounds
    first = int(np.searchsorted(offsets, start, side="right")) - 1
    kept = chunk.stream[window:window + chunk.n_kept].numpy()
    sentence = chunk.sentence[window:window + chunk.n_kept].numpy()
    assert np.all(np.diff(sentence) >= 0)
    for s in np.unique(sentence):
        original = tokens[offsets[first + s]:offsets[first + s + 1]].tolist()
        got = kept[sentence == s].tolist()
        rest = iter(original)
        assert all(word in rest for word in got)  # an in-order subsequence
        if sample == 0:
            assert got == original
    if sample == 0:
        assert chunk.n_kept == end - start


@settings(max_examples=60)
@given(corpus=corpora(), config=configs(), epoch=st.integers(0, 2))
def test_contexts_are_in_the_centers_sentence_and_drawn_window(corpus, config, epoch) -> None:
    tokens, offsets, counts = corpus
    batcher = Batcher(tokens, offsets, counts, config, CPU)
    size, window = config.batch_size, config.window
    chunks = {c: batcher._draw_chunk(epoch, c) for c in range(len(batcher.chunks))}
    for c, chunk in chunks.items():
        check_stream_follows_corpus(chunk, batcher.chunks[c], tokens, offsets, window,
                                    config.sample)
        assert torch.all((chunk.windows >= 1) & (chunk.windows <= window))

    for c, b, _, batch in batcher.epoch(epoch):
        centers, contexts_negatives, mask, labels = dense_batch(batch)
        kept = chunks[c].stream[window:window + chunks[c].n_kept]
        assert torch.equal(centers[:batch.centers_count], kept[b * size:(b + 1) * size])
        want_mask, want_words = expected_contexts(chunks[c], size, window, b)
        assert np.array_equal(mask[:, :2 * window].numpy(), want_mask)
        used = want_mask.astype(bool)
        assert np.array_equal(contexts_negatives[:, :2 * window].numpy()[used], want_words[used])
        # labels: 1 on exactly the context slots, 0 on the noise slots
        assert torch.equal(labels[:, :2 * window], torch.ones(size, 2 * window))
        assert torch.equal(labels[:, 2 * window:], torch.zeros_like(labels[:, 2 * window:]))
        assert torch.equal(labels * mask, torch.cat([mask[:, :2 * window],
                                                     torch.zeros_like(mask[:, 2 * window:])], 1))
        # each context word gets its own `negatives` noise words; padding centers get nothing
        used_noise = mask[:, 2 * window:].sum(1)
        assert torch.equal(used_noise, config.negatives * mask[:, :2 * window].sum(1))
        assert torch.all(mask[batch.centers_count:] == 0)


@settings(max_examples=30)
@given(corpus=corpora(), config=configs(), dim=st.integers(1, 6), junk_seed=st.integers(0, 99))
def test_masked_slots_add_no_loss_and_no_gradient(corpus, config, dim, junk_seed) -> None:
    tokens, offsets, counts = corpus
    batcher = Batcher(tokens, offsets, counts, config, CPU)
    *_, batch = next(batcher.epoch(0))
    centers, contexts_negatives, mask, labels = dense_batch(batch)
    vocab = len(counts)
    generator = torch.Generator().manual_seed(junk_seed)
    # Other words in every masked slot: nothing below may change.
    junk = torch.randint(vocab, contexts_negatives.shape, generator=generator)
    scrambled = torch.where(mask.bool(), contexts_negatives, junk)

    def loss_and_grads(rows: torch.Tensor):
        model = SkipGram(vocab, dim, torch.Generator().manual_seed(1))
        with torch.no_grad():
            model.output.weight.normal_(generator=torch.Generator().manual_seed(2))
        logits = skipgram_logits(model, centers, rows)
        logits.retain_grad()
        loss = masked_bce(logits, labels, mask, "sum")
        loss.backward()
        return loss, logits, model.input.weight.grad, model.output.weight.grad

    loss, logits, center_grad, context_grad = loss_and_grads(contexts_negatives)
    loss2, _, center_grad2, context_grad2 = loss_and_grads(scrambled)

    assert torch.all(logits.grad[mask == 0] == 0)
    unmasked = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[mask == 1], labels[mask == 1], reduction="sum")
    assert torch.allclose(loss, unmasked, rtol=1e-5, atol=1e-6)
    assert torch.equal(loss, loss2)
    assert torch.equal(center_grad, center_grad2) and torch.equal(context_grad, context_grad2)
    # no row is touched through a masked slot alone
    touched = torch.zeros(vocab, dtype=torch.bool)
    touched[contexts_negatives[mask == 1]] = True
    assert torch.all(context_grad[~touched] == 0)


def noise_sample(counts: np.ndarray) -> np.ndarray:
    """The noise words of one chunk: 64 batches of 4 groups of 200 (2 * window * negatives)."""
    tokens = np.zeros(64 * 256, dtype=np.int32)  # only the counts decide the noise
    offsets = np.arange(0, len(tokens) + 1, 16, dtype=np.int64)
    config = TrainConfig(window=5, negatives=20, batch_size=256, group_size=64, sample=0.0,
                         seed=3)
    return Batcher(tokens, offsets, counts, config, CPU)._draw_chunk(0, 0).noise.reshape(-1).numpy()


@settings(max_examples=8)
@given(counts=st.lists(st.integers(1, 3000), min_size=2, max_size=12).map(np.array))
def test_noise_words_follow_counts_to_the_three_quarters(counts: np.ndarray) -> None:
    sample = noise_sample(counts)
    assert len(sample) == 51_200
    observed = np.bincount(sample, minlength=len(counts))
    weights = counts.astype(np.float64) ** 0.75
    expected = len(sample) * weights / weights.sum()
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_the_noise_test_tells_counts_from_their_three_quarters() -> None:
    """The chi-square test above has the power to see a wrong exponent."""
    counts = np.array([3000, 1000, 300, 100, 30, 10])
    observed = np.bincount(noise_sample(counts), minlength=len(counts))
    expected = observed.sum() * counts / counts.sum()
    assert stats.chisquare(observed, expected).pvalue < 1e-10


def word2vec_keep_rate(f: np.ndarray, t: float, total: int) -> np.ndarray:
    """word2vec.c: keep a word of count f with (sqrt(f / (t * total)) + 1) * (t * total) / f."""
    return np.minimum(1.0, (np.sqrt(f / (t * total)) + 1) * (t * total) / f)


@settings(max_examples=10)
@given(counts=st.lists(st.integers(1, 5000), min_size=2, max_size=15).map(np.array),
       t=st.sampled_from([1e-3, 1e-2, 5e-2]), seed=st.integers(0, 1000))
def test_subsampling_keeps_words_at_word2vecs_rate(counts: np.ndarray, t: float,
                                                   seed: int) -> None:
    # The keep rates come from `counts`; the stream to subsample holds each word 4000 times.
    trials = 4000
    tokens = np.repeat(np.arange(len(counts)), trials).astype(np.int32)
    np.random.default_rng(seed).shuffle(tokens)
    offsets = np.arange(0, len(tokens) + 1, 25, dtype=np.int64)
    config = TrainConfig(window=2, negatives=1, batch_size=512, group_size=64, sample=t,
                         seed=seed)
    chunk = Batcher(tokens, offsets, counts, config, CPU)._draw_chunk(0, 0)
    kept = np.bincount(chunk.stream[2:2 + chunk.n_kept].numpy(), minlength=len(counts))
    rate = word2vec_keep_rate(counts.astype(np.float64), t, int(counts.sum()))
    # per word, within 5 standard deviations of the binomial (and one token for rounding)
    spread = 5 * np.sqrt(trials * rate * (1 - rate)) + 1
    assert np.all(np.abs(kept - trials * rate) <= spread), (kept / trials, rate)
