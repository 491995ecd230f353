"""Cosine scoring of whole vocabularies: nearest neighbours and analogies as matrix products.

Every function takes `unit`, a matrix of row-normalized vectors, and scores all its rows at once
for a batch of queries. Queries are given as word ids, `positive` and `negative` of shape
[queries, words per query].
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from w2v.errors import W2VError

Method = Literal["3cosadd", "3cosmul"]
METHODS: tuple[Method, ...] = ("3cosadd", "3cosmul")

# Added to 3CosMul's denominator to avoid dividing by zero; the value gensim uses.
COSMUL_EPSILON = 1e-6


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to length 1; all-zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.finfo(matrix.dtype).tiny)


def cosadd_scores(unit: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Cosine of every row with the normalized sum of positive minus negative vectors."""
    query = unit[positive].sum(axis=1) - unit[negative].sum(axis=1)
    return unit_rows(query) @ unit.T


def cosmul_scores(unit: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """3CosMul (Levy & Goldberg 2014): product of positive over product of negative cosines,
    each shifted from [-1, 1] to [0, 1]."""
    queries, n_positive = positive.shape
    ids = np.concatenate([positive, negative], axis=1)
    cosines = (unit[ids.reshape(-1)] @ unit.T).reshape(queries, ids.shape[1], -1)
    shifted = (1 + cosines) / 2
    numerator = shifted[:, :n_positive].prod(axis=1)
    denominator = shifted[:, n_positive:].prod(axis=1) + COSMUL_EPSILON
    return numerator / denominator


def method_scores(
    unit: np.ndarray, positive: np.ndarray, negative: np.ndarray, method: Method
) -> np.ndarray:
    """Scores of every row for a batch of queries, by `method` ("3cosadd" or "3cosmul")."""
    if method == "3cosadd":
        return cosadd_scores(unit, positive, negative)
    if method == "3cosmul":
        return cosmul_scores(unit, positive, negative)
    raise W2VError(f"unknown analogy method {method!r}; expected one of {', '.join(METHODS)}")


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    """Ids of the `k` highest scores, best first, never one of `exclude`."""
    scores = scores.copy()
    scores[exclude] = -np.inf
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]
