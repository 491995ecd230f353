"""fastText's subwords: the character n-grams of a word, hashed into a fixed number of buckets.

The rules are those of fastText's `Dictionary::computeSubwords`, so that vectors can be exchanged
with fastText and gensim:

* the word is wrapped in '<' and '>' and its n-grams are taken for n in [minn, maxn], n counted
  in characters (a UTF-8 lead byte and its continuation bytes are one character);
* a 1-gram that is the '<' or the '>' alone is left out;
* an n-gram's bucket is its FNV-1a hash modulo the bucket count, hashed over its UTF-8 bytes as
  fastText hashes them: each byte is read as a signed char and sign-extended to 32 bits before
  the xor (so bytes >= 0x80 set the high 24 bits), with 32-bit unsigned arithmetic;
* fastText's end-of-sentence token "</s>" has no n-grams.

In fastText's input matrix (and in ours) row i < nwords is the vector of word i and row
nwords + b that of bucket b. A word's vector is the mean of its bag: its own row, then the rows
of its n-grams, one per n-gram (an n-gram that occurs twice counts twice), in the order of their
first character, then their length. A word outside the vocabulary has only its n-grams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from w2v.errors import W2VError

EOS = "</s>"
FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
_MASK32 = 0xFFFFFFFF
# fastText stores the bucket count as an int32 and hashes as uint32
MAX_BUCKETS = 2**31 - 1


def fasttext_hash(data: bytes) -> int:
    """fastText's FNV-1a hash of `data`, one byte at a time (the reference for the array code)."""
    h = FNV_OFFSET
    for byte in data:
        signed = byte - 256 if byte >= 0x80 else byte
        h = ((h ^ (signed & _MASK32)) * FNV_PRIME) & _MASK32
    return h


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The n-grams of `word` that fastText hashes, in its order (by first character, then
    length). Counted in Python characters, which are UTF-8's for any text Python can encode."""
    if word == EOS:
        return []
    wrapped = f"<{word}>"
    return [wrapped[i:i + n] for i in range(len(wrapped))
            for n in range(minn, maxn + 1)
            if i + n <= len(wrapped) and not (n == 1 and (i == 0 or i + 1 == len(wrapped)))]


@dataclass(frozen=True)
class WordBags:
    """Rows of the input matrix for each word: word n's rows are ids[offsets[n]:offsets[n + 1]]."""

    ids: np.ndarray  # int64 [total]
    offsets: np.ndarray  # int64 [words + 1]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def bag(self, n: int) -> np.ndarray:
        return self.ids[self.offsets[n]:self.offsets[n + 1]]


@dataclass(frozen=True)
class Subwords:
    """How words are cut into n-grams (n from minn to maxn) and hashed into `buckets` rows."""

    minn: int = 3
    maxn: int = 6
    buckets: int = 2_000_000

    def __post_init__(self) -> None:
        if not 1 <= self.minn <= self.maxn:
            raise W2VError(f"subword n-gram lengths must satisfy 1 <= min <= max, got "
                           f"{self.minn}-{self.maxn}")
        if not 1 <= self.buckets <= MAX_BUCKETS:
            raise W2VError(f"the bucket count must be between 1 and {MAX_BUCKETS}, "
                           f"got {self.buckets}")

    def count(self, words: Sequence[str]) -> int:
        """How many n-grams the words have in all (a repeated n-gram counted each time), from
        their lengths alone: '<word>' of w characters has w - n + 1 n-grams of n >= 2 characters,
        and w - 2 of one character."""
        lengths = np.array([len(word) + 2 for word in words if word != EOS], dtype=np.int64)
        total = sum(int(np.maximum(lengths - n + 1, 0).sum())
                    for n in range(self.minn, self.maxn + 1))
        return total - (2 * len(lengths) if self.minn == 1 else 0)

    def buckets_of(self, word: str | bytes) -> np.ndarray:
        """The bucket of each n-gram of one word (in fastText's order)."""
        return self.bucket_bags([word]).ids

    def bucket_bags(self, words: Sequence[str | bytes]) -> WordBags:
        """The n-gram buckets of many words at once (str, or UTF-8 bytes as stored by fastText)."""
        encoded = [w.encode("utf-8") if isinstance(w, str) else bytes(w) for w in words]
        return ngram_buckets(encoded, self.minn, self.maxn, self.buckets)

    def vocab_bags(self, words: Sequence[str | bytes], first: int = 0,
                   nwords: int | None = None) -> WordBags:
        """fastText's bags for the words of a vocabulary: word i's own row i, then the rows
        nwords + bucket of its n-grams. `words` may be a slice of the vocabulary that starts
        at word `first`; `nwords` is the vocabulary's size (default: len(words))."""
        nwords = len(words) if nwords is None else nwords
        buckets = self.bucket_bags(words)
        offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(buckets.lengths + 1, out=offsets[1:])
        ids = np.empty(int(offsets[-1]), dtype=np.int64)
        own = offsets[:-1]
        ids[own] = np.arange(first, first + len(words))
        is_bucket = np.ones(len(ids), dtype=bool)
        is_bucket[own] = False
        ids[is_bucket] = buckets.ids + nwords
        return WordBags(ids, offsets)


def ngram_buckets(words: Sequence[bytes], minn: int, maxn: int, buckets: int) -> WordBags:
    """Array code for `char_ngrams` and `fasttext_hash` over UTF-8 words, all at once.

    Every character of every '<word>' starts a run of n-grams; the hash of the run is extended
    one character (1 to 4 bytes) per length n, so each pass over n is a few array operations.
    """
    wrapped = [b"<" + w + b">" for w in words]
    byte_ends = np.cumsum([len(w) for w in wrapped], dtype=np.int64)
    data = np.frombuffer(b"".join(wrapped), dtype=np.uint8)
    char_starts = np.flatnonzero((data & 0xC0) != 0x80)
    # a character's end is the next one's start; a word's last character ends where the word does
    char_ends = np.append(char_starts[1:], len(data))
    word_of_char = np.searchsorted(byte_ends, char_starts, side="right")
    chars_per_word = np.bincount(word_of_char, minlength=len(words))
    first_char = np.cumsum(chars_per_word) - chars_per_word
    # position of each character in its word, and how many characters follow it there
    position = np.arange(len(char_starts)) - first_char[word_of_char]
    after = chars_per_word[word_of_char] - position - 1
    no_ngrams = np.array([w == EOS.encode() for w in words], dtype=bool)
    after[no_ngrams[word_of_char]] = -1

    # uint32 arrays: numpy's array arithmetic wraps modulo 2**32, as fastText's uint32_t does
    hashes = np.full(len(char_starts), FNV_OFFSET, dtype=np.uint32)
    found_chars, found_lengths, found_hashes = [], [], []
    for n in range(1, maxn + 1):
        run = np.flatnonzero(after >= n - 1)  # runs that reach an n-th character in their word
        if not len(run):
            break
        last = run + n - 1  # the character this pass adds
        start, width = char_starts[last], char_ends[last] - char_starts[last]
        h = hashes[run]
        for b in range(int(width.max())):
            more = np.flatnonzero(width > b)
            # the byte as a signed char, sign-extended to 32 bits
            signed = data[start[more] + b].view(np.int8).astype(np.int32).view(np.uint32)
            h[more] = (h[more] ^ signed) * np.uint32(FNV_PRIME)
        hashes[run] = h
        if n >= minn:
            keep = np.ones(len(run), dtype=bool) if n > 1 else \
                (position[run] > 0) & (after[run] > 0)
            found_chars.append(run[keep])
            found_lengths.append(np.full(int(keep.sum()), n, dtype=np.int64))
            found_hashes.append(h[keep])
    if not found_chars:
        return WordBags(np.zeros(0, dtype=np.int64), np.zeros(len(words) + 1, dtype=np.int64))
    chars, lengths = np.concatenate(found_chars), np.concatenate(found_lengths)
    order = np.argsort(chars * (maxn + 1) + lengths, kind="stable")
    ids = (np.concatenate(found_hashes)[order] % np.uint32(buckets)).astype(np.int64)
    per_word = np.bincount(word_of_char[chars], minlength=len(words))
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(per_word, out=offsets[1:])
    return WordBags(ids, offsets)


def compact(bags: WordBags, nwords: int) -> tuple[WordBags, np.ndarray]:
    """The same bags over a table that stores only the buckets they use, in bucket order after
    the nwords word rows: (renumbered bags, the sorted buckets stored)."""
    is_bucket = bags.ids >= nwords
    stored = np.unique(bags.ids[is_bucket]) - nwords
    ids = bags.ids.copy()
    ids[is_bucket] = nwords + np.searchsorted(stored, bags.ids[is_bucket] - nwords)
    return WordBags(ids, bags.offsets), stored


def mean_rows(table: np.ndarray, bags: WordBags, chunk_rows: int = 1 << 20) -> np.ndarray:
    """The mean of each bag's rows of `table` (float32 [bags, dim]); an empty bag's mean is 0,
    and an id of -1 stands for a row of zeros.

    Reads at most `chunk_rows` rows at a time, so a memory-mapped table of fastText's size
    is never copied whole."""
    out = np.zeros((len(bags), table.shape[1]), dtype=np.float32)
    lengths = bags.lengths
    start = 0
    while start < len(bags):
        stop = int(np.searchsorted(bags.offsets, bags.offsets[start] + chunk_rows, side="right"))
        stop = min(max(stop - 1, start + 1), len(bags))
        lo, hi = bags.offsets[start], bags.offsets[stop]
        filled = np.flatnonzero(lengths[start:stop] > 0)
        if hi > lo:
            ids = bags.ids[lo:hi]
            rows = np.asarray(table[np.maximum(ids, 0)], dtype=np.float64)
            rows[ids < 0] = 0
            sums = np.add.reduceat(rows, bags.offsets[start:stop][filled] - lo, axis=0)
            out[start + filled] = sums / lengths[start + filled, None]
        start = stop
    return out


@dataclass(frozen=True)
class TrainingArgs:
    """What fastText records about how a model was trained (gensim continues training a
    model it loads with them); only dim, bucket, minn and maxn change how vectors are read.
    The defaults are fastText's."""

    model: str = "skipgram"
    window: int = 5
    epochs: int = 5
    min_count: int = 5
    negatives: int = 5
    sample: float = 1e-4


@dataclass(frozen=True)
class SubwordTable:
    """fastText's input matrix with its n-gram settings: a vector for any word.

    `input` holds the nwords word rows, then the bucket rows: of every bucket in order, or,
    with `stored`, of the buckets listed there (sorted); a bucket not stored is a zero row.
    """

    subwords: Subwords
    input: np.ndarray  # [nwords + buckets stored, dim]
    stored: np.ndarray | None = None  # int64, sorted; None: every bucket
    training: TrainingArgs | None = None  # how it was trained, where known

    @property
    def nwords(self) -> int:
        stored = self.subwords.buckets if self.stored is None else len(self.stored)
        return self.input.shape[0] - stored

    def vocab_vectors(self, words: Sequence[str | bytes],
                      words_per_chunk: int = 1 << 16) -> np.ndarray:
        """The vectors of the vocabulary's first len(words) words: word i's row i and its
        n-grams' rows; a chunk of words at a time, so that a vocabulary of millions needs
        little memory."""
        if len(words) > self.nwords:
            raise ValueError(f"{len(words)} words for a table of {self.nwords} word rows")
        out = np.empty((len(words), self.input.shape[1]), dtype=np.float32)
        for start in range(0, len(words), words_per_chunk):
            part = words[start:start + words_per_chunk]
            bags = self.subwords.vocab_bags(part, start, self.nwords)
            out[start:start + len(part)] = mean_rows(self.input, self._located(bags))
        return out

    def unseen_vectors(self, words: Sequence[str | bytes]) -> np.ndarray:
        """The vectors of words outside the vocabulary: the mean of their n-grams' rows, zero
        for a word without n-grams."""
        bags = self.subwords.bucket_bags(words)
        return mean_rows(self.input, self._located(WordBags(bags.ids + self.nwords,
                                                            bags.offsets)))

    def fasttext_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop of fastText's full input matrix (word rows, then every bucket)."""
        if self.stored is None:
            return np.asarray(self.input[start:stop])
        block = np.zeros((stop - start, self.input.shape[1]), dtype=np.float32)
        word_rows = max(0, min(stop, self.nwords) - start)
        block[:word_rows] = self.input[start:start + word_rows]
        first, last = max(start, self.nwords) - self.nwords, stop - self.nwords
        lo, hi = np.searchsorted(self.stored, [first, last])
        block[self.stored[lo:hi] + self.nwords - start] = self.input[self.nwords + lo:
                                                                     self.nwords + hi]
        return block

    def _located(self, bags: WordBags) -> WordBags:
        """Bags of fastText's row ids, as rows of `input` (-1 for a bucket not stored)."""
        if self.stored is None:
            return bags
        ids = bags.ids.copy()
        is_bucket = ids >= self.nwords
        buckets = ids[is_bucket] - self.nwords
        at = np.searchsorted(self.stored, buckets)
        found = at < len(self.stored)
        found[found] = self.stored[at[found]] == buckets[found]
        ids[is_bucket] = np.where(found, self.nwords + at, -1)
        return WordBags(ids, bags.offsets)
