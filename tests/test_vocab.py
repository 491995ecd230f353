from pathlib import Path

import numpy as np
import pytest

from w2v.data.vocab import Vocab
from w2v.errors import W2VError

COUNTS = {"the": 50, "cat": 12, "bat": 12, "sat": 30, "rare": 3, "mat": 10}


def test_ids_follow_count_then_word() -> None:
    vocab = Vocab.build(COUNTS, min_count=10)

    assert vocab.words == ["the", "sat", "bat", "cat", "mat"]
    assert vocab.counts.tolist() == [50, 30, 12, 12, 10]
    assert vocab.counts.dtype == np.int64
    assert len(vocab) == 5
    assert vocab["bat"] == 2 and vocab["cat"] == 3
    assert "mat" in vocab and "rare" not in vocab


def test_order_does_not_depend_on_insertion_order() -> None:
    shuffled = dict(reversed(list(COUNTS.items())))
    assert Vocab.build(shuffled, min_count=1).words == Vocab.build(COUNTS, min_count=1).words


def test_max_vocab_keeps_the_commonest_with_ties_broken_by_word() -> None:
    vocab = Vocab.build(COUNTS, min_count=1, max_vocab=3)
    assert vocab.words == ["the", "sat", "bat"]


def test_all_words_under_min_count() -> None:
    with pytest.raises(W2VError, match="--min-count") as info:
        Vocab.build({"a": 3, "b": 7, "c": 1}, min_count=10)
    assert "'b', occurs 7 times" in str(info.value)
    assert "at most 7" in str(info.value)


def test_a_single_word_is_a_vocabulary() -> None:
    vocab = Vocab.build({"only": 10, "rare": 1}, min_count=10)
    assert vocab.words == ["only"]


@pytest.mark.parametrize(
    ("counts", "min_count", "max_vocab", "message"),
    [
        ({}, 1, None, "no words"),
        ({"a": 1}, 0, None, "--min-count must be at least 1"),
        ({"a": 1}, 1, 0, "--max-vocab must be at least 1"),
    ],
)
def test_build_rejects_bad_input(
    counts: dict[str, int], min_count: int, max_vocab: int | None, message: str
) -> None:
    with pytest.raises(W2VError, match=message):
        Vocab.build(counts, min_count=min_count, max_vocab=max_vocab)


def test_save_and_load(tmp_path: Path) -> None:
    vocab = Vocab.build({"ünï": 4, "<unk>": 9, "a'b": 4, "日本": 2}, min_count=1)
    vocab.save(tmp_path / "vocab.tsv")

    text = (tmp_path / "vocab.tsv").read_text(encoding="utf-8")
    assert text == "<unk>\t9\na'b\t4\nünï\t4\n日本\t2\n"
    loaded = Vocab.load(tmp_path / "vocab.tsv")
    assert loaded.words == vocab.words
    assert loaded.counts.tolist() == vocab.counts.tolist()
    assert loaded.index == vocab.index


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a\t3\nb 2\n", "line 2"),
        ("a\t3\nb\tx\n", "line 2"),
        ("a\t3\na\t2\n", "twice"),
        ("\t3\n", "line 1"),
    ],
)
def test_load_rejects_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "vocab.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(W2VError, match=message):
        Vocab.load(path)
