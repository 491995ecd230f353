"""One writer at a time: an advisory lock held in a file beside what is being written.

The lock is the kernel's (`flock`), so it goes with the process that holds it, however that
process ends: a lock file left by a killed process stops nobody. The file holds the holder's
process id, for the message the next writer gets, and is removed on release.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
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
