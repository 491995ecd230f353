"""Files that appear whole or not at all: write to a temporary sibling, then rename.

Only a regular file or a new path is replaced that way. A symbolic link is followed, and the file
it points to replaced, never the link. A device, a FIFO, a socket (/dev/null), or a link under
/dev or /proc (/dev/stdout, even when it leads to a regular file) is written in place: renaming
over it would destroy it, or write where the stream does not go.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from w2v.errors import W2VError


@contextlib.contextmanager
def _full_disk_reported(target: Path) -> Iterator[None]:
    """A full disk becomes a one-line W2VError naming the file that could not be written."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise W2VError(f"cannot write {target}: {os.strerror(exc.errno).lower()}; "
                           f"free some space and try again") from exc
        raise


_SPECIAL_TREES = ("/dev/", "/proc/")


def writes_in_place(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is written as it is, not replaced: an existing device, FIFO or socket,
    or a link under /dev or /proc (/dev/stdout, /proc/self/fd/1), whatever it points to."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    stream = os.path.islink(path) and os.path.abspath(path).startswith(_SPECIAL_TREES)
    return stream or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success move it over `path`, else delete it.

    For a device, FIFO or the like (`writes_in_place`), yield `path` itself; for a symbolic
    link, the temporary file goes next to, and over, the file it points to.
    """
    target = Path(path)
    if target.is_dir():
        raise W2VError(f"{target} is a directory; give the path of a file to write")
    with _full_disk_reported(target):
        if writes_in_place(target):
            yield target
            return
        with _atomic_path(Path(os.path.realpath(target))) as tmp:
            yield tmp


def _sibling(target: Path, suffix: str) -> Path:
    """A fresh name `.NAME.<random>.<suffix>` next to `target`."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.{suffix}")


@contextlib.contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    # The name is known before the file exists, so a signal at any point leaves nothing behind.
    tmp = _sibling(target, "tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], marker: str = ".partial") -> Iterator[Path]:
    """Yield a temporary directory `.NAME.*.tmp` next to `path`; on success rename it to `path`.

    An existing directory at `path` (the caller decides whether it may go) is replaced only after
    the new one is complete: it is first renamed to `.NAME.*.old`, then deleted. The temporary
    directory holds an empty file `marker` until the rename, so that what a killed process left
    can be told from anything else (see `partial_dirs`).
    """
    target = Path(path)
    with _full_disk_reported(target), _atomic_dir(target, marker) as tmp:
        yield tmp


@contextlib.contextmanager
def _atomic_dir(target: Path, marker: str) -> Iterator[Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "tmp")
    try:
        os.mkdir(tmp)
        (tmp / marker).touch()
        yield tmp
        (tmp / marker).unlink()
        if target.is_dir() and not target.is_symlink():
            old = tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def partial_dirs(path: str | os.PathLike[str], marker: str = ".partial") -> list[Path]:
    """What `atomic_dir(path, marker)` calls of killed processes left: their temporary
    directories (holding `marker`) and the directories they were replacing (`.NAME.*.old`)."""
    target = Path(path)
    if not target.parent.is_dir():
        return []
    found = []
    for candidate in sorted(target.parent.glob(f".{glob.escape(target.name)}.*")):
        if candidate.is_symlink() or not candidate.is_dir():
            continue
        ours = (candidate / marker).is_file() if candidate.name.endswith(".tmp") else True
        if ours and candidate.name.endswith((".tmp", ".old")):
            found.append(candidate)
    return found
