"""Vectors as lines of text, ``word v1 v2 ... v<dim>``: the rows of word2vec text and GloVe files.

The word runs to the first space (as gensim and the C tool read it); the values are decimal
numbers separated by any whitespace, so trailing spaces and CRLF line ends are fine.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from w2v.errors import W2VError
from w2v.formats.reading import MAX_WORD_BYTES, Rows, Source, file_error

# Room for one value on a line: digits, sign, exponent and separators, generously.
_MAX_VALUE_BYTES = 64
# bytes.split() splits on exactly these, so a word containing one cannot be read back.
_ASCII_WHITESPACE = re.compile("[ \t\n\r\x0b\x0c]")


def max_line_bytes(dim: int) -> int:
    """The longest row of dimension `dim` a reader accepts."""
    return MAX_WORD_BYTES + dim * _MAX_VALUE_BYTES


def most_text_rows(source: Source, dim: int) -> int:
    """How many rows of dimension `dim` the rest of the file can begin at most (the last perhaps
    cut short), from its size where known: a whole row is at least a 1-byte word and `dim`
    1-byte values, each after a separator."""
    rest = source.remaining()
    return sys.maxsize if rest is None else (rest + 1) // (2 + 2 * dim) + 1


def is_number(value: str | bytes) -> bool:
    """Whether a field reads as a number (float() takes text and bytes alike)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def is_row(line: bytes, dim: int | None = None) -> bool:
    """Whether `line` is a word and `dim` numbers (with `dim` None: one or more numbers)."""
    word, _, rest = line.partition(b" ")
    values = rest.split()
    wanted = len(values) if dim is None else dim
    return bool(word.strip()) and len(values) == wanted > 0 and all(map(is_number, values))


def read_text_rows(
    source: Source,
    rows: Rows,
    dim: int,
    first_line: int,
    *,
    wanted: int | None,
    header_count: int | None,
    line: bytes | None = None,
) -> int:
    """Read rows into `rows` until `wanted` are read or the file ends; return the rows read.

    `first_line` is the line number of the first row, `line` that row if already read. With a
    header, the file must hold `header_count` rows; without, `header_count` is None.
    """
    dim_from = "the dimension of line 1" if header_count is None else "the header's dimension"
    limit = max_line_bytes(dim)
    read = 0
    while wanted is None or read < wanted:
        number = first_line + read
        if line is None:
            line = source.readline(limit, number)
        if not line.strip():
            at_end = not line or source.rest_is_blank(number)
            if at_end and header_count is None:
                break
            if at_end:
                raise file_error(
                    source.path,
                    number,
                    f"the file ends after {read} rows; the header says {header_count}",
                )
            raise file_error(source.path, number, "empty line where a word and its vector should be")
        _add_row(source, rows, line, dim, number, dim_from)
        read += 1
        line = None
    return read


def _add_row(source: Source, rows: Rows, line: bytes, dim: int, number: int, dim_from: str) -> None:
    word, _, rest = line.partition(b" ")
    values = rest.split()
    if not word.strip():
        raise file_error(source.path, number, "the line starts with whitespace, not a word")
    if len(values) != dim:
        raise file_error(
            source.path,
            number,
            f"expected a word and {dim} values ({dim_from}), found {len(values)} values",
        )
    row = rows.add(word, number)
    if row is None:
        return
    try:
        rows.vectors[row] = [float(value) for value in values]
    except ValueError:
        bad = next(value for value in values if not is_number(value))
        shown = bad.decode("utf-8", errors="replace")
        raise file_error(
            source.path,
            number,
            f"the vector of {word.decode('utf-8', errors='replace')!r} has a value that is not "
            f"a number: {shown!r}",
        ) from None


def check_words(words: Sequence[str], format: str) -> None:
    """Refuse words a reader of `format` would split: empty, or holding whitespace."""
    for word in words:
        if not word or _ASCII_WHITESPACE.search(word):
            raise W2VError(f"cannot write the word {word!r} in {format} format: it has whitespace")


def write_text_rows(out: BinaryIO, words: Sequence[str], matrix: np.ndarray) -> None:
    """One line per word: the word, then its values as the shortest text that reads back to
    the same float32."""
    out.writelines(f"{word} {' '.join(map(str, vector))}\n".encode() for word, vector in zip(words, matrix.astype(np.float32, copy=False)))
