"""w2v: word2vec (skip-gram and CBOW with negative sampling) on PyTorch.

    import w2v
    data = w2v.prepare("corpus.txt", min_count=5)     # -> w2v.Dataset
    run = w2v.train(data, dim=100, epochs=5)          # -> w2v.Run
    run.vectors.most_similar("chip", 5)               # w2v.Vectors

Names are imported when first used, so `import w2v` (and `w2v prepare`) does not import torch.
"""

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

# PyTorch backs its large CPU tensors with 2 MB pages when this is set before its first
# allocation: a step reads and writes rows all over tables of hundreds of MB, and with 4 kB
# pages most of those reads miss the TLB (BENCHMARKS.md, "Cheaper row work, and huge pages").
# Only where the kernel has transparent huge pages: elsewhere PyTorch would warn.
if os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"):
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
__all__ = ["Dataset", "EpochEvent", "Run", "TrainConfig", "Vectors", "W2VError", "prepare",
           "train"]

_HOMES = {
    "prepare": "w2v.api",
    "train": "w2v.api",
    "Dataset": "w2v.data.corpus",
    "Run": "w2v.run",
    "EpochEvent": "w2v.trainer",
    "TrainConfig": "w2v.config",
    "Vectors": "w2v.vectors",
    "W2VError": "w2v.errors",
}

if TYPE_CHECKING:
    from w2v.api import prepare, train
    from w2v.config import TrainConfig
    from w2v.data.corpus import Dataset
    from w2v.errors import W2VError
    from w2v.run import Run
    from w2v.trainer import EpochEvent
    from w2v.vectors import Vectors


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'w2v' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
