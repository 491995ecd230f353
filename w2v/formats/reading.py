"""What every vector-file reader shares: bounded reading, and the matrix filled as rows arrive.

A reader takes bytes from a `Source` (blocks of at most a few MB, lines of bounded length, so a
file without line breaks, such as /dev/zero, ends in an error rather than in all of memory) and
hands each row to `Rows`, which owns the float32 matrix, allocated once for the rows to be read,
and the words: decoded as UTF-8 (invalid bytes replaced and counted, or an error with
``unicode_errors="strict"``), a repeated word skipped and counted (the first is kept, as gensim
keeps it). Errors name the file and the line: ``"<file>: line <n>: <what is wrong>"``.
"""

from __future__ import annotations

import bisect
import os
import stat
import warnings
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np

from w2v.errors import W2VError, W2VWarning
from w2v.formats.compression import DamagedData, open_vector_file
from w2v.subwords import SubwordTable

UnicodeErrors = Literal["replace", "strict", "ignore"]

BLOCK_BYTES = 1 << 20
MAX_WORD_BYTES = 1 << 16
# Rows checked for NaN and infinity at a time: bounds the temporary boolean array.
_FINITE_CHECK_ROWS = 1 << 12


@dataclass
class VectorFile:
    """What a vector file holds, and how it was read."""

    words: list[str]
    vectors: np.ndarray  # float32 [words, dim], row i is words[i]'s vector
    format: str  # "word2vec-text", "word2vec-binary", "glove" or "fasttext-bin"
    compression: str | None  # "gzip", "bz2", "xz" or None
    rows_read: int  # rows read, repeated words included
    rows_in_file: int | None  # the header's count; for a file without header, None if not counted
    duplicates: int  # rows skipped because their word came earlier
    replaced: int  # words with bytes that were not UTF-8
    counts: np.ndarray | None = None  # int64 [words], where the file has them (fastText)
    subwords: SubwordTable | None = None  # what forms any word's vector (fastText)


def file_error(path: str | os.PathLike[str], line: int, message: str) -> W2VError:
    return W2VError(f"{path}: line {line}: {message}")


class Source:
    """The bytes of a (decompressed) file, read in blocks of about BLOCK_BYTES.

    `data[pos:]` holds what has been read but not used; `fill(n)` makes it at least n bytes long
    unless the file ends first.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._stream, self.compression = open_vector_file(path)
        self.data = b""
        self.pos = 0
        self._start = 0  # where data starts in the file
        self.ended = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()

    def remaining(self) -> int | None:
        """Bytes not used yet, where known: for a plain regular file, not a compressed one, a
        pipe or a device."""
        if self.compression is not None:
            return None
        status = os.fstat(self._stream.fileno())
        return status.st_size - self._start - self.pos if stat.S_ISREG(status.st_mode) else None

    def fill(self, n: int, line: int) -> bool:
        """Whether `n` unused bytes are there, reading more as needed. `line` is for errors."""
        while len(self.data) - self.pos < n and not self.ended:
            held = len(self.data) - self.pos
            try:
                more = self._stream.read(max(BLOCK_BYTES, n - held, held))
            except DamagedData as error:
                raise file_error(self.path, line, str(error)) from None
            except OSError as error:
                raise file_error(self.path, line, f"cannot read: {error.strerror}") from None
            self.ended = not more
            self.data = self.data[self.pos :] + more
            self._start += self.pos
            self.pos = 0
        return len(self.data) - self.pos >= n

    def read_rest(self, line: int) -> bytes:
        """Every byte not used yet, reading to the end of the file."""
        while self.fill(len(self.data) - self.pos + 1, line):
            pass
        rest, self.pos = self.data[self.pos :], len(self.data)
        return rest

    def peek(self, n: int, line: int) -> bytes:
        """Up to `n` next bytes, without using them."""
        self.fill(n, line)
        return self.data[self.pos : self.pos + n]

    def readline(self, limit: int, line: int) -> bytes:
        """The next line with its b"\\n" (the last line may lack it); b"" at the end.

        A line longer than `limit` bytes is an error: the file is not text, or not this format.
        """
        searched = 0
        while True:
            end = self.data.find(b"\n", self.pos + searched, self.pos + limit)
            if end != -1:
                found, self.pos = self.data[self.pos : end + 1], end + 1
                return found
            searched = len(self.data) - self.pos
            if searched >= limit:
                raise file_error(
                    self.path,
                    line,
                    f"no line break in {limit:,} bytes; is this a vector file in this format?",
                )
            if not self.fill(searched + 1, line):
                found, self.pos = self.data[self.pos :], len(self.data)
                return found

    def rest_is_blank(self, line: int, whitespace: bytes = b" \t\r\n") -> bool:
        """Whether only `whitespace` is left; reads to the end of the file."""
        while self.fill(1, line):
            if self.data[self.pos :].strip(whitespace):
                return False
            self.pos = len(self.data)
        return True


class Rows:
    """The matrix being filled, row by row, and the words of its rows."""

    def __init__(
        self, path: str | os.PathLike[str], capacity: int, dim: int, unicode_errors: UnicodeErrors
    ) -> None:
        self.path = path
        self.vectors = allocate(path, capacity, dim)
        self.index: dict[str, int] = {}
        self.read = 0
        self.replaced = 0
        self._unicode_errors = unicode_errors
        self._repeats_at: list[int] = []  # for each repeated word, the rows kept before it

    def add(self, raw_word: bytes, line: int) -> int | None:
        """The matrix row for the word of the row read on `line`; None for a repeated word."""
        word = self._decode(raw_word, line)
        self.read += 1
        if word in self.index:
            self._repeats_at.append(len(self.index))
            return None
        row = len(self.index)
        self.index[word] = row
        return row

    @property
    def duplicates(self) -> int:
        return len(self._repeats_at)

    def file_row(self, row: int) -> int:
        """The row of the file (from 0) that matrix row `row` was read from."""
        return row + bisect.bisect_right(self._repeats_at, row)

    def _decode(self, raw: bytes, line: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if self._unicode_errors == "strict":
                raise file_error(
                    self.path, line, f"the word {raw[:60]!r} is not valid UTF-8"
                ) from None
        self.replaced += 1
        return raw.decode("utf-8", errors=self._unicode_errors)

    def finish(
        self, format: str, compression: str | None, rows_in_file: int | None, first_line: int
    ) -> VectorFile:
        """The file read: checked for values that are not finite numbers, warnings given."""
        words = list(self.index)
        vectors = self.vectors[: len(words)]  # a prefix: no copy
        bad = _first_not_finite(vectors)
        if bad is not None:
            line = first_line + self.file_row(bad)
            raise file_error(
                self.path, line, f"the vector of {words[bad]!r} has a value that is not a finite number"
            )
        warn_words(self.path, self.replaced, self.duplicates)
        return VectorFile(
            words, vectors, format, compression, self.read, rows_in_file, self.duplicates,
            self.replaced,
        )


def warn_words(path: str | os.PathLike[str], replaced: int, duplicates: int) -> None:
    """One warning for the words that were not valid UTF-8, one for the repeated words."""
    if replaced:
        warnings.warn(
            f"{path}: {replaced:,} words were not valid UTF-8; their bad bytes became U+FFFD",
            W2VWarning,
            stacklevel=3,
        )
    if duplicates:
        warnings.warn(
            f"{path}: {duplicates:,} rows repeat an earlier word; "
            "the first vector of each word was kept",
            W2VWarning,
            stacklevel=3,
        )


def _first_not_finite(vectors: np.ndarray) -> int | None:
    for start in range(0, len(vectors), _FINITE_CHECK_ROWS):
        bad = np.flatnonzero(~np.isfinite(vectors[start : start + _FINITE_CHECK_ROWS]).all(axis=1))
        if bad.size:
            return start + int(bad[0])
    return None


def allocate(path: str | os.PathLike[str], rows: int, dim: int) -> np.ndarray:
    """An uninitialized float32 [rows, dim] matrix, refused in one line when it cannot fit."""
    need = rows * dim * 4
    available = available_memory()
    if available is not None and need > available:
        raise file_error(
            path,
            1,
            f"{rows:,} rows of dimension {dim} need {need / 2**30:,.1f} GiB, more than the "
            f"{available / 2**30:,.1f} GiB of memory available; read fewer with --limit",
        )
    try:
        return np.empty((rows, dim), dtype=np.float32)
    except MemoryError:
        raise file_error(
            path, 1, f"not enough memory for {rows:,} rows of dimension {dim}; use --limit"
        ) from None


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (Linux), else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
