"""Intrinsic evaluation: word-pair similarity and word analogies, scored as gensim scores them.

Both restrict the vocabulary to its first `restrict_vocab` words (the most frequent ones, as
vocabularies are sorted by count) and, with `case_insensitive`, compare words uppercased, a
word spelled in several cases taking the vector of its first spelling. Test items with a word
outside that vocabulary are skipped.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from w2v.correlation import pearson, spearman
from w2v.errors import W2VError
from w2v.formats.text import is_number
from w2v.similarity import Method, method_scores
from w2v.vectors import Vectors

# How many scores one batch of analogy questions may hold; bounds memory, not results.
_SCORES_PER_BATCH = 2**24


@dataclass(frozen=True)
class PairScores:
    pearson: float
    spearman: float
    oov_ratio: float  # fraction of the pairs skipped for an unknown word, 0..1
    pairs: int  # pairs used


@dataclass(frozen=True)
class AnalogyScores:
    accuracy: float
    correct: int
    total: int  # questions used
    sections: dict[str, float | None]  # accuracy per section; None where no question was used


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
    vocab = _restricted_vocab(vectors, restrict_vocab, case_insensitive)
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
        first, second = (_key(word, case_insensitive) for word in fields[:2])
        if first not in vocab or second not in vocab:
            unknown += 1
            continue
        gold.append(float(fields[2]))
        pairs.append((vocab[first], vocab[second]))
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
    model = np.einsum("ij,ij->i", *(_unit(vectors, ids[:, side]) for side in (0, 1)))
    return PairScores(
        pearson=pearson(gold, model),
        spearman=spearman(gold, model),
        oov_ratio=unknown / (len(pairs) + unknown),
        pairs=len(pairs),
    )


def _pair_line_problem(fields: list[str], delimiter: str) -> str:
    if len(fields) != 3:
        return (f"expected 3 fields separated by {_named(delimiter)}, found {len(fields)}: "
                f"{delimiter.join(fields)[:60]!r}")
    return f"the score {fields[2][:30]!r} is not a number"


def _named(delimiter: str) -> str:
    return "<TAB>" if delimiter == "\t" else repr(delimiter)


def _unit(vectors: Vectors, ids: np.ndarray) -> np.ndarray:
    return vectors.vectors[ids] / vectors.norms[ids][:, None]


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
    vocab = _restricted_vocab(vectors, restrict_vocab, case_insensitive)
    names, section_of, questions = _read_questions(path, vocab, case_insensitive)
    if not len(questions):
        raise W2VError(f"{path}: no analogy question with all four words in the vocabulary")
    # The row each restricted word's spelling maps to, so that answers compare by spelling.
    spelling = np.array([vocab[_key(w, case_insensitive)] for w in vectors.words[:restrict_vocab]])
    searched = len(spelling)
    hits = _answered_right(
        vectors.vectors[:searched], vectors.norms[:searched], spelling, questions, method
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
    pair_rows = [
        [
            name,
            str(r["pairs"]),
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
            analogy_rows.append([name, str(r["correct"]), str(r["total"]), _percent(r["accuracy"])])
            analogy_rows += [[f"  {s}", "", "", _percent(a)] for s, a in r["sections"].items()]
    tables = []
    if pair_rows:
        tables.append(_table(["word pairs", "pairs", "unknown", "pearson", "spearman"], pair_rows))
    if analogy_rows:
        tables.append(_table(["analogies", "correct", "total", "accuracy"], analogy_rows))
    return "\n\n".join(tables)


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


def _restricted_vocab(
    vectors: Vectors, restrict_vocab: int | None, case_insensitive: bool
) -> dict[str, int]:
    """Each spelling among the first `restrict_vocab` words, mapped to its first row."""
    vocab: dict[str, int] = {}
    for i, word in enumerate(vectors.words[:restrict_vocab]):
        vocab.setdefault(_key(word, case_insensitive), i)
    return vocab


def _read_lines(path: str | os.PathLike[str]) -> list[str]:
    try:
        with open(path, encoding="utf-8") as file:
            return file.readlines()
    except FileNotFoundError:
        raise W2VError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise W2VError(f"cannot read {path}: {error}") from None


def _read_questions(
    path: str | os.PathLike[str], vocab: dict[str, int], case_insensitive: bool
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Return section names, the section of each usable question, and the questions as rows
    [a, b, c, d] of vocabulary ids."""
    section_ids: dict[str, int] = {}
    section_of: list[int] = []
    questions: list[list[int]] = []
    for number, line in enumerate(_read_lines(path), start=1):
        if line.startswith(": "):
            current = section_ids.setdefault(line.lstrip(": ").strip(), len(section_ids))
            continue
        if not section_ids and line.strip():
            raise W2VError(f"{path}: line {number}: a question before the first ': section' line")
        words = [_key(word, case_insensitive) for word in line.split()]
        if len(words) == 4 and all(word in vocab for word in words):
            section_of.append(current)
            questions.append([vocab[word] for word in words])
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
) -> np.ndarray:
    """Whether each question's best answer, other than its inputs, is its expected word."""
    batch = max(1, _SCORES_PER_BATCH // (3 * len(matrix)))
    hits = []
    for start in range(0, len(questions), batch):
        a, b, c, expected = questions[start : start + batch].T
        scores = method_scores(matrix, norms, np.stack([b, c], axis=1), a[:, None], method)
        is_input = (spelling == a[:, None]) | (spelling == b[:, None]) | (spelling == c[:, None])
        scores[is_input] = -np.inf
        hits.append(spelling[scores.argmax(axis=1)] == expected)
    return np.concatenate(hits)
