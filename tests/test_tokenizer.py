from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from w2v.data import tokenizer as tokenizer_module
from w2v.data.tokenizer import Tokenizer, raw_text_hint
from w2v.errors import W2VError

WORDS = Tokenizer("words")


def words(text: str) -> list[str]:
    return WORDS.normalize(text).split()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Unicode letters and combining marks, in any script
        ("naïve café 日本語 Ελληνικά", ["naïve", "café", "日本語", "ελληνικά"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),
        ("cafe\u0301", ["café"]),  # e + combining acute, composed by NFKC
        # apostrophes and hyphens inside words only
        ("don't it’s rock'n'roll", ["don't", "it's", "rock'n'roll"]),
        ("'tis the dogs' 'quoted'", ["tis", "the", "dogs", "quoted"]),
        ("state-of-the-art co\u2010op -minus trailing- a--b", ["state-of-the-art", "co-op",
                                                               "minus", "trailing", "a", "b"]),
        # digits
        ("1913 3.14 1,000,000 v1.2 mp3 1990s covid-19", ["1913", "3.14", "1,000,000", "v1.2",
                                                         "mp3", "1990s", "covid-19"]),
        ("end. 5, 6 -7 $8", ["end", "5", "6", "7", "8"]),
        # case
        ("The THE the Straße İstanbul", ["the", "the", "the", "strasse", "i̇stanbul"]),
        # NFKC
        ("ﬁne Ｗｉｄｅ ① x² ℌ", ["fine", "wide", "1", "x2", "h"]),
        # punctuation, symbols, the underscore and emoji separate words and vanish
        ('"Hello," (she) said; e_mail @home #tag 😀 water.', ["hello", "she", "said", "e", "mail",
                                                              "home", "tag", "water"]),
    ],
)
def test_words_rules(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_words_keeps_lines() -> None:
    lines = WORDS.normalize("One, two.\n\n(Three)\n").split("\n")
    assert [line.split() for line in lines] == [["one", "two"], [], ["three"], []]


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_normalizing_twice_changes_nothing(text: str) -> None:
    once = WORDS.normalize(text)
    assert WORDS.normalize(once) == once
    for word in once.split():
        assert WORDS.normalize_word(word) == word


def test_whitespace_keeps_text_and_lowercase_lowers_it() -> None:
    text = "The Cat, sat.\nÉtat"
    assert Tokenizer().normalize(text) == text
    assert Tokenizer(lowercase=True).normalize(text) == "the cat, sat.\nétat"
    assert Tokenizer(lowercase=True).normalize_block(b"ABC d\n") == b"abc d\n"


def test_query_words_are_normalized_like_the_corpus() -> None:
    assert WORDS.normalize_word("Don’t") == "don't"
    assert WORDS.normalize_word("ＣＡＴ,") == "cat"
    assert WORDS.normalize_word("U.S.") is None  # two words
    assert WORDS.normalize_word("...") is None
    assert Tokenizer(lowercase=True).normalize_word("Chip") == "chip"
    assert Tokenizer().normalize_word("Chip") == "Chip"


def test_settings_round_trip_through_a_dict() -> None:
    for tokenizer in (Tokenizer(), Tokenizer(lowercase=True), WORDS):
        assert Tokenizer.from_dict(tokenizer.to_dict()) == tokenizer
    assert WORDS.to_dict() == {"name": "words", "lowercase": True}
    assert Tokenizer.from_dict(None) == Tokenizer()


@pytest.mark.parametrize("settings", [{"name": "bpe"}, {"name": "words", "lowercase": "yes"}, 7])
def test_unknown_settings_are_refused(settings: object) -> None:
    with pytest.raises(W2VError):
        Tokenizer.from_dict(settings)  # type: ignore[arg-type]


def test_unknown_tokenizer_is_one_line() -> None:
    with pytest.raises(W2VError, match="--tokenizer must be one of whitespace, words, not 'bpe'"):
        Tokenizer("bpe")


def test_raw_text_hint() -> None:
    raw = ["the", "of", "water,", "The", "and", "water.", "a", "(see", "is", "to"]
    hint = raw_text_hint(raw, [100, 90, 40, 30, 20, 20, 10, 10, 5, 5])
    assert hint is not None and "--tokenizer words" in hint
    assert "'water,'" in hint and "'The' and 'the'" in hint

    tokenized = ["the", "<unk>", "n't", "'s", "$", "u.s", "a", "of", "&", "N"]
    assert raw_text_hint(tokenized, [100, 90, 40, 30, 20, 20, 10, 10, 5, 5]) is None


PIECES = list("ab Z9.,'-_\n\t!é日’‐ﬁ") + ["A-B", "1.2", "x'y", "--", "''", "İ", "\u00a0"]


@settings(max_examples=300)
@given(text=st.lists(st.sampled_from(PIECES), max_size=60).map("".join),
       slow_share=st.sampled_from([0.0, 0.2, 1]))
def test_blocks_get_the_words_of_the_unicode_rules(text: str, slow_share: float) -> None:
    with mock.patch.object(tokenizer_module, "MAX_SLOW_LINE_SHARE", slow_share):
        check_blocks(text)


def check_blocks(text: str) -> None:
    for tokenizer in (WORDS, Tokenizer(lowercase=True)):
        expected = [line.split() for line in tokenizer.normalize(text).split("\n")]
        block = tokenizer.normalize_block(text.encode()).decode()
        assert [line.split() for line in block.split("\n")] == expected
