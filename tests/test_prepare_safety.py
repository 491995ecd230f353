"""`w2v prepare` never destroys what w2v did not make, and never takes garbage for text."""

from __future__ import annotations

import bz2
import codecs
import fcntl
import lzma
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_error, tree, w2v, w2v_process
from support import Server

Capsys = pytest.CaptureFixture[str]
DATASET_FILES = ["meta.json", "offsets.bin", "tokens.bin", "vocab.tsv"]


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")


def write(path: str | Path, content: str | bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


CORPUS = "the cat sat on the mat\nthe dog sat\n"


# What is in the way


def test_the_corpus_inside_the_dataset_folder_is_kept(capsys: Capsys) -> None:
    write("data/wiki/wiki.txt", CORPUS)
    result = w2v(capsys, "prepare", "data/wiki/wiki.txt", "--min-count", "1", "--quiet")
    assert_error(result, "data/wiki holds the corpus being prepared (data/wiki/wiki.txt)",
                 "choose another name with --name")
    assert tree(Path("data")) == ["wiki", "wiki/wiki.txt"]
    assert Path("data/wiki/wiki.txt").read_text() == CORPUS

    result = w2v(capsys, "prepare", "data/wiki/wiki.txt", "--name", "wiki2", "--min-count", "1",
                 "--quiet")
    assert result.code == 0, result.err
    assert sorted(p.name for p in Path("data/wiki2").iterdir()) == DATASET_FILES


def test_a_users_folder_is_not_replaced(capsys: Capsys) -> None:
    write("mywork/notes.txt", "my notes")
    write("mywork.txt", CORPUS)
    result = w2v(capsys, "prepare", "mywork.txt", "--data-dir", ".", "--min-count", "1",
                 "--quiet")
    assert_error(result, "mywork is in the way: it is a folder that w2v did not write "
                 "(it holds notes.txt)", "--name")
    assert Path("mywork/notes.txt").read_text() == "my notes"
    assert tree(Path()) == ["mywork", "mywork.txt", "mywork/notes.txt"]


def test_the_download_cache_is_not_replaced(capsys: Capsys) -> None:
    write("data/downloads/ptb.zip", b"PK cached archive")
    write("downloads.txt", CORPUS)
    result = w2v(capsys, "prepare", "downloads.txt", "--min-count", "1", "--quiet")
    assert_error(result, "data/downloads is in the way", "it holds ptb.zip")
    assert tree(Path("data")) == ["downloads", "downloads/ptb.zip"]


def test_a_file_in_the_way_is_left_alone(capsys: Capsys) -> None:
    write("data/corpus", "a file of the user's")
    write("corpus.txt", CORPUS)
    for _ in range(2):
        result = w2v(capsys, "prepare", "corpus.txt", "--min-count", "1", "--quiet")
        assert_error(result, "data/corpus is in the way: it is a file, not a w2v dataset")
    assert tree(Path("data")) == ["corpus"]
    assert Path("data/corpus").read_text() == "a file of the user's"


def test_the_input_folder_never_holds_the_dataset(capsys: Capsys) -> None:
    write("texts/a.txt", CORPUS)
    result = w2v(capsys, "prepare", "texts", "--data-dir", "texts", "--min-count", "1",
                 "--quiet")
    assert_error(result, "would be written inside the corpus folder texts")
    assert tree(Path()) == ["texts", "texts/a.txt"]


def test_a_second_writer_gets_one_line(capsys: Capsys) -> None:
    write("corpus.txt", CORPUS)
    Path("data").mkdir()
    with open("data/.corpus.lock", "w") as held:
        held.write(f"{os.getpid()}\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)  # as a prepare of data/corpus in progress holds it
        result = w2v(capsys, "prepare", "corpus.txt", "--min-count", "1", "--quiet")
    assert_error(result, "data/corpus is being prepared by another w2v process",
                 f"(process {os.getpid()})")
    assert not Path("data/corpus").exists()
    result = w2v(capsys, "prepare", "corpus.txt", "--min-count", "1", "--quiet")
    assert result.code == 0, result.err
    assert tree(Path("data")) == ["corpus", *(f"corpus/{name}" for name in DATASET_FILES)]


@pytest.mark.parametrize("name", ["../elsewhere", ".hidden", "a/b", "bad\x01name"])
def test_a_name_that_is_no_plain_name_is_refused(capsys: Capsys, name: str) -> None:
    write("corpus.txt", CORPUS)
    result = w2v(capsys, "prepare", "corpus.txt", "--name", name, "--quiet")
    assert_error(result, "choose a plain name with --name")
    assert tree(Path()) == ["corpus.txt"]


def test_a_url_with_a_nul_is_one_line(capsys: Capsys, server: Server) -> None:
    def serve(handler) -> None:  # type: ignore[no-untyped-def]
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(CORPUS)))
        handler.end_headers()
        handler.wfile.write(CORPUS.encode())

    server.routes["/a%00b.txt"] = serve
    result = w2v(capsys, "prepare", server.url("a%00b.txt"), "--quiet")
    assert_error(result, "cannot name a dataset after", "a%00b.txt")
    assert tree(Path()) == []


# A killed prepare


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killing_prepare_ends_its_workers_and_the_next_one_cleans_up(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(5000)])
    lines = words[rng.integers(0, 5000, size=(400_000, 10))]
    write("big.txt", "\n".join(map(" ".join, lines)) + "\n")  # 24 MB: prepared by workers
    work = Path.cwd()
    parent = w2v_process(work, "prepare", "big.txt", "--workers", "2", "--quiet")
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and parent.poll() is None:
            workers = [pid for pid in children_of(parent.pid) if alive(pid)]
            if len(workers) >= 2 and list(Path("data").glob(".big.*.tmp")):
                break
            time.sleep(0.01)
        assert parent.poll() is None and len(workers) >= 2, "prepare ended before the kill"
        parent.send_signal(signal.SIGKILL)
        parent.wait()

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(alive, workers)):
            time.sleep(0.05)
        assert not any(map(alive, workers)), "workers outlived their parent"
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert list(Path("data").glob(".big.*.tmp"))

    write("small.txt", CORPUS)
    done = w2v_process(work, "prepare", "small.txt", "--name", "big", "--min-count", "1",
                       "--quiet")
    _, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    assert tree(Path("data")) == ["big", *(f"big/{name}" for name in DATASET_FILES)]


# Garbage is not text


def test_utf16_with_a_byte_order_mark_becomes_words(capsys: Capsys) -> None:
    write("wide.txt", codecs.BOM_UTF16_LE + (CORPUS * 3).encode("utf-16-le"))
    result = w2v(capsys, "prepare", "wide.txt", "--min-count", "1", "--quiet")
    assert result.code == 0, result.err
    words = [line.split("\t")[0] for line in
             Path("data/wide/vocab.tsv").read_text(encoding="utf-8").splitlines()]
    assert sorted(words) == ["cat", "dog", "mat", "on", "sat", "the"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ((CORPUS * 20).encode("utf-16-le"), ("of its bytes are NUL (binary data, or UTF-16 "
                                            "without a byte order mark)")),
        (bytes(np.random.default_rng(0).integers(0x80, 0x100, 5000, dtype=np.uint8)) + b" x\n",
         "of it is not UTF-8; convert it to UTF-8"),
    ],
    ids=["utf16-without-bom", "binary"],
)
def test_what_is_not_text_is_refused(capsys: Capsys, content: bytes, message: str) -> None:
    write("corpus.txt", content)
    result = w2v(capsys, "prepare", "corpus.txt", "--min-count", "1", "--quiet")
    assert_error(result, "corpus.txt is not UTF-8 text", message)
    assert not Path("data/corpus").exists()


@pytest.mark.parametrize(("name", "pack"), [("corpus.txt.bz2", bz2.compress),
                                            ("corpus.txt.xz", lzma.compress)])
def test_bz2_and_xz_corpora_are_read_as_text(capsys: Capsys, name: str, pack) -> None:
    write("plain.txt", CORPUS * 20)
    write(name, pack((CORPUS * 20).encode()))
    for source in ("plain.txt", name):
        result = w2v(capsys, "prepare", source, "--min-count", "1", "--quiet")
        assert result.code == 0, result.err
    for file in ("tokens.bin", "offsets.bin", "vocab.tsv"):
        assert Path("data/plain", file).read_bytes() == Path("data/corpus", file).read_bytes()


def test_compressed_data_under_a_text_name_is_refused(capsys: Capsys) -> None:
    write("corpus.txt", bz2.compress((CORPUS * 20).encode()))
    result = w2v(capsys, "prepare", "corpus.txt", "--quiet")
    assert_error(result, "corpus.txt: it holds bzip2-compressed data, not text",
                 "name it corpus.txt.bz2")
    assert tree(Path()) == ["corpus.txt"]
