"""Word-vector files: one module per format, its reader and writer side by side.

- `word2vec`: the C tool's text and binary formats, with the header line ``<count> <dim>``;
- `glove`: text rows without a header (GloVe; fastText's .vec after its header);
- `fasttext`: fastText's binary model (.bin), whose character n-gram rows give any word a
  vector;
- `projector`: the TensorBoard Embedding Projector's two TSV files (written only);
- `text`: the ``word v1 ... v<dim>`` rows that word2vec text and GloVe files share;
- `compression`: gzip, bz2 and xz, told by a file's first bytes;
- `reading`: bounded reading and the matrix filled row by row, for every reader.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from w2v.errors import W2VError
from w2v.formats.fasttext import (
    FastTextModel,
    TrainingArgs,
    has_fasttext_magic,
    read_fasttext,
    write_fasttext_bin,
)
from w2v.formats.glove import read_glove, write_glove
from w2v.formats.projector import write_projector_tsv
from w2v.formats.reading import Source, UnicodeErrors, VectorFile
from w2v.formats.text import is_row
from w2v.formats.word2vec import header_error, parse_header, read_word2vec, write_word2vec
from w2v.subwords import SubwordTable

READ_FORMATS = ("auto", "word2vec-text", "word2vec-binary", "glove", "fasttext-bin")
# The formats written, and the ending of the file names each gets by default.
SUFFIXES = {"word2vec-text": ".txt", "word2vec-binary": ".bin", "glove": ".glove.txt", "tsv": ".tsv",
            "fasttext-bin": ".fasttext.bin"}
WRITE_FORMATS = tuple(SUFFIXES)
_NAMES = {"word2vec-text": "word2vec text", "word2vec-binary": "word2vec binary",
          "glove": "text without a header (GloVe)", "fasttext-bin": "fastText binary model"}
# The first line of a file is read before its format (and dimension) is known.
_FIRST_LINE_BYTES = 1 << 24

__all__ = [
    "READ_FORMATS",
    "WRITE_FORMATS",
    "VectorFile",
    "default_file_name",
    "describe_vector_file",
    "read_vectors",
    "write_vectors",
]


def read_vectors(
    path: str | os.PathLike[str],
    format: str = "auto",
    *,
    limit: int | None = None,
    unicode_errors: UnicodeErrors = "replace",
) -> VectorFile:
    """Read a vector file, compressed or not, keeping its first `limit` rows (None: all).

    "auto" reads a fastText model when the file starts with fastText's magic number, a
    word2vec file (text or binary, told by content) when the first line is a header, and a
    GloVe file when it is already a word and its values.
    """
    if format not in READ_FORMATS:
        raise W2VError(f"unknown vector format {format!r}; expected one of {', '.join(READ_FORMATS)}")
    if limit is not None and limit < 1:
        raise W2VError(f"the limit must be a positive number of rows, not {limit}")
    if unicode_errors not in ("replace", "strict", "ignore"):
        raise W2VError(f"unicode_errors must be replace, strict or ignore, not {unicode_errors!r}")
    if format == "fasttext-bin":
        return read_fasttext(path, limit, unicode_errors)
    with Source(path) as source:
        if format == "auto" and has_fasttext_magic(source.peek(4, 1)):
            return read_fasttext(path, limit, unicode_errors, source)
        first = source.readline(_FIRST_LINE_BYTES, 1)
        if not first.strip():
            if not first or source.rest_is_blank(1):
                raise W2VError(f"{path}: the file is empty")
            raise header_error(first, path, or_rows=format == "auto")
        if format == "glove":
            return read_glove(source, first, limit, unicode_errors)
        header = parse_header(first, path)
        if header is not None:
            binary = {"auto": None, "word2vec-text": False, "word2vec-binary": True}[format]
            return read_word2vec(source, *header, binary, limit, unicode_errors)
        if format == "auto" and is_row(first):
            return read_glove(source, first, limit, unicode_errors)
        raise header_error(first, path, or_rows=format == "auto")


def write_vectors(
    path: str | os.PathLike[str],
    words: Sequence[str],
    matrix: np.ndarray,
    format: str,
    *,
    counts: np.ndarray | None = None,
    subwords: SubwordTable | None = None,
) -> list[Path]:
    """Write the vectors as `format`; return the files written ("tsv" writes two).

    "fasttext-bin" writes `subwords`, the table the vectors were formed from, and the words'
    `counts` (1 each where None); its output matrix is zero.
    """
    _check_write_format(format)
    if format == "fasttext-bin":
        if subwords is None:
            raise W2VError("fasttext-bin needs the character n-gram rows of a model trained with "
                           "subwords, and these vectors have none; write them as "
                           "word2vec-binary instead")
        counts = np.ones(len(words), np.int64) if counts is None else counts
        write_fasttext_bin(path, FastTextModel(list(words), counts, subwords.input, None,
                                               subwords.subwords,
                                               subwords.training or TrainingArgs(),
                                               stored=subwords.stored))
    elif format == "tsv":
        return write_projector_tsv(path, words, matrix)
    elif format == "glove":
        write_glove(path, words, matrix)
    else:
        write_word2vec(path, words, matrix, binary=format == "word2vec-binary")
    return [Path(path)]


def default_file_name(format: str, table: str | None = None) -> str:
    """vectors.txt for word2vec text, vectors-context.bin for a run's context table as binary."""
    _check_write_format(format)
    return f"vectors{'' if table is None else '-' + table}{SUFFIXES[format]}"


def _check_write_format(format: str) -> None:
    if format not in WRITE_FORMATS:
        raise W2VError(
            f"unknown vector format {format!r}; expected one of {', '.join(WRITE_FORMATS)}"
        )


def describe_vector_file(path: str | os.PathLike[str], file: VectorFile) -> str:
    """A few lines on what a vector file holds, as `w2v info` describes a run."""
    size = os.stat(path).st_size
    packed = "" if file.compression is None else f", {file.compression} compressed"
    if file.rows_in_file is None:
        rows = f"{file.rows_read:,} rows read (the first of the file)"
    else:
        rows = f"{file.rows_read:,} rows read of {file.rows_in_file:,}"
    if file.duplicates:
        rows += f"; {file.duplicates:,} repeat an earlier word (skipped)"
    if file.replaced:
        rows += f"; {file.replaced:,} words were not valid UTF-8 (bad bytes replaced)"
    lengths = np.sqrt(np.einsum("ij,ij->i", file.vectors, file.vectors))
    lines = [
        f"file         {path} ({size:,} bytes)",
        f"format       {_NAMES[file.format]}{packed}",
        f"vocabulary   {len(file.words):,} words, dimension {file.vectors.shape[1]}",
        f"rows         {rows}",
    ]
    if len(lengths):
        lines.append(f"lengths      min {lengths.min():.4g}, mean {lengths.mean():.4g}, "
                     f"max {lengths.max():.4g}; {int((lengths == 0).sum()):,} zero vectors")
    lines.append(f"first words  {' '.join(file.words[:10])}")
    return "\n".join(lines)
