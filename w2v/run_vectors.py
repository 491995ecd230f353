"""Reading the trained vectors out of a run directory.

Training leaves ``vectors.npy`` (float32 [V, dim]; row i is word i's vector: word2vec's syn0),
``vocab.tsv`` (``word<TAB>count`` per line; line i is word i, most frequent first) and
``checkpoint.pt``, which also holds the output table (word2vec's syn1neg). Of the two tables,
skip-gram's word vectors are its center-word table and its output table the context-word table;
CBOW's word vectors are its context-word table (averaged over a window) and its output table the
center-word table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from w2v.errors import W2VError

VECTORS_FILE = "vectors.npy"
VOCAB_FILE = "vocab.tsv"
CHECKPOINT_FILE = "checkpoint.pt"
RUN_INFO_FILE = "run.json"
# Every file training and `w2v plot` write into a run directory.
RUN_FILES = frozenset(
    {VECTORS_FILE, VOCAB_FILE, CHECKPOINT_FILE, RUN_INFO_FILE, "config.json", "metrics.jsonl",
     "loss.png", "words.png"}
)

Table = Literal["center", "context", "sum"]
TABLES: tuple[Table, ...] = ("center", "context", "sum")


def read_run_vectors(
    run_dir: str | os.PathLike[str], limit: int | None = None, table: Table | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return (words, vectors, counts) of the run in `run_dir`: the first `limit` words (None:
    all); the word vectors, or with `table` the center-word table, the context-word table or
    their sum."""
    run = Path(run_dir)
    if limit is not None and limit < 1:
        raise W2VError(f"the limit must be a positive number of words, not {limit}")
    needed = (VECTORS_FILE if table is None else CHECKPOINT_FILE, VOCAB_FILE)
    missing = [name for name in needed if not (run / name).is_file()]
    if missing:
        raise W2VError(
            f"run directory {run} has no {' or '.join(missing)}; has training finished writing it?"
        )
    if table is None:
        matrix = _read_matrix(run / VECTORS_FILE)
    else:
        matrix = read_run_table(run, table)
    words, counts = _read_vocab(run / VOCAB_FILE)
    if len(words) != len(matrix):
        source = VECTORS_FILE if table is None else f"the {table} table of {CHECKPOINT_FILE}"
        raise W2VError(
            f"run directory {run} is inconsistent: {VOCAB_FILE} has {len(words)} "
            f"words but {source} has {len(matrix)} rows"
        )
    return words[:limit], np.array(matrix[:limit], dtype=np.float32), counts[:limit]


def read_run_table(run_dir: str | os.PathLike[str], table: Table) -> np.ndarray:
    """The center-word table, the context-word table or their sum, from the run's checkpoint."""
    import torch

    if table not in TABLES:
        raise W2VError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    path = Path(run_dir) / CHECKPOINT_FILE
    try:
        state = torch.load(path, weights_only=True, map_location="cpu", mmap=True)
        center, context = (state[name].numpy() for name in ("center", "context"))
    except Exception as e:  # noqa: BLE001 (a damaged file fails in many ways inside torch.load)
        raise W2VError(f"{path} is damaged ({type(e).__name__}); the {table} table is kept only "
                       "there") from None
    if center.ndim != 2 or center.shape != context.shape:
        raise W2VError(f"{path} is damaged: tables of shapes {center.shape} and {context.shape}")
    chosen = {"center": center, "context": context}
    return center + context if table == "sum" else chosen[table]


def is_run_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` names one of the files of a run directory (existing or not)."""
    path = Path(path)
    run = path.parent
    return path.name in RUN_FILES and any(
        (run / name).is_file() for name in (RUN_INFO_FILE, CHECKPOINT_FILE, VECTORS_FILE)
    )


def _read_matrix(path: Path) -> np.ndarray:
    """The matrix memory-mapped: rows past a limit are never read."""
    try:
        matrix = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as error:
        raise W2VError(f"{path} is damaged: {error}") from None
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.floating):
        raise W2VError(
            f"{path} is damaged: expected a 2-d float array, found {matrix.ndim}-d {matrix.dtype}"
        )
    return matrix


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
