"""GloVe's text format: rows ``word v1 ... v<dim>`` with no header line (fastText's .vec files
are the same after their header). The dimension is that of the first row, and every row is
checked against it. Line numbers are the file's: row i (from 1) is line i.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

import numpy as np

from w2v.atomic import atomic_path
from w2v.errors import W2VError
from w2v.formats.reading import Rows, Source, UnicodeErrors, VectorFile, file_error
from w2v.formats.text import check_words, most_text_rows, read_text_rows, write_text_rows


def read_glove(
    source: Source, first: bytes, limit: int | None, unicode_errors: UnicodeErrors
) -> VectorFile:
    """The rows of a file without a header, `first` being its first line, already read."""
    dim = len(first.partition(b" ")[2].split())
    if dim == 0:
        raise file_error(source.path, 1, "expected a word and its values")
    wanted = limit if limit is not None else count_lines(source.path)
    rows = Rows(source.path, min(wanted, most_text_rows(source, dim) + 1), dim, unicode_errors)
    read_text_rows(source, rows, dim, 1, wanted=limit, header_count=None, line=first)
    return rows.finish("glove", source.compression, rows.read if limit is None else None, 1)


def count_lines(path: str | os.PathLike[str]) -> int:
    """Lines in the file, a last one without a line break included: a first pass that sizes
    the matrix, as the file says nothing of its length."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise W2VError(
            f"{path}: a vector file without a header is read twice (first to count its rows), "
            "so it must be a regular file; or give --limit N to read N rows in one pass"
        )
    lines, last = 0, b"\n"
    with Source(path) as source:
        while source.fill(1, lines + 1):
            lines += source.data.count(b"\n", source.pos)
            last = source.data[-1:]
            source.pos = len(source.data)
    return lines + (last != b"\n")


def write_glove(path: str | os.PathLike[str], words: Sequence[str], matrix: np.ndarray) -> None:
    """Write one text row per word, without a header."""
    check_words(words, "GloVe")
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        write_text_rows(out, words, matrix)
