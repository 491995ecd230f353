"""The default corpus: the Penn Treebank as preprocessed by Mikolov, in the d2l archive.

The archive is cached in `<data_dir>/downloads/ptb.zip`. What is checked is the content, not
the archive: the three texts must have the SHA-256 sums in `CHECKSUMS`, so any mirror that zips
the same files is accepted. Training uses the train split.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from w2v.data.checksum import sha256_stream
from w2v.data.download import fetch
from w2v.data.text import TextFile, zip_files
from w2v.errors import W2VError

DEFAULT_URL = "http://d2l-data.s3-accelerate.amazonaws.com/ptb.zip"
URL_VARIABLE = "W2V_PTB_URL"
TRAIN = "ptb.train.txt"
CHECKSUMS = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
MIRROR_HINT = f"set {URL_VARIABLE} to a mirror of ptb.zip"


def ptb_url() -> str:
    """Where the archive is downloaded from: `$W2V_PTB_URL`, else the d2l address."""
    return os.environ.get(URL_VARIABLE) or DEFAULT_URL


def ptb_train(data_dir: Path, *, progress: bool = True) -> TextFile:
    """The verified train split, from the cached archive or else a fresh download."""
    archive = Path(data_dir) / "downloads" / "ptb.zip"
    if archive.is_file():
        try:
            return TextFile(archive, verify_ptb(archive))
        except W2VError:
            archive.unlink()  # damaged or not PTB: fetch a good copy instead
    url = ptb_url()
    try:
        fetch(url, archive, progress=progress)
    except W2VError as exc:
        raise W2VError(f"{exc}, or {MIRROR_HINT}") from exc
    try:
        return TextFile(archive, verify_ptb(archive))
    except W2VError as exc:
        archive.unlink(missing_ok=True)
        raise W2VError(f"{exc}; deleted what {url} sent, {MIRROR_HINT}") from exc


def verify_ptb(archive: Path) -> str:
    """Check the three texts in `archive` against `CHECKSUMS`; return the train member's name."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {PurePosixPath(info.filename).name: info for info in zip_files(zf, archive)}
            for name, expected in CHECKSUMS.items():
                if name not in members:
                    raise W2VError(f"{archive} is not the PTB archive: it lacks {name}")
                with zf.open(members[name]) as stream:
                    actual = sha256_stream(stream)
                if actual != expected:
                    raise W2VError(
                        f"{name} in {archive} has SHA-256 {actual[:16]}..., "
                        f"expected {expected[:16]}..."
                    )
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise W2VError(f"cannot read {archive}: {exc}; the archive is damaged") from exc
    return members[TRAIN].filename
