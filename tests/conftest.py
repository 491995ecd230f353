from __future__ import annotations

import pytest
from gensim.models import KeyedVectors
from sample_vectors import as_gensim, structured_vectors

from w2v.vectors import Vectors


@pytest.fixture(scope="session")
def vectors() -> Vectors:
    return structured_vectors()


@pytest.fixture(scope="session")
def gensim_kv(vectors: Vectors) -> KeyedVectors:
    return as_gensim(vectors)
