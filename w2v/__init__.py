"""w2v: word2vec (skip-gram with negative sampling) on PyTorch."""

__version__ = "0.1.0"
