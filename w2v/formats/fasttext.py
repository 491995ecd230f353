"""fastText's binary model format (`.bin`), as fastText's `FastText::saveModel` writes it and
gensim's `load_facebook_vectors` reads it.

All numbers are little-endian; `int` is int32, `real` float32. In order:

* magic 793712314 (int32), version (int32, 12 today; 11 reads the same);
* the arguments (`Args::save`): dim, ws, epoch, minCount, neg, wordNgrams, loss (1 hs, 2 ns,
  3 softmax, 4 ova), model (1 cbow, 2 skip-gram, 3 supervised), bucket, minn, maxn,
  lrUpdateRate (int32 each), t (float64);
* the dictionary (`Dictionary::save`): size, nwords, nlabels (int32), ntokens, pruneidx_size
  (int64; -1 when not pruned), then per entry the word's bytes, a NUL, its count (int64) and
  its type (int8: 0 word, 1 label), then pruneidx_size pairs of int32;
* quant_input (bool, one byte), the input matrix: rows, cols (int64), rows x cols float32,
  row-major; its rows are the nwords word rows, then the bucket rows;
* qout (bool), the output matrix likewise (nwords rows for skip-gram and CBOW).

Word vectors are composed from the input matrix by the rules of `w2v.subwords`. A plain file
is memory-mapped, so its matrices are read only where they are used; a compressed one (gzip,
bz2, xz: fastText's published `.bin.gz`) is decompressed into memory.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from w2v.atomic import atomic_path
from w2v.errors import W2VError
from w2v.formats.compression import DamagedData, open_vector_file
from w2v.formats.reading import Source, UnicodeErrors, VectorFile, warn_words
from w2v.subwords import Subwords, SubwordTable, TrainingArgs

MAGIC = 793712314
VERSION = 12
MODEL_IDS = {"cbow": 1, "skipgram": 2}
LOSS_NEGATIVE_SAMPLING = 2
WORD_ENTRY = 0

_HEAD = struct.Struct("<2i")
_ARGS = struct.Struct("<12id")
_DICT_HEAD = struct.Struct("<3i2q")
_ENTRY_TAIL = struct.Struct("<qb")
_MATRIX_HEAD = struct.Struct("<2q")


@dataclass
class FastTextModel:
    """What a fastText .bin holds for an unsupervised model."""

    words: list[str]
    counts: np.ndarray  # int64 [nwords]
    input: np.ndarray  # float32 [nwords + buckets, dim]: word rows, then bucket rows
    output: np.ndarray | None  # float32 [nwords, dim], when read or to be written
    subwords: Subwords | None  # None where the model has no n-grams (maxn 0)
    args: TrainingArgs
    word_bytes: list[bytes] | None = None  # the stored spelling, where it is not valid UTF-8
    # to be written: the buckets whose rows follow the word rows in `input`, the others zero
    stored: np.ndarray | None = None
    replaced: int = 0  # words read that were not valid UTF-8

    @property
    def dim(self) -> int:
        return self.input.shape[1]

    def table(self) -> SubwordTable:
        if self.subwords is None:
            raise W2VError("this fastText model has no subwords (its maxn is 0)")
        return SubwordTable(self.subwords, self.input, self.stored, self.args)

    def bag_words(self) -> Sequence[str | bytes]:
        """The words as fastText hashes them: their stored bytes."""
        return self.word_bytes if self.word_bytes is not None else self.words


def read_fasttext(path: str | os.PathLike[str], limit: int | None = None,
                  unicode_errors: UnicodeErrors = "replace",
                  source: Source | None = None) -> VectorFile:
    """The vectors of the first `limit` words (None: all) of a fastText .bin, with the table
    that gives any other word a vector. `source`, where given, is the file already opened
    (and perhaps peeked at): a pipe cannot be opened twice."""
    if source is None or source.remaining() is not None:  # a plain file: mapped, not read
        data, compression = _contents(path)
    else:
        data, compression = source.read_rest(1), source.compression
    model = _parse(data, path, unicode_errors)
    words = model.words[:limit]
    if model.subwords is None:
        vectors = np.array(model.input[:len(words)], dtype=np.float32)
        table = None
    else:
        table = model.table()
        vectors = table.vocab_vectors(model.bag_words()[:len(words)])
    return VectorFile(words, vectors, "fasttext-bin", compression, len(words), len(model.words),
                      0, model.replaced, model.counts[:limit], table)


def write_fasttext_bin(path: str | os.PathLike[str], model: FastTextModel) -> None:
    """Write `model` as fastText's .bin; the output matrix is zero where the model has none."""
    if model.subwords is None:
        raise W2VError("a fastText .bin needs the subword settings (minn, maxn, buckets)")
    nwords, dim, table = len(model.words), model.dim, model.table()
    if table.nwords != nwords:
        raise W2VError(f"a fastText .bin needs every word of its table: {nwords} words for a "
                       f"table of {table.nwords} (vectors read with a limit, or with repeated "
                       f"words, cannot be written as one)")
    encoded = [_entry_word(word) for word in model.words]
    args, sub = model.args, model.subwords
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(_HEAD.pack(MAGIC, VERSION))
        out.write(_ARGS.pack(dim, args.window, args.epochs, args.min_count, args.negatives, 1,
                             LOSS_NEGATIVE_SAMPLING, MODEL_IDS[args.model], sub.buckets, sub.minn,
                             sub.maxn, 100, args.sample))
        out.write(_DICT_HEAD.pack(nwords, nwords, 0, int(np.sum(model.counts)), -1))
        counts = np.asarray(model.counts, dtype=np.int64).tolist()
        out.writelines(word + b"\0" + _ENTRY_TAIL.pack(count, WORD_ENTRY)
                       for word, count in zip(encoded, counts, strict=True))
        out.write(b"\0")  # not quantized
        rows = nwords + sub.buckets
        out.write(_MATRIX_HEAD.pack(rows, dim))
        _write_rows(out, rows, table.fasttext_rows)
        output = model.output if model.output is not None else np.zeros((nwords, dim), np.float32)
        out.write(b"\0")
        out.write(_MATRIX_HEAD.pack(*output.shape))
        _write_rows(out, nwords, lambda start, stop: output[start:stop])


def read_fasttext_bin(path: str | os.PathLike[str], with_output: bool = False,
                      unicode_errors: UnicodeErrors = "replace") -> FastTextModel:
    """Read a fastText .bin; the matrices of a plain file are memory-mapped, not read."""
    model = _parse(_contents(path)[0], path, unicode_errors)
    if not with_output:
        model.output = None
    return model


def _parse(data: mmap.mmap | bytes, path: str | os.PathLike[str],
           unicode_errors: UnicodeErrors) -> FastTextModel:
    reader = _Reader(data, path)
    magic, version = reader.unpack(_HEAD, "the header")
    if magic != MAGIC:
        raise W2VError(f"{path} is not a fastText .bin model (its first bytes are not fastText's "
                       f"magic number)")
    if version > VERSION:
        raise W2VError(f"{path} is a fastText model of format version {version}; this w2v reads "
                       f"versions up to {VERSION}")
    (dim, ws, epoch, min_count, neg, _, _, model_id, buckets, minn, maxn, _,
     sample) = reader.unpack(_ARGS, "the arguments")
    size, nwords, nlabels, _, pruned = reader.unpack(_DICT_HEAD, "the dictionary")
    if nlabels or model_id == 3:
        raise W2VError(f"{path} is a supervised fastText model (a classifier); only word "
                       f"vector models (skip-gram, CBOW) can be read")
    if not 0 <= size == nwords:
        raise W2VError(f"{path} is damaged: its dictionary holds {size} entries for {nwords} "
                       f"words")
    reader._need(10 * size, "the dictionary")  # each entry: a word's 0 byte, its count and kind
    words, word_bytes, counts, replaced = reader.entries(size, unicode_errors)
    reader.skip(8 * max(pruned, 0), "the pruned index")
    input_matrix = reader.matrix("the input matrix")
    if input_matrix.shape != (nwords + buckets, dim):
        raise W2VError(f"{path} is damaged: its input matrix is {input_matrix.shape[0]} x "
                       f"{input_matrix.shape[1]}, but {nwords} words, {buckets} buckets and "
                       f"dimension {dim} need {nwords + buckets} x {dim}")
    output = reader.matrix("the output matrix")  # mapped, not read: checks the file is whole
    if reader.position != len(reader.data):
        raise W2VError(f"{path} is damaged: unexpected data after the output matrix "
                       f"({len(reader.data) - reader.position} bytes)")
    args = TrainingArgs({1: "cbow", 2: "skipgram"}.get(model_id, "skipgram"), ws, epoch,
                        min_count, neg, sample)
    subwords = Subwords(minn, maxn, buckets) if 1 <= minn <= maxn and buckets > 0 else None
    return FastTextModel(words, counts, input_matrix, output, subwords, args, word_bytes,
                         replaced=replaced)


def has_fasttext_magic(head: bytes) -> bool:
    """Whether a file whose (decompressed) first bytes are `head` is a fastText model."""
    return len(head) >= 4 and struct.unpack("<i", head[:4])[0] == MAGIC


def _entry_word(word: str) -> bytes:
    if not word or any(c.isspace() or c == "\0" for c in word):
        raise W2VError(f"cannot write the word {word!r} in a fastText model: fastText's words "
                       f"have no whitespace or NUL")
    return word.encode("utf-8")


def _write_rows(out: BinaryIO, count: int, rows: Callable[[int, int], np.ndarray],
                rows_per_write: int = 1 << 16) -> None:
    """Write `count` float32 rows, `rows(start, stop)` at a time, so that a large table is
    never copied whole."""
    for start in range(0, count, rows_per_write):
        block = rows(start, min(count, start + rows_per_write))
        out.write(memoryview(np.ascontiguousarray(block, dtype="<f4")).cast("B"))


def _contents(path: str | os.PathLike[str]) -> tuple[mmap.mmap | bytes, str | None]:
    """(the file's bytes, its compression): a plain regular file memory-mapped, anything else
    read whole, decompressed."""
    stream, compression = open_vector_file(path)
    try:
        if compression is None and stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            if os.fstat(stream.fileno()).st_size == 0:
                return b"", None
            return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ), None
        return stream.read(), compression
    except DamagedData as error:
        raise W2VError(f"{path}: {error}") from None
    except OSError as error:
        raise W2VError(f"cannot read {path}: {error.strerror}") from None
    finally:
        stream.close()


class _Reader:
    """Reads the fields of a .bin in order; running out of bytes is a clear error."""

    def __init__(self, data: mmap.mmap | bytes, path: str | os.PathLike[str]) -> None:
        self.data, self.path, self.position = data, path, 0

    def _need(self, count: int, what: str) -> None:
        if count < 0 or self.position + count > len(self.data):
            raise W2VError(f"{self.path} is cut short or damaged: it ends inside {what}")

    def unpack(self, layout: struct.Struct, what: str) -> tuple:
        self._need(layout.size, what)
        values = layout.unpack_from(self.data, self.position)
        self.position += layout.size
        return values

    def skip(self, count: int, what: str) -> None:
        self._need(count, what)
        self.position += count

    def entries(self, size: int, unicode_errors: UnicodeErrors
                ) -> tuple[list[str], list[bytes] | None, np.ndarray, int]:
        """The dictionary's words (bytes that are not UTF-8 replaced as `unicode_errors` says,
        with a warning), their stored bytes if any word is not valid UTF-8, their counts, and
        how many words were not valid UTF-8."""
        words: list[str] = []
        stored: list[bytes] = []
        counts = np.empty(max(size, 0), dtype=np.int64)
        replaced = 0
        for i in range(size):
            end = self.data.find(b"\0", self.position)
            if end == -1:
                self._need(len(self.data) + 1 - self.position, "the dictionary")
            word = bytes(self.data[self.position:end])
            self.position = end + 1
            counts[i], kind = self.unpack(_ENTRY_TAIL, "the dictionary")
            if kind != WORD_ENTRY:
                raise W2VError(f"{self.path} holds labels: it is a supervised fastText model; "
                               f"only word vector models can be read")
            try:
                words.append(word.decode("utf-8"))
            except UnicodeDecodeError:
                if unicode_errors == "strict":
                    raise W2VError(f"{self.path}: word {i + 1} of the dictionary, {word[:60]!r}, "
                                   f"is not valid UTF-8") from None
                words.append(word.decode("utf-8", errors=unicode_errors))
                replaced += 1
            stored.append(word)
        if len(set(stored)) != len(stored):
            raise W2VError(f"{self.path} is damaged: its dictionary repeats a word")
        if len(set(words)) != len(words):
            raise W2VError(f"{self.path}: words that differ only in bytes that are not UTF-8 "
                           f"became the same word; read it with unicode_errors='strict' to see "
                           f"which")
        warn_words(self.path, replaced, 0)
        return words, stored if replaced else None, counts, replaced

    def matrix(self, what: str) -> np.ndarray:
        (quantized,) = self.unpack(struct.Struct("<?"), what)
        if quantized:
            raise W2VError(f"{self.path} is a quantized fastText model (.ftz); only full "
                           f"models (.bin) can be read")
        rows, cols = self.unpack(_MATRIX_HEAD, what)
        if rows < 0 or cols <= 0:
            raise W2VError(f"{self.path} is damaged: {what} has shape {rows} x {cols}")
        self._need(rows * cols * 4, what)
        matrix = np.frombuffer(self.data, dtype="<f4", count=rows * cols,
                               offset=self.position).reshape(rows, cols)
        self.position += rows * cols * 4
        return matrix
