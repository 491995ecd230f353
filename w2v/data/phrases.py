"""Phrases: neighbouring words that occur together far more often than chance, joined into one
token ("new york" -> "new_york"), as word2vec's word2phrase and gensim's `Phrases` learn them.

A learning pass counts every word and every pair of neighbouring words on a line, exactly and in
bounded memory (`w2v.data.counter`). A pair (a, b) seen at least `min_count` times becomes a
phrase when its score is above the threshold:

- `word2phrase` (Mikolov et al. 2013, section 4; the default): (n(ab) - min_count) / n(a) / n(b)
  * N, computed as word2phrase.c computes it, in 32-bit floats in that order, so that it makes
  the same decisions. N is the number of tokens read. Default threshold 100, as word2phrase.
- `npmi`, normalized pointwise mutual information (Bouma 2009), as gensim's `npmi_scorer`:
  ln(p(ab) / (p(a) p(b))) / -ln(p(ab)) with p(x) = n(x) / N, in [-1, 1]: 1 for words that only
  occur together, 0 for independent ones. Default threshold 0.5.

Joining reads each line left to right and joins a pair that is a phrase unless its first word
was already joined to the word before it, so one pass makes phrases of two tokens; a second
pass, learned on the joined text, can join those again (up to four words). Phrases never span
a line end. The joined token is both parts with "_" between them.

Where word2phrase.c and gensim differ from this, in the cases where a difference can arise:
word2phrase.c also counts the pair formed by the last word of a line and the first of the next
(its `start` flag is cleared before it is tested), truncates words to 58 bytes, and keeps pairs
and words in one table keyed by the string "a_b", as gensim does: there, a word that itself
holds "_" adds to the count of the pair it spells. Here a pair is keyed by the bytes "a b"
(tokens hold no white space, so the split is known): exact, and in 1.75 words of 8 bytes per pair
on English text against 2.27 for the two words' keys side by side. Both tools prune counts when
their tables grow too large (word2phrase above 350 million entries, gensim above 40 million);
these counts are never pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from w2v.data.counter import PENDING_SHARE, KeyCounter, Table
from w2v.data.tokenizer import Tokenizer
from w2v.data.tokens import KEY, KeyIndex, Tokens, count_rows, key_bytes, span_keys, split_tokens
from w2v.errors import W2VError

KeyGroups = dict[int, tuple[np.ndarray, np.ndarray]]  # {width: (keys, positions)}

SCORINGS = ("word2phrase", "npmi")
DEFAULT_THRESHOLDS = {"word2phrase": 100.0, "npmi": 0.5}
DEFAULT_MIN_COUNT = 5
JOINER = "_"
# The budget of a learning pass's counts that goes to single words; pairs take the rest.
WORDS_SHARE = 1 / 4
_SPACE, _NEWLINE, _JOINER = ord(" "), ord("\n"), ord(JOINER)


@dataclass(frozen=True)
class PhraseSettings:
    """How phrases are learned: `passes` (0: none), `scoring`, `threshold` (None: the scoring's
    default), `min_count`."""

    passes: int = 0
    scoring: str = "word2phrase"
    threshold: float | None = None
    min_count: int = DEFAULT_MIN_COUNT

    def __post_init__(self) -> None:
        if self.passes < 0:
            raise W2VError(f"--phrases must be 0 or more, not {self.passes}")
        if self.scoring not in SCORINGS:
            raise W2VError(f"--phrase-scoring must be one of {', '.join(SCORINGS)}, "
                           f"not {self.scoring!r}")
        if self.threshold is None:
            object.__setattr__(self, "threshold", DEFAULT_THRESHOLDS[self.scoring])
        if self.scoring == "npmi" and not -1 <= self.threshold <= 1:
            raise W2VError(f"--phrase-threshold must be between -1 and 1 with npmi scoring, "
                           f"not {self.threshold}")
        if self.scoring == "word2phrase" and not self.threshold >= 0:
            raise W2VError(f"--phrase-threshold must be 0 or more with word2phrase scoring, "
                           f"not {self.threshold}")
        if self.min_count < 1:
            raise W2VError(f"--phrase-min-count must be at least 1, not {self.min_count}")

    def to_dict(self) -> dict[str, Any]:
        return {"passes": self.passes, "scoring": self.scoring, "threshold": self.threshold,
                "min_count": self.min_count}


NO_PHRASES = PhraseSettings()


def phrase_settings(passes: int, scoring: str | None = None, threshold: float | None = None,
                    min_count: int | None = None, as_flags: bool = True) -> PhraseSettings:
    """`prepare`'s phrase options as settings; None: the default. Options other than `passes`
    are refused without it, since they would do nothing; the error names them as command-line
    flags, or with `as_flags` False as the keyword arguments of `w2v.prepare`."""
    given = {"phrase_scoring": scoring, "phrase_threshold": threshold,
             "phrase_min_count": min_count}
    named = [name for name, value in given.items() if value is not None]
    if named and not passes:
        def say(name: str) -> str:
            return f"--{name.replace('_', '-')}" if as_flags else name

        more = "--phrases 1" if as_flags else "phrases=1"
        raise W2VError(f"{say(named[0])} applies only to learning phrases; add {more} (or more)")
    return PhraseSettings(passes, scoring or "word2phrase", threshold,
                          DEFAULT_MIN_COUNT if min_count is None else min_count)


@dataclass(frozen=True)
class Phrase:
    """A learned phrase: the two tokens it joins, how often they occurred together, its score,
    and the learning pass (1, 2, ...) that found it."""

    first: str
    second: str
    count: int
    score: float
    pass_number: int

    @property
    def token(self) -> str:
        return f"{self.first}{JOINER}{self.second}"


class Phrases:
    """The phrases learned, pass by pass, and the joining of text's words into phrase tokens."""

    def __init__(self, phrases: Iterable[Phrase] = (), passes: int = 0) -> None:
        self.phrases = sorted(phrases, key=lambda p: (p.pass_number, -p.count, p.first, p.second))
        self.passes = max([passes, *(p.pass_number for p in self.phrases)])
        self._index = [_pass_index([p for p in self.phrases if p.pass_number == n])
                       for n in range(1, self.passes + 1)]

    def __len__(self) -> int:
        return len(self.phrases)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Phrases) and self.passes == other.passes
                and self.phrases == other.phrases)

    def then(self, learned: Iterable[Phrase]) -> Phrases:
        """These phrases and a further pass learned on text they joined."""
        return Phrases([*self.phrases, *learned], self.passes + 1)

    def join(self, tokens: Tokens) -> tuple[Tokens, np.ndarray]:
        """The tokens with phrases joined, pass by pass, and how many words each token holds."""
        if self.phrases:
            tokens = spaced(tokens)
        words = np.ones(len(tokens), dtype=np.int64)
        for index in self._index:
            tokens, words = _join_pass(tokens, words, index)
        return tokens, words


def query_token(query: str, tokenizer: Tokenizer, phrases: Phrases) -> str | None:
    """The token of a dataset that `query` stands for ("New York" -> "new_york"), or None if it
    is not one token there: normalized by the dataset's tokenizer, then joined by its phrases,
    as the corpus was."""
    tokens, _ = phrases.join(split_tokens(tokenizer.normalize_block(query.encode("utf-8"))))
    if len(tokens) != 1:
        return None
    start, length = int(tokens.starts[0]), int(tokens.lengths[0])
    return tokens.buffer[start : start + length].tobytes().decode("utf-8")


def query_form(tokenizer: Tokenizer, phrases: Phrases) -> Callable[[str], str | None] | None:
    """How a query becomes a token of a dataset prepared with `tokenizer` and `phrases`, as
    `Vectors(query_form=...)` takes it: `query_token`, or None where queries are read as
    they are (no phrases, and a tokenizer that leaves words as written)."""
    if len(phrases):
        return partial(query_token, tokenizer=tokenizer, phrases=phrases)
    return vocabulary_query_form(tokenizer, joined=False)


def vocabulary_query_form(tokenizer: Tokenizer,
                          joined: bool) -> Callable[[str], str | None] | None:
    """How a query becomes a token of a vocabulary trained on a dataset prepared with
    `tokenizer` and, where `joined`, phrases (a run keeps the vocabulary, not the phrase table):
    normalized by the tokenizer, and several words joined as their phrase token is ("New York"
    -> new_york), which the vocabulary then has or not. None: queries are read as they are."""
    if not joined:
        return tokenizer.normalize_word if tokenizer.changes_text else None
    return lambda text: JOINER.join(tokenizer.normalize(text).split()) or None


def spaced(tokens: Tokens) -> Tokens:
    """The tokens, with neighbours on a line one space apart: as they are if they already are
    (text from the `words` tokenizer, or tokenized with single spaces), else `compact`."""
    first = _pairs(tokens)
    gaps = tokens.starts[first] + tokens.lengths[first]
    if np.array_equal(tokens.starts[first + 1], gaps + 1) and (tokens.buffer[gaps] == _SPACE).all():
        return tokens
    return compact(tokens)


def compact(tokens: Tokens) -> Tokens:
    """The same tokens rewritten one byte apart: " " between words of a line, "\\n" between lines.

    Empty lines inside the block are dropped (they hold no words); the block's first and last
    lines, which may continue in the blocks around it, stay open as they were.
    """
    n, line = len(tokens), tokens.line_of_token
    if n == 0:
        ends_line = tokens.lines > 1
        buffer = np.frombuffer(b"\n" * ends_line + bytes(8), dtype=np.uint8)
        return Tokens(buffer, tokens.starts, tokens.lengths, 1 + ends_line, line)
    lead, trail = int(line[0] > 0), int(line[-1] < tokens.lines - 1)
    breaks = line[1:] != line[:-1]
    new_line = np.empty(n, dtype=np.int64)
    new_line[0] = lead
    np.cumsum(breaks, out=new_line[1:])
    new_line[1:] += lead
    starts = lead + np.cumsum(tokens.lengths) - tokens.lengths + np.arange(n)
    size = int(starts[-1] + tokens.lengths[-1]) + trail
    buffer = np.zeros(size + 8, dtype=np.uint8)
    buffer[:size] = _SPACE
    if lead:
        buffer[0] = _NEWLINE
    buffer[starts[1:][breaks] - 1] = _NEWLINE
    if trail:
        buffer[size - 1] = _NEWLINE
    buffer[_span_mask(starts, tokens.lengths, len(buffer))] = tokens.buffer[
        _span_mask(tokens.starts, tokens.lengths, len(tokens.buffer))]
    return Tokens(buffer, starts, tokens.lengths, int(new_line[-1]) + 1 + trail, new_line)


def pair_tables(tokens: Tokens) -> dict[int, Table]:
    """The distinct pairs of neighbouring tokens on a line, keyed by the bytes "a b", with their
    counts."""
    return {width: count_rows(keys) for width, (keys, _) in _pair_keys(spaced(tokens)).items()}


class PhraseCounter:
    """The counts of one learning pass: words and pairs, exact, in about `memory` bytes (spilled
    to sorted runs in `spill_dir` beyond it)."""

    def __init__(self, spill_dir: Path, memory: int) -> None:
        words_memory = max(1, int(memory * WORDS_SHARE))
        self.words = KeyCounter(spill_dir / "words", words_memory)
        # Most pairs occur once: merging them in memory saves little, sorting them again costs.
        self.pairs = KeyCounter(spill_dir / "pairs", max(1, memory - words_memory),
                                run_share=PENDING_SHARE)
        self.tokens = 0

    def add(self, words: dict[int, Table], pairs: dict[int, Table], tokens: int) -> None:
        self.words.add(words)
        self.pairs.add(pairs)
        self.tokens += tokens

    def learn(self, settings: PhraseSettings, pass_number: int) -> list[Phrase]:
        """The pairs that pass `settings.min_count` and score above `settings.threshold`."""
        known = _Counts(self.words.merged(), settings.min_count)
        learned: list[Phrase] = []
        for keys, counts in self.pairs.merged():
            frequent = counts >= settings.min_count
            keys, counts = keys[frequent], counts[frequent]
            first, second = _split_pairs(keys)
            scores = score(settings.scoring, counts, known.counts(first), known.counts(second),
                           self.tokens, settings.min_count)
            chosen = np.flatnonzero(scores > _threshold(settings))
            for pair, count, value in zip(key_bytes(keys[chosen]), counts[chosen].tolist(),
                                          scores[chosen].tolist()):
                a, b = pair.decode("utf-8").split(" ")
                learned.append(Phrase(a, b, count, value, pass_number))
        return learned


def score(scoring: str, pair: np.ndarray, first: np.ndarray, second: np.ndarray, tokens: int,
          min_count: int) -> np.ndarray:
    """The scores of pairs seen `pair` times, of words seen `first` and `second` times, in a text
    of `tokens` tokens (see the module's description)."""
    if scoring == "word2phrase":
        f32 = np.float32
        return ((pair - min_count).astype(f32) / first.astype(f32) / second.astype(f32)
                * f32(tokens))
    with np.errstate(divide="ignore"):
        p_pair, p_first, p_second = pair / tokens, first / tokens, second / tokens
        return np.log(p_pair / (p_first * p_second)) / -np.log(p_pair)


def _threshold(settings: PhraseSettings) -> np.floating:
    # word2phrase.c compares its float score with a float threshold.
    kind = np.float32 if settings.scoring == "word2phrase" else np.float64
    return kind(settings.threshold)


class _Counts:
    """The count of each word seen at least `min_count` times, looked up by key."""

    def __init__(self, tables: Iterator[Table], min_count: int) -> None:
        kept: dict[int, list[Table]] = {}
        for keys, counts in tables:
            frequent = counts >= min_count
            kept.setdefault(keys.shape[1], []).append((keys[frequent], counts[frequent]))
        self.index = {}
        for width, parts in kept.items():
            keys = np.concatenate([k for k, _ in parts])
            self.index[width] = (KeyIndex(keys), np.concatenate([c for _, c in parts]))

    def counts(self, groups: KeyGroups) -> np.ndarray:
        """The counts of keys given as {width: (keys, positions)}; 0 for words not kept."""
        size = sum(len(where) for _, where in groups.values())
        found = np.zeros(size, dtype=np.int64)
        for width, (keys, where) in groups.items():
            if width in self.index:
                index, counts = self.index[width]
                at = index.find(keys)
                found[where] = np.where(at >= 0, counts[at], 0)
        return found


def _split_pairs(keys: np.ndarray) -> tuple[KeyGroups, KeyGroups]:
    """The keys of the first and second token of each pair key "a b", as {width: (keys, rows)}."""
    rows, width = keys.shape
    raw = np.ascontiguousarray(keys, dtype=KEY).view(np.uint8).reshape(rows, 8 * width)
    lengths = 8 * (width - 1) + raw[:, -1].astype(np.int64)
    # The one space of each pair; the last byte holds the length (0-7), never a space.
    space = np.argmax(raw[:, :-1] == _SPACE, axis=1)
    buffer = np.concatenate([raw.reshape(-1), np.zeros(8, dtype=np.uint8)])
    starts = np.arange(rows, dtype=np.int64) * 8 * width
    return (span_keys(buffer, starts, space),
            span_keys(buffer, starts + space + 1, lengths - space - 1))


def _pairs(tokens: Tokens) -> np.ndarray:
    """The positions i of tokens followed by token i + 1 on the same line."""
    line = tokens.line_of_token
    return np.flatnonzero(line[1:] == line[:-1])


def _pair_keys(tokens: Tokens) -> KeyGroups:
    """The keys of the bytes "a b" of each pair of neighbours (`_pairs`), by width; `tokens`
    `spaced`, so those bytes are the span from a's start to b's end."""
    first = _pairs(tokens)
    return span_keys(tokens.buffer, tokens.starts[first],
                     tokens.lengths[first] + 1 + tokens.lengths[first + 1])


def _pass_index(phrases: Sequence[Phrase]) -> dict[int, KeyIndex]:
    """Pair keys ("a b") of one pass's phrases, by width."""
    if not phrases:
        return {}
    text = "\n".join(f"{p.first} {p.second}" for p in phrases).encode("utf-8")
    groups = _pair_keys(split_tokens(text))
    return {width: KeyIndex(count_rows(keys)[0]) for width, (keys, _) in groups.items()}


def _join_pass(tokens: Tokens, words: np.ndarray,
               index: dict[int, KeyIndex]) -> tuple[Tokens, np.ndarray]:
    """Join, left to right, the neighbours that are phrases of one pass."""
    first = _pairs(tokens)
    is_phrase = np.zeros(len(first), dtype=bool)
    for width, (keys, where) in _pair_keys(tokens).items():
        if width in index:
            is_phrase[where] = index[width].find(keys) >= 0
    joined = _every_other(first[is_phrase])
    if not len(joined):
        return tokens, words
    buffer = tokens.buffer.copy()
    buffer[tokens.starts[joined] + tokens.lengths[joined]] = _JOINER
    lengths, words = tokens.lengths.copy(), words.copy()
    lengths[joined] += 1 + lengths[joined + 1]
    words[joined] += words[joined + 1]
    keep = np.ones(len(tokens), dtype=bool)
    keep[joined + 1] = False
    return Tokens(buffer, tokens.starts[keep], lengths[keep], tokens.lines,
                  tokens.line_of_token[keep]), words[keep]


def _every_other(candidates: np.ndarray) -> np.ndarray:
    """Of sorted pair positions, those joined left to right: in a run i, i+1, i+2, ... of
    overlapping pairs, i joins, i+1 cannot (its first token is taken), i+2 joins, and so on."""
    starts_run = np.diff(candidates, prepend=-2) != 1
    run_start = np.flatnonzero(starts_run)[np.cumsum(starts_run) - 1]
    return candidates[(np.arange(len(candidates)) - run_start) % 2 == 0]


def _span_mask(starts: np.ndarray, lengths: np.ndarray, size: int) -> np.ndarray:
    """Which of `size` bytes lie inside the (disjoint) spans."""
    edges = np.zeros(size + 1, dtype=np.int8)
    edges[starts] = 1
    edges[starts + lengths] = -1  # a span ends where no other one starts: tokens are apart
    return np.cumsum(edges[:size], dtype=np.int8).view(bool)
