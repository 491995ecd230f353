"""Read a corpus as a stream of blocks of UTF-8 text.

A corpus is text with one sentence per line ("\\n"): one file, several files, or every file in a
folder (read in the order of their paths, hidden files skipped). A file is plain text, gzip
(`.gz`), bzip2 (`.bz2`), xz (`.xz`) or a zip archive (`.zip`) holding one file; compressed files
are read as streams, never extracted. What a file holds is checked against its name: a file
whose suffix does not match its content, a tar archive or other binary data is refused rather
than read as text. Text is UTF-8; a byte order mark of UTF-16 or UTF-32 makes it read as such.

Blocks end at white space, so a token is never cut in two, but a line may run over several
blocks: a whole corpus on one line is fine. Each block decodes on its own, so blocks can be
handed to other processes.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import itertools
import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from w2v.errors import W2VError

# A block's arrays take about 12 times its size while it is split, keyed and counted, and the
# allocator keeps about as much again: 1 MB blocks keep `prepare` near 100 MB in one process
# (BENCHMARKS.md, "Preparing large corpora").
CHUNK_BYTES = 1 << 20
# A longer run without white space is no text corpus; refusing it bounds memory.
MAX_WORD_BYTES = 64 << 20
WHITESPACE = (b" ", b"\n", b"\t", b"\r", b"\x0b", b"\x0c")
REPLACEMENT_UTF8 = "\ufffd".encode()
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
               NotImplementedError)
# How each compressed format starts, and the suffix w2v reads it by.
MAGIC = {
    "gzip": (b"\x1f\x8b",),
    "bzip2": (b"BZh",),
    "xz": (b"\xfd7zXZ\x00",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "zstd": (b"\x28\xb5\x2f\xfd",),
    "7z": (b"7z\xbc\xaf\x27\x1c",),
}
SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}
_OPENERS = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}
# Byte order marks of the encodings read besides UTF-8, longest first.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class TextFile:
    """One file of a corpus: plain text, a compressed file, or one `member` of a zip archive."""

    path: Path
    member: str | None = None
    compression: str | None = None  # "gzip", "bzip2" or "xz"

    def __str__(self) -> str:
        return str(self.path) if self.member is None else f"{self.member} in {self.path}"

    @property
    def size(self) -> int | None:
        """Bytes of text, where known without reading it all (not for compressed files)."""
        if self.member is not None:
            with zipfile.ZipFile(self.path) as archive:
                return archive.getinfo(self.member).file_size
        if self.compression is not None:
            return None
        return self.path.stat().st_size

    def blocks(self, chunk_bytes: int | None = None) -> Iterator[bytes]:
        """The text as UTF-8, undecoded, in blocks of about `chunk_bytes` (default `CHUNK_BYTES`).

        A leading byte order mark is dropped. Damaged or truncated input raises W2VError.
        """
        try:
            with self._open() as stream:
                yield from _text_blocks(stream, chunk_bytes or CHUNK_BYTES, str(self))
        except READ_ERRORS as exc:
            hint = "" if getattr(exc, "errno", None) else "; the file is damaged or incomplete"
            raise W2VError(f"cannot read {self}: {_describe(exc)}{hint}") from exc

    @contextlib.contextmanager
    def _open(self) -> Iterator[BinaryIO]:
        if self.member is not None:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as stream:
                yield stream
        elif self.compression is not None:
            with _OPENERS[self.compression](self.path, "rb") as stream:
                yield stream
        else:
            with open(self.path, "rb") as stream:
                yield stream


@dataclass(frozen=True)
class Corpus:
    """The files of a corpus, read one after another; each of them ends a line."""

    files: tuple[TextFile, ...]
    sources: tuple[Path, ...]  # what was named: files and folders

    def __str__(self) -> str:
        if len(self.files) == 1:
            return str(self.files[0])
        if len(self.sources) == 1:
            return f"{self.sources[0]} ({len(self.files)} files)"
        return f"{self.files[0]} and {len(self.files) - 1} more files"

    @property
    def size(self) -> int | None:
        """Bytes of text, where known without reading it all."""
        sizes = [file.size for file in self.files]
        return None if None in sizes else sum(sizes)  # type: ignore[arg-type]

    @property
    def stored_size(self) -> int:
        """Bytes on disk: the size of the text or, for compressed files, a lower bound of it."""
        return sum(file.path.stat().st_size for file in self.files)

    def blocks(self, chunk_bytes: int | None = None, whole_lines: bool = False) -> Iterator[bytes]:
        """The text in blocks that end at white space; with `whole_lines`, at a line end, unless
        a line runs over a whole block: such a line is cut where the block ends."""
        blocks = self._blocks(chunk_bytes)
        return _cut_at_line_ends(blocks) if whole_lines else blocks

    def _blocks(self, chunk_bytes: int | None) -> Iterator[bytes]:
        for file in self.files:
            last = b"\n"
            for block in file.blocks(chunk_bytes):
                yield block
                last = block
            if not last.endswith(b"\n"):
                yield b"\n"  # the next file starts a new line


def open_corpus(sources: Sequence[str | os.PathLike[str]]) -> Corpus:
    """The corpus made of `sources`: files, and folders standing for every file inside them."""
    files: list[TextFile] = []
    for source in map(Path, sources):
        if source.is_dir():
            found = _files_under(source)
            if not found:
                raise W2VError(f"{source} holds no files to read")
            files += map(open_text_file, found)
        else:
            files.append(open_text_file(source))
    if not files:
        raise W2VError("no corpus given")
    return Corpus(tuple(files), tuple(map(Path, sources)))


def open_text_file(path: Path) -> TextFile:
    """Check that `path` is a readable corpus file; for a zip archive, find its one file."""
    path = Path(path)
    if not path.exists():
        raise W2VError(f"no such file: {path}")
    if not path.is_file():
        raise W2VError(f"{path} is not a file")
    expected = SUFFIXES.get(path.suffix.lower())
    found = _compression_of(path)
    if expected is None and found is not None:
        suffix = {v: k for k, v in SUFFIXES.items()}.get(found)
        fix = f"name it {path.name}{suffix}" if suffix else "decompress it first"
        raise W2VError(f"cannot read {path}: it holds {found}-compressed data, not text; {fix} "
                       f"(w2v reads .gz, .bz2, .xz and .zip files by their suffix)")
    if expected is not None and found != expected:
        holds = f", it holds {found}-compressed data" if found else ""
        raise W2VError(f"cannot read {path}: it is not {expected} data as its name says{holds}; "
                       f"rename it or check the file")
    if expected != "zip":
        return TextFile(path, compression=expected)
    try:
        with zipfile.ZipFile(path) as archive:
            files = zip_files(archive, path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise W2VError(f"cannot read {path}: {_describe(exc)}; the archive is damaged") from exc
    if len(files) != 1:
        names = _listing([info.filename for info in files]) or "nothing"
        raise W2VError(f"{path} must hold exactly one file, it holds {len(files)}: {names}")
    return TextFile(path, files[0].filename)


def zip_files(archive: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    """The regular files of `archive`; any member with an unsafe name or a symlink is refused."""
    for info in archive.infolist():
        if _unsafe_name(info.filename):
            raise W2VError(f"{path}: refusing archive member with unsafe name {info.filename!r}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise W2VError(f"{path}: refusing archive member {info.filename!r}, a symbolic link")
    return [info for info in archive.infolist() if not info.is_dir()]


def valid_utf8(block: bytes) -> tuple[bytes, int]:
    """`block` with U+FFFD put in for bytes that are not UTF-8, and how many characters that was."""
    if block.isascii():
        return block, 0
    try:
        block.decode("utf-8")
        return block, 0
    except UnicodeDecodeError:
        text = block.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - block.count(REPLACEMENT_UTF8)
    return text.encode("utf-8"), replaced


def _text_blocks(stream: BinaryIO, chunk_bytes: int, name: str) -> Iterator[bytes]:
    first = stream.read(chunk_bytes)
    if first[257:262] == b"ustar":
        raise W2VError(f"{name} is a tar archive, not text: extract it and prepare the folder")
    rest = iter(lambda: stream.read(chunk_bytes), b"")
    encoding = next((enc for bom, enc in BOMS if first.startswith(bom)), None)
    if encoding is None:
        chunks: Iterable[bytes] = itertools.chain([first.removeprefix(codecs.BOM_UTF8)], rest)
    else:
        chunks = _transcoded(itertools.chain([first], rest), encoding, name)
    return _cut_at_whitespace(chunks)


def _transcoded(chunks: Iterable[bytes], encoding: str, name: str) -> Iterator[bytes]:
    """UTF-16 or UTF-32 read as UTF-8; the byte order mark dropped."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in chunks:
            yield decoder.decode(chunk).removeprefix("\ufeff").encode("utf-8")
        yield decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise W2VError(f"cannot read {name}: it starts as {encoding.upper()[:6]} text but is "
                       f"not valid {encoding.upper()[:6]} ({exc.reason}); convert it to "
                       f"UTF-8") from None


def _cut_at_whitespace(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for block in chunks:
        data = pending + block
        cut = max(map(data.rfind, WHITESPACE)) + 1
        if cut == 0 and len(data) > MAX_WORD_BYTES:
            raise W2VError(f"found {len(data):,} bytes without white space: not a text corpus")
        pending = data[cut:]
        if cut:
            yield data[:cut]
    if pending:
        yield pending


def _cut_at_line_ends(blocks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for block in blocks:
        data = pending + block
        cut = data.rfind(b"\n") + 1
        if cut == 0 and data[-1:].isspace():  # a line longer than a block: cut at its end
            cut = len(data)
        pending = data[cut:]
        if cut:
            yield data[:cut]
    if pending:
        yield pending


def _compression_of(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(8)
    return next((kind for kind, magic in MAGIC.items() if head.startswith(magic)), None)


def _files_under(folder: Path) -> list[Path]:
    """The regular files under `folder`, hidden ones skipped, in the order of their paths."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root, n) for n in sorted(names) if not n.startswith(".")
                  and Path(root, n).is_file()]
    return found


def _unsafe_name(name: str) -> bool:
    posix = name.replace("\\", "/")
    absolute = posix.startswith("/") or re.match(r"[A-Za-z]:", posix) is not None
    return absolute or ".." in PurePosixPath(posix).parts


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return " ".join(str(exc).split()) or type(exc).__name__


def _listing(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
