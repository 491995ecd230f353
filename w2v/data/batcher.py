"""Skip-gram training batches, built on the training device with array code.

The corpus is read in chunks that end on sentence boundaries. For each chunk, in bulk:
subsampling of frequent words (word2vec's keep probability), a window size drawn uniformly from
1..window for every kept token, and noise words from counts^0.75. Batches are then slices of
those arrays, so no Python code runs per token or per example.

A batch is the seed's layout (centers, contexts_negatives, mask, labels), stored compactly:

* context slot j of center n is the kept token at offset `context_offsets(window)[j]` from it,
  read from `stream`, the stretch of kept tokens around the batch's centers;
* the noise slots of a center are a pool of `2 * window * negatives` noise words shared by its
  group of `group_size` centers; a center with c contexts uses the first `negatives * c` of them,
  so each context word gets its own `negatives` noise words, as in word2vec.

`Batch.dense()` expands this to the seed's four arrays; the model computes the same loss on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from w2v.config import TrainConfig


def context_offsets(window: int) -> list[int]:
    """Offsets of the context slots from their center: -window..-1, 1..window."""
    return [*range(-window, 0), *range(1, window + 1)]


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep a word of count f with (sqrt(f / (t*total)) + 1) * t*total / f."""
    counts = counts.astype(np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    weights = counts.astype(np.float64) ** power
    return weights / weights.sum()


def chunk_bounds(offsets: np.ndarray, chunk_tokens: int) -> list[tuple[int, int]]:
    """Split the corpus into token ranges of about chunk_tokens that end on sentence ends."""
    ends = offsets[1:]
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < int(offsets[-1]):
        first_end = ends[np.searchsorted(ends, start, side="right")]
        last_fitting = ends[max(0, np.searchsorted(ends, start + chunk_tokens, side="right") - 1)]
        end = int(max(first_end, last_fitting))
        bounds.append((start, end))
        start = end
    return bounds


@dataclass
class Batch:
    centers: Tensor  # [B] word ids; padding centers have every slot masked
    stream: Tensor  # [B + 2*window] word ids; center n is stream[n + window]
    context_mask: Tensor  # [B, 2*window] 1.0 where the slot holds a real context
    noise: Tensor  # [B // group_size, 2*window*negatives] noise words, one pool per group
    noise_mask: Tensor  # [B, 2*window*negatives] 1.0 where the slot is used
    words: int  # corpus words (before subsampling) this batch stands for
    centers_count: int  # centers that are not padding

    @property
    def window(self) -> int:
        return self.context_mask.shape[1] // 2

    @property
    def group_size(self) -> int:
        return self.centers.shape[0] // self.noise.shape[0]

    @property
    def negatives(self) -> int:
        return self.noise.shape[1] // self.context_mask.shape[1]

    def contexts(self) -> Tensor:
        """[B, 2*window] the word in each context slot (masked slots hold whatever is there)."""
        size = self.centers.shape[0]
        offsets = torch.tensor(context_offsets(self.window), device=self.stream.device)
        positions = torch.arange(size, device=self.stream.device)[:, None] + self.window + offsets
        return self.stream[positions]

    def split(self, parts: int) -> list[Batch]:
        """Consecutive slices of whole groups; their gradients add up to the whole batch's."""
        size, w, g = self.centers.shape[0], self.window, self.group_size
        step = -(-(size // g) // parts) * g
        return [Batch(self.centers[lo:lo + step], self.stream[lo:lo + step + 2 * w],
                      self.context_mask[lo:lo + step], self.noise[lo // g:(lo + step) // g],
                      self.noise_mask[lo:lo + step], 0, 0)
                for lo in range(0, size, step)]

    def dense(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The seed's layout: (centers, contexts_negatives, mask, labels), each row one center."""
        negatives = self.noise.repeat_interleave(self.group_size, dim=0)
        contexts_negatives = torch.cat([self.contexts(), negatives], dim=1)
        mask = torch.cat([self.context_mask, self.noise_mask], dim=1)
        labels = torch.cat([torch.ones_like(self.context_mask), torch.zeros_like(self.noise_mask)], 1)
        return self.centers, contexts_negatives, mask, labels


@dataclass
class _Chunk:
    """One chunk's subsampled stream and its random draws, padded to whole batches."""

    stream: Tensor  # [n_batches * B + 2*window] word ids
    sentence: Tensor  # same length; -1 on padding
    windows: Tensor  # [n_batches * B] window size per center
    noise: Tensor  # [n_batches, B // group_size, S]
    n_batches: int
    n_kept: int
    words: int


class Batcher:
    """Yields the batches of each epoch; the randomness of a chunk depends only on (seed, epoch, chunk)."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray, counts: np.ndarray,
                 config: TrainConfig, device: torch.device) -> None:
        self.tokens = tokens
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.config = config
        self.device = device
        self.keep_prob = torch.as_tensor(keep_probabilities(counts, config.sample), dtype=torch.float32, device=device)
        self.noise_cdf = torch.as_tensor(np.cumsum(noise_distribution(counts)), device=device)
        self.chunks = chunk_bounds(self.offsets, config.chunk_tokens)
        self.noise_slots = 2 * config.window * config.negatives
        offsets_t = torch.tensor(context_offsets(config.window), device=device)
        self._abs_offsets = offsets_t.abs()

    @property
    def words_per_epoch(self) -> int:
        return int(self.offsets[-1])

    def epoch(self, epoch: int, start_chunk: int = 0, start_batch: int = 0) -> Iterator[tuple[int, int, Batch]]:
        """(chunk index, batch index, batch) for one epoch, from the given position on."""
        for c in range(start_chunk, len(self.chunks)):
            chunk = self._draw_chunk(epoch, c)
            first = start_batch if c == start_chunk else 0
            for b in range(first, chunk.n_batches):
                yield c, b, self._batch(chunk, b)

    def _generator(self, epoch: int, chunk: int) -> torch.Generator:
        gen = torch.Generator(device=self.device)
        gen.manual_seed((self.config.seed * 1_000_003 + epoch) * 1_000_003 + chunk)
        return gen

    def _draw_chunk(self, epoch: int, index: int) -> _Chunk:
        cfg, dev = self.config, self.device
        start, end = self.chunks[index]
        gen = self._generator(epoch, index)
        tokens = torch.from_numpy(np.asarray(self.tokens[start:end], dtype=np.int64)).to(dev)
        first_sentence = int(np.searchsorted(self.offsets, start, side="right")) - 1
        last_sentence = int(np.searchsorted(self.offsets, end, side="left"))
        lengths = torch.from_numpy(np.diff(self.offsets[first_sentence:last_sentence + 1])).to(dev)
        sentence = torch.repeat_interleave(torch.arange(len(lengths), device=dev), lengths)

        keep = torch.rand(len(tokens), generator=gen, device=dev) < self.keep_prob[tokens]
        kept, kept_sentence = tokens[keep], sentence[keep]
        n_kept = len(kept)
        n_batches = max(1, -(-n_kept // cfg.batch_size))
        size = n_batches * cfg.batch_size
        w = cfg.window
        stream = torch.zeros(size + 2 * w, dtype=torch.int64, device=dev)
        stream[w:w + n_kept] = kept
        stream_sentence = torch.full((size + 2 * w,), -1, dtype=torch.int64, device=dev)
        stream_sentence[w:w + n_kept] = kept_sentence
        windows = torch.randint(1, w + 1, (size,), generator=gen, device=dev)
        groups = cfg.batch_size // cfg.group_size
        uniform = torch.rand(n_batches * groups * self.noise_slots, generator=gen, device=dev,
                             dtype=torch.float64)
        noise = torch.searchsorted(self.noise_cdf, uniform).clamp_(max=len(self.noise_cdf) - 1)
        return _Chunk(stream, stream_sentence, windows,
                      noise.view(n_batches, groups, self.noise_slots), n_batches, n_kept, end - start)

    def _batch(self, chunk: _Chunk, index: int) -> Batch:
        cfg = self.config
        size, w = cfg.batch_size, cfg.window
        lo = index * size
        sentence = chunk.sentence[lo:lo + size + 2 * w]
        center_sentence = sentence[w:w + size]
        windows = sentence.unfold(0, 2 * w + 1, 1)  # [B, 2w+1] views, center in column w
        around = torch.cat([windows[:, :w], windows[:, w + 1:]], dim=1)
        in_window = self._abs_offsets <= chunk.windows[lo:lo + size, None]
        context_mask = ((around == center_sentence[:, None]) & in_window
                        & (center_sentence >= 0)[:, None]).float()
        used = cfg.negatives * context_mask.sum(1, keepdim=True)
        slots = torch.arange(self.noise_slots, device=self.device, dtype=used.dtype)
        noise_mask = (slots < used).float()
        stream = chunk.stream[lo:lo + size + 2 * w]
        return Batch(stream[w:w + size], stream, context_mask, chunk.noise[index], noise_mask,
                     (index + 1) * chunk.words // chunk.n_batches - index * chunk.words // chunk.n_batches,
                     max(0, min(size, chunk.n_kept - lo)))
