"""`w2v neighbors` and `w2v export` on bad vector files, runs and queries: one line on stderr."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_error, w2v

Capsys = pytest.CaptureFixture[str]

GOOD = "3 2\ncat 1 0\ndog 0.9 0.1\ncar 0 1\n"


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def neighbors(capsys: Capsys, content: str | bytes, *args: str):
    path = Path("vectors.txt")
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return w2v(capsys, "neighbors", *(args or ("cat",)), "--vectors", path)


@pytest.mark.parametrize(("content", "message"), [
    ("", "vectors.txt: the file is empty"),
    ("\n \n", "vectors.txt: the file is empty"),
    ("cat 1 0\ndog 0 1\n", "line 1: expected the header '<count> <dim>'"),
    ("3\ncat 1 0\n", "line 1: expected the header '<count> <dim>'"),
    ("-3 2\ncat 1 0\n", "line 1: expected the header '<count> <dim>'"),
    ("3 2\ncat 1 0\ndog 0.9\ncar 0 1\n", ("line 3: expected a word and 2 values",
                                         "(the header's dimension), found 1 values")),
    ("3 2\ncat 1 0\ndog 0.9 0.1 7\ncar 0 1\n", "line 3: expected a word and 2 values"),
    ("3 2\ncat 1 0\ndog 0.9 0.1\ncar 0 one\n", ("line 4: the vector of 'car' has a value",
                                               "that is not a number: 'one'")),
    ("3 2\ncat 1 0\ndog 0.9 nan\ncar 0 1\n", ("line 3: the vector of 'dog' has a value",
                                             "that is not a finite number")),
    ("3 2\ncat 1 0\ndog 0.9 0.1\ncat 0 1\n", "line 4: duplicate word 'cat' (first on line 2)"),
    ("4 2\ncat 1 0\ndog 0.9 0.1\ncar 0 1\n", ("line 5: the file ends after 3 rows;",
                                             "the header says 4")),
    ("2 2\ncat 1 0\ndog 0.9 0.1\ncar 0 1\n", "line 4: more rows than the 2 the header says"),
    (b"2 2\ncaf\xe9 1 0\ndog 0 1\n", "line 2: the word b'caf\\xe9' is not valid UTF-8"),
])
def test_bad_vector_file(capsys: Capsys, content: str | bytes,
                         message: str | tuple[str, ...]) -> None:
    assert_error(neighbors(capsys, content), *((message,) if isinstance(message, str) else message))


def test_truncated_binary_file(capsys: Capsys) -> None:
    rows = b"".join(word + b" " + struct.pack("<2f", 1, 0) + b"\n" for word in (b"cat", b"dog"))
    result = neighbors(capsys, b"2 2\n" + rows[:-6])
    assert_error(result, "line 3: the vector of 'dog' is cut short: 3 of 8 bytes")


def test_missing_vector_file(capsys: Capsys) -> None:
    result = w2v(capsys, "neighbors", "cat", "--vectors", "nope.txt")
    assert_error(result, "nope.txt: no such file")


def test_good_file_answers(capsys: Capsys) -> None:
    result = neighbors(capsys, GOOD, "cat", "-k", "2")
    assert result.code == 0 and result.err == ""
    assert result.out.split() == ["cat:", "dog", "0.9939", "car", "0.0000"]


@pytest.mark.parametrize("k", ["0", "-1", "3", "1000"])
def test_k_out_of_range(capsys: Capsys, k: str) -> None:
    result = neighbors(capsys, GOOD, "cat", "-k", k)
    assert_error(result, f"cannot list {k} words: k must be between 1 and 2 (the 3 words of the "
                         f"vocabulary minus the query words)")
    assert result.out == ""


def test_unknown_word_suggests_close_ones(capsys: Capsys) -> None:
    result = neighbors(capsys, GOOD, "cat", "cars", "dgo", "-k", "1")
    assert_error(result, "unknown word 'cars'; close words in the vocabulary: car")
    assert result.out == ""  # nothing printed for the words before it either
    assert_error(neighbors(capsys, GOOD, "zebra"),
                 "unknown word 'zebra'; no close words in the vocabulary")


def test_run_and_vectors_together(capsys: Capsys) -> None:
    Path("v.txt").write_text(GOOD)
    assert_error(w2v(capsys, "neighbors", "cat", "--run", ".", "--vectors", "v.txt"),
                 "give either --run or --vectors, not both")


def test_no_run(capsys: Capsys) -> None:
    assert_error(w2v(capsys, "neighbors", "cat"), "no training run found in runs/",
                 "train one with 'w2v train'")
    assert_error(w2v(capsys, "neighbors", "cat", "--run", "elsewhere"),
                 "no training run found in elsewhere/")


def test_run_without_vectors_or_with_damaged_ones(capsys: Capsys) -> None:
    run = Path("runs/r")
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    assert_error(w2v(capsys, "neighbors", "cat", "--run", run), "has no vectors.npy or vocab.tsv")
    (run / "vocab.tsv").write_text("cat\t3\ndog\t2\n")
    (run / "vectors.npy").write_bytes(b"\x93NUMPY garbage")
    assert_error(w2v(capsys, "neighbors", "cat", "--run", run), "vectors.npy is damaged")
    np.save(run / "vectors.npy", np.zeros((3, 2), dtype=np.float32))
    assert_error(w2v(capsys, "neighbors", "cat", "--run", run),
                 "vocab.tsv has 2 words but vectors.npy has 3 rows")
    np.save(run / "vectors.npy", np.array([object()], dtype=object))
    assert_error(w2v(capsys, "neighbors", "cat", "--run", run), "vectors.npy is damaged")


def test_export_to_an_unknown_format(capsys: Capsys) -> None:
    run = Path("runs/r")
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    (run / "vocab.tsv").write_text("cat\t3\ndog\t2\n")
    np.save(run / "vectors.npy", np.eye(2, dtype=np.float32))
    result = w2v(capsys, "export", "--output", "out.vec", "--format", "glove", "--run", run)
    assert_error(result, "unknown vector format 'glove'")
    assert not Path("out.vec").exists()
