"""Where `w2v prepare` writes a dataset, and what it may replace there.

`<data_dir>/<name>` is written by one process at a time (a lock), built in a temporary
directory and renamed into place. What is already there is replaced only if it is a w2v dataset
that does not hold the corpus being read; anything else (a user's folder, a file, the download
cache) stops `prepare` with one line. Temporary directories that a killed `prepare` left behind
are removed by the next one for the same name, once it holds the lock (so their owner is gone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from w2v.atomic import atomic_dir, partial_dirs
from w2v.data.corpus import is_dataset
from w2v.errors import W2VError
from w2v.lock import exclusive

MARKER = ".w2v-prepare"
RENAME_HINT = "choose another name with --name, or another --data-dir"


@contextlib.contextmanager
def dataset_dir(data_dir: Path, name: str, inputs: Sequence[Path]) -> Iterator[Path]:
    """Yield an empty temporary directory that becomes `<data_dir>/<name>` on success.

    `inputs` are the files and folders being read, which the dataset must neither replace nor
    sit inside. Folders made here for `data_dir` are removed again on failure if left empty.
    """
    target = Path(data_dir) / name
    _check_target(target, inputs)
    made = _make_dirs(Path(data_dir))
    try:
        busy = f"{target} is being prepared by another w2v process; wait for it or {RENAME_HINT}"
        with exclusive(Path(data_dir) / f".{name}.lock", busy):
            _check_target(target, inputs)
            for leftover in partial_dirs(target, MARKER):
                if leftover.name.endswith(".tmp") or is_dataset(leftover) or _is_empty(leftover):
                    shutil.rmtree(leftover)
            with atomic_dir(target, MARKER) as tmp:
                yield tmp
    except BaseException:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        raise


def check_name(name: str, source: str) -> str:
    """`name` if it can name a dataset directory, else one line saying so."""
    if not name or name.startswith(".") or any(c in name for c in "/\\") or not name.isprintable():
        raise W2VError(f"cannot name a dataset after {source!r}; choose a plain name with --name")
    return name


def _check_target(target: Path, inputs: Sequence[Path]) -> None:
    where = target.resolve()
    for source in inputs:
        read = Path(source).resolve()
        if where == read or where in read.parents:
            raise W2VError(f"{target} holds the corpus being prepared ({source}); "
                           f"w2v will not replace it: {RENAME_HINT}")
        if read in where.parents:
            raise W2VError(f"the dataset {target} would be written inside the corpus folder "
                           f"{source}; {RENAME_HINT}")
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir():
        kind = "a symbolic link" if target.is_symlink() else "a file"
        raise W2VError(f"{target} is in the way: it is {kind}, not a w2v dataset; {RENAME_HINT}")
    if not is_dataset(target):
        raise W2VError(f"{target} is in the way: it is a folder that w2v did not write "
                       f"({_contents(target)}); {RENAME_HINT}")


def _contents(folder: Path) -> str:
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return "empty"
    shown = ", ".join(names[:3])
    return f"it holds {shown}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _is_empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def _make_dirs(folder: Path) -> list[Path]:
    """mkdir -p; the folders that were made, outermost first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing
