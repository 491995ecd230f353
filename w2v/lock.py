"""One writer at a time: an advisory lock held in a file beside what is being written, or on a
directory itself.

The lock is the kernel's (`flock`), so it goes with the process that holds it, however that
process ends: a lock file left by a killed process stops nobody. The file holds the holder's
process id, for the message the next writer gets, and is removed on release. A directory lock
leaves no file at all, for a directory whose contents are the user's to list (a run).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from w2v.errors import W2VError


@contextlib.contextmanager
def exclusive(lock_file: Path, busy: str) -> Iterator[None]:
    """Hold the lock `lock_file` while the block runs; if another process holds it, raise
    W2VError(`busy`, with that process's id added)."""
    fd = _acquire(Path(lock_file), busy)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_file)  # still holding it: nobody else can have taken it
        os.close(fd)


def _acquire(lock_file: Path, busy: str) -> int:
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise W2VError(f"{busy} (process {holder or 'unknown'})") from None
        # The previous holder removes the file on release: if it did so after we opened it,
        # our lock is on a file nobody else will look at; take the one at the path instead.
        try:
            if os.stat(lock_file).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


class DirectoryLock:
    """An exclusive lock on the directory `path`, held until `release` (or the process's end).

    A process that checks whether the directory is locked holds a shared lock for an instant;
    taking the lock waits that long before it raises W2VError(`busy`). On a file system without
    locks (some network ones) the lock holds nothing.
    """

    PATIENCE_S = 1.0

    def __init__(self, path: Path, busy: str) -> None:
        self._fd: int | None = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        deadline = time.monotonic() + self.PATIENCE_S
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.release()
                    raise W2VError(busy) from None
                time.sleep(0.05)
            except OSError:
                return

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def directory_locked(path: Path) -> bool:
    """Whether some process holds the DirectoryLock of `path`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
