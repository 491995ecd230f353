"""Skip-gram training batches, built on the training device with array code.

The corpus is read in chunks that end on sentence boundaries. For each chunk, in bulk:
subsampling of frequent words (word2vec's keep probability), a window size drawn uniformly from
1..window for every kept token, and noise words from counts^0.75. Batches are then slices of
those arrays, so no Python code runs per token or per example.

A batch gives each center 2 * window context slots and 2 * window * negatives noise slots, each
with a mask that is 1 where the slot is in use. It is stored compactly:

* context slot j of center n is the kept token at offset `context_offsets(window)[j]` from it,
  read from `stream`, the stretch of kept tokens around the batch's centers;
* the noise slots of a center are a pool of `2 * window * negatives` noise words shared by its
  group of `group_size` centers; a center with c contexts uses the first `negatives * c` of them,
  so each context word gets its own `negatives` noise words, as in word2vec.

`w2v.models.reference.dense_batch` expands a batch to one row of slots per center, the layout
the tests check the models against.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from w2v.config import TrainConfig
from w2v.errors import W2VError


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


NOISE_TABLE_SIZE = 1 << 24


def noise_table(counts: np.ndarray, size: int = NOISE_TABLE_SIZE) -> np.ndarray:
    """word2vec's unigram table: word w fills a share of the entries close to its noise
    probability (largest remainders, so the shares add up); a uniform entry is a noise word."""
    share = noise_distribution(counts) * size
    entries = np.floor(share).astype(np.int64)
    short = size - int(entries.sum())
    entries[np.argsort(entries - share, kind="stable")[:short]] += 1
    return np.repeat(np.arange(len(counts), dtype=np.int32), entries)


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


def even_chunks(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Split the corpus into exactly `parts` token ranges of about equal size at sentence ends."""
    sentences = len(offsets) - 1
    if sentences < parts:
        raise W2VError(f"{sentences} sentences cannot be split into {parts} parts; "
                       f"use fewer processes or a larger corpus")
    targets = np.linspace(0, int(offsets[-1]), parts + 1)[1:-1]
    cuts = np.searchsorted(offsets, targets)  # sentence indices where parts 1.. begin
    i = np.arange(parts - 1)
    # strictly increasing, each part at least one sentence
    cuts = np.maximum.accumulate(np.clip(cuts, i + 1, sentences - parts + 1 + i) - i) + i
    bounds = offsets[np.concatenate([[0], cuts, [sentences]])]
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def expected_keep_share(counts: np.ndarray, sample: float) -> float:
    """The share of corpus tokens subsampling keeps, on average."""
    return float((counts * keep_probabilities(counts, sample)).sum() / counts.sum())


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
        return self.at_slots(self.stream)

    def at_slots(self, values: Tensor) -> Tensor:
        """[B, 2*window]: values [B + 2*window] given for the stream's positions, read at each
        center's context slots."""
        w = self.window
        windows = values.unfold(0, 2 * w + 1, 1)  # row n: values[n : n + 2w + 1], center at w
        return torch.cat([windows[:, :w], windows[:, w + 1:]], dim=1)

    def split(self, parts: int) -> list[Batch]:
        """Consecutive slices of whole groups; their updates add up to the whole batch's."""
        size, w, g = self.centers.shape[0], self.window, self.group_size
        step = -(-(size // g) // parts) * g
        return [Batch(self.centers[lo:lo + step], self.stream[lo:lo + step + 2 * w],
                      self.context_mask[lo:lo + step], self.noise[lo // g:(lo + step) // g],
                      self.noise_mask[lo:lo + step], 0, 0)
                for lo in range(0, size, step)]


@dataclass
class _Chunk:
    """One chunk's subsampled stream and its random draws, padded to whole batches."""

    stream: Tensor  # [n_batches * B + 2*window] word ids
    sentence: Tensor  # same length: sentence of each kept token, -1 on padding
    windows: Tensor  # [n_batches * B] the window drawn for each center
    context_mask: Tensor  # [n_batches * B, 2*window]
    noise_used: Tensor  # [n_batches * B, 1] noise slots each center uses
    noise: Tensor  # [n_batches, B // group_size, S]
    n_batches: int
    n_kept: int
    words: int


class Batcher:
    """Yields the batches of each epoch; the randomness of a chunk depends only on
    (seed, shard, epoch, chunk), where `shard` numbers the part of the corpus this batcher reads
    (a process's rank, when several train)."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray, counts: np.ndarray,
                 config: TrainConfig, device: torch.device, shard: int = 0,
                 chunks: list[tuple[int, int]] | None = None) -> None:
        self.tokens = tokens
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.config = config
        self.device = device
        self.keep_prob = torch.as_tensor(keep_probabilities(counts, config.sample), dtype=torch.float32, device=device)
        self.noise_table = torch.from_numpy(noise_table(counts)).to(device)
        self.shard = shard
        self.chunks = chunks or chunk_bounds(self.offsets, config.chunk_tokens)
        self.noise_slots = 2 * config.window * config.negatives
        offsets_t = torch.tensor(context_offsets(config.window), device=device)
        self._abs_offsets = offsets_t.abs()
        self._slots = torch.arange(self.noise_slots, device=device, dtype=torch.float32)
        self._drawer: ThreadPoolExecutor | None = None
        self._ahead: tuple[tuple[int, int], Future[_Chunk]] | None = None

    def epoch(self, epoch: int, start_chunk: int = 0,
              start_batch: int = 0) -> Iterator[tuple[int, int, int, Batch]]:
        """(chunk index, batch index, batches in the chunk, batch) from the given position on.

        While a chunk's batches are used, the next chunk is drawn on another thread.
        """
        for c in range(start_chunk, len(self.chunks)):
            chunk = self._take_chunk(epoch, c)
            if c + 1 < len(self.chunks):
                self._prefetch(epoch, c + 1)
            elif epoch + 1 < self.config.epochs:
                self._prefetch(epoch + 1, 0)
            first = start_batch if c == start_chunk else 0
            for b in range(first, chunk.n_batches):
                yield c, b, chunk.n_batches, self._batch(chunk, b)

    def _take_chunk(self, epoch: int, index: int) -> _Chunk:
        """The chunk drawn ahead, if it is this one; else drawn now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == (epoch, index):
            return ahead[1].result()
        return self._draw_chunk(epoch, index)

    def _prefetch(self, epoch: int, index: int) -> None:
        if self._drawer is None:
            self._drawer = ThreadPoolExecutor(1, thread_name_prefix="w2v-chunks")
        self._ahead = ((epoch, index), self._drawer.submit(self._draw_chunk, epoch, index))

    def _generator(self, epoch: int, chunk: int) -> torch.Generator:
        gen = torch.Generator(device=self.device)
        gen.manual_seed((((self.config.seed * 1_000_003 + self.shard) * 1_000_003 + epoch)
                         * 1_000_003 + chunk) % 2**64)
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
        where = keep.nonzero().squeeze(1)
        kept, kept_sentence = tokens[where], sentence[where]
        n_kept = len(kept)
        n_batches = max(1, -(-n_kept // cfg.batch_size))
        size = n_batches * cfg.batch_size
        w = cfg.window
        stream = torch.zeros(size + 2 * w, dtype=torch.int64, device=dev)
        stream[w:w + n_kept] = kept
        stream_sentence = torch.full((size + 2 * w,), -1, dtype=torch.int64, device=dev)
        stream_sentence[w:w + n_kept] = kept_sentence
        windows = torch.randint(1, w + 1, (size,), generator=gen, device=dev)
        left, right = self._reach(kept_sentence, windows, size)
        context_mask = torch.cat([self._abs_offsets[:w] <= left[:, None],
                                  self._abs_offsets[w:] <= right[:, None]], dim=1).float()
        groups = cfg.batch_size // cfg.group_size
        picks = torch.randint(len(self.noise_table), (n_batches * groups * self.noise_slots,),
                              generator=gen, device=dev)
        noise = self.noise_table[picks].long()
        noise_used = (cfg.negatives * (left + right)).float()[:, None]
        return _Chunk(stream, stream_sentence, windows, context_mask, noise_used,
                      noise.view(n_batches, groups, self.noise_slots), n_batches, n_kept, end - start)

    def _reach(self, sentence: Tensor, windows: Tensor, size: int) -> tuple[Tensor, Tensor]:
        """How far each center's contexts reach to the left and right: its drawn window, cut
        at the ends of its sentence (kept tokens of a sentence are contiguous). 0 on padding."""
        n = len(sentence)
        _, lengths = torch.unique_consecutive(sentence, return_counts=True)
        starts = torch.cumsum(lengths, 0) - lengths
        first = torch.repeat_interleave(starts, lengths)
        position = torch.arange(n, device=self.device)
        left = torch.zeros(size, dtype=torch.int64, device=self.device)
        right = torch.zeros(size, dtype=torch.int64, device=self.device)
        left[:n] = torch.minimum(windows[:n], position - first)
        right[:n] = torch.minimum(windows[:n], first + torch.repeat_interleave(lengths, lengths)
                                  - 1 - position)
        return left, right

    def _batch(self, chunk: _Chunk, index: int) -> Batch:
        size, w = self.config.batch_size, self.config.window
        lo = index * size
        noise_mask = (self._slots < chunk.noise_used[lo:lo + size]).float()
        stream = chunk.stream[lo:lo + size + 2 * w]
        return Batch(stream[w:w + size], stream, chunk.context_mask[lo:lo + size],
                     chunk.noise[index], noise_mask,
                     (index + 1) * chunk.words // chunk.n_batches - index * chunk.words // chunk.n_batches,
                     max(0, min(size, chunk.n_kept - lo)))
