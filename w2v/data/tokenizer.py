"""How text becomes words: the tokenizer a dataset was prepared with, recorded in its meta.json.

`whitespace` (the default, as in the C tool and fastText) takes every run of characters between
white space as a word, unchanged: right for text that is already tokenized (PTB, item ids).
`--lowercase` lower-cases it first.

`words` reads raw text. Its rules, in order:

1. Unicode NFKC normalization: compatibility forms become plain ones (ligature "ﬁ" -> "fi",
   full-width "Ａ１" -> "A1", "²" -> "2", non-breaking space -> space).
2. Case folding (`str.casefold`, a stronger lower-casing: "Straße" -> "strasse").
3. A word is a run of letters, combining marks and digits, in any script ("naïve", "日本語",
   "हिन्दी"). An apostrophe (' or ’) or a hyphen (- or ‐) between two such characters stays in the
   word ("don't", "state-of-the-art", "rock'n'roll"); at either end it is dropped ("'tis" ->
   "tis", "dogs'" -> "dogs").
4. Numbers are words too: a run of digits, with a "." or "," between two digits kept ("1913",
   "3.14", "1,000"); digits and letters together make one word ("mp3", "1990s", "covid-19").
5. Everything else (punctuation, symbols, the underscore, emoji) separates words and is dropped.
   Lines stay lines.

Compared with gensim's `simple_preprocess` (the usual preprocessing of gensim users), point by
point: it lower-cases without NFKC (so "ﬁ" and full-width letters stay as they are); it keeps
only letters, dropping every digit ("mp3" -> "mp", "1913" -> nothing); it splits at apostrophes
and hyphens ("don't" -> "don", "state-of-the-art" -> "state", "of", "the", "art"); it drops
words shorter than 2 or longer than 15 characters ("a", "i", and long compounds); and it splits
at combining marks, which it does not count as letters ("हिन्दी" falls apart). Those choices lose
words that similarity and analogy test sets ask about ("a", numbers, hyphenated compounds), so
`words` keeps them; it agrees with `simple_preprocess` on plain lower-case English words.

The same rules apply to a word that comes in later (a query): `Tokenizer.normalize_word`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from w2v.errors import W2VError

NAMES = ("whitespace", "words")
# Blocks with more lines than this share outside ASCII go through the Unicode rules whole.
MAX_SLOW_LINE_SHARE = 0.2
# What each ASCII byte is to the `words` rules (after lower-casing).
_OTHER, _NEWLINE, _JOINER, _NUMBER_JOINER, _DIGIT, _LETTER = range(6)
_ASCII_KIND = np.full(256, _OTHER, dtype=np.uint8)
_ASCII_KIND[ord("\n")] = _NEWLINE
_ASCII_KIND[[ord("'"), ord("-")]] = _JOINER
_ASCII_KIND[[ord("."), ord(",")]] = _NUMBER_JOINER
_ASCII_KIND[ord("0") : ord("9") + 1] = _DIGIT
_ASCII_KIND[ord("a") : ord("z") + 1] = _LETTER
# Read as an apostrophe, as a hyphen, and as a separator.
_SAME_AS = (("\u2019", "'"), ("\u2010", "-"), ("_", " "))
# Shares of the commonest words that make whitespace-split text look raw.
HINT_WORDS = 10_000
HINT_PUNCTUATED = 0.02
HINT_CASE_VARIANTS = 0.05
_OPENING = set("([{\"«“¿¡")
_CLOSING = set(".,;:!?)]}\"»”…")


@dataclass(frozen=True)
class Tokenizer:
    """A tokenizer's settings; `to_dict()` is what meta.json records, `from_dict` reads it back."""

    name: str = "whitespace"
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise W2VError(f"--tokenizer must be one of {', '.join(NAMES)}, not {self.name!r}")
        if self.name == "words":
            object.__setattr__(self, "lowercase", True)  # words always folds case

    @property
    def changes_text(self) -> bool:
        return self.name != "whitespace" or self.lowercase

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, settings: dict[str, Any] | None) -> Tokenizer:
        """The tokenizer recorded in meta.json; datasets from before it was recorded: whitespace."""
        if settings is None:
            return cls()
        if not isinstance(settings, dict) or not isinstance(settings.get("lowercase", False), bool):
            raise W2VError(f"not a tokenizer description: {settings!r}")
        return cls(str(settings.get("name")), settings.get("lowercase", False))

    def normalize(self, text: str) -> str:
        """`text` with its words separated by white space, as the whitespace splitter then reads it."""
        if self.name == "whitespace":
            return text.lower() if self.lowercase else text
        text = unicodedata.normalize("NFKC", text).casefold()
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)  # folding can undo normalization
        for character, meaning in _SAME_AS:
            text = text.replace(character, meaning)
        return " ".join(_word_pattern().findall(text))

    def normalize_block(self, block: bytes) -> bytes:
        """`normalize` for a block of valid UTF-8 (white space may differ, the words do not)."""
        if not self.changes_text:
            return block
        if self.name == "whitespace":
            return block.lower() if block.isascii() else self.normalize(block.decode()).encode()
        return self._words_of_block(block)

    def _words_of_block(self, block: bytes) -> bytes:
        """The `words` rules, on ASCII lines as array code, on the other lines by `normalize`."""
        data = np.frombuffer(block, dtype=np.uint8)
        odd = np.flatnonzero(data >= 0x80)
        newlines = np.flatnonzero(data == ord("\n"))
        odd_lines = np.unique(np.searchsorted(newlines, odd))
        if len(odd_lines) > MAX_SLOW_LINE_SHARE * (len(newlines) + 1):
            return self.normalize(block.decode("utf-8")).encode("utf-8")
        fast = _ascii_words(block.lower())
        if not len(odd_lines):
            return fast
        starts = np.concatenate(([0], newlines + 1))[odd_lines].tolist()
        ends = np.append(newlines, len(block))[odd_lines].tolist()
        pieces, done = [], 0
        for start, end in zip(starts, ends):
            pieces += [fast[done:start], self.normalize(block[start:end].decode()).encode()]
            done = end
        pieces.append(fast[done:])
        return b"".join(pieces)

    def normalize_word(self, word: str) -> str | None:
        """The vocabulary entry a query word stands for, or None if it is no single word."""
        tokens = self.normalize(word).split()
        return tokens[0] if len(tokens) == 1 else None


def _ascii_words(block: bytes) -> bytes:
    """The `words` rules for lower-case ASCII, byte for byte: what is no part of a word
    becomes a space. An apostrophe or hyphen stays between two letters or digits, a "." or ","
    between two digits."""
    data = np.frombuffer(block, dtype=np.uint8)
    kind = _ASCII_KIND[data]
    word = np.concatenate(([False], kind >= _DIGIT, [False]))
    digit = np.concatenate(([False], kind == _DIGIT, [False]))
    keep = (kind >= _DIGIT) | (kind == _NEWLINE)
    keep |= (kind == _JOINER) & word[:-2] & word[2:]
    keep |= (kind == _NUMBER_JOINER) & digit[:-2] & digit[2:]
    return np.where(keep, data, ord(" ")).astype(np.uint8).tobytes()


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    # \w is letters, digits and "_" (translated away); combining marks are added.
    marks = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _mark_ranges())
    char = rf"[\w{marks}]"
    joiner = r"(?:['-]|(?<=\d)[.,](?=\d))"
    return re.compile(rf"{char}+(?:{joiner}{char}+)*|\n")


def _mark_ranges() -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0xE01F0):
        if unicodedata.category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return ranges


def raw_text_hint(words: list[str], counts: list[int]) -> str | None:
    """A one-line note when whitespace-split words look like raw text, else None.

    `words` and `counts` are the vocabulary, commonest first. Raw text shows as words with
    punctuation attached ("water,", "(see") or as case variants of one word ("The", "the").
    """
    words, counts = words[:HINT_WORDS], counts[:HINT_WORDS]
    total = sum(counts)
    if not total:
        return None
    punctuated = [(w, n) for w, n in zip(words, counts) if _has_punctuation_attached(w)]
    share = sum(n for _, n in punctuated) / total
    lowered = set(words)
    variants = [w for w in words[:1000] if w != w.lower() and w.lower() in lowered]
    variant_share = len(variants) / min(len(words), 1000)
    if share < HINT_PUNCTUATED and variant_share < HINT_CASE_VARIANTS:
        return None
    found = []
    if share >= HINT_PUNCTUATED:
        examples = ", ".join(repr(w) for w, _ in punctuated[:3])
        found.append(f"{share:.0%} of the words carry punctuation ({examples})")
    if variant_share >= HINT_CASE_VARIANTS:
        found.append(f"case variants are counted apart ({variants[0]!r} and "
                     f"{variants[0].lower()!r})")
    return (f"this looks like raw text: {'; '.join(found)}; `--tokenizer words` splits off "
            f"punctuation and folds case")


def _has_punctuation_attached(word: str) -> bool:
    if len(word) < 2 or not any(c.isalnum() for c in word):
        return False
    return word[0] in _OPENING or word[-1] in _CLOSING
