"""The commands on other people's vector files: queries with arithmetic, --limit, --no-header,
`info --vectors`, and converting a file with `export --vectors`."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_error, w2v
from gensim.models import KeyedVectors

from w2v.cli import neighbor_queries
from w2v.vectors import Vectors

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def vector_file(vectors: Vectors) -> Path:
    """The test vectors as a gzip-compressed GloVe file: no header, found out by content."""
    path = Path("glove.txt.gz")
    vectors.save("glove.txt", format="glove")
    path.write_bytes(gzip.compress(Path("glove.txt").read_bytes()))
    return path


def listed(out: str) -> dict[str, list[tuple[str, float]]]:
    """`w2v neighbors` output: each query's label and its (word, score) lines."""
    results: dict[str, list[tuple[str, float]]] = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            label = line.removesuffix(":")
            results[label] = []
        else:
            word, score = line.split()
            results[label].append((word, float(score)))
    return results


def test_neighbors_of_a_sum_of_words(capsys: Capsys, vector_file: Path, gensim_kv) -> None:
    result = w2v(capsys, "neighbors", "capital-to1", "-capital-from1", "+capital-from2",
                 "king", "-k", "3", "--vectors", vector_file)

    assert result.code == 0, result.err
    found = listed(result.out)
    assert list(found) == ["capital-to1 -capital-from1 +capital-from2", "king"]
    expected = gensim_kv.most_similar(positive=["capital-to1", "capital-from2"],
                                      negative=["capital-from1"], topn=3)
    assert [w for w, _ in found["capital-to1 -capital-from1 +capital-from2"]] == [
        w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in found["king"]],
                               [s for _, s in gensim_kv.most_similar("king", topn=3)], atol=1e-4)


def test_words_that_start_like_options_are_words(capsys: Capsys) -> None:
    Path("v.txt").write_text("5 2\nkid 1 0\nking 0.9 0.1\nx 0 1\nvectors 0.5 0.5\ny 1 1\n")
    result = w2v(capsys, "neighbors", "king", "-kid", "-vectors", "--vectors", "v.txt", "-k2",
                 "--", "x")
    assert result.code == 0, result.err
    found = listed(result.out)
    assert list(found) == ["king -kid -vectors", "x"]
    assert len(found["x"]) == 2


def test_neighbor_queries_group_signed_words() -> None:
    assert neighbor_queries(["king", "-man", "+woman", "paris", "-", "+"]) == [
        ("king -man +woman", ["king", "woman"], ["man"]),
        ("paris", ["paris"], []),
        ("-", ["-"], []),
        ("+", ["+"], []),
    ]
    assert neighbor_queries(["-man", "+woman"]) == [("-man +woman", ["woman"], ["man"])]


def test_restrict_vocab_and_limit(capsys: Capsys, vector_file: Path, vectors: Vectors,
                                  gensim_kv) -> None:
    result = w2v(capsys, "neighbors", "king", "--restrict-vocab", "50", "-k", "4",
                 "--vectors", vector_file)
    assert result.code == 0, result.err
    expected = gensim_kv.most_similar("king", topn=4, restrict_vocab=50)
    assert [w for w, _ in listed(result.out)["king"]] == [w for w, _ in expected]

    first = vectors.words[0]
    result = w2v(capsys, "neighbors", first, "-k", "30", "--limit", "30", "--vectors", vector_file)
    assert_error(result, "cannot list 30 words: k must be between 1 and 29 (the 30 words")
    assert_error(w2v(capsys, "neighbors", first, "--limit", "0", "--vectors", vector_file),
                 "Invalid value for '--limit'", code=2)


def test_info_describes_a_vector_file(capsys: Capsys, vector_file: Path, vectors: Vectors) -> None:
    result = w2v(capsys, "info", "--vectors", vector_file)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"file         glove.txt.gz ({vector_file.stat().st_size:,} bytes)"
    assert lines[1:4] == [
        "format       text without a header (GloVe), gzip compressed",
        "vocabulary   365 words, dimension 16",
        "rows         365 rows read of 365",
    ]
    assert lines[4].startswith("lengths      min ")
    assert lines[5] == "first words  " + " ".join(vectors.words[:10])

    result = w2v(capsys, "info", "--vectors", vector_file, "--limit", "7")
    assert "rows         7 rows read (the first of the file)" in result.out.splitlines()
    assert_error(w2v(capsys, "info", "--limit", "7"), "--limit applies to a --vectors file")


def test_export_converts_a_vector_file(capsys: Capsys, vector_file: Path, vectors: Vectors) -> None:
    result = w2v(capsys, "export", "--vectors", vector_file, "--format", "word2vec-binary",
                 "--output", "v.bin", "--limit", "100")
    assert result.code == 0 and result.out == "wrote v.bin\n"
    kv = KeyedVectors.load_word2vec_format("v.bin", binary=True)
    assert kv.index_to_key == vectors.words[:100]
    np.testing.assert_array_equal(kv.vectors, vectors.vectors[:100])
    assert_error(w2v(capsys, "export", "--vectors", vector_file),
                 "give --output, the file to write the --vectors file's vectors to")
    assert_error(w2v(capsys, "export", "--vectors", vector_file, "--output", "x.txt",
                     "--table", "context"),
                 "is not a run directory; a table can only be chosen from a run")


def test_no_header_selects_glove(capsys: Capsys) -> None:
    Path("v.txt").write_text("3 5\n7 1\nx 2\n")
    result = w2v(capsys, "neighbors", "7", "-k", "2", "--vectors", "v.txt", "--no-header")
    assert result.code == 0, result.err
    assert [w for w, _ in listed(result.out)["7"]] == ["3", "x"]
    assert_error(w2v(capsys, "neighbors", "7", "--vectors", "v.txt"),
                 "v.txt: line 2: expected a word and 5 values (the header's dimension)")
    assert_error(w2v(capsys, "neighbors", "7", "--no-header"),
                 "--no-header applies to a --vectors file, not to a run")
