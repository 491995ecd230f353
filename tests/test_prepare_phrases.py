import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from support import planted_text, reference
from test_prepare import dataset_files, prepare_spilling, sentences, write

from w2v.data import pool
from w2v.data import prepare as prepare_module
from w2v.data import text as text_module
from w2v.data.checksum import sha256_file
from w2v.data.corpus import open_dataset, read_phrases
from w2v.data.phrases import Phrases, PhraseSettings, query_form, query_token
from w2v.data.prepare import prepare
from w2v.data.tokenizer import Tokenizer
from w2v.errors import W2VError
from w2v.vectors import Vectors

SETTINGS = PhraseSettings(2, "word2phrase", 10.0, min_count=3)


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[str, list[str]]:
    lines, _ = planted_text(seed=4, lines=500)
    return write(tmp_path / "corpus.txt", "\n".join(lines) + "\n"), lines


def test_phrases_are_joined_saved_and_counted(tmp_path: Path,
                                             corpus: tuple[str, list[str]]) -> None:
    source, lines = corpus

    summary = prepare(source, tmp_path / "data", min_count=1, phrases=SETTINGS, progress=False)

    tables, joined = reference([line.split() for line in lines], SETTINGS)
    assert sentences(summary.path) == [line for line in joined if line]
    saved = read_phrases(summary.path)
    assert [{(p.first, p.second): (p.count, p.score) for p in saved.phrases
             if p.pass_number == n} for n in (1, 2)] == tables
    assert saved == open_dataset(summary.path).phrases and saved.passes == 2
    first = saved.phrases[0]
    assert (summary.path / "phrases.tsv").read_text().splitlines()[0] == (
        f"{first.first} {first.second}\t{first.count}\t{first.score!r}\t1")
    in_phrases = [t for line in joined for t in line if t.count("_")]
    meta = json.loads((summary.path / "meta.json").read_text())
    assert meta["version"] == 3 and meta["phrases"] == {
        "passes": 2, "scoring": "word2phrase", "threshold": 10.0, "min_count": 3,
        "learned": len(saved), "phrase_tokens": len(in_phrases),
        "phrase_words": sum(t.count("_") + 1 for t in in_phrases)}
    assert meta["checksums"]["phrases.tsv"] == sha256_file(summary.path / "phrases.tsv")
    assert meta["raw_tokens"] == sum(map(len, joined))
    assert (summary.phrases, summary.phrase_tokens) == (len(saved), len(in_phrases))
    assert (f"{len(saved):,} phrases learned, {len(in_phrases):,} phrase tokens replacing "
            f"{meta['phrases']['phrase_words']:,} words") in summary.line()
    tokenizer = open_dataset(summary.path).tokenizer
    assert query_token("new york times", tokenizer, saved) == "new_york_times"


def test_npmi_dataset_and_the_vocabulary_cut(tmp_path: Path,
                                            corpus: tuple[str, list[str]]) -> None:
    source, lines = corpus
    options = PhraseSettings(1, "npmi", 0.5, 5)

    summary = prepare(source, tmp_path / "data", min_count=4, phrases=options, progress=False)

    _, joined = reference([line.split() for line in lines], options)
    counts: dict[str, int] = {}
    for line in joined:
        for token in line:
            counts[token] = counts.get(token, 0) + 1
    kept = [[t for t in line if counts[t] >= 4] for line in joined]
    assert sentences(summary.path) == [line for line in kept if line]
    vocab = open_dataset(summary.path).vocab
    assert {"new_york", "los_angeles", "hot_dog", "ice_cream"} <= set(vocab.words)
    assert json.loads((summary.path / "meta.json").read_text())["phrases"]["scoring"] == "npmi"


@pytest.fixture
def many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut even a tiny corpus into many blocks, and use workers for it."""
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 64)
    monkeypatch.setattr(prepare_module, "PARALLEL_MIN_BYTES", 0)


def test_workers_and_blocks_change_nothing(tmp_path: Path, corpus: tuple[str, list[str]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    source, lines = corpus
    # Every line fits in a block, so blocks end at line ends and no pair is cut in two.
    assert max(map(len, lines)) < 100
    whole = prepare(source, tmp_path / "whole", min_count=2, phrases=SETTINGS, progress=False)
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 128)
    monkeypatch.setattr(prepare_module, "PARALLEL_MIN_BYTES", 0)

    serial = prepare(source, tmp_path / "serial", min_count=2, workers=1, phrases=SETTINGS,
                     progress=False)
    with mock.patch.object(pool, "ProcessPoolExecutor", wraps=ProcessPoolExecutor) as pools:
        parallel = prepare(source, tmp_path / "parallel", min_count=2, workers=2,
                           phrases=SETTINGS, progress=False)

    assert pools.call_count == 4  # two phrase passes, counting, encoding
    files = dataset_files(parallel.path)
    assert files == dataset_files(serial.path) == dataset_files(whole.path)
    assert (parallel.path / "phrases.tsv").read_bytes() == (
        serial.path / "phrases.tsv").read_bytes() == (whole.path / "phrases.tsv").read_bytes()
    assert len(read_phrases(parallel.path)) > 5


def test_a_line_longer_than_a_block(tmp_path: Path, many_blocks: None) -> None:
    words = " ".join(["new york is big"] * 400 + ["a b"] * 300)
    source = write(tmp_path / "text8", words)

    serial = prepare(source, tmp_path / "serial", min_count=1, workers=1,
                     phrases=PhraseSettings(1, threshold=0.5), progress=False)
    parallel = prepare(source, tmp_path / "parallel", min_count=1, workers=2,
                       phrases=PhraseSettings(1, threshold=0.5), progress=False)

    assert dataset_files(parallel.path) == dataset_files(serial.path)
    tokens = [t for sentence in sentences(serial.path) for t in sentence]
    assert tokens.count("new_york") > 390 and "is_big" in tokens
    assert [len(s) for s in sentences(serial.path)][:1] == [1000]


def test_counting_pairs_in_little_memory_gives_the_same_dataset(
        tmp_path: Path, corpus: tuple[str, list[str]]) -> None:
    source, _ = corpus
    roomy = prepare(source, tmp_path / "roomy", min_count=2, phrases=SETTINGS, progress=False)

    tight, spilled = prepare_spilling(source, tmp_path / "tight", 2000, phrases=SETTINGS)

    assert dataset_files(tight.path) == dataset_files(roomy.path)
    assert (tight.path / "phrases.tsv").read_bytes() == (roomy.path / "phrases.tsv").read_bytes()
    pair_runs = {p for p in spilled if p.parent.name == "pairs"}
    assert len(pair_runs) >= 10 and {p.parent.name for p in spilled} >= {"words", "pairs"}
    assert sorted(p.name for p in (tmp_path / "tight").rglob("*")) == [
        "corpus", "meta.json", "offsets.bin", "phrases.tsv", "tokens.bin", "vocab.tsv"]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: (d / "phrases.tsv").write_text("new york\t9\t1.0\t1\n"), "does not match"),
    (lambda d: (d / "phrases.tsv").unlink(), "lacks phrases.tsv"),
])
def test_a_damaged_phrase_table_is_reported(tmp_path: Path, corpus: tuple[str, list[str]],
                                            damage, message: str) -> None:
    summary = prepare(corpus[0], tmp_path / "data", min_count=1, phrases=SETTINGS,
                      progress=False)
    damage(summary.path)
    with pytest.raises(W2VError, match=message) as info:
        open_dataset(summary.path)
    assert "w2v prepare" in str(info.value)


@pytest.mark.parametrize("line", ["new york\t9\t1.0", "newyork\t9\t1.0\t1", "a b\tx\t1.0\t1",
                                  "a b c\t9\t1.0\t1"])
def test_a_malformed_phrase_line_is_one_error(tmp_path: Path, corpus: tuple[str, list[str]],
                                              line: str) -> None:
    summary = prepare(corpus[0], tmp_path / "data", min_count=1, phrases=SETTINGS,
                      progress=False)
    (summary.path / "phrases.tsv").write_text(f"{line}\n")
    with pytest.raises(W2VError, match=r"phrases.tsv, line 1: expected 'first second"):
        read_phrases(summary.path)


def test_a_dataset_without_phrases_has_none(tmp_path: Path,
                                           corpus: tuple[str, list[str]]) -> None:
    summary = prepare(corpus[0], tmp_path / "data", min_count=1, progress=False)
    meta = json.loads((summary.path / "meta.json").read_text())
    del meta["phrases"]
    (summary.path / "meta.json").write_text(json.dumps({**meta, "version": 2}))

    assert len(open_dataset(summary.path).phrases) == 0
    assert query_token("new york", open_dataset(summary.path).tokenizer,
                       read_phrases(summary.path)) is None
    assert summary.phrases is None and "phrases" not in summary.line()


def test_the_api_learns_phrases_and_joins_queries(tmp_path: Path,
                                                  corpus: tuple[str, list[str]]) -> None:
    import w2v

    data = w2v.prepare(corpus[0], data_dir=tmp_path / "data", min_count=1, workers=1,
                       phrases=1, phrase_scoring="npmi", phrase_threshold=0.3,
                       phrase_min_count=3, progress=False)

    learned = {p.token for p in data.phrases.phrases}
    assert {"new_york", "los_angeles", "hot_dog", "ice_cream"} <= learned
    assert data.meta["phrases"]["scoring"] == "npmi" and data.meta["phrases"]["threshold"] == 0.3
    assert data.query_token("new york") == data.query_token("new_york") == "new_york"
    assert "new_york" in data.vocab
    assert data.query_token("w1 w2") is None
    vectors = Vectors(data.vocab.words, np.random.default_rng(0).normal(size=(len(data.vocab), 8)),
                      query_form=data.query_form)
    assert vectors.most_similar("new york", topn=5) == vectors.most_similar("new_york", topn=5)
    assert np.array_equal(vectors["new york"], vectors["new_york"])
    assert query_form(Tokenizer("whitespace"), Phrases()) is None
    # named as the API names it
    with pytest.raises(W2VError, match="^phrase_threshold applies only to learning phrases; "
                                       "add phrases=1"):
        w2v.prepare(corpus[0], data_dir=tmp_path / "other", phrase_threshold=0.3)


def test_a_run_answers_a_phrase_query_as_its_dataset_joined_it(
        tmp_path: Path, corpus: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    from cli_support import w2v as w2v_cli

    import w2v

    data = w2v.prepare(corpus[0], data_dir=tmp_path / "data", min_count=1, workers=1,
                       phrases=1, phrase_scoring="npmi", phrase_threshold=0.3,
                       phrase_min_count=3, progress=False)
    run = w2v.train(data, run_dir=tmp_path / "run", dim=8, epochs=1, batch_size=256,
                    progress=False)
    vectors = Vectors.load(tmp_path / "run")
    assert np.array_equal(vectors["new york"], vectors["new_york"])
    assert "w1 w2" not in vectors and "new york" in run.vectors
    result = w2v_cli(capsys, "neighbors", "new york", "--run", tmp_path / "run", "-k", "3")
    assert result.code == 0, result.err
    assert [line.split()[0] for line in result.out.splitlines()[1:]] == \
        [word for word, _ in vectors.most_similar("new_york", topn=3)]
