"""Reading the trained vectors out of a run directory.

Training leaves ``vectors.npy`` (float32 [V, dim]; row i is word i's vector) and
``vocab.tsv`` (``word<TAB>count`` per line; line i is word i, most frequent first).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from w2v.errors import W2VError

VECTORS_FILE = "vectors.npy"
VOCAB_FILE = "vocab.tsv"


def read_run_vectors(run_dir: str | os.PathLike[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return (words, vectors, counts) of the run in `run_dir`."""
    run = Path(run_dir)
    missing = [name for name in (VECTORS_FILE, VOCAB_FILE) if not (run / name).is_file()]
    if missing:
        raise W2VError(
            f"run directory {run} has no {' or '.join(missing)}; has training finished writing it?"
        )
    matrix = _read_matrix(run / VECTORS_FILE)
    words, counts = _read_vocab(run / VOCAB_FILE)
    if len(words) != len(matrix):
        raise W2VError(
            f"run directory {run} is inconsistent: {VOCAB_FILE} has {len(words)} "
            f"words but {VECTORS_FILE} has {len(matrix)} rows"
        )
    return words, matrix, counts


def _read_matrix(path: Path) -> np.ndarray:
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise W2VError(f"{path} is damaged: {error}") from None
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.floating):
        raise W2VError(
            f"{path} is damaged: expected a 2-d float array, found {matrix.ndim}-d {matrix.dtype}"
        )
    return matrix.astype(np.float32, copy=False)


def _read_vocab(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise W2VError(f"cannot read {path}: {error}") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    words: list[str] = []
    counts: list[int] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or not fields[0] or not (fields[1].isascii() and fields[1].isdigit()):
            raise W2VError(f"{path}: line {number}: expected 'word<TAB>count', found {line[:60]!r}")
        if fields[0] in seen:
            raise W2VError(f"{path}: line {number}: duplicate word {fields[0]!r}")
        seen.add(fields[0])
        words.append(fields[0])
        counts.append(int(fields[1]))
    return words, np.array(counts, dtype=np.int64)
