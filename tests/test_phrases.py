import math
import re
from pathlib import Path

import numpy as np
import pytest
from gensim.models.phrases import Phrases as GensimPhrases
from gensim.models.phrases import npmi_scorer
from hypothesis import given, settings
from hypothesis import strategies as st
from support import planted_text, reference, word2phrase_c

from w2v.data.phrases import (
    Phrase,
    PhraseCounter,
    Phrases,
    PhraseSettings,
    compact,
    pair_tables,
    query_token,
    score,
)
from w2v.data.tokenizer import Tokenizer
from w2v.data.tokens import count_rows, key_bytes, split_tokens
from w2v.errors import W2VError


def learn(lines: list[str], settings: PhraseSettings, spill_dir: Path,
          memory: int = 1 << 30) -> tuple[Phrases, list[list[str]]]:
    """Learn `settings.passes` passes on `lines`, one block per line; the phrases and the text
    joined by all of them."""
    phrases = Phrases()
    for number in range(1, settings.passes + 1):
        counter = PhraseCounter(spill_dir / str(number), memory)
        for line in lines:
            tokens, _ = phrases.join(split_tokens(f"{line}\n".encode()))
            words = {w: count_rows(keys) for w, (keys, _) in tokens.keys().items()}
            counter.add(words, pair_tables(tokens), len(tokens))
        phrases = phrases.then(counter.learn(settings, number))
    return phrases, [joined(phrases, line) for line in lines]


def joined(phrases: Phrases, text: str) -> list[str]:
    tokens, _ = phrases.join(split_tokens(text.encode()))
    return [tokens.buffer[s : s + n].tobytes().decode() for s, n in
            zip(tokens.starts.tolist(), tokens.lengths.tolist())]


def test_word2phrase_score_is_the_c_tools_float_arithmetic() -> None:
    # (15 - 5) / 10 / 10 * 10000 = 1000 exactly; a pair scores above the threshold only.
    value = score("word2phrase", np.array([15]), np.array([10]), np.array([10]), 10_000, 5)
    assert value.dtype == np.float32 and value.tolist() == [1000.0]
    assert PhraseSettings(1, threshold=1000).threshold == 1000.0
    # In 32-bit floats, in word2phrase.c's order: 1/3 rounds differently than in 64 bits.
    big = score("word2phrase", np.array([6]), np.array([3]), np.array([7]), 16_777_217, 5)
    f = np.float32
    assert big[0] == f(1) / f(3) / f(7) * f(16_777_217)


def test_npmi_is_gensims() -> None:
    rng = np.random.default_rng(0)
    first, second = rng.integers(50, 5000, 200), rng.integers(50, 5000, 200)
    pair = np.minimum(first, second) // rng.integers(1, 9, 200) + 5
    ours = score("npmi", pair, first, second, 100_000, 5)
    theirs = [npmi_scorer(a, b, n, 0, 5, 100_000) for a, b, n in zip(first, second, pair)]
    assert ours.tolist() == pytest.approx(theirs, abs=1e-15)
    assert ours.min() >= -1 and ours.max() <= 1


@pytest.mark.parametrize("scoring", ["word2phrase", "npmi"])
@pytest.mark.parametrize("passes", [1, 2])
def test_learning_and_joining_match_the_plain_algorithm(tmp_path: Path, scoring: str,
                                                        passes: int) -> None:
    lines, _ = planted_text()
    threshold = {"word2phrase": 10.0, "npmi": 0.3}[scoring]
    options = PhraseSettings(passes, scoring, threshold, min_count=3)

    phrases, text = learn(lines, options, tmp_path)

    tables, expected = reference([line.split() for line in lines], options)
    assert text == expected
    for number, table in enumerate(tables, start=1):
        ours = {(p.first, p.second): (p.count, p.score) for p in phrases.phrases
                if p.pass_number == number}
        assert ours.keys() == table.keys()
        for pair, (count, value) in table.items():
            assert ours[pair][0] == count and ours[pair][1] == pytest.approx(value, rel=1e-12)
    assert phrases.passes == passes
    if passes == 2:
        assert any(t == "new_york_times" for line in text for t in line)


def test_word2phrase_joins_as_the_c_tool_within_lines(tmp_path: Path) -> None:
    lines, _ = planted_text(seed=5, lines=600)

    _, text = learn(lines, PhraseSettings(1, "word2phrase", 30.0, 4), tmp_path)

    c_tool = word2phrase_c(lines, min_count=4, threshold=30.0, across_lines=False)
    assert [" ".join(line) for line in text] == c_tool
    assert sum(line.count("_") for line in c_tool) > 100


def test_the_c_tool_also_counts_pairs_across_line_ends(tmp_path: Path) -> None:
    # "x y" twice on a line and four times across a line end: 6 >= 5 for the C tool only.
    lines = ["a b x", "y c d"] * 4 + ["x y e f"] * 2 + [f"g{i} h{i}" for i in range(40)]

    _, text = learn(lines, PhraseSettings(1, "word2phrase", 1.0, 5), tmp_path)

    assert text[-41] == ["x", "y", "e", "f"]
    assert word2phrase_c(lines, min_count=5, threshold=1.0)[-41] == "x_y e f"
    assert word2phrase_c(lines, min_count=5, threshold=1.0, across_lines=False)[-41] == "x y e f"


@pytest.mark.parametrize("threshold", [-0.5, 0.0, 0.4, 0.8])
@pytest.mark.parametrize("min_count", [1, 5, 20])
def test_npmi_phrases_are_gensims(tmp_path: Path, threshold: float, min_count: int) -> None:
    lines, planted = planted_text(seed=1)
    options = PhraseSettings(1, "npmi", threshold, min_count)

    phrases, _ = learn(lines, options, tmp_path)

    theirs = GensimPhrases([line.split() for line in lines], min_count=min_count,
                           threshold=threshold, scoring="npmi").export_phrases()
    ours = {p.token: p.score for p in phrases.phrases}
    assert ours.keys() == theirs.keys()
    assert all(ours[k] == pytest.approx(v, abs=1e-12) for k, v in theirs.items())
    if threshold == 0.8 and min_count == 5:
        assert ours.keys() == planted  # only the planted pairs are that closely bound


@pytest.mark.parametrize("scoring", ["word2phrase", "npmi"])
def test_thresholds_and_min_count_decide(tmp_path: Path, scoring: str) -> None:
    lines, planted = planted_text(seed=2)
    loose = {"word2phrase": 1.0, "npmi": 0.0}[scoring]
    strict = {"word2phrase": 10_000.0, "npmi": 0.99}[scoring]

    few, _ = learn(lines, PhraseSettings(1, scoring, strict, 5), tmp_path / "strict")
    many, _ = learn(lines, PhraseSettings(1, scoring, loose, 5), tmp_path / "loose")
    rare, _ = learn(lines, PhraseSettings(1, scoring, loose, 10**6), tmp_path / "rare")

    tokens = {p.token for p in few.phrases}
    assert tokens <= planted <= {p.token for p in many.phrases} and len(few) < len(many)
    assert all(p.score > strict for p in few.phrases)
    assert all(p.score > loose and p.count >= 5 for p in many.phrases)
    assert len(rare) == 0


def test_joining_is_greedy_left_to_right_within_lines() -> None:
    phrases = Phrases([Phrase("a", "a", 9, 1.0, 1), Phrase("b", "c", 9, 1.0, 1),
                       Phrase("c", "d", 9, 1.0, 1), Phrase("new", "york", 9, 1.0, 1),
                       Phrase("new_york", "times", 9, 1.0, 2)])

    assert joined(phrases, "a a a a a") == ["a_a", "a_a", "a"]
    assert joined(phrases, "b c d") == ["b_c", "d"]
    assert joined(phrases, "x c d") == ["x", "c_d"]
    assert joined(phrases, "the new york times") == ["the", "new_york_times"]
    assert joined(phrases, "new\nyork") == ["new", "york"]  # never across a line end
    assert joined(phrases, "new \t york\n\n a  a") == ["new_york", "a_a"]


def test_joined_text_keeps_the_lines() -> None:
    phrases = Phrases([Phrase("new", "york", 9, 1.0, 1)])
    text = " new  york\n\n\nx y \nnew york\n"

    tokens, words = phrases.join(split_tokens(text.encode()))

    assert tokens.buffer[:-8].tobytes() == b"new_york\nx y\nnew_york\n"
    assert tokens.line_of_token.tolist() == [0, 1, 1, 2] and tokens.lines == 4
    assert words.tolist() == [2, 1, 1, 2]


@settings(max_examples=150)
@given(st.lists(st.sampled_from(["a", "bb", "é", "x" * 9, " ", "  ", "\n", "\t", "\u3000"]),
                max_size=40).map("".join))
def test_compact_keeps_tokens_and_where_lines_end(text: str) -> None:
    tokens = compact(split_tokens(text.encode()))

    out = tokens.buffer[:-8].tobytes().decode()
    assert out.split() == text.split()
    assert "  " not in out and "\n\n" not in out and " \n" not in out and "\n " not in out
    lines = [line.split() for line in text.split("\n")]
    if not text.split():
        assert out == ("\n" if len(lines) > 1 else "")
        return
    # The first and last lines may continue in the blocks around: they stay, even empty.
    kept = [lines[0], *(line for line in lines[1:-1] if line), *lines[1:][-1:]]
    assert [line.split() for line in out.split("\n")] == kept
    assert tokens.lines == len(kept)
    assert tokens.line_of_token.tolist() == [i for i, line in enumerate(kept) for _ in line]


def test_pair_tables_count_neighbours_on_a_line() -> None:
    text = "a b a b\nb a\n\nc  d\te"
    counts = {}
    for keys, n in pair_tables(compact(split_tokens(text.encode()))).values():
        counts.update(zip((k.decode() for k in key_bytes(keys)), n.tolist()))
    assert counts == {"a b": 2, "b a": 2, "c d": 1, "d e": 1}


def test_pairs_of_long_and_multibyte_words(tmp_path: Path) -> None:
    long_a, long_b = "ü" * 11, "x" * 23
    lines = [f"{long_a} {long_b} z", f"q {long_a} {long_b}", "z q"] * 6

    phrases, text = learn(lines, PhraseSettings(1, "word2phrase", 1.0, 3), tmp_path)

    assert [(p.first, p.second) for p in phrases.phrases] == [(long_a, long_b)]
    assert text[0] == [f"{long_a}_{long_b}", "z"]


def test_counting_pairs_in_little_memory_is_exact(tmp_path: Path) -> None:
    lines, _ = planted_text(seed=3, lines=600)
    options = PhraseSettings(2, "word2phrase", 20.0, 3)
    roomy, roomy_text = learn(lines, options, tmp_path / "roomy")

    tight, tight_text = learn(lines, options, tmp_path / "tight", memory=4000)

    assert tight == roomy and tight_text == roomy_text
    assert len(list((tmp_path / "tight").rglob("*.keys"))) >= 10


def test_query_token_joins_as_the_corpus_was() -> None:
    phrases = Phrases([Phrase("new", "york", 9, 1.0, 1), Phrase("new_york", "times", 9, 1.0, 2),
                       Phrase("état", "civil", 9, 1.0, 1)])
    words, whitespace = Tokenizer("words"), Tokenizer("whitespace")

    assert query_token("New York", words, phrases) == "new_york"
    assert query_token("new_york", words, phrases) == "new_york"
    assert query_token("  New York Times ", words, phrases) == "new_york_times"
    assert query_token("ÉTAT civil", words, phrases) == "état_civil"
    assert query_token("York", words, phrases) == "york"
    assert query_token("new jersey", words, phrases) is None
    assert query_token("!!", words, phrases) is None
    assert query_token("new york", whitespace, phrases) == "new_york"
    assert query_token("New York", whitespace, phrases) is None
    assert query_token("new york", words, Phrases()) is None


@pytest.mark.parametrize(("options", "message"), [
    ({"passes": -1}, "--phrases must be 0 or more, not -1"),
    ({"scoring": "pmi"}, "--phrase-scoring must be one of word2phrase, npmi, not 'pmi'"),
    ({"scoring": "npmi", "threshold": 1.5}, "between -1 and 1 with npmi scoring, not 1.5"),
    ({"threshold": -3.0}, "0 or more with word2phrase scoring, not -3.0"),
    ({"threshold": math.nan}, "0 or more with word2phrase scoring, not nan"),
    ({"min_count": 0}, "--phrase-min-count must be at least 1, not 0"),
])
def test_settings_are_checked(options: dict, message: str) -> None:
    with pytest.raises(W2VError, match=re.escape(message)):
        PhraseSettings(**options)


def test_default_thresholds_depend_on_the_scoring() -> None:
    assert PhraseSettings(1).threshold == 100.0 and PhraseSettings(1).min_count == 5
    assert PhraseSettings(1, "npmi").threshold == 0.5
