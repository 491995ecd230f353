"""The models: skip-gram and CBOW with negative sampling, on the contract of `w2v.models.base`."""

from __future__ import annotations

from w2v.models.base import NegativeSamplingModel, RowUpdates, Updates, WordInput
from w2v.models.cbow import CBOW
from w2v.models.skipgram import SkipGram

MODEL_CLASSES: dict[str, type[NegativeSamplingModel]] = {m.name: m for m in (SkipGram, CBOW)}

__all__ = ["CBOW", "MODEL_CLASSES", "NegativeSamplingModel", "RowUpdates", "SkipGram", "Updates",
           "WordInput"]
