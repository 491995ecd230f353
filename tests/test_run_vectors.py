from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2v.errors import W2VError
from w2v.vectors import Vectors

WORDS = ["the", "chip", "intel"]
COUNTS = [50, 7, 3]


def make_run(run: Path, *, vocab: str | None = None, matrix: np.ndarray | None = None) -> Path:
    run.mkdir()
    np.save(
        run / "vectors.npy",
        np.arange(12, dtype=np.float32).reshape(3, 4) if matrix is None else matrix,
    )
    (run / "vocab.tsv").write_text(
        "".join(f"{w}\t{c}\n" for w, c in zip(WORDS, COUNTS)) if vocab is None else vocab
    )
    (run / "config.json").write_text("{}")
    return run


def test_loads_vectors_words_and_counts(tmp_path: Path):
    run = make_run(tmp_path / "run")

    loaded = Vectors.load(run)

    assert loaded.words == WORDS
    assert loaded.counts.tolist() == COUNTS
    assert loaded.dim == 4
    np.testing.assert_array_equal(loaded["chip"], [4, 5, 6, 7])
    assert Vectors.load(run, format="run").words == WORDS


@pytest.mark.parametrize("missing", ["vectors.npy", "vocab.tsv"])
def test_missing_file_is_named(tmp_path: Path, missing: str):
    run = make_run(tmp_path / "run")
    (run / missing).unlink()

    with pytest.raises(W2VError, match=f"has no {missing}; has training finished"):
        Vectors.load(run)


def test_damaged_npy(tmp_path: Path):
    run = make_run(tmp_path / "run")
    (run / "vectors.npy").write_bytes((run / "vectors.npy").read_bytes()[:100])

    with pytest.raises(W2VError, match="vectors.npy is damaged"):
        Vectors.load(run)


def test_npy_of_the_wrong_shape(tmp_path: Path):
    run = make_run(tmp_path / "run", matrix=np.zeros(3))

    with pytest.raises(W2VError, match="expected a 2-d float array, found 1-d float64"):
        Vectors.load(run)


@pytest.mark.parametrize(
    "vocab, message",
    [
        ("the\t50\nchip 7\nintel\t3\n", r"vocab.tsv: line 2: expected 'word<TAB>count'"),
        ("the\t50\nchip\tmany\nintel\t3\n", r"vocab.tsv: line 2: expected 'word<TAB>count'"),
        ("the\t50\nthe\t7\nintel\t3\n", r"vocab.tsv: line 2: duplicate word 'the'"),
        ("the\t50\nchip\t7\n", r"vocab.tsv has 2 words but vectors.npy has 3 rows"),
    ],
)
def test_damaged_vocab(tmp_path: Path, vocab: str, message: str):
    run = make_run(tmp_path / "run", vocab=vocab)

    with pytest.raises(W2VError, match=message):
        Vectors.load(run)
