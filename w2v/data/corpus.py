"""The prepared dataset: an encoded corpus on disk, written by `w2v prepare`, read by training.

A dataset is a directory `<data_dir>/<name>/` holding four files (format version 2):

`tokens.bin`
    Little-endian int32 token ids (`np.memmap(path, dtype="<i4", mode="r")`): the corpus with
    every out-of-vocabulary word dropped, sentences one after another in input order.
`offsets.bin`
    Little-endian int64, `sentences + 1` values: sentence i is `tokens[offsets[i]:offsets[i+1]]`.
    A sentence is an input line without its dropped words; lines left empty are skipped, and
    a line with more than `MAX_SENTENCE_LENGTH` (1000) kept words is cut into pieces of at most
    that many, as word2vec does.
`vocab.tsv`
    The vocabulary, line i = `word<TAB>count` of id i (see `w2v.data.vocab`).
`meta.json`
    `{"format": "w2v-dataset", "version": 2, "name", "source" (what was prepared, in words),
    "sources" (the files, folders or URLs named), "files" (files read), "tokenizer" (its
    settings, `w2v.data.tokenizer.Tokenizer.to_dict()`), "checksums": {file: sha256},
    "sentences", "tokens" (kept), "raw_tokens" (read), "distinct_words" (before the cut),
    "vocab_size", "min_count", "max_vocab", "dropped_tokens", "replaced_characters" (U+FFFD put
    in for input that was not UTF-8), "created" (ISO 8601)}`. Version 1 had no "sources",
    "files", "tokenizer" or "distinct_words"; it is read as whitespace-tokenized.

The directory is built under a temporary name and renamed, so it is there whole or not at all.
Words that come in later (queries) are normalized as the corpus was: `dataset_tokenizer`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from w2v.data.checksum import sha256_file
from w2v.data.tokenizer import Tokenizer
from w2v.data.vocab import Vocab
from w2v.errors import W2VError

FORMAT = "w2v-dataset"
VERSION = 2
READABLE_VERSIONS = (1, 2)
TOKENS = "tokens.bin"
OFFSETS = "offsets.bin"
VOCAB = "vocab.tsv"
META = "meta.json"
MAX_SENTENCE_LENGTH = 1000
TOKEN_DTYPE = np.dtype("<i4")
OFFSET_DTYPE = np.dtype("<i8")
RERUN = "run `w2v prepare` again"


class DatasetWriter:
    """Stream encoded lines into the `tokens.bin` and `offsets.bin` of a dataset being built.

    Each `write` gets a run of lines as the kept ids and each line's count of them. The last line
    of a run stays open: the next run's first line continues it, so a line may span chunks.
    `finish` ends the last line.
    """

    def __init__(
        self, tokens: BinaryIO, offsets: BinaryIO, max_sentence: int = MAX_SENTENCE_LENGTH
    ) -> None:
        self._tokens = tokens
        self._offsets = offsets
        self._max = max_sentence
        self._end = 0  # where the last finished sentence ends
        self._open = 0  # kept tokens of the unfinished sentence, already in tokens.bin
        self.sentences = 0
        self._offsets.write(np.zeros(1, dtype=OFFSET_DTYPE))

    @property
    def tokens(self) -> int:
        return self._end + self._open

    def write(self, ids: np.ndarray, line_lengths: np.ndarray) -> None:
        if len(ids) != line_lengths.sum():
            raise ValueError(f"{len(ids)} ids for lines of {line_lengths.sum()} tokens")
        if len(line_lengths) == 0:
            return
        self._tokens.write(np.ascontiguousarray(ids, dtype=TOKEN_DTYPE))
        lengths = line_lengths.astype(np.int64)
        lengths[0] += self._open
        self._finish(_sentence_lengths(lengths[:-1], self._max))
        full, self._open = divmod(int(lengths[-1]), self._max)
        self._finish(np.full(full, self._max, dtype=np.int64))

    def finish(self) -> None:
        """End the open line."""
        self._finish(np.array([self._open] if self._open else [], dtype=np.int64))
        self._open = 0

    def _finish(self, lengths: np.ndarray) -> None:
        ends = self._end + np.cumsum(lengths, dtype=np.int64)
        self._offsets.write(ends.astype(OFFSET_DTYPE, copy=False))
        self._end = int(ends[-1]) if len(ends) else self._end
        self.sentences += len(lengths)


def _sentence_lengths(line_lengths: np.ndarray, max_sentence: int) -> np.ndarray:
    """Sentence lengths of whole lines: empty lines vanish, long ones are cut into pieces."""
    full, rest = np.divmod(line_lengths, max_sentence)
    pieces = full + (rest > 0)
    lengths = np.full(int(pieces.sum()), max_sentence, dtype=np.int64)
    last_piece = np.cumsum(pieces) - 1
    has_rest = rest > 0
    lengths[last_piece[has_rest]] = rest[has_rest]
    return lengths


def write_meta(directory: Path, fields: dict[str, Any]) -> None:
    """Write `meta.json` describing the data files already in `directory`."""
    checksums = {name: sha256_file(directory / name) for name in (TOKENS, OFFSETS, VOCAB)}
    meta = {"format": FORMAT, "version": VERSION, **fields, "checksums": checksums}
    (directory / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Dataset:
    """An opened dataset; `tokens` is memory-mapped, `offsets` is in memory."""

    path: Path
    tokens: np.memmap
    offsets: np.ndarray
    vocab: Vocab
    meta: dict[str, Any]

    @property
    def sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def tokenizer(self) -> Tokenizer:
        return dataset_tokenizer(self.meta)


def dataset_tokenizer(meta: dict[str, Any]) -> Tokenizer:
    """The tokenizer a dataset was prepared with, from its meta.json (version 1: whitespace).

    `dataset_tokenizer(meta).normalize_word(word)` turns a query word into the vocabulary entry
    it stands for.
    """
    try:
        return Tokenizer.from_dict(meta.get("tokenizer"))
    except W2VError as exc:
        raise W2VError(f"{META}: {exc}; {RERUN}") from None


def is_dataset(path: Path) -> bool:
    """Whether `path` is a directory that w2v wrote as a dataset (its meta.json says so)."""
    try:
        meta = json.loads((Path(path) / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def open_dataset(path: Path, verify: bool = True) -> Dataset:
    """Open the dataset in `path`, checking that its files agree with `meta.json`.

    `verify` also compares every file with its checksum, which reads all of it; a process
    opening a dataset that another one has just verified can skip that.
    """
    path = Path(path)
    meta = _read_meta(path)
    for name in (TOKENS, OFFSETS, VOCAB):
        if not (path / name).is_file():
            raise W2VError(f"dataset {path} lacks {name}; {RERUN}")
    n_tokens, n_sentences = meta["tokens"], meta["sentences"]
    _check_size(path / TOKENS, n_tokens * TOKEN_DTYPE.itemsize)
    _check_size(path / OFFSETS, (n_sentences + 1) * OFFSET_DTYPE.itemsize)
    offsets = np.fromfile(path / OFFSETS, dtype=OFFSET_DTYPE)
    if offsets[0] != 0 or offsets[-1] != n_tokens or np.any(np.diff(offsets) <= 0):
        raise W2VError(f"dataset {path}: {OFFSETS} does not describe {TOKENS}; {RERUN}")
    try:
        vocab = Vocab.load(path / VOCAB)
    except W2VError as exc:
        raise W2VError(f"{exc}; {RERUN}") from None
    if len(vocab) != meta["vocab_size"]:
        raise W2VError(
            f"dataset {path}: {VOCAB} has {len(vocab)} words, {META} says "
            f"{meta['vocab_size']}; {RERUN}"
        )
    tokens = np.memmap(path / TOKENS, dtype=TOKEN_DTYPE, mode="r")
    if tokens.min() < 0 or tokens.max() >= len(vocab):
        raise W2VError(f"dataset {path}: {TOKENS} holds word ids outside the vocabulary; {RERUN}")
    if verify:
        _check_checksums(path, meta)
    dataset_tokenizer(meta)
    return Dataset(path, tokens, offsets, vocab, meta)


def find_dataset(path: Path | None, data_root: Path = Path("data")) -> Path:
    """The dataset `path` names: itself if it holds `meta.json`, else the newest one inside.

    With no `path`, the newest dataset under `data_root`.
    """
    folder = Path(path) if path is not None else Path(data_root)
    if (folder / META).is_file():
        return folder
    found = (
        [d for d in folder.iterdir() if (d / META).is_file() and not d.name.startswith(".")]
        if folder.is_dir()
        else []
    )
    if not found:
        raise W2VError(f"no prepared dataset in {folder}; run `w2v prepare` first")
    return max(found, key=lambda d: (d / META).stat().st_mtime)


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise W2VError(f"{path} is not a prepared dataset (no {META}); {RERUN}") from None
    except (OSError, ValueError) as exc:
        raise W2VError(f"cannot read {path / META}: {exc}; {RERUN}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise W2VError(f"{path / META} is not a w2v dataset description; {RERUN}")
    if meta.get("version") not in READABLE_VERSIONS:
        raise W2VError(
            f"dataset {path} has format version {meta.get('version')}, this w2v reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}; {RERUN}"
        )
    for key in ("tokens", "sentences", "vocab_size"):
        if not isinstance(meta.get(key), int) or meta[key] < 1:
            raise W2VError(f"{path / META}: {key!r} is missing or not a positive count; {RERUN}")
    return meta


def _check_checksums(path: Path, meta: dict[str, Any]) -> None:
    """The files must be the ones `meta.json` describes: the same bytes as when written."""
    checksums = meta.get("checksums")
    if not isinstance(checksums, dict):
        raise W2VError(f"{path / META} lacks the checksums of the data files; {RERUN}")
    for name in (TOKENS, OFFSETS, VOCAB):
        if sha256_file(path / name) != checksums.get(name):
            raise W2VError(
                f"dataset file {path / name} does not match its checksum in {META}: it was "
                f"changed or damaged since it was written; {RERUN}"
            )


def _check_size(file: Path, expected: int) -> None:
    size = file.stat().st_size
    if size != expected:
        raise W2VError(
            f"dataset file {file} has {size:,} bytes, expected {expected:,}; it is damaged "
            f"or incomplete, {RERUN}"
        )
