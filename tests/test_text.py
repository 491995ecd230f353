import bz2
import codecs
import gzip
import lzma
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import make_zip

from w2v.data import text as text_module
from w2v.data.text import TextFile, open_corpus, open_text_file, valid_utf8
from w2v.errors import W2VError

CORPUS = "the cat sat\n\non the  mat\nthe end\n"


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def chunks(source: TextFile, chunk_bytes: int | None = None) -> list[tuple[str, int, int]]:
    """(text, bytes, characters replaced) of each block."""
    decoded = []
    for block in source.blocks(chunk_bytes):
        valid, replaced = valid_utf8(block)
        decoded.append((valid.decode("utf-8"), len(block), replaced))
    return decoded


def read_all(source: TextFile, chunk_bytes: int = 1 << 20) -> str:
    return "".join(text for text, _, _ in chunks(source, chunk_bytes))


@settings(max_examples=60)
@given(
    text=st.text(alphabet=st.sampled_from("ab é\n\t\r"), max_size=200),
    chunk_bytes=st.integers(1, 40),
)
def test_chunks_end_at_white_space_and_reassemble(
    tmp_path_factory: pytest.TempPathFactory, text: str, chunk_bytes: int
) -> None:
    path = tmp_path_factory.mktemp("chunks") / "corpus.txt"
    path.write_text(text, encoding="utf-8", newline="")

    decoded = chunks(TextFile(path), chunk_bytes)

    assert "".join(t for t, _, _ in decoded) == text
    assert all(t[-1].isspace() for t, _, _ in decoded[:-1])
    assert [w for t, _, _ in decoded for w in t.split()] == text.split()
    assert sum(n for _, n, _ in decoded) == len(text.encode())


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    # Two bad bytes, plus a genuine U+FFFD that must not be counted.
    path.write_bytes(b"caf\xe9 \xff ok \xef\xbf\xbd\n")

    decoded = chunks(TextFile(path))

    assert "".join(t for t, _, _ in decoded) == "caf\ufffd \ufffd ok \ufffd\n"
    assert sum(r for _, _, r in decoded) == 2


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello world\n")
    assert list(TextFile(path).blocks(4)) == [b"hello ", b"world\n"]


def test_gzip_and_zip_read_like_plain_text(tmp_path: Path) -> None:
    data = CORPUS.encode()
    plain = tmp_path / "c.txt"
    plain.write_bytes(data)
    packed = tmp_path / "c.txt.gz"
    packed.write_bytes(gzip.compress(data))
    archive = make_zip(tmp_path / "c.zip", {"folder/": b"", "folder/c.txt": data})

    sources = [open_text_file(p) for p in (plain, packed, archive)]

    assert [read_all(s) for s in sources] == [CORPUS] * 3
    assert sources[2].member == "folder/c.txt"
    assert [s.size for s in sources] == [len(data), None, len(data)]


def test_zip_with_several_files_is_refused_with_a_listing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "two.zip", {"a.txt": b"a\n", "b.txt": b"b\n"})
    with pytest.raises(W2VError, match=r"exactly one file, it holds 2: a.txt, b.txt"):
        open_text_file(archive)


def test_empty_zip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(W2VError, match="it holds 0"):
        open_text_file(make_zip(tmp_path / "empty.zip", {}))


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/evil", "..\\evil"])
def test_zip_member_with_unsafe_name_is_refused(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", {name: b"evil\n"})
    with pytest.raises(W2VError, match="unsafe name"):
        open_text_file(archive)


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("link.txt")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(W2VError, match="symbolic link"):
        open_text_file(tmp_path / "link.zip")


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(CORPUS.encode() * 50)[:-30])
    with pytest.raises(W2VError, match="damaged or incomplete"):
        read_all(open_text_file(path))


def test_gzip_that_is_not_gzip(tmp_path: Path) -> None:
    path = tmp_path / "plain.gz"
    path.write_text(CORPUS)
    with pytest.raises(W2VError, match=r"cannot read .*plain.gz"):
        read_all(open_text_file(path))


def test_truncated_zip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"c.txt": CORPUS.encode()})
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(W2VError, match="damaged"):
        open_text_file(archive)


def test_zip_member_with_bad_checksum(tmp_path: Path) -> None:
    data = CORPUS.encode()
    with zipfile.ZipFile(tmp_path / "c.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("c.txt", data)
    raw = (tmp_path / "c.zip").read_bytes()
    (tmp_path / "c.zip").write_bytes(raw.replace(b"the cat", b"the dog"))
    with pytest.raises(W2VError, match="CRC"):
        read_all(open_text_file(tmp_path / "c.zip"))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(W2VError, match="no such file"):
        open_text_file(tmp_path / "nope.txt")
    with pytest.raises(W2VError, match="not a file"):
        open_text_file(tmp_path)


def test_endless_run_without_white_space_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_module, "MAX_WORD_BYTES", 100)
    path = tmp_path / "binary.txt"
    path.write_bytes(b"x" * 500)
    with pytest.raises(W2VError, match="without white space"):
        read_all(TextFile(path), chunk_bytes=64)


def test_bz2_and_xz_read_like_plain_text(tmp_path: Path) -> None:
    data = CORPUS.encode() * 50
    (tmp_path / "c.txt.bz2").write_bytes(bz2.compress(data))
    (tmp_path / "c.txt.xz").write_bytes(lzma.compress(data))

    for name in ("c.txt.bz2", "c.txt.xz"):
        source = open_text_file(tmp_path / name)
        assert source.size is None
        assert read_all(source, chunk_bytes=64) == CORPUS * 50


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("corpus.txt", bz2.compress(b"a b\n"), ("holds bzip2-compressed data, not text; "
                                               "name it corpus.txt.bz2")),
        ("corpus", lzma.compress(b"a b\n"), "name it corpus.xz"),
        ("corpus.txt", gzip.compress(b"a b\n"), "name it corpus.txt.gz"),
        ("corpus.txt", b"\x28\xb5\x2f\xfd rest", "zstd-compressed data, not text; decompress"),
        ("corpus.bz2", gzip.compress(b"a b\n"), ("not bzip2 data as its name says, it holds "
                                                "gzip-compressed data")),
        ("corpus.xz", b"plain words\n", "not xz data as its name says"),
        ("corpus.gz", bz2.compress(b"a b\n"), "not gzip data as its name says"),
    ],
)
def test_content_that_does_not_match_the_name_is_refused(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(W2VError, match=re.escape(message)):
        open_text_file(tmp_path / name)


def test_truncated_bz2_and_xz(tmp_path: Path) -> None:
    data = CORPUS.encode() * 500
    for name, packed in (("c.bz2", bz2.compress(data)), ("c.xz", lzma.compress(data))):
        (tmp_path / name).write_bytes(packed[: len(packed) // 2])
        with pytest.raises(W2VError, match=f"cannot read .*{name}.*damaged or incomplete"):
            read_all(open_text_file(tmp_path / name))


def test_tar_archive_is_refused(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "c.tar", "w") as archive:
        archive.add(write(tmp_path / "inner.txt", CORPUS), arcname="inner.txt")
    with pytest.raises(W2VError, match="is a tar archive, not text: extract it"):
        read_all(open_text_file(tmp_path / "c.tar"))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read_as_text(
    tmp_path: Path, encoding: str
) -> None:
    text = "naïve 日本 words\n" * 30
    bom = {"utf-16-be": codecs.BOM_UTF16_BE, "utf-32-be": codecs.BOM_UTF32_BE}.get(encoding, b"")
    path = write(tmp_path / "wide.txt", bom + text.encode(encoding))
    assert read_all(open_text_file(Path(path)), chunk_bytes=7) == text


def test_broken_utf16_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.txt", codecs.BOM_UTF16_LE + "ab cd\n".encode("utf-16-le")
                 + b"\x00\xdc")  # a lone low surrogate
    with pytest.raises(W2VError, match="not valid UTF-16.*convert it to UTF-8"):
        read_all(open_text_file(Path(path)))


def test_a_folder_and_several_files_make_one_corpus(tmp_path: Path) -> None:
    folder = tmp_path / "wiki"
    (folder / "AB").mkdir(parents=True)
    (folder / "AA").mkdir()
    write(folder / "AB" / "wiki_00", "third file")  # no newline at its end
    (folder / "AA" / "wiki_01.bz2").write_bytes(bz2.compress(b"second\n"))
    write(folder / "AA" / "wiki_00", "first file")
    write(folder / ".hidden", "never read\n")
    (folder / ".git").mkdir()
    write(folder / ".git" / "HEAD", "never read\n")

    corpus = open_corpus([folder])
    text = b"".join(corpus.blocks()).decode()

    assert text == "first file\nsecond\nthird file\n"
    assert [f.path.name for f in corpus.files] == ["wiki_00", "wiki_01.bz2", "wiki_00"]
    assert str(corpus) == f"{folder} (3 files)"
    several = open_corpus([folder / "AB" / "wiki_00", folder / "AA" / "wiki_00"])
    assert b"".join(several.blocks()) == b"third file\nfirst file\n"


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(W2VError, match="holds no files to read"):
        open_corpus([tmp_path / "empty"])
