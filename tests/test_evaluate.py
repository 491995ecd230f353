from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from sample_vectors import DIM, as_gensim

from w2v.errors import W2VError
from w2v.evaluate import (
    default_analogy_files,
    default_similarity_files,
    evaluate,
    evaluate_word_analogies,
    evaluate_word_pairs,
    format_report,
)
from w2v.vectors import Vectors


def write_pairs(path: Path, vectors: Vectors, seed: int = 0) -> int:
    """A WordSim-style file: comments, mixed case, unknown words, malformed lines, tied scores.
    Returns the number of pairs with both words known."""
    rng = np.random.default_rng(seed)
    lines = ["# Word 1\tWord 2\tHuman (mean)", "#\tcomment\t1.0"]
    known = 0
    for _ in range(120):
        first, second = rng.choice(vectors.words, 2, replace=False)
        human = round(5 + 5 * vectors.similarity(first, second) + rng.normal(), 1)
        if rng.random() < 0.3:
            first = first.upper()
        lines.append(f"{first}\t{second}\t{human}")
        known += 1
    lines += [
        "paris\tking\t3.0",
        "PARIS\tKing\t4.0",
        "unknownword\tking\t5.0",
        "king\tnowhere\t2.0",
        "too\tfew",
        "a\tb\tc\td",
        "king\tparis\tnot-a-number",
        "",
    ]
    path.write_text("\n".join(lines) + "\n")
    return known + 2


def write_questions(path: Path) -> None:
    """A questions-words-style file over the generated relations, with mixed case, unknown
    words, malformed and blank lines, and a section whose questions are all unknown."""
    lines = []
    for relation in ("capital", "female"):
        lines.append(f": {relation}")
        for i in range(0, 40, 3):
            for j in range(1, 40, 7):
                if i != j:
                    lines.append(
                        f"{relation}-from{i} {relation}-to{i} {relation}-from{j} {relation}-to{j}"
                    )
    lines += [
        ": mixed-case",
        "CAPITAL-FROM1 Capital-To1 capital-from2 CAPITAL-TO2",
        "female-from3 FEMALE-TO3 Female-From4 female-to4",
        "King Paris king paris",
        "capital-from1 capital-to1 unknownword capital-to2",
        "three words only",
        "",
        ": all-unknown",
        "nothing here is known",
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def pair_file(tmp_path_factory, vectors: Vectors) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    return path, write_pairs(path, vectors)


@pytest.fixture(scope="module")
def question_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("questions") / "questions.txt"
    write_questions(path)
    return path


def assert_pairs_equal_gensim(scores, gensim_result) -> None:
    pearson, spearman, oov_percent = gensim_result
    assert scores.pearson == pytest.approx(pearson[0], abs=5e-4)
    assert scores.spearman == pytest.approx(spearman[0], abs=5e-4)
    assert scores.oov_ratio == pytest.approx(oov_percent / 100, abs=5e-4)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"case_insensitive": False},
        {"restrict_vocab": 150},
    ],
)
def test_word_pairs_equal_gensim(vectors: Vectors, gensim_kv, pair_file, options: dict):
    path, _ = pair_file

    scores = evaluate_word_pairs(vectors, path, **options)

    assert_pairs_equal_gensim(scores, gensim_kv.evaluate_word_pairs(str(path), **options))


def test_word_pairs_counts(vectors: Vectors, pair_file):
    path, known = pair_file

    scores = evaluate_word_pairs(vectors, path)

    assert scores.pairs == known
    assert scores.oov_ratio == pytest.approx(2 / (known + 2))
    assert 0.5 < scores.spearman < 1


def test_word_pairs_other_delimiter(tmp_path: Path, vectors: Vectors, gensim_kv):
    tab_separated = tmp_path / "pairs.tsv"
    write_pairs(tab_separated, vectors, seed=1)
    comma_separated = tmp_path / "pairs.csv"
    comma_separated.write_text(tab_separated.read_text().replace("\t", ","))

    scores = evaluate_word_pairs(vectors, comma_separated, delimiter=",")

    assert scores == evaluate_word_pairs(vectors, tab_separated)
    assert_pairs_equal_gensim(
        scores, gensim_kv.evaluate_word_pairs(str(comma_separated), delimiter=",")
    )


def test_word_pairs_all_unknown(tmp_path: Path, vectors: Vectors):
    path = tmp_path / "pairs.tsv"
    path.write_text("# nothing known\nfoo\tbar\t1.0\nbaz\tking\t2.0\n")

    with pytest.raises(
        W2VError,
        match=r"no word pair with both words in the vocabulary "
        r"\(2 pairs with unknown words\)",
    ):
        evaluate_word_pairs(vectors, path)


def gensim_section_accuracies(sections: list[dict]) -> dict[str, tuple[int, int]]:
    return {
        s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections
    }


def assert_analogies_equal_gensim(scores, gensim_result) -> None:
    accuracy, sections = gensim_result
    counts = gensim_section_accuracies(sections)
    assert scores.accuracy == pytest.approx(accuracy, abs=5e-4)
    assert (scores.correct, scores.total) == counts.pop("Total accuracy")
    assert set(scores.sections) == set(counts)
    for name, (correct, total) in counts.items():
        expected = correct / total if total else None
        assert scores.sections[name] == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"case_insensitive": False},
        {"restrict_vocab": 250},
    ],
)
def test_word_analogies_equal_gensim(vectors: Vectors, gensim_kv, question_file, options: dict):
    scores = evaluate_word_analogies(vectors, question_file, **options)

    assert_analogies_equal_gensim(
        scores, gensim_kv.evaluate_word_analogies(str(question_file), **options)
    )


def test_word_analogies_counts(vectors: Vectors, question_file):
    scores = evaluate_word_analogies(vectors, question_file)

    assert scores.total == 2 * (14 * 6 - 2) + 3
    assert 0.4 < scores.accuracy < 0.9
    assert scores.sections["all-unknown"] is None
    assert list(scores.sections) == ["capital", "female", "mixed-case", "all-unknown"]


# gensim's most_similar_cosmul calls its own deprecated init_sims.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_word_analogies_3cosmul_equal_gensim_most_similar_cosmul(vectors: Vectors, question_file):
    kv = as_gensim(vectors)
    # gensim evaluates with most_similar only; answering with most_similar_cosmul instead
    # gives the 3CosMul yardstick under the same rules.
    kv.most_similar = kv.most_similar_cosmul

    scores = evaluate_word_analogies(vectors, question_file, method="3cosmul")

    assert_analogies_equal_gensim(scores, kv.evaluate_word_analogies(str(question_file)))
    assert scores.correct != evaluate_word_analogies(vectors, question_file).correct


def test_word_analogies_in_small_batches_give_the_same_result(
    vectors: Vectors, question_file, monkeypatch
):
    whole = evaluate_word_analogies(vectors, question_file)
    monkeypatch.setattr("w2v.evaluate._SCORES_PER_BATCH", 3 * len(vectors) * 7)

    assert evaluate_word_analogies(vectors, question_file) == whole


def test_question_before_any_section(tmp_path: Path, vectors: Vectors):
    path = tmp_path / "questions.txt"
    path.write_text("\ncapital-from1 capital-to1 capital-from2 capital-to2\n: late\n")

    with pytest.raises(W2VError, match=r"questions.txt: line 2: a question before the first"):
        evaluate_word_analogies(vectors, path)


def test_no_usable_question(tmp_path: Path, vectors: Vectors):
    path = tmp_path / "questions.txt"
    path.write_text(": only\nfoo bar baz qux\n")

    with pytest.raises(W2VError, match="no analogy question with all four words"):
        evaluate_word_analogies(vectors, path)


def test_missing_evaluation_file(tmp_path: Path, vectors: Vectors):
    with pytest.raises(W2VError, match="no such file"):
        evaluate_word_pairs(vectors, tmp_path / "nowhere.tsv")


def test_packaged_files_are_the_originals():
    (pairs,), (questions,) = default_similarity_files(), default_analogy_files()

    assert (pairs.name, questions.name) == ("wordsim353.tsv", "questions-words.txt")
    assert hashlib.sha256(pairs.read_bytes()).hexdigest() == (
        "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d"
    )
    assert hashlib.sha256(questions.read_bytes()).hexdigest() == (
        "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36"
    )


def vectors_for_packaged_files() -> Vectors:
    """Vectors for most words of the packaged files, each analogy pair related by its
    section's offset plus noise; about half the words lowercased, some left out."""
    rng = np.random.default_rng(7)
    table: dict[str, np.ndarray] = {}
    for line in default_analogy_files()[0].read_text().splitlines():
        if line.startswith(": "):
            offset = rng.normal(size=DIM)
            continue
        a, b, c, d = line.split()
        for x, y in ((a, b), (c, d)):
            table.setdefault(x, rng.normal(size=DIM))
            table.setdefault(y, table[x] + offset + rng.normal(scale=0.8, size=DIM))
    for line in default_similarity_files()[0].read_text().splitlines():
        if not line.startswith("#"):
            for word in line.split("\t")[:2]:
                table.setdefault(word, rng.normal(size=DIM))
    kept: dict[str, np.ndarray] = {}
    for word, vector in table.items():
        if rng.random() < 0.85:
            kept.setdefault(word.lower() if rng.random() < 0.5 else word, vector)
    return Vectors(list(kept), np.array(list(kept.values())))


@pytest.fixture(scope="module")
def packaged_vectors() -> Vectors:
    return vectors_for_packaged_files()


def test_packaged_word_pairs_equal_gensim(packaged_vectors: Vectors):
    (path,) = default_similarity_files()

    scores = evaluate_word_pairs(packaged_vectors, path)

    assert 250 < scores.pairs < 353
    assert_pairs_equal_gensim(scores, as_gensim(packaged_vectors).evaluate_word_pairs(str(path)))


def test_packaged_word_analogies_equal_gensim(packaged_vectors: Vectors):
    (path,) = default_analogy_files()

    scores = evaluate_word_analogies(packaged_vectors, path)

    assert len(scores.sections) == 14 and scores.total > 5000
    assert 0.1 < scores.accuracy < 0.9
    assert_analogies_equal_gensim(
        scores, as_gensim(packaged_vectors).evaluate_word_analogies(str(path))
    )


def test_evaluate_keys_results_by_file_name(vectors: Vectors, pair_file, question_file):
    path, known = pair_file

    results = evaluate(vectors, similarity=[path], analogies=[question_file])

    assert list(results) == ["pairs.tsv", "questions.txt"]
    assert set(results["pairs.tsv"]) == {"pearson", "spearman", "oov_ratio", "pairs", "unseen"}
    assert results["pairs.tsv"]["pairs"] == known
    analogies = results["questions.txt"]
    assert set(analogies) == {"accuracy", "correct", "total", "sections", "unseen"}
    assert analogies["accuracy"] == evaluate_word_analogies(vectors, question_file).accuracy
    assert analogies["sections"]["all-unknown"] is None


def test_evaluate_refuses_two_files_of_one_name(tmp_path: Path, vectors: Vectors, pair_file):
    path, _ = pair_file
    twin = tmp_path / path.name
    twin.write_bytes(path.read_bytes())

    with pytest.raises(W2VError, match="two evaluation files are named pairs.tsv"):
        evaluate(vectors, similarity=[path, twin], analogies=[])


def test_format_report():
    results = {
        "wordsim353.tsv": {"pearson": 0.41234, "spearman": 0.4, "oov_ratio": 0.375, "pairs": 221},
        "questions-words.txt": {
            "accuracy": 0.25,
            "correct": 1,
            "total": 4,
            "sections": {"capital-common-countries": 0.5, "family": None},
        },
    }

    assert format_report(results).splitlines() == [
        "word pairs      pairs  unknown  pearson  spearman",
        "wordsim353.tsv    221    37.5%    0.412     0.400",
        "",
        "analogies                   correct  total  accuracy",
        "questions-words.txt               1      4     25.0%",
        "  capital-common-countries                     50.0%",
        "  family                                           -",
    ]


def test_format_report_counts_the_items_scored_through_ngrams():
    results = {
        "wordsim353.tsv": {"pearson": 0.3, "spearman": 0.25, "oov_ratio": 0.0, "pairs": 353,
                           "unseen": 134},
        "questions-words.txt": {"accuracy": 0.5, "correct": 2, "total": 4, "unseen": 1,
                                "sections": {"family": 0.5}},
    }

    lines = format_report(results).splitlines()
    assert lines[:2] == ["word pairs      pairs  by n-grams  unknown  pearson  spearman",
                         "wordsim353.tsv    353         134     0.0%    0.300     0.250"]
    assert lines[3:5] == ["analogies            correct  total  by n-grams  accuracy",
                          "questions-words.txt        2      4           1     50.0%"]
    assert lines[-1].startswith("by n-grams: items with a word outside the vocabulary")
