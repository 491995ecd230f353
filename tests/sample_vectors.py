"""Seeded, structured word vectors for the tests, and gensim's view of the same vectors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from w2v.vectors import Vectors

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

DIM = 16


def structured_vectors(seed: int = 0, pairs: int = 40, fillers: int = 200) -> Vectors:
    """Country/capital and male/female word pairs related by a shared offset plus noise
    (so some analogies come out right and some wrong), a few words in several spellings,
    and unrelated filler words; counts descend like a frequency-sorted vocabulary."""
    rng = np.random.default_rng(seed)
    words: list[str] = []
    rows: list[np.ndarray] = []
    for relation in ("capital", "female"):
        offset = rng.normal(size=DIM)
        for i in range(pairs):
            base = rng.normal(size=DIM)
            words += [f"{relation}-from{i}", f"{relation}-to{i}"]
            rows += [base, base + offset + rng.normal(scale=0.8, size=DIM)]
    for word in ("Paris", "PARIS", "paris", "King", "king"):
        words.append(word)
        rows.append(rng.normal(size=DIM))
    for i in range(fillers):
        words.append(f"filler{i}")
        rows.append(rng.normal(size=DIM))
    order = rng.permutation(len(words))
    words = [words[i] for i in order]
    matrix = np.array(rows, dtype=np.float32)[order]
    counts = np.arange(len(words), 0, -1) * 3
    return Vectors(words, matrix, counts)


def as_gensim(vectors: Vectors) -> KeyedVectors:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.dim)
    kv.add_vectors(vectors.words, vectors.vectors.copy())
    return kv
