from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from w2v.errors import W2VError
from w2v.formats.projector import metadata_path
from w2v.vectors import Vectors


def test_tsv_writes_vectors_and_metadata_side_by_side(tmp_path: Path, vectors: Vectors):
    path = tmp_path / "export" / "ptb.tsv"

    written = vectors.save(path, format="tsv")

    metadata = tmp_path / "export" / "ptb-metadata.tsv"
    assert written == [path, metadata]
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    assert len(rows) == len(vectors) and {len(row) for row in rows} == {vectors.dim}
    np.testing.assert_array_equal(np.array(rows, dtype=np.float32), vectors.vectors)
    assert metadata.read_text() == "".join(f"{word}\n" for word in vectors.words)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ptb-metadata.tsv", "ptb.tsv"]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("vectors.tsv", "vectors-metadata.tsv"),
        ("emb", "emb-metadata.tsv"),
        ("my.vectors.txt", "my.vectors-metadata.tsv"),
    ],
)
def test_metadata_name(tmp_path: Path, name: str, expected: str):
    assert metadata_path(tmp_path / name) == tmp_path / expected


def test_tsv_refuses_words_with_tabs_and_writes_nothing(tmp_path: Path):
    with pytest.raises(W2VError, match="tab or newline"):
        Vectors(["a\tb", "c"], np.ones((2, 3))).save(tmp_path / "v.tsv", format="tsv")
    assert list(tmp_path.iterdir()) == []


def test_unknown_save_format(tmp_path: Path, vectors: Vectors):
    with pytest.raises(W2VError, match="unknown vector format 'npz'"):
        vectors.save(tmp_path / "v.npz", format="npz")
