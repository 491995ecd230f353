"""Character n-grams and their buckets follow fastText's Dictionary::computeSubwords."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models.fasttext import compute_ngrams_bytes, ft_hash_bytes, ft_ngram_hashes
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v.errors import W2VError
from w2v.subwords import (
    EOS,
    Subwords,
    SubwordTable,
    WordBags,
    char_ngrams,
    compact,
    fasttext_hash,
    mean_rows,
)

# ASCII, two-byte (é, ß), three-byte (日本語, ∂), four-byte (emoji, 𝔸) characters, a combining
# accent (two characters that print as one), one-letter words and the empty word
WORDS = ["where", "a", "", "naïve", "日本語", "émigré", "ab", "😀x", "banana", "Zürich-straße",
         "e\u0301t\u0301e\u0301", "𝔸𝔹ℂ∂", "x" * 30, "<>", "<a>", "Ω"]


def test_where_has_the_ngrams_of_the_fasttext_paper() -> None:
    # Bojanowski et al.: the 3-grams of "where" are <wh, whe, her, ere, re>
    assert char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
    # by first character, then length, as fastText emits them
    assert char_ngrams("where", 3, 6) == [
        "<wh", "<whe", "<wher", "<where", "whe", "wher", "where", "where>",
        "her", "here", "here>", "ere", "ere>", "re>"]


def test_ngrams_count_characters_not_bytes() -> None:
    # "<été>" is 5 characters but 7 bytes; a byte count would cut "é" in half
    assert char_ngrams("été", 3, 6) == ["<ét", "<été", "<été>", "été", "été>", "té>"]
    assert Subwords(3, 6, 1000).buckets_of("été").tolist() == [
        fasttext_hash(n.encode()) % 1000 for n in ["<ét", "<été", "<été>", "été", "été>", "té>"]]


def test_single_word_ends_are_not_ngrams() -> None:
    assert char_ngrams("ab", 1, 1) == ["a", "b"]
    assert char_ngrams("ab", 1, 2) == ["<a", "a", "ab", "b", "b>"]
    assert Subwords(1, 1, 97).buckets_of("ab").tolist() == [fasttext_hash(b"a") % 97,
                                                             fasttext_hash(b"b") % 97]


def test_end_of_sentence_token_has_no_ngrams() -> None:
    assert char_ngrams(EOS, 3, 6) == []
    bags = Subwords(3, 6, 100).vocab_bags(["x", EOS, "y"])
    assert bags.bag(1).tolist() == [1]  # its own row only
    assert len(bags.bag(0)) == len(bags.bag(2)) == 2  # "<x>" + its word row


def test_hash_is_fnv1a_with_sign_extended_bytes() -> None:
    # ASCII: the standard 32-bit FNV-1a ("a" -> 0xe40c292c)
    assert fasttext_hash(b"a") == 0xE40C292C
    # a byte >= 0x80 is a signed char: 0xC3 is xored in as 0xFFFFFFC3, not 0x000000C3
    assert fasttext_hash(b"\xc3") == ((2166136261 ^ 0xFFFFFFC3) * 16777619) % 2**32 == 3321057138
    assert fasttext_hash(b"\xc3") != ((2166136261 ^ 0xC3) * 16777619) % 2**32
    assert fasttext_hash(b"") == 2166136261


@pytest.mark.parametrize("data", [b"a", b"<wh", "日本語".encode(), b"\xff\x80\x00", bytes(range(256))])
def test_hash_equals_gensims(data: bytes) -> None:
    assert fasttext_hash(data) == ft_hash_bytes(data)


@pytest.mark.parametrize(("minn", "maxn", "buckets"),
                         [(3, 6, 2_000_000), (1, 1, 1000), (1, 4, 2**31 - 1), (2, 2, 7), (5, 8, 10)])
def test_buckets_equal_gensims_for_every_word(minn: int, maxn: int, buckets: int) -> None:
    bags = Subwords(minn, maxn, buckets).bucket_bags(WORDS)
    for i, word in enumerate(WORDS):
        assert bags.bag(i).tolist() == ft_ngram_hashes(word, minn, maxn, buckets), word
        ngrams = [n.encode() for n in char_ngrams(word, minn, maxn)]
        assert ngrams == compute_ngrams_bytes(word, minn, maxn), word


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=20),
       st.integers(1, 4), st.integers(0, 3), st.integers(1, 5000))
def test_buckets_equal_gensims_for_any_text(words: list[str], minn: int, extra: int,
                                            buckets: int) -> None:
    words = [w for w in words if w != EOS]
    bags = Subwords(minn, minn + extra, buckets).bucket_bags(words)
    assert [bags.bag(i).tolist() for i in range(len(words))] == \
        [ft_ngram_hashes(w, minn, minn + extra, buckets) for w in words]


def test_bytes_that_are_not_utf8_are_cut_as_fasttext_cuts_them() -> None:
    # 0xFF is no continuation byte, so it starts a character of its own: "<", 0xFF, "a", ">"
    expected = [b"<\xffa", b"<\xffa>", b"\xffa>"]
    assert Subwords(3, 6, 1000).buckets_of(b"\xffa").tolist() == \
        [fasttext_hash(n) % 1000 for n in expected]
    # a stray continuation byte belongs to the character before it: "<", "a\x80", "b", ">"
    assert Subwords(3, 3, 1000).buckets_of(b"a\x80b").tolist() == \
        [fasttext_hash(n) % 1000 for n in [b"<a\x80b", b"a\x80b>"]]


def test_vocab_bags_put_the_word_row_first_then_the_buckets_after_the_words() -> None:
    sub = Subwords(3, 6, 50)
    bags = sub.vocab_bags(WORDS)
    for i, word in enumerate(WORDS):
        assert bags.bag(i).tolist() == [i] + [len(WORDS) + b for b in sub.buckets_of(word)]
    assert bags.ids.dtype == np.int64 and bags.offsets[-1] == len(bags.ids)


def test_settings_are_checked() -> None:
    for minn, maxn, buckets in [(0, 3, 10), (4, 3, 10), (3, 6, 0), (3, 6, 2**31)]:
        with pytest.raises(W2VError):
            Subwords(minn, maxn, buckets)


def test_mean_rows_averages_each_bag_and_gives_zero_for_an_empty_one() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(30, 4)).astype(np.float32)
    bags = WordBags(np.array([3, 3, 7, 0, 29, 5, 5, 5]), np.array([0, 3, 3, 4, 8]))
    expected = np.stack([table[[3, 3, 7]].mean(0), np.zeros(4), table[[0]].mean(0),
                         table[[29, 5, 5, 5]].mean(0)])
    np.testing.assert_allclose(mean_rows(table, bags), expected, rtol=1e-6)
    np.testing.assert_allclose(mean_rows(table, bags, chunk_rows=1), expected, rtol=1e-6)


def test_subword_table_composes_vocab_and_unseen_words_as_fasttext() -> None:
    rng = np.random.default_rng(1)
    words, sub = ["stock", "stocks", "été"], Subwords(3, 5, 40)
    table = SubwordTable(sub, rng.normal(size=(3 + 40, 6)).astype(np.float32))
    vocab = table.vocab_vectors(words)
    np.testing.assert_array_equal(table.vocab_vectors(words, words_per_chunk=2), vocab)
    for i, word in enumerate(words):
        rows = [i] + [3 + b for b in sub.buckets_of(word)]
        np.testing.assert_allclose(vocab[i], table.input[rows].mean(0), rtol=1e-5)
    unseen = table.unseen_vectors(["stocking", ""])
    rows = [3 + b for b in sub.buckets_of("stocking")]
    np.testing.assert_allclose(unseen[0], table.input[rows].mean(0), rtol=1e-5)
    assert not unseen[1].any()


def compact_and_full_tables(seed: int = 2) -> tuple[SubwordTable, SubwordTable, list[str]]:
    """A table of every bucket whose unused buckets are zero, and the same table storing only
    the buckets the vocabulary uses."""
    rng = np.random.default_rng(seed)
    sub, words = Subwords(2, 4, 500), WORDS[:10]
    bags, stored = compact(sub.vocab_bags(words), len(words))
    assert len(stored) < 500 and np.all(np.diff(stored) > 0)
    rows = rng.normal(size=(len(words) + len(stored), 3)).astype(np.float32)
    full = np.zeros((len(words) + 500, 3), dtype=np.float32)
    full[:len(words)] = rows[:len(words)]
    full[len(words) + stored] = rows[len(words):]
    # the renumbered bags read the same rows of the compact table as the full bags do
    np.testing.assert_array_equal(mean_rows(rows, bags),
                                  mean_rows(full, sub.vocab_bags(words)))
    return SubwordTable(sub, rows, stored), SubwordTable(sub, full), words


def test_a_compact_table_gives_the_vectors_of_the_full_one() -> None:
    compact_table, full_table, words = compact_and_full_tables()
    assert compact_table.nwords == full_table.nwords == len(words)
    np.testing.assert_array_equal(compact_table.vocab_vectors(words),
                                  full_table.vocab_vectors(words))
    unseen = ["stocking", "zzzz", "日本人", "", "where"]
    np.testing.assert_array_equal(compact_table.unseen_vectors(unseen),
                                  full_table.unseen_vectors(unseen))
    assert compact_table.unseen_vectors(["where"]).any()


@pytest.mark.parametrize(("start", "stop"), [(0, 510), (0, 3), (5, 40), (10, 11), (200, 510)])
def test_a_compact_table_expands_to_fasttexts_rows(start: int, stop: int) -> None:
    compact_table, full_table, _ = compact_and_full_tables()
    np.testing.assert_array_equal(compact_table.fasttext_rows(start, stop),
                                  full_table.input[start:stop])
