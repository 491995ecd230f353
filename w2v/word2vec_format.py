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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_path
from w2v.errors import W2VError

_ROW_SEPARATORS = b" \t\r\n"
# bytes.split() splits on exactly these, so a word containing one cannot be read back.
_ASCII_WHITESPACE = re.compile("[ \t\n\r\x0b\x0c]")
_CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_word2vec(
    path: str | os.PathLike[str], binary: bool | None = None
) -> tuple[list[str], np.ndarray]:
    """Read words and their float32 vectors; `binary=None` tells text from binary by content."""
    data = _read_bytes(path)
    count, dim, body = _parse_header(data, path)
    if binary is None:
        words, matrix = _read_either(data, body, count, dim, path)
    elif binary:
        words, matrix = _read_binary_rows(data, body, count, dim, path)
    else:
        words, matrix = _read_text_rows(data, body, count, dim, path)
    _check_finite(words, matrix, path)
    return words, matrix


def write_word2vec(
    path: str | os.PathLike[str], words: Sequence[str], matrix: np.ndarray, *, binary: bool
) -> None:
    """Write `words` and the rows of `matrix` in the text or binary word2vec format."""
    for word in words:
        if not word or _ASCII_WHITESPACE.search(word):
            raise W2VError(f"cannot write the word {word!r} in word2vec format: it has whitespace")
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        for word, vector in zip(words, matrix.astype("<f4", copy=False)):
            if binary:
                out.write(word.encode() + b" " + vector.tobytes() + b"\n")
            else:
                # str() of a float32 is the shortest text that reads back to the same value.
                out.write(f"{word} {' '.join(map(str, vector))}\n".encode())


def _read_either(
    data: bytes, body: int, count: int, dim: int, path: str | os.PathLike[str]
) -> tuple[list[str], np.ndarray]:
    """Text if the first row reads as a word and `dim` numbers, else binary; but when the
    binary reading fails on bytes that could be text, a damaged text file is the likelier
    story, so the text reader gets to say what is wrong."""
    end = data.find(b"\n", body)
    first_row = data[body : len(data) if end == -1 else end].split()
    if len(first_row) == dim + 1 and all(is_number(value) for value in first_row[1:]):
        return _read_text_rows(data, body, count, dim, path)
    try:
        return _read_binary_rows(data, body, count, dim, path)
    except W2VError:
        space = data.find(b" ", body)
        start = body if space == -1 else space + 1
        if not _could_be_text(data[start : start + 4 * dim]):
            raise
    return _read_text_rows(data, body, count, dim, path)


def _could_be_text(chunk: bytes) -> bool:
    try:
        # Not final: the chunk may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(chunk, final=False)
    except UnicodeDecodeError:
        return False
    return not _CONTROL_BYTES.search(chunk)


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise W2VError(f"{path}: no such file") from None
    except OSError as error:
        raise W2VError(f"cannot read {path}: {error.strerror}") from None


def _error(path: str | os.PathLike[str], line: int, message: str) -> W2VError:
    return W2VError(f"{path}: line {line}: {message}")


def _parse_header(data: bytes, path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """Return (count, dim, offset of the first row)."""
    if not data.strip():
        raise W2VError(f"{path}: the file is empty")
    end = data.find(b"\n")
    end = len(data) if end == -1 else end
    fields = data[:end].split()
    if len(fields) != 2 or not all(field.isdigit() and int(field) > 0 for field in fields):
        shown = data[:end][:60].decode("utf-8", errors="replace")
        raise _error(
            path,
            1,
            f"expected the header '<count> <dim>' (two positive whole numbers), found {shown!r}",
        )
    return int(fields[0]), int(fields[1]), end + 1


def _decode_word(raw: bytes, path: str | os.PathLike[str], line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(path, line, f"the word {raw[:60]!r} is not valid UTF-8") from None


def _remember(seen: dict[str, int], word: str, path: str | os.PathLike[str], line: int) -> None:
    if word in seen:
        raise _error(path, line, f"duplicate word {word!r} (first on line {seen[word]})")
    seen[word] = line


def _read_text_rows(
    data: bytes, body: int, count: int, dim: int, path: str | os.PathLike[str]
) -> tuple[list[str], np.ndarray]:
    lines = data[body:].split(b"\n")
    matrix = np.empty((count, dim), dtype=np.float32)
    seen: dict[str, int] = {}
    for row in range(count):
        line = row + 2
        parts = lines[row].split() if row < len(lines) else []
        if not parts:
            if not any(rest.strip() for rest in lines[row:]):
                raise _error(path, line, f"the file ends after {row} rows; the header says {count}")
            raise _error(path, line, "empty line where a word and its vector should be")
        if len(parts) != dim + 1:
            raise _error(
                path,
                line,
                f"expected a word and {dim} values (the header's dimension), "
                f"found {len(parts) - 1} values",
            )
        word = _decode_word(parts[0], path, line)
        _remember(seen, word, path, line)
        values = parts[1:]
        try:
            matrix[row] = [float(value) for value in values]
        except ValueError:
            bad = next(value for value in values if not is_number(value))
            raise _error(
                path,
                line,
                f"the vector of {word!r} has a value that is not a number: "
                f"{bad.decode('utf-8', errors='replace')!r}",
            ) from None
    for extra, rest in enumerate(lines[count:]):
        if rest.strip():
            raise _error(path, count + 2 + extra, f"more rows than the {count} the header says")
    return list(seen), matrix


def is_number(value: str | bytes) -> bool:
    """Whether a field reads as a number (float() takes text and bytes alike)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_binary_rows(
    data: bytes, body: int, count: int, dim: int, path: str | os.PathLike[str]
) -> tuple[list[str], np.ndarray]:
    matrix = np.empty((count, dim), dtype=np.float32)
    seen: dict[str, int] = {}
    vector_bytes = 4 * dim
    position = body
    for row in range(count):
        line = row + 2
        while position < len(data) and data[position] in _ROW_SEPARATORS:
            position += 1
        if position == len(data):
            raise _error(path, line, f"the file ends after {row} rows; the header says {count}")
        space = data.find(b" ", position)
        if space == -1 or b"\n" in data[position:space]:
            raise _error(
                path, line, f"cannot find the word; do the rows have the header's dimension {dim}?"
            )
        word = _decode_word(data[position:space], path, line)
        _remember(seen, word, path, line)
        start = space + 1
        if len(data) - start < vector_bytes:
            raise _error(
                path,
                line,
                f"the vector of {word!r} is cut short: {len(data) - start} of {vector_bytes} bytes",
            )
        matrix[row] = np.frombuffer(data, dtype="<f4", count=dim, offset=start)
        position = start + vector_bytes
    if data[position:].strip(_ROW_SEPARATORS):
        raise _error(path, count + 2, f"more data after the {count} rows the header says")
    return list(seen), matrix


def _check_finite(words: list[str], matrix: np.ndarray, path: str | os.PathLike[str]) -> None:
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad.size:
        row = int(bad[0])
        raise _error(
            path, row + 2, f"the vector of {words[row]!r} has a value that is not a finite number"
        )
