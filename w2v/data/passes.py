"""The two passes of `w2v prepare`, one block of text at a time: counting, then encoding.

Blocks come from `Corpus.blocks`; these functions may run in worker processes, so they take
and return only data that pickles, and this module imports little. Both passes see a block the
same way: made valid UTF-8, normalized by the tokenizer, split at white space
(`w2v.data.tokens`), each token read as an integer key; no Python object per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from w2v.data.counter import Table
from w2v.data.text import valid_utf8
from w2v.data.tokenizer import Tokenizer
from w2v.data.tokens import KeyIndex, Tokens, count_rows, split_tokens
from w2v.data.vocab import Vocab
from w2v.errors import W2VError

# Above these shares a corpus is not text: binary data, or UTF-16 without a byte order mark.
MAX_NUL_SHARE = 0.01
MAX_REPLACED_SHARE = 0.2
# Judge the shares once this much has been read, and at the end.
JUDGE_AFTER_BYTES = 1 << 20


@dataclass
class TextTotals:
    """How much text was read: bytes, tokens, characters not UTF-8 and NUL bytes."""

    nbytes: int = 0
    tokens: int = 0
    replaced: int = 0
    nuls: int = 0

    def add(self, other: TextTotals) -> None:
        self.nbytes += other.nbytes
        self.tokens += other.tokens
        self.replaced += other.replaced
        self.nuls += other.nuls

    def check_is_text(self, name: object, final: bool = False) -> None:
        """Refuse data that is no UTF-8 text, once enough of it has been read."""
        if not self.nbytes or (not final and self.nbytes < JUDGE_AFTER_BYTES):
            return
        if self.nuls > MAX_NUL_SHARE * self.nbytes:
            raise W2VError(
                f"{name} is not UTF-8 text: {self.nuls / self.nbytes:.0%} of its bytes are NUL "
                f"(binary data, or UTF-16 without a byte order mark); convert it to UTF-8"
            )
        if self.replaced > MAX_REPLACED_SHARE * self.nbytes:
            raise W2VError(
                f"{name} is not UTF-8 text: {self.replaced / self.nbytes:.0%} of it is not "
                f"UTF-8; convert it to UTF-8 (e.g. with iconv)"
            )


@dataclass
class BlockCounts:
    """The distinct token keys of a block with their counts ({width: table}), and its totals."""

    tables: dict[int, Table] = field(default_factory=dict)
    totals: TextTotals = field(default_factory=TextTotals)


@dataclass(frozen=True)
class EncodedBlock:
    """The in-vocabulary ids of a block and how many of them fall on each of its lines."""

    ids: np.ndarray
    line_lengths: np.ndarray
    nbytes: int


def read_block(tokenizer: Tokenizer, block: bytes) -> tuple[Tokens, TextTotals]:
    text, replaced = valid_utf8(block)
    tokens = split_tokens(tokenizer.normalize_block(text))
    return tokens, TextTotals(len(block), len(tokens), replaced, block.count(b"\0"))


def count_block(tokenizer: Tokenizer, block: bytes) -> BlockCounts:
    tokens, totals = read_block(tokenizer, block)
    tables = {width: count_rows(keys) for width, (keys, _) in tokens.keys().items()}
    return BlockCounts(tables, totals)


class Encoder:
    """Turns blocks into vocabulary ids; pickles small, to be sent to worker processes."""

    def __init__(self, vocab: Vocab, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        words = split_tokens("\n".join(vocab.words).encode("utf-8"))
        if len(words) != len(vocab):
            raise ValueError("a vocabulary word is not a single token")
        self.index = {
            width: (KeyIndex(keys), ids) for width, (keys, ids) in words.keys().items()
        }

    def __call__(self, block: bytes) -> EncodedBlock:
        tokens, _ = read_block(self.tokenizer, block)
        ids = np.full(len(tokens), -1, dtype=np.int32)
        for width, (keys, where) in tokens.keys().items():
            if width in self.index:
                index, vocab_ids = self.index[width]
                found = index.find(keys)
                ids[where] = np.where(found >= 0, vocab_ids[found], -1)
        kept = ids >= 0
        kept_per_line = np.bincount(tokens.line_of_token[kept], minlength=tokens.lines)
        return EncodedBlock(ids[kept], kept_per_line, len(block))
