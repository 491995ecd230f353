"""Count the distinct tokens of a corpus exactly, in memory that does not grow with their number.

Counts arrive as tables of sorted token keys (`w2v.data.tokens`) with their counts, one table per
block of text. They are merged into one sorted run in memory; when that run outgrows its share
of the memory budget it is written to disk, and at the end the runs on disk are merged, reading
a slice of each at a time. Nothing is dropped: the counts are the ones a dict would hold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from w2v.data.tokens import KEY, count_rows, key_bytes, rows_up_to

DEFAULT_MEMORY = 512 << 20
COUNT = np.dtype("<i8")
# Shares of the budget: tables waiting to be merged, and the merged run. Merging briefly needs
# about three times what it merges (a copy, the sort order, the result).
PENDING_SHARE = 1 / 16
RUN_SHARE = 1 / 4
# Tables wait for a merge until they hold as much as the run they merge into, at least this much
# and at most their share: a small vocabulary's counts (PTB: 160 KB a block) then never pile up
# to the share, and below the share a merge costs at most twice what it adds.
MIN_PENDING = 4 << 20
# Spilled runs of one width beyond this many are merged into one on disk, so that the final
# merge reads a bounded number of files at once.
MAX_RUNS = 64

Table = tuple[np.ndarray, np.ndarray]  # keys (n, width), counts (n,)


@dataclass(frozen=True)
class SpilledRun:
    keys: Path
    counts: Path
    width: int
    rows: int


class KeyCounter:
    """Sum counts of token keys within `memory` bytes, spilling sorted runs into `spill_dir`."""

    def __init__(self, spill_dir: Path, memory: int = DEFAULT_MEMORY,
                 run_share: float = RUN_SHARE) -> None:
        """`run_share`: the part of `memory` the merged run may grow to before it is spilled.
        Keys that mostly occur once (pairs of words) gain little from merging in memory and are
        better spilled as soon as they are merged: `run_share=PENDING_SHARE`."""
        self.spill_dir = Path(spill_dir)
        self.memory = memory
        self.run_share = run_share
        self.pending: dict[int, list[Table]] = {}
        self.pending_bytes = 0
        self.run: dict[int, Table] = {}
        self.run_bytes = 0
        self.spilled: list[SpilledRun] = []
        self.files_written = 0

    def add(self, tables: dict[int, Table]) -> None:
        """Add counts: {width: (distinct keys, sorted; their counts)}."""
        for width, table in tables.items():
            self.pending.setdefault(width, []).append(table)
            self.pending_bytes += _nbytes(table)
        if self.pending_bytes >= self._pending_limit():
            self._merge_pending()

    def _pending_limit(self) -> float:
        return min(self.memory * PENDING_SHARE, max(MIN_PENDING, self.run_bytes))

    def merged(self) -> Iterator[Table]:
        """All keys with their total counts, in slices, each key once."""
        self._merge_pending()
        if not self.spilled:
            yield from self.run.values()
            return
        self._spill()
        for width in sorted({run.width for run in self.spilled}):
            yield from self._merge_runs([run for run in self.spilled if run.width == width])

    def _merge_pending(self) -> None:
        for width in list(self.pending):
            tables = self.pending.pop(width)
            if width in self.run:
                tables.insert(0, self.run.pop(width))
            # count_rows gets the only references to what it merges, and frees them early.
            self.run[width] = count_rows(*_concatenated(tables))
        self.pending_bytes = 0
        self.run_bytes = sum(_nbytes(table) for table in self.run.values())
        if self.run_bytes >= self.memory * self.run_share:
            self._spill()

    def _spill(self) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        for width, table in self.run.items():
            self.spilled.append(self._write_run(width, [table]))
            runs = [run for run in self.spilled if run.width == width]
            if len(runs) > MAX_RUNS:
                merged = self._write_run(width, self._merge_runs(runs))
                for run in runs:
                    run.keys.unlink()
                    run.counts.unlink()
                    self.spilled.remove(run)
                self.spilled.append(merged)
        self.run.clear()
        self.run_bytes = 0

    def _write_run(self, width: int, tables: Iterable[Table]) -> SpilledRun:
        stem = self.spill_dir / f"run-{self.files_written:05d}-w{width}"
        self.files_written += 1
        keys_path, counts_path = stem.with_suffix(".keys"), stem.with_suffix(".counts")
        rows = 0
        with open(keys_path, "wb") as keys_file, open(counts_path, "wb") as counts_file:
            for keys, counts in tables:
                keys.astype(KEY, copy=False).tofile(keys_file)
                counts.astype(COUNT, copy=False).tofile(counts_file)
                rows += len(keys)
        return SpilledRun(keys_path, counts_path, width, rows)

    def _merge_runs(self, runs: list[SpilledRun]) -> Iterator[Table]:
        """k-way merge of sorted runs of one width, a slice of each in memory at a time."""
        width = runs[0].width
        rows = max(4096, int(self.memory * RUN_SHARE) // (len(runs) * (8 * width + 8)))
        with contextlib.ExitStack() as files:
            readers = [
                _RunReader(run, rows, files.enter_context(open(run.keys, "rb")),
                           files.enter_context(open(run.counts, "rb")))
                for run in runs
            ]
            while live := [reader for reader in readers if reader.buffered]:
                unread = [reader.last_row() for reader in live if not reader.exhausted]
                bound = min(unread, key=lambda row: tuple(row.tolist())) if unread else None
                yield count_rows(*_concatenated([reader.take(bound) for reader in live]))


class _RunReader:
    """A spilled run read a slice at a time."""

    def __init__(self, run: SpilledRun, rows: int, keys: BinaryIO, counts: BinaryIO) -> None:
        self.run = run
        self.rows = rows
        self.keys_file = keys
        self.counts_file = counts
        self.read = 0
        self.keys = np.zeros((0, run.width), dtype=KEY)
        self.counts = np.zeros(0, dtype=COUNT)
        self._refill()

    @property
    def buffered(self) -> int:
        return len(self.keys)

    @property
    def exhausted(self) -> bool:
        return self.read == self.run.rows

    def last_row(self) -> np.ndarray:
        return self.keys[-1]

    def take(self, bound: np.ndarray | None) -> Table:
        """Remove and return the buffered rows up to `bound` (all of them for None)."""
        n = len(self.keys) if bound is None else rows_up_to(self.keys, bound)
        taken = (self.keys[:n], self.counts[:n])
        self.keys, self.counts = self.keys[n:], self.counts[n:]
        if not len(self.keys):
            self._refill()
        return taken

    def _refill(self) -> None:
        n = min(self.rows, self.run.rows - self.read)
        if n == 0:
            return
        width = self.run.width
        self.keys = np.fromfile(self.keys_file, dtype=KEY, count=n * width).reshape(n, width)
        self.counts = np.fromfile(self.counts_file, dtype=COUNT, count=n)
        if len(self.counts) != n or self.keys.size != n * width:
            raise OSError(f"{self.run.keys} was cut short while being read")
        self.read += n


@dataclass
class WordCounts:
    """What counting found: the words kept for the vocabulary and a few totals."""

    kept: list[tuple[str, int]]
    distinct: int
    commonest: tuple[str, int] | None


def select_words(tables: Iterator[Table], min_count: int, max_vocab: int | None) -> WordCounts:
    """The words seen at least `min_count` times (at most `max_vocab` of the commonest)."""
    kept: list[tuple[str, int]] = []
    distinct = 0
    commonest: tuple[str, int] | None = None
    for keys, counts in tables:
        if not len(counts):
            continue
        distinct += len(counts)
        top = int(np.argmax(counts))
        candidate = (key_bytes(keys[top : top + 1])[0].decode(), int(counts[top]))
        if commonest is None or (-candidate[1], candidate[0]) < (-commonest[1], commonest[0]):
            commonest = candidate
        keep = np.flatnonzero(counts >= min_count)
        words = [word.decode() for word in key_bytes(keys[keep])]
        kept += zip(words, counts[keep].tolist())
        if max_vocab is not None and len(kept) > 2 * max_vocab:
            kept = _commonest(kept, max_vocab)
    if max_vocab is not None:
        kept = _commonest(kept, max_vocab)
    return WordCounts(kept, distinct, commonest)


def _commonest(words: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    return sorted(words, key=lambda item: (-item[1], item[0]))[:n]


def _concatenated(tables: list[Table]) -> Table:
    keys = np.concatenate([keys for keys, _ in tables])
    counts = np.concatenate([counts for _, counts in tables])
    tables.clear()
    return keys, counts


def _nbytes(table: Table) -> int:
    keys, counts = table
    return keys.nbytes + counts.nbytes
