"""The word2vec file formats of the original C tool, which gensim also reads and writes.

Both start with the header line ``"<count> <dim>\\n"``, then one row per word:

- text: ``word v1 v2 ... v<dim>\\n``, values as decimal numbers separated by spaces;
- binary: ``word `` followed by dim little-endian float32 values (4 bytes each) and ``\\n``.
  gensim leaves out that newline, so any whitespace between rows is accepted when reading.

Line numbers in error messages count the header as line 1: row i (from 1) is line i + 1.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from collections.abc import Sequence

import numpy as np

from w2v.atomic import atomic_path
from w2v.errors import W2VError
from w2v.formats.reading import (
    BLOCK_BYTES,
    MAX_WORD_BYTES,
    Rows,
    Source,
    UnicodeErrors,
    VectorFile,
    file_error,
)
from w2v.formats.text import (
    check_words,
    is_row,
    max_line_bytes,
    most_text_rows,
    read_text_rows,
    write_text_rows,
)

_INTEGER = re.compile(rb"[+-]?[0-9]+")
_ROW_SEPARATORS = b" \t\r\n"
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_header(line: bytes, path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(count, dim) from a header line; None when the line is not two whole numbers."""
    fields = line.split()
    if len(fields) != 2 or not all(_INTEGER.fullmatch(field) for field in fields):
        return None
    count, dim = int(fields[0]), int(fields[1])
    if count <= 0 or dim <= 0:
        raise header_error(line, path)
    return count, dim


def header_error(line: bytes, path: str | os.PathLike[str], or_rows: bool = False) -> W2VError:
    expected = "the header '<count> <dim>' (two positive whole numbers)"
    if or_rows:
        expected += " or, in a file without a header, a word and its values"
    shown = line.rstrip(b"\r\n")[:60].decode("utf-8", errors="replace")
    return file_error(path, 1, f"expected {expected}, found {shown!r}")


def read_word2vec(
    source: Source,
    count: int,
    dim: int,
    binary: bool | None,
    limit: int | None,
    unicode_errors: UnicodeErrors,
) -> VectorFile:
    """The rows after the header `count dim`; `binary=None` tells text from binary by content."""
    if binary is None:
        binary = not _looks_like_text(source, dim)
    wanted = count if limit is None else min(count, limit)
    rows = Rows(source.path, min(wanted, _most_rows(source, dim, binary)), dim, unicode_errors)
    if binary:
        _read_binary_rows(source, rows, dim, wanted, count)
    else:
        read_text_rows(source, rows, dim, 2, wanted=wanted, header_count=count)
    if wanted == count:
        _check_nothing_after(source, count, dim, binary)
    format = "word2vec-binary" if binary else "word2vec-text"
    return rows.finish(format, source.compression, count, first_line=2)


def _check_nothing_after(source: Source, count: int, dim: int, binary: bool) -> None:
    line = count + 2
    if binary:
        if not source.rest_is_blank(line):
            raise file_error(source.path, line, f"more data after the {count} rows the header says")
        return
    while extra := source.readline(max_line_bytes(dim), line):
        if extra.strip():
            raise file_error(source.path, line, f"more rows than the {count} the header says")
        line += 1


def _most_rows(source: Source, dim: int, binary: bool) -> int:
    """How many rows the rest of the file can begin at most (the last perhaps cut short), from
    its size where known."""
    if not binary:
        return most_text_rows(source, dim)
    rest = source.remaining()
    return sys.maxsize if rest is None else rest // (2 + 4 * dim) + 1  # 1-byte word, a space


def _looks_like_text(source: Source, dim: int) -> bool:
    """Text if the first row reads as a word and `dim` numbers; also when it does not but the
    row holds a word and more fields that could be text: a damaged text file is likelier than
    such a binary one, and the text reader then says what is wrong with it."""
    head = source.peek(min(max_line_bytes(dim), BLOCK_BYTES), 2)
    end = head.find(b"\n")
    line = head[: len(head) if end == -1 else end]
    if is_row(line, dim):
        return True
    # A binary vector may hold a "\n" byte anywhere, leaving the first line a word alone.
    _, _, values = line.partition(b" ")
    return bool(values.split()) and _could_be_text(line)


def _could_be_text(chunk: bytes) -> bool:
    try:
        # Not final: the chunk may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
    except UnicodeDecodeError:
        return False
    return not _CONTROL_BYTES.search(chunk)


def _read_binary_rows(source: Source, rows: Rows, dim: int, wanted: int, count: int) -> None:
    vector_bytes = 4 * dim
    room = MAX_WORD_BYTES + vector_bytes + 64  # a whole row and the separators before it
    for read in range(wanted):
        line = read + 2
        if len(source.data) - source.pos < room:
            source.fill(room, line)
        data, pos, end = source.data, source.pos, len(source.data)
        while pos < end and data[pos] in _ROW_SEPARATORS:
            pos += 1
        if pos == end:
            raise file_error(source.path, line, f"the file ends after {read} rows; the header says {count}")
        space = data.find(b" ", pos, pos + MAX_WORD_BYTES)
        if space == -1 or data.find(b"\n", pos, space) != -1:
            raise file_error(
                source.path, line, f"cannot find the word; do the rows have the header's dimension {dim}?"
            )
        start = space + 1
        row = rows.add(data[pos:space], line)
        if end - start < vector_bytes:
            word = data[pos:space].decode("utf-8", errors="replace")
            raise file_error(
                source.path,
                line,
                f"the vector of {word!r} is cut short: {end - start} of {vector_bytes} bytes",
            )
        if row is not None:
            rows.vectors[row] = np.frombuffer(data, dtype="<f4", count=dim, offset=start)
        source.pos = start + vector_bytes


def write_word2vec(
    path: str | os.PathLike[str], words: Sequence[str], matrix: np.ndarray, *, binary: bool
) -> None:
    """Write `words` and the rows of `matrix` in the text or binary word2vec format."""
    check_words(words, "word2vec")
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        if not binary:
            write_text_rows(out, words, matrix)
            return
        out.writelines(word.encode() + b" " + vector.tobytes() + b"\n" for word, vector in zip(words, matrix.astype("<f4", copy=False)))
