from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v.data.tokens import (
    HashIndex,
    KeyIndex,
    count_rows,
    key_bytes,
    rows_up_to,
    split_tokens,
)

# Tokens of every key width, white space of every kind str.split() knows, NUL, a line separator.
PIECES = ["a", "b", "é", "日本", "x" * 7, "y" * 8, "z" * 15, "w" * 16, "v" * 40, "\x00", " ",
          "\n", "\t", "\r", "\x0b", "\x1c", "\u00a0", "\u2003", "\u3000", "\u2028", "\u0085"]
texts = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)


def counted(text: str) -> Counter[str]:
    tokens = split_tokens(text.encode())
    counts: Counter[str] = Counter()
    for keys, _ in tokens.keys().values():
        distinct, n = count_rows(keys)
        counts.update(dict(zip((b.decode() for b in key_bytes(distinct)), n.tolist())))
    return counts


@settings(max_examples=200)
@given(texts)
def test_tokens_and_lines_are_those_of_str_split(text: str) -> None:
    block = text.encode()
    tokens = split_tokens(block)

    words = [block[s : s + n].decode() for s, n in zip(tokens.starts, tokens.lengths)]
    assert words == text.split()
    per_line = np.bincount(tokens.line_of_token, minlength=tokens.lines)
    assert per_line.tolist() == [len(line.split()) for line in text.split("\n")]


@settings(max_examples=200)
@given(texts)
def test_counting_keys_is_counting_strings(text: str) -> None:
    assert counted(text) == Counter(text.split())


def test_keys_tell_apart_what_differs_only_in_padding() -> None:
    # Same bytes up to zero padding, different lengths; one byte apart at each position.
    words = ["a", "a\x00", "a\x00\x00", "\x00a", "abcdefg", "abcdefg\x00", "abcdefgh",
             "abcdefgh\x00", "abcdefgi", "bbcdefgh"]
    assert counted(" ".join(words + words[:3])) == Counter(words + words[:3])


@settings(max_examples=100)
@given(texts, texts)
def test_key_index_finds_exactly_the_known_keys(known: str, asked: str) -> None:
    vocabulary = sorted(set(known.split()))
    index = {width: (KeyIndex(count_rows(keys)[0]), count_rows(keys)[0])
             for width, (keys, _) in split_tokens("\n".join(vocabulary).encode()).keys().items()}
    tokens = split_tokens(asked.encode())

    for width, (keys, where) in tokens.keys().items():
        if width not in index:
            continue
        lookup, distinct = index[width]
        found = lookup.find(keys)
        for row, position in zip(keys, found):
            matches = np.flatnonzero((distinct == row).all(axis=1))
            assert position == (matches[0] if len(matches) else -1)


def test_hash_index_with_collisions_and_misses() -> None:
    rng = np.random.default_rng(0)
    values = np.unique(rng.integers(0, 2**63, 5000, dtype=np.uint64))
    # Values that share their top bits land in one slot and probe onwards.
    crowded = np.arange(1, 200, dtype=np.uint64)
    values = np.unique(np.concatenate([values, crowded]))
    index = HashIndex(values)
    misses = rng.integers(0, 2**63, 500, dtype=np.uint64)
    queries = np.concatenate([values, misses, np.zeros(1, dtype=np.uint64)])

    found = index.find(queries)

    expected = np.searchsorted(values, queries)
    hit = values[np.minimum(expected, len(values) - 1)] == queries
    assert found.tolist() == np.where(hit, expected, -1).tolist()


def test_rows_up_to_is_lexicographic() -> None:
    rows = np.array([[1, 5], [2, 0], [2, 7], [3, 1]], dtype=np.uint64)
    assert [rows_up_to(rows, np.array(b, dtype=np.uint64)) for b in
            ([0, 9], [1, 5], [2, 6], [2, 7], [9, 0])] == [0, 1, 2, 3, 4]


def test_summing_counts() -> None:
    keys = np.array([[3], [1], [3], [2], [1]], dtype=np.uint64)
    distinct, counts = count_rows(keys, np.array([1, 10, 100, 1000, 10000]))
    assert distinct[:, 0].tolist() == [1, 2, 3]
    assert counts.tolist() == [10010, 1000, 101]
