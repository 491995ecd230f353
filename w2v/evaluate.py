"""Intrinsic evaluation: word-pair similarity and word analogies, scored as gensim scores them.

Both restrict the vocabulary to its first `restrict_vocab` words (the most frequent ones, as
vocabularies are sorted by count) and, with `case_insensitive`, compare words uppercased, a
word spelled in several cases taking the vector of its first spelling. Test items with a word
outside that vocabulary are skipped, unless the vectors have subwords: then every item is
scored, such a word (as the file spells it) taking the vector of its character n-grams, and the
items that had one are counted. An analogy's answer is always a word of the vocabulary, so a
question whose answer is outside it counts as answered wrong.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property, partial
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from w2v.correlation import pearson, spearman
from w2v.errors import W2VError
from w2v.formats.text import is_number
from w2v.similarity import Method, method_scores, unit_rows, unit_vectors
from w2v.vectors import Vectors

# How many scores one batch of analogy questions may hold; bounds memory, not results.
_SCORES_PER_BATCH = 2**24


@dataclass(frozen=True)
class PairScores:
    pearson: float
    spearman: float
    oov_ratio: float  # fraction of the pairs skipped for an unknown word, 0..1
    pairs: int  # pairs used
    unseen: int = 0  # pairs used with a word outside the vocabulary, scored by its n-grams


@dataclass(frozen=True)
class AnalogyScores:
    accuracy: float
    correct: int
    total: int  # questions used
    sections: dict[str, float | None]  # accuracy per section; None where no question was used
    unseen: int = 0  # questions used with a word outside the vocabulary, scored by its n-grams


def default_similarity_files() -> list[Path]:
    """The word-pair files shipped with w2v: WordSim-353."""
    return [_resource("wordsim353.tsv")]


def default_analogy_files() -> list[Path]:
    """The analogy files shipped with w2v: the Google analogy test set."""
    return [_resource("questions-words.txt")]


def default_evaluation_files() -> tuple[list[Path], list[Path]]:
    """(word-pair files, analogy files) shipped with w2v."""
    return default_similarity_files(), default_analogy_files()


def summary_line(results: dict[str, dict[str, Any]]) -> str:
    """One line: Spearman for each pair file, accuracy for each analogy file."""
    parts = [f"{name} spearman {r['spearman']:.3f}" if "spearman" in r
             else f"{name} accuracy {r['accuracy']:.3f}" if "accuracy" in r
             else f"{name}: {r['error']}" for name, r in results.items()]
    return " | ".join(parts)


def _resource(name: str) -> Path:
    return Path(str(files("w2v") / "resources" / name))


def evaluate_word_pairs(
    vectors: Vectors,
    path: str | os.PathLike[str],
    *,
    case_insensitive: bool = True,
    restrict_vocab: int | None = 300000,
    delimiter: str = "\t",
) -> PairScores:
    """Correlate cosine similarities with human scores from lines `word1 word2 score`.

    Lines starting with '#' and lines without exactly three fields or a numeric score are
    ignored, as gensim ignores them; a file without one such line is an error saying why.
    """
    lookup = _Lookup(vectors, restrict_vocab, case_insensitive)
    gold: list[float] = []
    pairs: list[tuple[int, int]] = []
    unknown = 0
    first_bad: str | None = None
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.rstrip("\r\n").split(delimiter)
        if line.startswith("#") or not line.strip():
            continue
        if len(fields) != 3 or not is_number(fields[2]):
            first_bad = first_bad or f"line {number}: {_pair_line_problem(fields, delimiter)}"
            continue
        first, second = (lookup.row(word) for word in fields[:2])
        if first is None or second is None:
            unknown += 1
            continue
        gold.append(float(fields[2]))
        pairs.append((first, second))
    if not pairs and not unknown:
        problem = first_bad or "no word pairs in the file"
        raise W2VError(f"{path}: {problem}; expected lines 'word1{_named(delimiter)}word2"
                       f"{_named(delimiter)}score'")
    if not pairs:
        raise W2VError(
            f"{path}: no word pair with both words in the vocabulary "
            f"({unknown} pairs with unknown words)"
        )
    ids = np.array(pairs)
    model = np.einsum("ij,ij->i", *(lookup.units(ids[:, side]) for side in (0, 1)))
    return PairScores(
        pearson=pearson(gold, model),
        spearman=spearman(gold, model),
        oov_ratio=unknown / (len(pairs) + unknown),
        pairs=len(pairs),
        unseen=int(lookup.unseen_in(ids).sum()),
    )


def _pair_line_problem(fields: list[str], delimiter: str) -> str:
    if len(fields) != 3:
        return (f"expected 3 fields separated by {_named(delimiter)}, found {len(fields)}: "
                f"{delimiter.join(fields)[:60]!r}")
    return f"the score {fields[2][:30]!r} is not a number"


def _named(delimiter: str) -> str:
    return "<TAB>" if delimiter == "\t" else repr(delimiter)


def evaluate_word_analogies(
    vectors: Vectors,
    path: str | os.PathLike[str],
    *,
    restrict_vocab: int | None = 300000,
    case_insensitive: bool = True,
    method: Method = "3cosadd",
) -> AnalogyScores:
    """Accuracy on questions `a b c d` ("a is to b as c is to d") under `: section` lines.

    The answer is the best-scoring word of the restricted vocabulary other than a, b and c
    (in any spelling, with `case_insensitive`); lines without exactly four words are ignored.
    """
    lookup = _Lookup(vectors, restrict_vocab, case_insensitive)
    names, section_of, questions = _read_questions(path, lookup)
    if not len(questions):
        raise W2VError(f"{path}: no analogy question with all four words in the vocabulary")
    # The row each restricted word's spelling maps to, so that answers compare by spelling.
    spelling = np.array([lookup.known[_key(w, case_insensitive)]
                         for w in vectors.words[:restrict_vocab]])
    searched = len(spelling)
    hits = _answered_right(
        vectors.vectors[:searched], vectors.norms[:searched], spelling, questions, method, lookup
    )
    correct = np.bincount(section_of, weights=hits, minlength=len(names))
    asked = np.bincount(section_of, minlength=len(names))
    return AnalogyScores(
        accuracy=float(hits.mean()),
        correct=int(hits.sum()),
        total=len(hits),
        sections={
            name: float(correct[i] / asked[i]) if asked[i] else None for i, name in enumerate(names)
        },
        unseen=int(lookup.unseen_in(questions).sum()),
    )


def evaluate(
    vectors: Vectors,
    similarity: Sequence[str | os.PathLike[str]],
    analogies: Sequence[str | os.PathLike[str]],
    method: str = "3cosadd",
    strict: bool = True,
) -> dict[str, dict[str, Any]]:
    """Scores for each file, keyed by its file name: word-pair files give pearson, spearman,
    oov_ratio and pairs; analogy files give accuracy, correct, total and sections."""
    results: dict[str, dict[str, Any]] = {}
    scored = [(path, evaluate_word_pairs) for path in similarity]
    by_method = partial(evaluate_word_analogies, method=method)
    scored += [(path, by_method) for path in analogies]
    for path, scorer in scored:
        name = Path(path).name
        if name in results:
            raise W2VError(f"two evaluation files are named {name}; rename one")
        try:
            results[name] = asdict(scorer(vectors, path))
        except W2VError as e:
            if strict:
                raise
            results[name] = {"error": str(e)}
    return results


def to_json(results: dict[str, dict[str, Any]]) -> str:
    """The result of `evaluate` as JSON; a score that is not a number (as Pearson's r of a
    constant column) becomes null."""
    return json.dumps(_finite_or_none(results), indent=2, allow_nan=False)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def format_report(results: dict[str, dict[str, Any]]) -> str:
    """Render the result of `evaluate` as aligned tables for a terminal."""
    # with subwords: how many items had a word outside the vocabulary, scored by its n-grams
    unseen = any(r.get("unseen") for r in results.values())
    pair_rows = [
        [
            name,
            str(r["pairs"]),
            *([str(r["unseen"])] if unseen else []),
            _percent(r["oov_ratio"]),
            f"{r['pearson']:.3f}",
            f"{r['spearman']:.3f}",
        ]
        for name, r in results.items()
        if "pearson" in r
    ]
    analogy_rows = []
    for name, r in results.items():
        if "accuracy" in r:
            analogy_rows.append([name, str(r["correct"]), str(r["total"]),
                                 *([str(r["unseen"])] if unseen else []), _percent(r["accuracy"])])
            analogy_rows += [[f"  {s}", "", "", *([""] if unseen else []), _percent(a)]
                             for s, a in r["sections"].items()]
    tables = []
    by_ngrams = ["by n-grams"] if unseen else []
    if pair_rows:
        tables.append(_table(["word pairs", "pairs", *by_ngrams, "unknown", "pearson", "spearman"],
                             pair_rows))
    if analogy_rows:
        tables.append(_table(["analogies", "correct", "total", *by_ngrams, "accuracy"],
                             analogy_rows))
    notes = [("by n-grams: items with a word outside the vocabulary, whose vector is the mean of "
              "its character n-grams' rows")] if unseen else []
    return "\n\n".join(tables + notes)


def _table(header: list[str], rows: list[list[str]]) -> str:
    """First column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])])
        for row in [header, *rows]
    )


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def _key(word: str, case_insensitive: bool) -> str:
    return word.upper() if case_insensitive else word


class _Lookup:
    """The words of a test file as rows: each spelling among the first `restrict_vocab` words
    maps to its first row; with subwords, any other word to a row after the vocabulary's, whose
    vector its n-grams give."""

    def __init__(self, vectors: Vectors, restrict_vocab: int | None,
                 case_insensitive: bool) -> None:
        self.vectors, self.case_insensitive = vectors, case_insensitive
        self.known: dict[str, int] = {}
        for i, word in enumerate(vectors.words[:restrict_vocab]):
            self.known.setdefault(_key(word, case_insensitive), i)
        self.unseen: dict[str, int] = {}  # word as spelled -> its row after the vocabulary's

    def row(self, word: str) -> int | None:
        """The row of `word`; None if it has no vector."""
        known = self.known.get(_key(word, self.case_insensitive))
        if known is not None or self.vectors.subwords is None:
            return known
        return self.unseen.setdefault(word, len(self.vectors) + len(self.unseen))

    def unseen_in(self, rows: np.ndarray) -> np.ndarray:
        """[items] whether each item (a row of `rows`) has a word outside the vocabulary."""
        return (rows >= len(self.vectors)).any(axis=1)

    def units(self, rows: np.ndarray) -> np.ndarray:
        """[*rows.shape, dim] the unit vectors of `rows`."""
        vectors, inside = self.vectors, rows < len(self.vectors)
        units = np.empty((*rows.shape, vectors.dim), dtype=np.float32)
        units[inside] = unit_vectors(vectors.vectors, vectors.norms, rows[inside])
        if not inside.all():
            units[~inside] = self._unseen_units[rows[~inside] - len(vectors)]
        return units

    @cached_property
    def _unseen_units(self) -> np.ndarray:
        """The unit vectors of the words outside the vocabulary, once all are known: their
        n-grams' (a word past `restrict_vocab` too, as outside it)."""
        return unit_rows(self.vectors.subwords.unseen_vectors(list(self.unseen)))


def _read_lines(path: str | os.PathLike[str]) -> list[str]:
    try:
        with open(path, encoding="utf-8") as file:
            return file.readlines()
    except FileNotFoundError:
        raise W2VError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise W2VError(f"cannot read {path}: {error}") from None


def _read_questions(
    path: str | os.PathLike[str], lookup: _Lookup
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return section names, the section of each usable question, and the questions as rows
    [a, b, c, d] of `lookup`'s rows."""
    section_ids: dict[str, int] = {}
    section_of: list[int] = []
    questions: list[list[int]] = []
    for number, line in enumerate(_read_lines(path), start=1):
        if line.startswith(": "):
            current = section_ids.setdefault(line.lstrip(": ").strip(), len(section_ids))
            continue
        if not section_ids and line.strip():
            raise W2VError(f"{path}: line {number}: a question before the first ': section' line")
        words = line.split()
        rows = [lookup.row(word) for word in words] if len(words) == 4 else [None]
        if None not in rows:
            section_of.append(current)
            questions.append(rows)
    return (
        list(section_ids),
        np.array(section_of, dtype=np.intp),
        np.array(questions, dtype=np.intp).reshape(-1, 4),
    )


def _answered_right(
    matrix: np.ndarray,
    norms: np.ndarray,
    spelling: np.ndarray,
    questions: np.ndarray,
    method: Method,
    lookup: _Lookup,
) -> np.ndarray:
    """Whether each question's best answer, other than its inputs, is its expected word."""
    batch = max(1, _SCORES_PER_BATCH // (3 * len(matrix)))
    hits = []
    for start in range(0, len(questions), batch):
        a, b, c, expected = questions[start : start + batch].T
        positive, negative = lookup.units(np.stack([b, c], axis=1)), lookup.units(a[:, None])
        scores = method_scores(matrix, norms, positive, negative, method)
        is_input = (spelling == a[:, None]) | (spelling == b[:, None]) | (spelling == c[:, None])
        scores[is_input] = -np.inf
        hits.append(spelling[scores.argmax(axis=1)] == expected)
    return np.concatenate(hits)
