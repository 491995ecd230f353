"""w2v: word2vec (skip-gram with negative sampling) on PyTorch."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Vectors"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import w2v` and `w2v prepare` stay light.
    if name == "Vectors":
        from w2v.vectors import Vectors

        return Vectors
    raise AttributeError(f"module 'w2v' has no attribute {name!r}")
