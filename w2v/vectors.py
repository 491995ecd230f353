"""Trained word vectors: lookup, nearest neighbours, analogies, export to files and PyTorch."""

from __future__ import annotations

import difflib
import heapq
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from w2v.errors import W2VError
from w2v.fasttext_format import (
    FastTextModel,
    TrainingArgs,
    is_fasttext_bin,
    read_fasttext_bin,
    write_fasttext_bin,
)
from w2v.projector import write_projector_tsv
from w2v.run_vectors import read_run_vectors
from w2v.similarity import Method, method_scores, top_k, unit_rows
from w2v.subwords import SubwordTable
from w2v.word2vec_format import read_word2vec, write_word2vec

LoadFormat = Literal["auto", "run", "word2vec-text", "word2vec-binary", "fasttext-bin"]
SaveFormat = Literal["word2vec-binary", "word2vec-text", "tsv", "fasttext-bin"]

# Least difflib similarity ratio for a word to be suggested; difflib's own default.
_SUGGEST_CUTOFF = 0.6


class Vectors:
    """Words and their vectors (row i of `vectors` belongs to `words[i]`), queried by cosine.

    Names follow gensim's KeyedVectors where they overlap, and scores equal its scores. With
    `subwords` (fastText's input matrix and n-gram settings), a word outside the vocabulary
    also has a vector, as in gensim's FastTextKeyedVectors: the mean of its n-grams' rows.
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        counts: Sequence[int] | np.ndarray | None = None,
        subwords: SubwordTable | None = None,
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
        if subwords is not None and subwords.nwords != len(self.words):
            raise ValueError(f"the subword table has {subwords.nwords} word rows for "
                             f"{len(self.words)} words")
        self.subwords = subwords

    @classmethod
    def from_fasttext(cls, model: FastTextModel) -> Vectors:
        """The vectors of a fastText model: for its words, the mean of their own row and their
        n-grams' rows, as fastText and gensim compose them."""
        if model.subwords is None:
            return cls(model.words, model.input[: len(model.words)], model.counts)
        table = model.table()
        return cls(model.words, table.vocab_vectors(model.bag_words()), model.counts, table)

    @classmethod
    def load(cls, path: str | os.PathLike[str], format: LoadFormat = "auto") -> Vectors:
        """Load a run directory, a word2vec text/binary file or a fastText .bin model; "auto"
        tells them apart."""
        path = Path(path)
        if format == "run" or (format == "auto" and path.is_dir()):
            return cls(*read_run_vectors(path))
        if format == "fasttext-bin" or (format == "auto" and is_fasttext_bin(path)):
            return cls.from_fasttext(read_fasttext_bin(path))
        binary_by_format = {"auto": None, "word2vec-text": False, "word2vec-binary": True}
        if format not in binary_by_format:
            raise W2VError(
                f"unknown vector format {format!r}; "
                "expected auto, run, word2vec-text, word2vec-binary or fasttext-bin"
            )
        return cls(*read_word2vec(path, binary=binary_by_format[format]))

    def save(
        self, path: str | os.PathLike[str], format: SaveFormat = "word2vec-binary"
    ) -> list[Path]:
        """Write the vectors as `format`; return the files written.

        "tsv" writes two files for the Embedding Projector: the vectors at `path` and the
        words beside it as ``<stem>-metadata.tsv``.
        """
        if format == "tsv":
            return write_projector_tsv(path, self.words, self.vectors)
        if format == "fasttext-bin":
            if self.subwords is None:
                raise W2VError("fasttext-bin needs subword n-gram vectors, and these vectors "
                               "have none; write them as word2vec-binary instead")
            counts = self.counts if self.counts is not None else np.ones(len(self), np.int64)
            table = self.subwords
            write_fasttext_bin(path, FastTextModel(self.words, counts, table.input, None,
                                                   table.subwords, TrainingArgs(),
                                                   stored=table.stored))
            return [Path(path)]
        if format not in ("word2vec-binary", "word2vec-text"):
            raise W2VError(
                f"unknown vector format {format!r}; expected word2vec-binary, word2vec-text, "
                "tsv or fasttext-bin"
            )
        write_word2vec(path, self.words, self.vectors, binary=format == "word2vec-binary")
        return [Path(path)]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.key_to_index

    def __getitem__(self, word: str) -> np.ndarray:
        """The vector of `word`; with subwords, of any word (see the class)."""
        if word not in self.key_to_index and self.subwords is not None:
            return self.subwords.unseen_vectors([word])[0]
        return self.vectors[self.get_index(word)].copy()

    def __repr__(self) -> str:
        return f"Vectors({len(self)} words, dim {self.dim})"

    @cached_property
    def unit(self) -> np.ndarray:
        """The vectors scaled to length 1 (zero vectors stay zero), computed once."""
        return unit_rows(self.vectors)

    def get_index(self, word: str) -> int:
        """Row of `word`; an unknown word raises W2VError naming close known words."""
        try:
            return self.key_to_index[word]
        except KeyError:
            close = self.suggest(word)
            if close:
                hint = f"close words in the vocabulary: {', '.join(close)}"
            else:
                hint = "no close words in the vocabulary"
            raise W2VError(f"unknown word {word!r}; {hint}") from None

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

    def similarity(self, word1: str, word2: str) -> float:
        """Cosine similarity of two words (with subwords, any two words)."""
        if self.subwords is None:
            return float(self.unit[self.get_index(word1)] @ self.unit[self.get_index(word2)])
        first, second = unit_rows(np.stack([self[word1], self[word2]]))
        return float(first @ second)

    def most_similar(
        self,
        word: str | None = None,
        topn: int = 10,
        *,
        positive: Sequence[str] = (),
        negative: Sequence[str] = (),
    ) -> list[tuple[str, float]]:
        """The `topn` words closest in cosine to `word`, or, gensim-style, to the normalized
        sum of the `positive` unit vectors minus the `negative` ones; query words excluded."""
        positive = [word, *positive] if word is not None else list(positive)
        if not positive and not negative:
            raise W2VError("most_similar needs at least one word")
        return self._ranked(positive, list(negative), topn, "3cosadd")

    def analogy(
        self, a: str, b: str, c: str, k: int = 5, method: Method = "3cosadd"
    ) -> list[tuple[str, float]]:
        """Answers to "`a` is to `b` as `c` is to ?", best first, the three inputs excluded.

        "3cosadd" ranks by cosine with b - a + c; "3cosmul" by Levy & Goldberg's
        cos(x, b) * cos(x, c) / (cos(x, a) + 1e-6) with cosines shifted to [0, 1].
        """
        return self._ranked([b, c], [a], k, method)

    def _ranked(
        self, positive: list[str], negative: list[str], k: int, method: Method
    ) -> list[tuple[str, float]]:
        positive_ids = np.array([[self.get_index(w) for w in positive]], dtype=np.intp)
        negative_ids = np.array([[self.get_index(w) for w in negative]], dtype=np.intp)
        exclude = np.unique(np.concatenate([positive_ids[0], negative_ids[0]]))
        available = len(self) - len(exclude)
        if not 1 <= k <= available:
            raise W2VError(
                f"cannot list {k} words: k must be between 1 and {available} "
                f"(the {len(self)} words of the vocabulary minus the query words)"
            )
        scores = method_scores(self.unit, positive_ids, negative_ids, method)[0]
        return [(self.words[i], float(scores[i])) for i in top_k(scores, k, exclude)]

    def to_embedding(
        self, freeze: bool = True, padding_idx: int | None = None
    ) -> tuple[nn.Embedding, dict[str, int]]:
        """An nn.Embedding holding a copy of the vectors, and the map from word to its row.

        With `padding_idx`, a zero row is inserted there (the words after it move down one).
        """
        weights, index = self._table(padding_idx)
        return nn.Embedding.from_pretrained(weights, freeze=freeze, padding_idx=padding_idx), index

    def to_embedding_bag(
        self, mode: str = "mean", freeze: bool = True, padding_idx: int | None = None
    ) -> tuple[nn.EmbeddingBag, dict[str, int]]:
        """An nn.EmbeddingBag over a copy of the vectors, and the map from word to its row.

        Bags are given by `offsets` as usual; `per_sample_weights` needs mode="sum".
        """
        weights, index = self._table(padding_idx)
        bag = nn.EmbeddingBag.from_pretrained(
            weights, freeze=freeze, mode=mode, padding_idx=padding_idx
        )
        return bag, index

    def _table(self, padding_idx: int | None) -> tuple[torch.Tensor, dict[str, int]]:
        weights = torch.tensor(self.vectors)
        if padding_idx is None:
            return weights, dict(self.key_to_index)
        if not 0 <= padding_idx <= len(self):
            raise ValueError(f"padding_idx must be between 0 and {len(self)}, got {padding_idx}")
        padding = torch.zeros(1, self.dim)
        weights = torch.cat([weights[:padding_idx], padding, weights[padding_idx:]])
        index = {word: i + (i >= padding_idx) for word, i in self.key_to_index.items()}
        return weights, index
