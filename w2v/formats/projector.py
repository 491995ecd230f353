"""The two tab-separated files the TensorBoard Embedding Projector loads.

- vectors, at the path given: one row per word, values separated by tabs, no header;
- metadata, beside it as ``<stem>-metadata.tsv``: one word per line, no header (the Projector
  expects a header only when there are several columns).

``runs/ptb/vectors.tsv`` thus comes with ``runs/ptb/vectors-metadata.tsv``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_path, writes_in_place
from w2v.errors import W2VError

_LINE_BREAK_OR_TAB = re.compile("[\t\n\r]")


def metadata_path(vectors_path: str | os.PathLike[str]) -> Path:
    """Where the metadata file for the vectors file `vectors_path` goes."""
    path = Path(vectors_path)
    return path.with_name(f"{path.stem}-metadata.tsv")


def write_projector_tsv(
    path: str | os.PathLike[str], words: Sequence[str], matrix: np.ndarray
) -> list[Path]:
    """Write the vectors file at `path` and its metadata file; return both paths."""
    for word in words:
        if _LINE_BREAK_OR_TAB.search(word):
            raise W2VError(f"cannot write the word {word!r} to a tsv file: it has a tab or newline")
    meta = metadata_path(path)
    if writes_in_place(path):
        raise W2VError(
            f"tsv writes two files, {path} and {meta}; give the path of a regular file instead"
        )
    with atomic_path(path) as vectors_tmp, atomic_path(meta) as meta_tmp:
        with open(vectors_tmp, "w", encoding="utf-8", newline="\n") as out:
            rows = matrix.astype(np.float32, copy=False)
            out.writelines("\t".join(map(str, vector)) + "\n" for vector in rows)
        with open(meta_tmp, "w", encoding="utf-8", newline="\n") as out:
            out.writelines(f"{word}\n" for word in words)
    return [Path(path), meta]
