"""Read a text corpus as a stream of blocks, and decode them.

A corpus is UTF-8 text with one sentence per line ("\\n") and tokens separated by white space.
It is a plain file, a gzip file (`.gz`) or a zip archive (`.zip`) holding one file. Archives are
read as streams, never extracted. Blocks end at white space, so a token is never cut in two,
but a line may run over several blocks: a whole corpus on one line is fine. Each block decodes
on its own, so blocks can be handed to other processes.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np

from w2v.errors import W2VError

CHUNK_BYTES = 2 << 20
# A longer run without white space is no text corpus; refusing it bounds memory.
MAX_WORD_BYTES = 64 << 20
WHITESPACE = (b" ", b"\n", b"\t", b"\r", b"\x0b", b"\x0c")
REPLACEMENT_UTF8 = "\ufffd".encode()
READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError)


@dataclass(frozen=True)
class TextChunk:
    """A decoded block; `replaced` counts characters that were not UTF-8."""

    text: str
    nbytes: int
    replaced: int


@dataclass(frozen=True)
class TextFile:
    """A corpus on disk: a plain or gzip file, or one `member` of a zip archive."""

    path: Path
    member: str | None = None

    def __str__(self) -> str:
        return str(self.path) if self.member is None else f"{self.member} in {self.path}"

    @property
    def size(self) -> int | None:
        """Bytes of text, where known without reading it all (not for gzip)."""
        if self.member is not None:
            with zipfile.ZipFile(self.path) as archive:
                return archive.getinfo(self.member).file_size
        if _is_gzip(self.path):
            return None
        return self.path.stat().st_size

    def blocks(self, chunk_bytes: int | None = None) -> Iterator[bytes]:
        """The text, undecoded, in blocks of about `chunk_bytes` (default `CHUNK_BYTES`).

        A leading byte order mark is dropped. Damaged or truncated input raises W2VError.
        """
        try:
            with self._open() as stream:
                blocks = _cut_at_whitespace(stream, chunk_bytes or CHUNK_BYTES)
                first = next(blocks, b"").removeprefix(codecs.BOM_UTF8)
                if first:
                    yield first
                yield from blocks
        except READ_ERRORS as exc:
            hint = "" if getattr(exc, "errno", None) else "; the file is damaged or incomplete"
            raise W2VError(f"cannot read {self}: {_describe(exc)}{hint}") from exc

    @contextlib.contextmanager
    def _open(self) -> Iterator[BinaryIO]:
        if self.member is not None:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as stream:
                yield stream
        elif _is_gzip(self.path):
            with gzip.open(self.path, "rb") as stream:
                yield stream
        else:
            with open(self.path, "rb") as stream:
                yield stream


def open_text_file(path: Path) -> TextFile:
    """Check that `path` is a readable corpus; for a zip archive, find its one file."""
    if not path.exists():
        raise W2VError(f"no such file: {path}")
    if not path.is_file():
        raise W2VError(f"{path} is not a file")
    if path.suffix.lower() != ".zip":
        return TextFile(path)
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


def decode(block: bytes) -> TextChunk:
    """Decode a block of UTF-8, putting U+FFFD in for bytes that are not UTF-8."""
    text = block.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - block.count(REPLACEMENT_UTF8)
    return TextChunk(text, len(block), replaced)


def split_lines(text: str) -> tuple[list[str], np.ndarray]:
    """The tokens of `text` and how many fall on each of its "\\n"-separated lines."""
    # One line's list at a time: a list per line, all alive at once, keeps the garbage
    # collector busy.
    tokens: list[str] = []
    lengths = []
    for line in text.split("\n"):
        words = line.split()
        tokens += words
        lengths.append(len(words))
    return tokens, np.array(lengths, dtype=np.int64)


def _cut_at_whitespace(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    pending = b""
    while block := stream.read(chunk_bytes):
        data = pending + block
        cut = max(map(data.rfind, WHITESPACE)) + 1
        if cut == 0 and len(data) > MAX_WORD_BYTES:
            raise W2VError(f"found {len(data):,} bytes without white space: not a text corpus")
        pending = data[cut:]
        if cut:
            yield data[:cut]
    if pending:
        yield pending


def _is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


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
