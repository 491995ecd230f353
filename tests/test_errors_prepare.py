"""`w2v prepare` on bad input and a bad network: one line on stderr, nothing half-written."""

from __future__ import annotations

import functools
import gzip
import hashlib
import stat
import time
import zipfile
from pathlib import Path

import pytest
from cli_support import assert_error, tree, w2v
from support import Server, make_zip, partial_body

from w2v.data import download, prepare, ptb
from w2v.data import text as text_module

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in tmp_path/work; retries do not wait."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setattr(download, "BACKOFF_FACTOR", 0)


def downloads() -> list[str]:
    folder = Path("data", "downloads")
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# Network


def test_connection_refused(capsys: Capsys, closed_port_url: str) -> None:
    result = w2v(capsys, "prepare", closed_port_url, "--quiet")
    assert_error(result, f"cannot download {closed_port_url}: connection refused",
                 "check the URL and the network connection")
    assert downloads() == [] and not Path("data/file").exists()


@pytest.mark.parametrize("status", [404, 500])
def test_http_error(capsys: Capsys, server: Server, status: int) -> None:
    server.routes["/corpus.txt"] = lambda handler: handler.send_error(status)
    result = w2v(capsys, "prepare", server.url("corpus.txt"), "--quiet")
    assert_error(result, str(status), server.url("corpus.txt"))
    assert downloads() == [] and not Path("data/corpus").exists()
    assert len(server.requests) == (1 if status == 404 else 4)  # 5xx is retried 3 times


def test_timeout(capsys: Capsys, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "fetch", functools.partial(download.fetch, timeout=(5, 0.2),
                                                            retries=0))
    server.routes["/slow.txt"] = lambda handler: time.sleep(1)  # answers nothing
    assert_error(w2v(capsys, "prepare", server.url("slow.txt"), "--quiet"), "timed out")
    assert downloads() == []


def test_cut_download_is_never_taken_for_complete(capsys: Capsys, server: Server) -> None:
    body = b"the cat sat on the mat\n" * 200

    server.routes["/corpus.txt"] = partial_body(body, 1000)
    result = w2v(capsys, "prepare", server.url("corpus.txt"), "--min-count", "1", "--quiet")
    assert_error(result, "the connection closed before the whole file arrived")
    assert downloads() == [] and not Path("data/corpus").exists()

    # The next try fetches the whole file again instead of using a piece of it.
    del server.routes["/corpus.txt"]
    (server.root / "corpus.txt").write_bytes(body)
    result = w2v(capsys, "prepare", server.url("corpus.txt"), "--min-count", "1", "--quiet")
    assert result.code == 0, result.err
    assert "1,200 tokens" in result.out
    assert Path("data/downloads/corpus.txt").read_bytes() == body


def test_url_path_is_not_used_as_a_path(capsys: Capsys, server: Server, tmp_path: Path) -> None:
    (server.root / "escape.txt").write_text("a b a b\n")
    url = f"{server.base}/..%2F..%2Fescape.txt"
    result = w2v(capsys, "prepare", url, "--min-count", "1", "--quiet")
    assert result.code == 0, result.err
    assert tree(tmp_path / "work") == sorted(
        ["data", "data/downloads", "data/downloads/escape.txt", "data/escape",
         *(f"data/escape/{f}" for f in ("meta.json", "offsets.bin", "tokens.bin", "vocab.tsv"))])
    dots = f"{server.base}/%2E%2E"
    assert_error(w2v(capsys, "prepare", dots, "--quiet"), "cannot name a dataset after")


# PTB verification


def test_ptb_with_the_wrong_checksum(capsys: Capsys, server: Server,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    splits = {name: f"text of {name}\n".encode() for name in ptb.CHECKSUMS}
    make_zip(server.root / "ptb.zip", {f"ptb/{n}": d for n, d in splits.items()})
    sums = {n: hashlib.sha256(d).hexdigest() for n, d in splits.items()}
    monkeypatch.setattr(ptb, "CHECKSUMS", {**sums, "ptb.train.txt": "0" * 64})
    monkeypatch.setenv("W2V_PTB_URL", server.url("ptb.zip"))

    result = w2v(capsys, "prepare", "--quiet")

    assert_error(result, "ptb.train.txt in data/downloads/ptb.zip has SHA-256",
                 "expected 0000000000000000...", "set W2V_PTB_URL to a mirror")
    assert downloads() == [] and not Path("data/ptb").exists()


# Archives


def test_truncated_zip(capsys: Capsys) -> None:
    data = make_zip(Path("corpus.zip"), {"corpus.txt": b"a b c\n" * 1000}).read_bytes()
    Path("corpus.zip").write_bytes(data[: len(data) // 2])
    assert_error(w2v(capsys, "prepare", "corpus.zip", "--quiet"), "corpus.zip",
                 "the archive is damaged")
    assert tree(Path()) == ["corpus.zip"]


def test_zip_with_a_bad_checksum(capsys: Capsys) -> None:
    with zipfile.ZipFile("corpus.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("corpus.txt", b"the cat sat\n" * 100)
    raw = Path("corpus.zip").read_bytes()
    Path("corpus.zip").write_bytes(raw.replace(b"the cat", b"the dog", 1))
    result = w2v(capsys, "prepare", "corpus.zip", "--min-count", "1", "--quiet")
    assert_error(result, "cannot read corpus.txt in corpus.zip", "CRC")
    assert tree(Path()) == ["corpus.zip"]


@pytest.mark.parametrize("cut", [0.5, -8])
def test_truncated_or_corrupt_gzip(capsys: Capsys, cut: float) -> None:
    packed = gzip.compress(b"the cat sat on the mat\n" * 5000)
    end = int(len(packed) * cut) if cut > 0 else len(packed) + cut
    Path("corpus.txt.gz").write_bytes(packed[:end])
    result = w2v(capsys, "prepare", "corpus.txt.gz", "--min-count", "1", "--quiet")
    assert_error(result, "cannot read corpus.txt.gz", "damaged or incomplete")
    assert tree(Path()) == ["corpus.txt.gz"]


def test_gzip_that_is_not_gzip(capsys: Capsys) -> None:
    Path("corpus.gz").write_bytes(b"plain text\n")
    assert_error(w2v(capsys, "prepare", "corpus.gz", "--quiet"), "cannot read corpus.gz")


@pytest.mark.parametrize("name", ["../x.txt", "a/../../x.txt", "/tmp/w2v-escape.txt"])
def test_zip_members_outside_the_target_are_refused(capsys: Capsys, tmp_path: Path,
                                                    name: str) -> None:
    make_zip(Path("evil.zip"), {name: b"pwned pwned\n"})
    result = w2v(capsys, "prepare", "evil.zip", "--min-count", "1", "--quiet")
    assert_error(result, f"refusing archive member with unsafe name {name!r}")
    assert tree(tmp_path) == ["work", "work/evil.zip"]
    assert not Path("/tmp/w2v-escape.txt").exists()


def test_zip_symlink_member_is_refused(capsys: Capsys, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("corpus.txt")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile("evil.zip", "w") as archive:
        archive.writestr(link, "/etc/passwd")
    result = w2v(capsys, "prepare", "evil.zip", "--min-count", "1", "--quiet")
    assert_error(result, "refusing archive member 'corpus.txt', a symbolic link")
    assert tree(tmp_path) == ["work", "work/evil.zip"]


# Corpus


@pytest.mark.parametrize("content", [b"", b" \n\t\r\n   \n\x0c"])
def test_empty_or_blank_corpus(capsys: Capsys, content: bytes) -> None:
    Path("blank.txt").write_bytes(content)
    assert_error(w2v(capsys, "prepare", "blank.txt", "--quiet"),
                 "blank.txt holds no words: the corpus is empty")
    assert tree(Path()) == ["blank.txt"] or tree(Path()) == ["blank.txt", "data"]
    assert not Path("data/blank").exists()


def test_bytes_that_are_not_utf8_are_replaced_and_counted(capsys: Capsys) -> None:
    Path("latin1.txt").write_bytes("café au lait\ncafé noir\n".encode("latin-1"))
    result = w2v(capsys, "prepare", "latin1.txt", "--min-count", "1", "--quiet")
    assert result.code == 0 and result.err == ""
    assert "2 characters were not UTF-8" in result.out
    vocab = Path("data/latin1/vocab.tsv").read_text(encoding="utf-8")
    assert "caf\ufffd\t2\n" in vocab


def test_one_huge_line_without_a_newline(capsys: Capsys) -> None:
    words = [f"w{i % 13}" for i in range(700_000)]  # 3.5 MB: more than one read chunk
    Path("one-line.txt").write_text(" ".join(words), encoding="utf-8")
    result = w2v(capsys, "prepare", "one-line.txt", "--min-count", "1", "--quiet")
    assert result.code == 0, result.err
    assert "700 sentences, 700,000 tokens, vocabulary 13" in result.out


def test_one_endless_word_is_refused(capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "MAX_WORD_BYTES", 1000)
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 256)
    Path("blob.txt").write_bytes(b"x" * 5000)
    assert_error(w2v(capsys, "prepare", "blob.txt", "--quiet"),
                 "bytes without white space: not a text corpus")
    assert not Path("data/blob").exists()


def test_every_word_under_min_count(capsys: Capsys) -> None:
    Path("corpus.txt").write_text("a a a b b c\n")
    assert_error(w2v(capsys, "prepare", "corpus.txt", "--min-count", "5", "--quiet"),
                 "no word occurs 5 times or more", "use a lower --min-count, at most 3")
    assert not Path("data/corpus").exists()


@pytest.mark.parametrize(("flag", "value"), [("--min-count", "0"), ("--max-vocab", "0"),
                                             ("--min-count", "many")])
def test_bad_prepare_flags(capsys: Capsys, flag: str, value: str) -> None:
    Path("corpus.txt").write_text("a b\n")
    result = w2v(capsys, "prepare", "corpus.txt", flag, value, "--quiet")
    assert_error(result, flag, code=2 if value == "many" else 1)


def test_missing_source(capsys: Capsys) -> None:
    assert_error(w2v(capsys, "prepare", "nope.txt", "--quiet"), "no such file: nope.txt")


def test_full_disk_keeps_the_earlier_dataset(capsys: Capsys,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    Path("corpus.txt").write_text("a b a b c\n")
    assert w2v(capsys, "prepare", "corpus.txt", "--min-count", "1", "--quiet").code == 0
    before = {p.name: p.read_bytes() for p in Path("data/corpus").iterdir()}

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepare, "write_meta", full_disk)
    result = w2v(capsys, "prepare", "corpus.txt", "--min-count", "2", "--quiet")

    assert_error(result, "cannot write data/corpus: no space left on device",
                 "free some space and try again")
    assert {p.name: p.read_bytes() for p in Path("data/corpus").iterdir()} == before
    assert tree(Path("data")) == sorted(["corpus", *(f"corpus/{n}" for n in before)])


def test_server_closing_without_an_answer(capsys: Capsys, server: Server) -> None:
    server.routes["/corpus.txt"] = lambda handler: None  # closes the connection
    result = w2v(capsys, "prepare", server.url("corpus.txt"), "--quiet")
    assert_error(result, "the connection closed before the whole file arrived (Remote end "
                 "closed connection without response)")
    assert downloads() == []


# Phrase options


@pytest.mark.parametrize(("flags", "message"), [
    (["--phrase-threshold", "50"], ("--phrase-threshold applies only to learning phrases; add "
                                   "--phrases 1 (or more)")),
    (["--phrase-scoring", "npmi"], "--phrase-scoring applies only to learning phrases"),
    (["--phrases", "-1"], "--phrases must be 0 or more, not -1"),
    (["--phrases", "1", "--phrase-scoring", "pmi"],
     "--phrase-scoring must be one of word2phrase, npmi, not 'pmi'"),
    (["--phrases", "1", "--phrase-scoring", "npmi", "--phrase-threshold", "2"],
     "--phrase-threshold must be between -1 and 1 with npmi scoring, not 2.0"),
    (["--phrases", "1", "--phrase-threshold", "-5"],
     "--phrase-threshold must be 0 or more with word2phrase scoring, not -5.0"),
    (["--phrases", "2", "--phrase-min-count", "0"], "--phrase-min-count must be at least 1, not 0"),
])
def test_bad_phrase_options_are_one_line(capsys: Capsys, flags: list[str], message: str) -> None:
    Path("corpus.txt").write_text("new york is big\n" * 20)
    assert_error(w2v(capsys, "prepare", "corpus.txt", "--quiet", *flags), message)
    assert tree(Path(".")) == ["corpus.txt"]


def test_phrases_from_the_command_line(capsys: Capsys) -> None:
    Path("corpus.txt").write_text("new york is big\nin new york\nbig york\n" * 20)

    result = w2v(capsys, "prepare", "corpus.txt", "--quiet", "--min-count", "1", "--phrases",
                 "1", "--phrase-threshold", "2", "--phrase-min-count", "3")

    # 180 tokens; (n(ab) - 3) / n(a) / n(b) * 180: new york 2.775, in new 3.825, is big 3.825,
    # york is 2.55, big york 1.275. "in new york" joins "in new" first, leaving "york".
    assert result.code == 0, result.err
    assert "120 tokens, vocabulary 5, 0.0% of tokens dropped, 4 phrases learned, 60 phrase " \
           "tokens replacing 120 words" in result.out
    assert Path("data/corpus/phrases.tsv").read_text().split("\t")[:2] == ["new york", "40"]
