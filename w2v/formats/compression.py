"""Opening a vector file whatever its compression, told by its first bytes, not its name.

gzip, bzip2 and xz streams are read through Python's decompressors; anything else is read as
it is. Damaged compressed data surfaces as `DamagedData` from the stream's reads.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zlib
from typing import BinaryIO

from w2v.errors import W2VError

# The magic numbers that start each compressed stream.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "gzip": (b"\x1f\x8b\x08",),
    "bz2": tuple(b"BZh%d" % level for level in range(1, 10)),
    "xz": (b"\xfd7zXZ\x00",),
}
_OPENERS = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw),
    "bz2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
}

# What the decompressors raise on damaged or truncated data.
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


class DamagedData(Exception):
    """The compressed data could not be decompressed (the message says why)."""


def detect_compression(head: bytes) -> str | None:
    """"gzip", "bz2" or "xz" when `head` (the file's first bytes) starts such a stream."""
    for name, magics in _MAGIC.items():
        if head.startswith(magics):
            return name
    return None


def open_vector_file(path: str | os.PathLike[str]) -> tuple[BinaryIO, str | None]:
    """(a stream of the decompressed bytes, the compression's name or None)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the caller, through the stream)
    except FileNotFoundError:
        raise W2VError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise W2VError(f"{path} is a directory, not a vector file") from None
    except OSError as error:
        raise W2VError(f"cannot read {path}: {error.strerror}") from None
    compression = detect_compression(raw.peek(8)[:8])
    if compression is None:
        return raw, None
    return _Checked(_OPENERS[compression](raw), raw, compression), compression


class _Checked:
    """A decompressing stream whose failures become `DamagedData`."""

    def __init__(self, stream: BinaryIO, raw: BinaryIO, compression: str) -> None:
        self._stream, self._raw, self._compression = stream, raw, compression

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except DECOMPRESSION_ERRORS as error:
            raise DamagedData(f"the {self._compression} data is damaged ({error})") from None

    def close(self) -> None:
        self._stream.close()
        self._raw.close()
