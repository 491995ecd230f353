"""Cosine scoring of whole vocabularies: nearest neighbours and analogies as matrix products.

Every function takes `matrix`, the word vectors as they are, and `norms`, their lengths (computed
once; zero lengths replaced by the smallest float so that zero vectors score 0), and scores all
rows at once for a batch of queries: the cosine of row r with a unit query q is
``matrix[r] @ q / norms[r]``, as gensim computes it, without a normalized copy of the matrix.
Analogy queries are given as the unit vectors of their words, `positive` and `negative` of shape
[queries, words per query, dim] (`unit_vectors` looks them up by word ids).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from w2v.errors import W2VError

Method = Literal["3cosadd", "3cosmul"]
METHODS: tuple[Method, ...] = ("3cosadd", "3cosmul")

# Added to 3CosMul's denominator to avoid dividing by zero; the value gensim uses.
COSMUL_EPSILON = 1e-6


def safe_norms(matrix: np.ndarray) -> np.ndarray:
    """The length of each row, with zero lengths replaced by the smallest positive float."""
    squares = np.einsum("ij,ij->i", matrix, matrix)  # no squared copy of the matrix
    return np.maximum(np.sqrt(squares), np.finfo(matrix.dtype).tiny)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to length 1; all-zero rows stay zero."""
    return matrix / safe_norms(matrix)[:, None]


def cosines(matrix: np.ndarray, norms: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """[queries, rows]: the cosine of every row with each unit query vector; one matrix product."""
    return (queries @ matrix.T) / norms


def unit_vectors(matrix: np.ndarray, norms: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """[*ids.shape, dim]: the rows `ids` scaled to length 1."""
    return matrix[ids] / norms[ids][..., None]


def cosadd_scores(
    matrix: np.ndarray, norms: np.ndarray, positive: np.ndarray, negative: np.ndarray
) -> np.ndarray:
    """Cosine of every row with the normalized sum of positive minus negative unit vectors."""
    query = positive.sum(axis=1) - negative.sum(axis=1)
    return cosines(matrix, norms, unit_rows(query))


def cosmul_scores(
    matrix: np.ndarray, norms: np.ndarray, positive: np.ndarray, negative: np.ndarray
) -> np.ndarray:
    """3CosMul (Levy & Goldberg 2014): product of positive over product of negative cosines,
    each shifted from [-1, 1] to [0, 1]."""
    queries, n_positive, dim = positive.shape
    units = np.concatenate([positive, negative], axis=1)
    each = cosines(matrix, norms, units.reshape(-1, dim))
    shifted = (1 + each.reshape(queries, units.shape[1], -1)) / 2
    numerator = shifted[:, :n_positive].prod(axis=1)
    denominator = shifted[:, n_positive:].prod(axis=1) + COSMUL_EPSILON
    return numerator / denominator


def method_scores(
    matrix: np.ndarray, norms: np.ndarray, positive: np.ndarray, negative: np.ndarray, method: Method
) -> np.ndarray:
    """Scores of every row for a batch of queries (unit vectors [queries, words, dim]), by
    `method` ("3cosadd" or "3cosmul")."""
    if method == "3cosadd":
        return cosadd_scores(matrix, norms, positive, negative)
    if method == "3cosmul":
        return cosmul_scores(matrix, norms, positive, negative)
    raise W2VError(f"unknown analogy method {method!r}; expected one of {', '.join(METHODS)}")


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    """Ids of the `k` highest scores, best first, never one of `exclude`."""
    scores = scores.copy()
    scores[exclude] = -np.inf
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]

