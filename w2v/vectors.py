"""Word vectors: lookup, gensim's query verbs, analogies, export to files and to PyTorch.

torch is imported only by the methods that make PyTorch modules, so that queries start fast.
"""

from __future__ import annotations

import difflib
import heapq
import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from w2v.data.corpus import META, OFFSETS, TOKENS, VOCAB
from w2v.errors import W2VError
from w2v.formats import READ_FORMATS, read_vectors, write_vectors
from w2v.formats.reading import UnicodeErrors
from w2v.run import Table, is_run_file, read_run_query_form, read_run_vectors
from w2v.similarity import (
    Method,
    cosines,
    method_scores,
    safe_norms,
    top_k,
    unit_rows,
    unit_vectors,
)
from w2v.subwords import SubwordTable

if TYPE_CHECKING:
    import torch
    from torch import nn

LoadFormat = Literal["auto", "run", "word2vec-text", "word2vec-binary", "glove", "fasttext-bin"]
SaveFormat = Literal["word2vec-binary", "word2vec-text", "glove", "tsv", "fasttext-bin"]
# A query term: a word or a vector, optionally with a weight, as gensim's most_similar takes them.
Key = str | np.ndarray
Term = Key | tuple[Key, float]
Terms = Term | Sequence[Term] | None

# Least difflib similarity ratio for a word to be suggested; difflib's own default.
_SUGGEST_CUTOFF = 0.6
# How many scores one batch of queries may hold: bounds memory, not results.
_SCORES_PER_BATCH = 2**25


class Vectors:
    """Words and their vectors (row i of `vectors` belongs to `words[i]`), queried by cosine.

    The query verbs are gensim's KeyedVectors' (most_similar, similar_by_vector, doesnt_match,
    n_similarity, similarity, rank, distance, get_mean_vector, closer_than, ...), with its
    arguments and its numbers. Where they differ: an unknown word is an error naming close
    words (gensim raises KeyError, or skips it in doesnt_match), a `topn` larger than the words
    there are to rank is an error, and a zero vector has cosine 0 with everything (not NaN).

    With `subwords` (from a run trained with subwords, or a fastText .bin), every word has a
    vector, as in gensim's FastTextKeyedVectors: a word outside the vocabulary has the mean of
    its character n-grams' rows, and the verbs take it like any other (it is never an answer:
    answers are vocabulary words). `word in vectors` still says whether it is in the vocabulary;
    `has_vector` whether it has a vector.
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        counts: Sequence[int] | np.ndarray | None = None,
        subwords: SubwordTable | None = None,
        query_form: Callable[[str], str | None] | None = None,
    ) -> None:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(words):
            raise ValueError(
                f"need one vector row per word: {len(words)} words, vectors of shape {matrix.shape}"
            )
        if counts is not None and len(counts) != len(words):
            raise ValueError(f"need one count per word: {len(words)} words, {len(counts)} counts")
        self.words: list[str] = list(words)
        self.key_to_index: dict[str, int] = {word: i for i, word in enumerate(self.words)}
        if len(self.key_to_index) != len(self.words):
            raise ValueError("the words are not unique")
        self.vectors: np.ndarray = matrix
        self.counts: np.ndarray | None = None if counts is None else np.asarray(counts, np.int64)
        self.subwords = subwords
        # how a query that is not a word here becomes one (a run's tokenizer: "Water," -> water)
        self.query_form = query_form

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        format: LoadFormat = "auto",
        *,
        limit: int | None = None,
        no_header: bool = False,
        unicode_errors: UnicodeErrors = "replace",
        table: Table | None = None,
    ) -> Vectors:
        """Load a run directory or a vector file (word2vec text or binary, GloVe, a fastText
        .bin model; gzip, bz2 or xz compressed), its first `limit` words only if given; "auto"
        tells them apart. A run trained with subwords and a fastText model give any word a
        vector.

        `no_header` reads a file whose first line is already a word (GloVe). Words that are not
        valid UTF-8 get U+FFFD for their bad bytes (`unicode_errors="strict"`: an error). Of a
        run, `table` picks "center", "context" or their "sum" instead of the word vectors.
        """
        path = Path(path)
        if format not in ("run", *READ_FORMATS):
            raise W2VError(f"unknown vector format {format!r}; expected one of run, "
                           f"{', '.join(READ_FORMATS)}")
        if format == "run" or (format == "auto" and path.is_dir()):
            return cls(*read_run_vectors(path, limit=limit, table=table),
                       query_form=read_run_query_form(path))
        if table is not None:
            raise W2VError(f"{path} is not a run directory; a table can only be chosen from a run")
        if no_header:
            if format == "word2vec-binary":
                raise W2VError("a binary file has a header; no_header applies to text files")
            format = "glove"  # word2vec text without its header line
        file = read_vectors(path, format, limit=limit, unicode_errors=unicode_errors)
        return cls(file.words, file.vectors, file.counts, file.subwords)

    @classmethod
    def load_word2vec_format(
        cls,
        path: str | os.PathLike[str],
        binary: bool | None = None,
        limit: int | None = None,
        no_header: bool = False,
        unicode_errors: UnicodeErrors = "replace",
    ) -> Vectors:
        """gensim's name for loading: `binary` None tells text from binary by content."""
        format = "auto" if binary is None else "word2vec-binary" if binary else "word2vec-text"
        return cls.load(path, format, limit=limit, no_header=no_header,
                        unicode_errors=unicode_errors)

    def save(
        self, path: str | os.PathLike[str], format: SaveFormat = "word2vec-binary"
    ) -> list[Path]:
        """Write the vectors as `format`; return the files written.

        "tsv" writes two files for the Embedding Projector: the vectors at `path` and the
        words beside it as ``<stem>-metadata.tsv``. "fasttext-bin" needs subwords (it holds the
        n-gram rows, so that fastText and gensim give any word the same vector). A file of a run
        or dataset is refused.
        """
        refuse_run_or_dataset_file(path)
        return write_vectors(path, self.words, self.vectors, format, counts=self.counts,
                             subwords=self.subwords)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return self._key(word) in self.key_to_index if isinstance(word, str) else False

    def __getitem__(self, word: str) -> np.ndarray:
        return self.get_vector(word)

    def __repr__(self) -> str:
        return f"Vectors({len(self)} words, dim {self.dim})"

    @property
    def index_to_key(self) -> list[str]:
        """gensim's name for `words`."""
        return self.words

    @property
    def vector_size(self) -> int:
        """gensim's name for `dim`."""
        return self.dim

    @cached_property
    def norms(self) -> np.ndarray:
        """The length of every vector, computed once; a zero vector's is the smallest float."""
        return safe_norms(self.vectors)

    @cached_property
    def unit(self) -> np.ndarray:
        """The vectors scaled to length 1 (zero vectors stay zero), computed once."""
        return self.vectors / self.norms[:, None]

    def get_index(self, word: str) -> int:
        """Row of `word`; an unknown word raises W2VError naming close known words."""
        try:
            return self.key_to_index[self._key(word)]
        except KeyError:
            close = self.suggest(word)
            if close:
                hint = f"close words in the vocabulary: {', '.join(close)}"
            else:
                hint = "no close words in the vocabulary"
            raise W2VError(f"unknown word {word!r}; {hint}") from None

    def _key(self, word: str) -> str:
        """The vocabulary entry `word` stands for: itself, or what `query_form` makes of it."""
        if word in self.key_to_index or self.query_form is None:
            return word
        return self.query_form(word) or word

    def suggest(self, word: str, n: int = 3) -> list[str]:
        """Up to `n` vocabulary words spelled like `word`, closest first, then most frequent
        (earliest) first among equally close ones."""
        matcher = difflib.SequenceMatcher(b=word)
        close: list[tuple[float, int]] = []
        for i, candidate in enumerate(self.words):
            matcher.set_seq1(candidate)
            # The cheap upper bounds first, as difflib.get_close_matches does.
            if (
                matcher.real_quick_ratio() < _SUGGEST_CUTOFF
                or matcher.quick_ratio() < _SUGGEST_CUTOFF
            ):
                continue
            ratio = matcher.ratio()
            if ratio >= _SUGGEST_CUTOFF:
                close.append((-ratio, i))
        return [self.words[i] for _, i in heapq.nsmallest(n, close)]

    def has_vector(self, word: str) -> bool:
        """Whether `word` has a vector: it is in the vocabulary, or there are subwords."""
        return word in self or self.subwords is not None

    def get_vector(self, word: str, norm: bool = False) -> np.ndarray:
        """A copy of the vector of `word`; with `norm`, scaled to length 1. With subwords, a word
        outside the vocabulary has the mean of its n-grams' rows (zero if none was trained)."""
        return self.vectors_of([word], norm)[0]

    def vectors_of(self, words: Sequence[str], norm: bool = False) -> np.ndarray:
        """[len(words), dim]: the vectors of `words`, as `get_vector` gives them."""
        keys = [self._key(word) for word in words]
        at = np.array([self.key_to_index.get(key, -1) for key in keys], dtype=np.int64)
        inside = at >= 0
        unseen = [key for key, known in zip(keys, inside, strict=True) if not known]
        if unseen and self.subwords is None:
            self.get_index(words[int(np.argmin(inside))])  # the error naming close words
        rows = np.empty((len(words), self.dim), dtype=np.float32)
        ids = at[inside]
        rows[inside] = unit_vectors(self.vectors, self.norms, ids) if norm else self.vectors[ids]
        if unseen:
            found = self.subwords.unseen_vectors(unseen)
            rows[~inside] = unit_rows(found) if norm else found
        return rows

    def get_mean_vector(
        self,
        keys: Sequence[Key],
        weights: Sequence[float] | np.ndarray | None = None,
        pre_normalize: bool = True,
        post_normalize: bool = False,
        ignore_missing: bool = True,
    ) -> np.ndarray:
        """The weighted mean of words (unit vectors with `pre_normalize`) and vectors (as they
        are), divided by the sum of the absolute weights; unknown words are skipped with
        `ignore_missing`; with `post_normalize`, scaled to length 1."""
        if len(keys) == 0:
            raise W2VError("cannot take the mean of no words")
        weights = np.ones(len(keys)) if weights is None else np.asarray(weights, dtype=np.float32)
        if len(weights) != len(keys):
            raise W2VError(f"{len(keys)} words or vectors but {len(weights)} weights")
        mean = np.zeros(self.dim, dtype=np.float32)
        total = 0.0
        for key, weight in zip(keys, weights):
            if isinstance(key, str) and ignore_missing and not self.has_vector(key):
                continue
            mean += weight * self._as_vector(key, pre_normalize)
            total += abs(weight)
        if total > 0:
            mean /= total
        return mean / safe_norms(mean[None])[0] if post_normalize else mean

    def most_similar(
        self,
        positive: Terms = None,
        negative: Terms | int = None,
        topn: int | None = 10,
        *,
        restrict_vocab: int | None = None,
    ) -> list[tuple[str, float]] | np.ndarray:
        """The `topn` words closest in cosine to the mean of the `positive` unit vectors minus
        the `negative` ones (words, or vectors taken as they are; a (term, weight) pair sets
        its weight), best first, the query words excluded; among the first `restrict_vocab`
        words only if given. `topn=None` returns the cosines of all (searched) words.

        `most_similar(word, k)` also works: an int in second place is `topn`.
        """
        if isinstance(negative, int) and not isinstance(negative, bool):
            negative, topn = None, negative
        return self.most_similar_batch([(positive, negative)], topn, restrict_vocab)[0]

    def most_similar_batch(
        self,
        queries: Sequence[tuple[Terms, Terms]],
        topn: int | None = 10,
        restrict_vocab: int | None = None,
    ) -> list[list[tuple[str, float]] | np.ndarray]:
        """`most_similar` for several (positive, negative) queries: one matrix product for
        each batch of queries, over lengths computed once."""
        end = self._search_end(restrict_vocab)
        asked = [self._query(positive, negative) for positive, negative in queries]
        batch = max(1, _SCORES_PER_BATCH // max(end, 1))
        results: list[list[tuple[str, float]] | np.ndarray] = []
        for start in range(0, len(asked), batch):
            part = asked[start : start + batch]
            scores = cosines(self.vectors[:end], self.norms[:end], np.stack([q for q, _ in part]))
            for row, exclude in zip(scores, (ids for _, ids in part)):
                results.append(row if topn is None else self._best(row, topn, exclude, end))
        return results

    def similar_by_vector(
        self, vector: np.ndarray, topn: int | None = 10, restrict_vocab: int | None = None
    ) -> list[tuple[str, float]] | np.ndarray:
        """The `topn` words closest in cosine to `vector`."""
        return self.most_similar([vector], topn=topn, restrict_vocab=restrict_vocab)

    def similar_by_key(
        self, word: str, topn: int | None = 10, restrict_vocab: int | None = None
    ) -> list[tuple[str, float]] | np.ndarray:
        """The `topn` words closest in cosine to `word`, itself excluded."""
        return self.most_similar([word], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_word = similar_by_key

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity of two words."""
        return float(self.get_vector(w1, norm=True) @ self.get_vector(w2, norm=True))

    def distance(self, w1: str, w2: str) -> float:
        """Cosine distance of two words: 1 - similarity."""
        return 1 - self.similarity(w1, w2)

    def n_similarity(self, ws1: Sequence[str], ws2: Sequence[str]) -> float:
        """Cosine similarity of the means of two lists of words (of their vectors as they are)."""
        if not (len(ws1) and len(ws2)):
            raise W2VError("n_similarity needs at least one word on each side")
        means = [self.get_mean_vector(ws, pre_normalize=False, ignore_missing=False)
                 for ws in (ws1, ws2)]
        first, second = unit_rows(np.stack(means))
        return float(first @ second)

    def distances(self, word_or_vector: Key, other_words: Sequence[str] = ()) -> np.ndarray:
        """Cosine distances from a word or vector to `other_words` (default: every word)."""
        vector = self._as_vector(word_or_vector, normalize=False)
        if other_words:
            rows = self.vectors_of(other_words)
            norms = safe_norms(rows)
        else:
            rows, norms = self.vectors, self.norms
        return 1 - cosines(rows, norms, vector / safe_norms(vector[None])[0])

    def closer_than(self, word1: str, word2: str) -> list[str]:
        """Every word closer to `word1` than `word2` is, `word1` itself left out."""
        distances = self.distances(word1)
        known = self.key_to_index.get(self._key(word2))
        limit = distances[known] if known is not None else self.distances(word1, [word2])[0]
        closer = np.flatnonzero(distances < limit)
        itself = self._key(word1)
        return [self.words[i] for i in closer if self.words[i] != itself]

    words_closer_than = closer_than

    def rank(self, word1: str, word2: str) -> int:
        """Where `word2` comes among the neighbours of `word1`: 1 for the nearest."""
        return len(self.closer_than(word1, word2)) + 1

    def rank_by_centrality(
        self, words: Sequence[str], use_norm: bool = True
    ) -> list[tuple[float, str]]:
        """(cosine with the words' mean, word), most central first."""
        if not words:
            raise W2VError("cannot rank an empty list of words")
        rows = np.stack([self.get_vector(word, norm=use_norm) for word in words])
        mean = self.get_mean_vector(list(rows), post_normalize=True)
        return sorted(zip((float(d) for d in rows @ mean), words), reverse=True)

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word furthest from the mean of `words`."""
        return self.rank_by_centrality(words)[-1][1]

    def analogy(
        self, a: str, b: str, c: str, k: int = 5, method: Method = "3cosadd"
    ) -> list[tuple[str, float]]:
        """Answers to "`a` is to `b` as `c` is to ?", best first, the three inputs excluded.

        "3cosadd" ranks by cosine with b - a + c; "3cosmul" by Levy & Goldberg's
        cos(x, b) * cos(x, c) / (cos(x, a) + 1e-6) with cosines shifted to [0, 1].
        """
        units = self.vectors_of([a, b, c], norm=True)
        scores = method_scores(self.vectors, self.norms, units[None, 1:], units[None, :1],
                               method)[0]
        return self._best(scores, k, self._rows_of([a, b, c]), len(self))

    def _as_vector(self, key: Key, normalize: bool) -> np.ndarray:
        if isinstance(key, str):
            return self.get_vector(key, norm=normalize)
        vector = np.asarray(key, dtype=np.float32)
        if vector.shape != (self.dim,):
            raise W2VError(f"a query vector must have {self.dim} values, not shape {vector.shape}")
        return vector

    def _query(self, positive: Terms, negative: Terms) -> tuple[np.ndarray, list[int]]:
        """(the unit mean vector of a most_similar query, the rows of its words)."""
        terms = [(term, 1.0) for term in _as_list(positive)]
        terms += [(term, -1.0) for term in _as_list(negative)]
        if not terms:
            raise W2VError("most_similar needs at least one word or vector")
        keys = [term[0] if isinstance(term, tuple) else term for term, _ in terms]
        weights = [term[1] if isinstance(term, tuple) else sign for term, sign in terms]
        mean = self.get_mean_vector(keys, weights, post_normalize=True, ignore_missing=False)
        return mean, self._rows_of([key for key in keys if isinstance(key, str)])

    def _rows_of(self, words: Sequence[str]) -> list[int]:
        """The rows of the words that are in the vocabulary (the others have none)."""
        return [self.key_to_index[self._key(word)] for word in words if word in self]

    def _search_end(self, restrict_vocab: int | None) -> int:
        if restrict_vocab is None:
            return len(self)
        if restrict_vocab < 1:
            raise W2VError(f"restrict_vocab must be a positive number of words, not {restrict_vocab}")
        return min(restrict_vocab, len(self))

    def _best(
        self, scores: np.ndarray, k: int, query_rows: Sequence[int], end: int
    ) -> list[tuple[str, float]]:
        """The `k` best of the first `end` words, none of `query_rows`."""
        exclude = np.unique(np.array([i for i in query_rows if i < end], dtype=np.intp))
        available = end - len(exclude)
        if not 1 <= k <= available:
            searched = f"the {end} words of the vocabulary" if end == len(self) else (
                f"the first {end} words of the vocabulary")
            raise W2VError(
                f"cannot list {k} words: k must be between 1 and {available} "
                f"({searched} minus the query words)"
            )
        return [(self.words[i], float(scores[i])) for i in top_k(scores, k, exclude)]

    def to_embedding(
        self, freeze: bool = True, padding_idx: int | None = None
    ) -> tuple[nn.Embedding, dict[str, int]]:
        """An nn.Embedding holding a copy of the vectors, and the map from word to its row.

        With `padding_idx`, a zero row is inserted there (the words after it move down one).
        """
        from torch import nn

        weights, index = self._table(padding_idx)
        return nn.Embedding.from_pretrained(weights, freeze=freeze, padding_idx=padding_idx), index

    def to_embedding_bag(
        self, mode: str = "mean", freeze: bool = True, padding_idx: int | None = None
    ) -> tuple[nn.EmbeddingBag, dict[str, int]]:
        """An nn.EmbeddingBag over a copy of the vectors, and the map from word to its row.

        Bags are given by `offsets` as usual; `per_sample_weights` needs mode="sum".
        """
        from torch import nn

        weights, index = self._table(padding_idx)
        bag = nn.EmbeddingBag.from_pretrained(
            weights, freeze=freeze, mode=mode, padding_idx=padding_idx
        )
        return bag, index

    def _table(self, padding_idx: int | None) -> tuple[torch.Tensor, dict[str, int]]:
        import torch

        weights = torch.tensor(self.vectors)
        if padding_idx is None:
            return weights, dict(self.key_to_index)
        if not 0 <= padding_idx <= len(self):
            raise ValueError(f"padding_idx must be between 0 and {len(self)}, got {padding_idx}")
        padding = torch.zeros(1, self.dim)
        weights = torch.cat([weights[:padding_idx], padding, weights[padding_idx:]])
        index = {word: i + (i >= padding_idx) for word, i in self.key_to_index.items()}
        return weights, index


def refuse_run_or_dataset_file(path: str | os.PathLike[str]) -> None:
    """An export never overwrites a file of a run or of a prepared dataset (links followed)."""
    target = Path(os.path.realpath(path))
    if is_run_file(target):
        owner = "run"
    elif target.name in (TOKENS, OFFSETS, VOCAB, META) and (target.parent / META).is_file():
        owner = "dataset"
    else:
        return
    raise W2VError(
        f"{path} is a file of the {owner} in {target.parent}; write the vectors to another path"
    )


def _as_list(terms: Terms) -> list[Term]:
    """One term or a list of them, as gensim's most_similar takes positive and negative."""
    if terms is None:
        return []
    if isinstance(terms, str) or (isinstance(terms, np.ndarray) and terms.ndim == 1):
        return [terms]
    return list(terms)
