"""The two passes of `w2v prepare`, one block of text at a time: counting, then encoding.

Blocks come from `TextFile.blocks`; these functions may run in worker processes, so they take
and return only data that pickles, and this module imports little.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from w2v.data.text import decode, split_lines
from w2v.data.vocab import Vocab


@dataclass
class WordCounts:
    """How often each word occurs in some text, and how much text that was.

    `replaced` counts the characters that were not UTF-8.
    """

    words: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    nbytes: int = 0
    replaced: int = 0

    def count(self, block: bytes) -> None:
        """Add the words of `block`."""
        chunk = decode(block)
        tokens = chunk.text.split()
        self.words.update(tokens)
        self.tokens += len(tokens)
        self.nbytes += chunk.nbytes
        self.replaced += chunk.replaced

    def add(self, other: WordCounts) -> None:
        self.words.update(other.words)
        self.tokens += other.tokens
        self.nbytes += other.nbytes
        self.replaced += other.replaced


@dataclass(frozen=True)
class EncodedBlock:
    """The in-vocabulary ids of a block and how many of them fall on each of its lines."""

    ids: np.ndarray
    line_lengths: np.ndarray
    nbytes: int


def count_block(block: bytes) -> WordCounts:
    counts = WordCounts()
    counts.count(block)
    return counts


def encode_block(vocab: Vocab, block: bytes) -> EncodedBlock:
    chunk = decode(block)
    tokens, line_lengths = split_lines(chunk.text)
    ids = vocab.encode(tokens)
    kept = ids >= 0
    line_of_token = np.repeat(np.arange(len(line_lengths)), line_lengths)
    kept_per_line = np.bincount(line_of_token[kept], minlength=len(line_lengths))
    return EncodedBlock(ids[kept], kept_per_line, chunk.nbytes)
