"""`w2v neighbors`, `export` and `evaluate` on bad vector files, runs, queries and targets: one
line on stderr, and nothing w2v did not make destroyed."""

from __future__ import annotations

import gzip
import json
import os
import stat
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_error, tree, w2v, w2v_process

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
    ("cat 1 0\ndog 0\n", ("line 2: expected a word and 2 values (the dimension of line 1), ",
                          "found 1 values")),
    ("3\ncat 1 0\n", ("line 1: expected the header '<count> <dim>' (two positive whole numbers) "
                      "or, in a file without a header, a word and its values, found '3'")),
    ("-3 2\ncat 1 0\n", "line 1: expected the header '<count> <dim>'"),
    ("3 2\ncat 1 0\ndog 0.9\ncar 0 1\n", ("line 3: expected a word and 2 values",
                                         "(the header's dimension), found 1 values")),
    ("3 2\ncat 1 0\ndog 0.9 0.1 7\ncar 0 1\n", "line 3: expected a word and 2 values"),
    ("3 2\ncat 1 0\ndog 0.9 0.1\ncar 0 one\n", ("line 4: the vector of 'car' has a value",
                                               "that is not a number: 'one'")),
    ("3 2\ncat 1 0\ndog 0.9 nan\ncar 0 1\n", ("line 3: the vector of 'dog' has a value",
                                             "that is not a finite number")),
    ("4 2\ncat 1 0\ndog 0.9 0.1\ncar 0 1\n", ("line 5: the file ends after 3 rows;",
                                             "the header says 4")),
    ("2 2\ncat 1 0\ndog 0.9 0.1\ncar 0 1\n", "line 4: more rows than the 2 the header says"),
    (b"2 2\ncat 1 0\ndog 0 1\n\xff\xfe\x00\x00", "line 4: more rows than the 2 the header says"),
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
    result = w2v(capsys, "export", "--output", "out.vec", "--format", "npz", "--run", run)
    assert_error(result, "unknown vector format 'npz'")
    assert not Path("out.vec").exists()


def test_repeated_and_invalid_words_are_one_warning_line_each(capsys: Capsys) -> None:
    result = neighbors(capsys, b"4 2\ncat 1 0\ndog 0.9 0.1\ncat 0 1\ncaf\xe9 0 1\n", "cat", "-k", "2")
    assert result.code == 0
    assert result.err.splitlines() == [
        "w2v: warning: vectors.txt: 1 words were not valid UTF-8; their bad bytes became U+FFFD",
        ("w2v: warning: vectors.txt: 1 rows repeat an earlier word; the first vector of each "
         "word was kept"),
    ]
    assert result.out.split()[:2] == ["cat:", "dog"]


def test_vectors_from_a_device_without_line_breaks(capsys: Capsys) -> None:
    for args in ((), ("--no-header",)):
        result = w2v(capsys, "neighbors", "cat", "--vectors", "/dev/zero", *args)
        assert_error(result, "/dev/zero: line 1: no line break in 16,777,216 bytes")


def test_header_claiming_a_trillion_rows(capsys: Capsys) -> None:
    assert_error(neighbors(capsys, "999999999999 2\ncat 1 0\n"),
                 "vectors.txt: line 3: the file ends after 1 rows; the header says 999999999999")
    Path("v.gz").write_bytes(gzip.compress(b"999999999999 2\ncat 1 0\n"))
    assert_error(w2v(capsys, "neighbors", "cat", "--vectors", "v.gz"),
                 "v.gz: line 1: 999,999,999,999 rows of dimension 2 need 7,450.6 GiB, more than "
                 "the", "read fewer with --limit")


WRITTEN = b"3 2\ncat 1.0 0.0\ndog 0.9 0.1\ncar 0.0 1.0\n"


@pytest.fixture
def run() -> Path:
    run = Path("runs/r")
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    (run / "vocab.tsv").write_text("cat\t3\ndog\t2\ncar\t1\n")
    np.save(run / "vectors.npy", np.float32([[1, 0], [0.9, 0.1], [0, 1]]))
    return run


def export(capsys: Capsys, run: Path, output: str | Path, *args: str):
    return w2v(capsys, "export", "--output", output, "--run", run, *args)


def test_export_into_a_fifo_writes_through_it(capsys: Capsys, run: Path) -> None:
    fifo = Path("out.fifo")
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = export(capsys, run, fifo)
    reader.join(timeout=30)
    assert result.code == 0, result.err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert received == [WRITTEN]
    assert not list(Path(".").glob(".out.fifo.*"))


def test_export_through_a_symlink_replaces_the_file_it_points_to(capsys: Capsys,
                                                                 run: Path) -> None:
    Path("real").mkdir()
    Path("real/vectors.txt").write_text("old")
    link = Path("link.txt")
    link.symlink_to("real/vectors.txt")
    result = export(capsys, run, link)
    assert result.code == 0, result.err
    assert link.is_symlink() and os.readlink(link) == "real/vectors.txt"
    assert Path("real/vectors.txt").read_bytes() == WRITTEN
    assert sorted(os.listdir("real")) == ["vectors.txt"]


def test_export_to_dev_null_leaves_it_a_device(capsys: Capsys, run: Path) -> None:
    before = os.stat("/dev/null")
    result = export(capsys, run, "/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert result.code == 0 and result.out == "" and result.err == "wrote /dev/null\n"


def test_export_to_a_full_device_is_one_line(capsys: Capsys, run: Path) -> None:
    before = os.stat("/dev/full")
    assert_error(export(capsys, run, "/dev/full"),
                 "cannot write /dev/full: no space left on device")
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_export_of_two_tsv_files_to_a_device_is_refused(capsys: Capsys, run: Path) -> None:
    assert_error(export(capsys, run, "/dev/null", "--format", "tsv"),
                 "tsv writes two files, /dev/null and /dev/null-metadata.tsv")
    assert not Path("/dev/null-metadata.tsv").exists()


def test_export_to_dev_stdout(tmp_path: Path, run: Path) -> None:
    child = w2v_process(tmp_path, "export", "--output", "/dev/stdout", "--run", run.resolve())
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out == WRITTEN.decode() and err == "wrote /dev/stdout\n"


@pytest.mark.parametrize("name", ["vectors.npy", "vocab.tsv", "run.json", "checkpoint.pt"])
def test_export_never_overwrites_a_file_of_the_run(capsys: Capsys, run: Path, name: str) -> None:
    before = tree(run), {p: p.read_bytes() for p in run.iterdir()}
    assert_error(export(capsys, run, run / name), f"{run / name} is a file of the run in ",
                 "write the vectors to another path")
    Path("link.npy").symlink_to(run / name)
    assert_error(export(capsys, run, "link.npy"), "link.npy is a file of the run in ")
    assert (tree(run), {p: p.read_bytes() for p in run.iterdir()}) == before


def test_export_never_overwrites_a_file_of_a_dataset(capsys: Capsys, run: Path) -> None:
    dataset = Path("data/ptb")
    dataset.mkdir(parents=True)
    (dataset / "meta.json").write_text('{"format": "w2v-dataset", "version": 1}')
    (dataset / "tokens.bin").write_bytes(b"\x00" * 8)
    for name in ("tokens.bin", "vocab.tsv", "meta.json"):
        assert_error(export(capsys, run, dataset / name),
                     f"{dataset / name} is a file of the dataset in ")
    assert (dataset / "tokens.bin").read_bytes() == b"\x00" * 8
    assert sorted(os.listdir(dataset)) == ["meta.json", "tokens.bin"]


def test_export_to_a_directory_is_one_line(capsys: Capsys, run: Path) -> None:
    Path("out").mkdir()
    assert_error(export(capsys, run, "out"), "out is a directory; give the path of a file")
    assert list(Path("out").iterdir()) == []


def test_evaluate_json_is_valid_when_a_correlation_is_not_a_number(capsys: Capsys) -> None:
    Path("v.txt").write_text(GOOD)
    Path("pairs.tsv").write_text("cat\tdog\t5\ncat\tcar\t5\n")  # all scores alike: r undefined
    result = w2v(capsys, "evaluate", "--similarity", "pairs.tsv", "--vectors", "v.txt", "--json")
    assert result.code == 0, result.err

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    scores = json.loads(result.out, parse_constant=refuse)["pairs.tsv"]
    assert scores == {"pearson": None, "spearman": None, "oov_ratio": 0.0, "pairs": 2, "unseen": 0}


@pytest.mark.parametrize(("content", "message"), [
    ("cat dog 9\ncat car 1\n",
     "pairs.tsv: line 1: expected 3 fields separated by <TAB>, found 1: 'cat dog 9'"),
    ("# pairs\ncat\tdog\thigh\ncat\tcar\tlow\n", "pairs.tsv: line 2: the score 'high' is not a number"),
    ("# nothing\n\n", "pairs.tsv: no word pairs in the file"),
])
def test_a_word_pair_file_that_does_not_parse_says_why(capsys: Capsys, content: str,
                                                       message: str) -> None:
    Path("v.txt").write_text(GOOD)
    Path("pairs.tsv").write_text(content)
    result = w2v(capsys, "evaluate", "--similarity", "pairs.tsv", "--vectors", "v.txt")
    assert_error(result, message, "expected lines 'word1<TAB>word2<TAB>score'")
