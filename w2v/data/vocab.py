"""The vocabulary: the words kept for training, their counts, and word <-> id.

Ids follow the count, most frequent word first; equal counts are ordered by the words
themselves, so the same counts always give the same ids. On disk it is `vocab.tsv`, UTF-8,
line i holding `word<TAB>count` for id i.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from w2v.atomic import atomic_path
from w2v.errors import W2VError


def check_limits(min_count: int, max_vocab: int | None) -> None:
    if min_count < 1:
        raise W2VError(f"--min-count must be at least 1, not {min_count}")
    if max_vocab is not None and max_vocab < 1:
        raise W2VError(f"--max-vocab must be at least 1, not {max_vocab}")


class Vocab:
    """Words in id order with their corpus counts."""

    def __init__(self, words: list[str], counts: np.ndarray) -> None:
        if len(words) != len(counts):
            raise ValueError(f"{len(words)} words but {len(counts)} counts")
        self.words = words
        self.counts = np.asarray(counts, dtype=np.int64)
        self.index = {word: i for i, word in enumerate(words)}
        if len(self.index) != len(words):
            raise ValueError("duplicate words")

    @classmethod
    def build(
        cls, counts: Mapping[str, int], min_count: int = 10, max_vocab: int | None = None
    ) -> Vocab:
        """Keep the words seen at least `min_count` times, at most `max_vocab` of the commonest."""
        check_limits(min_count, max_vocab)
        if not counts:
            raise W2VError("the corpus has no words")
        commonest = max(counts.items(), key=lambda item: item[1])
        kept = [(word, n) for word, n in counts.items() if n >= min_count]
        return cls.of_kept(kept, min_count, max_vocab, commonest)

    @classmethod
    def of_kept(
        cls,
        kept: list[tuple[str, int]],
        min_count: int,
        max_vocab: int | None,
        commonest: tuple[str, int],
    ) -> Vocab:
        """The vocabulary of the words that passed `min_count`; `commonest` explains an empty one."""
        if not kept:
            word, top = commonest
            raise W2VError(
                f"no word occurs {min_count} times or more (the commonest, {word!r}, occurs "
                f"{top} times); use a lower --min-count, at most {top}"
            )
        kept = sorted(kept, key=lambda item: (-item[1], item[0]))[:max_vocab]
        return cls([word for word, _ in kept], np.array([n for _, n in kept], dtype=np.int64))

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{word}\t{n}\n" for word, n in zip(self.words, self.counts.tolist()))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        try:
            lines = Path(path).read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise W2VError(f"cannot read the vocabulary {path}: {exc}") from exc
        if lines[-1] == "":
            lines.pop()
        words, counts, seen = [], [], set()
        for number, line in enumerate(lines, start=1):
            word, tab, count = line.partition("\t")
            count = count.removesuffix("\r")
            if not (word and tab and count.isascii() and count.isdigit()):
                raise W2VError(f"{path}: line {number}: expected 'word<TAB>count', found {line!r}")
            if word in seen:
                raise W2VError(f"{path}: line {number}: duplicate word {word!r} (a word is listed "
                               f"twice)")
            seen.add(word)
            words.append(word)
            counts.append(int(count))
        return cls(words, np.array(counts, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        return self.index[word]
