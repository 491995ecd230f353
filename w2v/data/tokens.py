"""The tokens of a block of UTF-8 text as arrays, and an exact integer key for each token.

A token is a maximal run of characters that are not white space, white space being what
Python's `str.split()` splits on (ASCII and Unicode spaces). Lines end at "\\n" only.

The key of a token of L bytes is its bytes, zero-padded to W = L // 8 + 1 eight-byte words read
as little-endian uint64, with `L % 8` in the last byte (always free, since L < 8 W). Two tokens
have the same key exactly when they have the same bytes, so counting and looking up keys with
sorting and searching gives the same result as a dict of strings, without a Python object per
token. Keys of one width are kept as rows of an (n, W) array; "sorted" means sorted by column 0,
then column 1, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEY = np.dtype("<u8")
ASCII_WHITESPACE = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
# Unicode white space outside ASCII, in UTF-8: what str.split() also splits on.
UNICODE_WHITESPACE = tuple(
    c.encode() for c in map(chr, range(0x80, 0x3001)) if c.isspace()
)
_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[list(ASCII_WHITESPACE)] = True
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(8)], dtype=KEY)


@dataclass(frozen=True)
class Tokens:
    """Where the tokens of a block are: `starts` and `lengths` in bytes, and the line of each."""

    buffer: np.ndarray  # the block's bytes and 8 zero bytes after them
    starts: np.ndarray
    lengths: np.ndarray
    lines: int  # "\n"-separated lines in the block: one more than its "\n" characters
    line_of_token: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def keys(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{width: (keys, positions)}: the key of every token, grouped by width in words."""
        return span_keys(self.buffer, self.starts, self.lengths)


def span_keys(
    buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{width: (keys, positions)}: the key of the bytes `buffer[start : start + length]` of each
    span, grouped by width. `buffer` holds 8 zero bytes after its last span."""
    widths = (lengths >> 3) + 1
    # Every 8-byte window of the buffer as a uint64, read at any byte offset.
    windows = np.ndarray((len(buffer) - 7,), dtype=KEY, buffer=buffer, strides=(1,))
    present = np.unique(widths).tolist()
    groups = {}
    for width in present:
        where = np.arange(len(widths)) if len(present) == 1 else np.flatnonzero(widths == width)
        span_starts, span_lengths = starts[where], lengths[where]
        keys = np.empty((len(where), width), dtype=KEY)
        if width > 1:
            keys[:, :-1] = windows[span_starts[:, None] + 8 * np.arange(width - 1)]
        rest = (span_lengths & 7).astype(KEY)
        last = windows[span_starts + 8 * (width - 1)] & _LOW_BYTES[rest]
        keys[:, width - 1] = last | (rest << np.uint64(56))
        groups[width] = (keys, where)
    return groups


def split_tokens(block: bytes) -> Tokens:
    """Find the tokens of `block` (valid UTF-8) and the line each falls on."""
    buffer = np.frombuffer(block + bytes(8), dtype=np.uint8)
    data = buffer[: len(block)]
    space = _IS_SPACE[data]
    if not block.isascii():
        _mark_unicode_spaces(block, space)
    bound = np.ones(1, dtype=np.int8)  # int8 throughout: int64 would be 8 bytes per byte
    edges = np.diff(np.concatenate((bound, space.view(np.int8), bound)))
    # positions in a block as int32: half the memory of the int64 that numpy returns
    starts = np.flatnonzero(edges == -1).astype(np.int32)
    lengths = np.flatnonzero(edges == 1).astype(np.int32)
    lengths -= starts
    del edges
    newlines = np.flatnonzero(data == ord("\n")).astype(np.int32)
    return Tokens(
        buffer=buffer,
        starts=starts,
        lengths=lengths,
        lines=len(newlines) + 1,
        line_of_token=np.searchsorted(newlines, starts).astype(np.int32),
    )


def _mark_unicode_spaces(block: bytes, space: np.ndarray) -> None:
    data = np.frombuffer(block, dtype=np.uint8)
    for sequence in UNICODE_WHITESPACE:
        if sequence not in block:
            continue
        n = len(data) - len(sequence) + 1
        match = np.ones(n, dtype=bool)
        for i, byte in enumerate(sequence):
            match &= data[i : i + n] == byte
        for i in range(len(sequence)):
            space[i : i + n] |= match


def key_bytes(keys: np.ndarray) -> list[bytes]:
    """The token each key row stands for."""
    width = keys.shape[1]
    raw = np.ascontiguousarray(keys, dtype=KEY)
    lengths = (8 * (width - 1) + (raw[:, -1] >> np.uint64(56))).astype(np.int64).tolist()
    flat = raw.tobytes()
    row = 8 * width
    return [flat[i * row : i * row + n] for i, n in enumerate(lengths)]


def sort_rows(keys: np.ndarray) -> np.ndarray:
    """The order that sorts the rows of `keys`, stable.

    Rows are first sorted by column 0 alone (a stable sort, which merges already sorted runs in
    about linear time); only the rows that tie there are sorted by all columns.
    """
    order = np.argsort(keys[:, 0], kind="stable")
    if keys.shape[1] == 1 or len(keys) < 2:
        return order
    first = keys[order, 0]
    same = first[1:] == first[:-1]
    tied = np.zeros(len(keys), dtype=bool)
    tied[1:] = same
    tied[:-1] |= same
    where = np.flatnonzero(tied)
    if len(where):
        rows = order[where]
        order[where] = rows[np.lexsort(keys[rows].T[::-1])]
    return order


def count_rows(keys: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `keys`, sorted, and how often each occurs (summing `counts`).

    Temporaries are dropped as soon as possible: a caller that passes the only reference to
    large arrays gets a peak of about four times their size.
    """
    if len(keys) == 0:
        return keys, np.zeros(0, dtype=np.int64)
    if counts is None and keys.shape[1] == 1:
        keys = np.sort(keys, axis=0)
    else:
        order = sort_rows(keys)
        keys = keys[order]
        if counts is not None:
            counts = counts[order]
        del order
    new = np.empty(len(keys), dtype=bool)
    new[0] = True
    np.not_equal(keys[1:, 0], keys[:-1, 0], out=new[1:])
    for column in range(1, keys.shape[1]):  # column by column: no (n, width) temporary
        new[1:] |= keys[1:, column] != keys[:-1, column]
    firsts = np.flatnonzero(new)
    del new
    if counts is None:
        totals = np.diff(np.append(firsts, len(keys)))
    else:
        totals = np.add.reduceat(counts, firsts)
        del counts
    return keys[firsts], totals.astype(np.int64, copy=False)


def rows_up_to(keys: np.ndarray, bound: np.ndarray) -> int:
    """How many of the sorted rows of `keys` are <= the row `bound`."""
    below = np.zeros(len(keys), dtype=bool)
    equal = np.ones(len(keys), dtype=bool)
    for column in range(keys.shape[1]):
        below |= equal & (keys[:, column] < bound[column])
        equal &= keys[:, column] == bound[column]
    return int(np.count_nonzero(below | equal))


class KeyIndex:
    """Look keys up among a fixed set of distinct keys of one width: their position, or -1.

    Column by column, each key is replaced by its rank among the set's keys that agree so far,
    so each step is one lookup of a uint64 in a hash table.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.columns = [HashIndex(np.unique(column)) for column in keys.T]
        self.prefixes: list[HashIndex] = []
        rank = self.columns[0].find(keys[:, 0]).astype(KEY)
        for values, column in zip(self.columns[1:], keys.T[1:]):
            combined = rank * np.uint64(len(values)) + values.find(column).astype(KEY)
            self.prefixes.append(HashIndex(np.unique(combined)))
            rank = self.prefixes[-1].find(combined).astype(KEY)
        self.position = np.full(len(keys), -1, dtype=np.int64)
        self.position[rank.astype(np.int64)] = np.arange(len(keys))

    def find(self, keys: np.ndarray) -> np.ndarray:
        at = self.columns[0].find(keys[:, 0])
        found = at >= 0
        for values, prefixes, column in zip(self.columns[1:], self.prefixes, keys.T[1:]):
            rank = values.find(column)
            found &= rank >= 0
            at = prefixes.find(at.astype(KEY) * np.uint64(len(values)) + rank.astype(KEY))
            found &= at >= 0
        return np.where(found, self.position[at], -1)


class HashIndex:
    """Positions of distinct uint64 values in a hash table (open addressing), looked up for all
    queries together, one probe step at a time."""

    def __init__(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=KEY)
        self.size = len(values)
        self.bits = max(4, (2 * len(values)).bit_length())
        self.keys = np.zeros(1 << self.bits, dtype=KEY)
        self.positions = np.full(1 << self.bits, -1, dtype=np.int64)
        todo = np.arange(len(values))
        slot = self._slot(values)
        while len(todo):
            free = self.positions[slot] < 0
            # Of several values that want one free slot, the first takes it.
            wanted, first = np.unique(slot[free], return_index=True)
            placed = np.flatnonzero(free)[first]
            self.positions[wanted] = todo[placed]
            self.keys[wanted] = values[todo[placed]]
            left = np.ones(len(todo), dtype=bool)
            left[placed] = False
            todo, slot = todo[left], self._next(slot[left])

    def __len__(self) -> int:
        return self.size

    def find(self, queries: np.ndarray) -> np.ndarray:
        """The position of each query among the values, -1 where it is not one of them."""
        queries = np.asarray(queries, dtype=KEY)
        todo = np.arange(len(queries))
        slot = self._slot(queries)
        found = np.full(len(queries), -1, dtype=np.int64)
        asked = queries
        while True:
            at = self.positions[slot]
            hit = self.keys[slot] == asked  # an empty slot has position -1 either way
            found[todo] = np.where(hit, at, -1)
            collided = np.flatnonzero(~hit & (at >= 0))
            if not len(collided):
                return found
            todo, slot = todo[collided], self._next(slot[collided])
            asked = queries[todo]

    def _slot(self, values: np.ndarray) -> np.ndarray:
        mixed = values * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits
        return (mixed >> np.uint64(64 - self.bits)).astype(np.int64)

    def _next(self, slot: np.ndarray) -> np.ndarray:
        return (slot + 1) & (len(self.keys) - 1)
