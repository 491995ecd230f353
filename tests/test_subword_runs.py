"""Runs trained with subwords: through the API and the command line, every word has a vector
(unseen ones from their character n-grams), the run resumes, and its fastText export is what
gensim reads, with the same vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import assert_error, w2v
from gensim.models.fasttext import load_facebook_model, load_facebook_vectors

import w2v as api
from w2v.correlation import spearman
from w2v.data.prepare import prepare
from w2v.errors import W2VError
from w2v.evaluate import evaluate_word_pairs
from w2v.subwords import char_ngrams, fasttext_hash
from w2v.vectors import Vectors

# Words of a topic share their stem, so an unseen word with a topic's stem lands in its topic.
STEMS = ["kitab", "vorol", "mustang", "plimber"]
SUFFIXES = ["a", "en", "ing", "er", "s", "ed", "ly", "ness", "ist", "o"]
UNSEEN = ["kitabful", "vorolize", "mustangish", "plimberhood"]
TRAIN = {"subwords": "3-6", "buckets": 5000, "dim": 24, "window": 3, "sample": 0.0,
         "epochs": 4, "batch_size": 128, "group_size": 16, "lr": 0.02}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stems")
    rng = np.random.default_rng(0)
    topics = [[stem + suffix for suffix in SUFFIXES] for stem in STEMS]
    lines = [" ".join(rng.choice(topics[rng.integers(len(topics))], 8)) for _ in range(1500)]
    (root / "stems.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prepare(str(root / "stems.txt"), root / "data", min_count=1, progress=False).path


@pytest.fixture(scope="module")
def run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    api.train(dataset, run_dir=run_dir, device="cpu", progress=False, **TRAIN)
    return run_dir


def ngram_mean(vectors: Vectors, word: str) -> np.ndarray:
    """The mean of the word's n-gram rows, found by hand in the run's table."""
    table = vectors.subwords
    rows = []
    for ngram in char_ngrams(word, 3, 6):
        bucket = fasttext_hash(ngram.encode()) % 5000
        at = np.searchsorted(table.stored, bucket)
        stored = at < len(table.stored) and table.stored[at] == bucket
        rows.append(table.input[table.nwords + at] if stored else np.zeros(table.input.shape[1]))
    return np.mean(rows, axis=0)


def test_unseen_words_get_the_mean_of_their_ngrams_and_land_by_their_stem(run: Path) -> None:
    vectors = Vectors.load(run)
    assert vectors.subwords is not None and "kitabful" not in vectors
    for word, stem in zip(UNSEEN, STEMS, strict=True):
        np.testing.assert_allclose(vectors[word], ngram_mean(vectors, word), rtol=1e-5,
                                   atol=1e-6)
        nearest = [w for w, _ in vectors.most_similar(word, topn=3)]
        assert all(w.startswith(stem) for w in nearest), (word, nearest)
    # a vocabulary word's vector is the mean of its own row and its n-grams' rows
    np.testing.assert_allclose(vectors.vectors, vectors.subwords.vocab_vectors(vectors.words),
                               rtol=1e-5, atol=1e-6)


def test_evaluation_scores_every_pair_and_counts_the_unseen(run: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("kitaba\tkitaben\t9\nkitabful\tkitabing\t8\nkitaba\tvorolen\t1\n"
                     "mustangish\tplimbers\t0.5\n")
    vectors = Vectors.load(run)
    scores = evaluate_word_pairs(vectors, pairs)
    assert (scores.pairs, scores.unseen, scores.oov_ratio) == (4, 2, 0)
    plain = evaluate_word_pairs(Vectors(vectors.words, vectors.vectors), pairs)
    assert (plain.pairs, plain.unseen, plain.oov_ratio) == (2, 0, 0.5)


def test_neighbors_of_an_unseen_word_say_it_is_unseen(run: Path, capsys) -> None:
    result = w2v(capsys, "neighbors", "vorolize", "kitaba", "--run", run, "-k", "3")
    assert result.code == 0, result.err
    assert result.err.count("\n") == 1 and "'vorolize' is not in the vocabulary" in result.err
    lines = result.out.splitlines()
    assert lines[0] == "vorolize:" and all(line.split()[0].startswith("vorol")
                                           for line in lines[1:4])


def test_fasttext_export_is_read_by_gensim_with_the_same_vectors(run: Path, tmp_path: Path,
                                                                  capsys) -> None:
    out = tmp_path / "model.bin"
    result = w2v(capsys, "export", "--run", run, "--format", "fasttext-bin", "--output", out)
    assert result.code == 0, result.err
    ours, theirs = Vectors.load(run), load_facebook_vectors(str(out))
    assert theirs.index_to_key == ours.words
    unseen = UNSEEN + [word + "zz" for word in ours.words] + ["日本語", "q"]
    for word in ours.words + unseen:
        np.testing.assert_allclose(theirs[word], ours[word], rtol=0, atol=1e-5)
    back = Vectors.load(out)
    for word in ours.words + unseen:
        np.testing.assert_allclose(back[word], ours[word], rtol=0, atol=1e-6)


def test_a_subword_run_resumes_and_keeps_its_ngrams(dataset: Path, run: Path,
                                                    tmp_path: Path, capsys) -> None:
    resumed = tmp_path / "run"
    api.train(dataset, run_dir=resumed, device="cpu", progress=False,
              callbacks=[lambda event: event.epoch < 2], **TRAIN)  # stops after epoch 2
    assert json.loads((resumed / "run.json").read_text())["epochs_done"] == 2
    api.train(run_dir=resumed, resume=True, device="cpu", progress=False)
    assert json.loads((resumed / "run.json").read_text())["epochs_done"] == 4
    state = torch.load(resumed / "checkpoint.pt", weights_only=True)
    np.testing.assert_array_equal(np.load(resumed / "subword_input.npy"),
                                  state["center"].numpy())
    # the same vectors as the run trained in one go
    np.testing.assert_allclose(np.load(resumed / "vectors.npy"), np.load(run / "vectors.npy"),
                               rtol=1e-5, atol=1e-6)
    assert_error(w2v(capsys, "train", "--run-dir", resumed, "--resume", "--force", "--subwords", "2-4",
                     "--epochs", "5"), "--resume cannot change subwords")


def test_cbow_trains_with_subwords(dataset: Path, tmp_path: Path) -> None:
    api.train(dataset, run_dir=tmp_path / "cbow", model="cbow", device="cpu", progress=False,
              **TRAIN)
    vectors = Vectors.load(tmp_path / "cbow")
    nearest = [w for w, _ in vectors.most_similar("mustangish", topn=3)]
    assert all(w.startswith("mustang") for w in nearest), nearest
    # its fastText model says how it was trained, for gensim to go on training it so
    vectors.save(tmp_path / "cbow.bin", "fasttext-bin")
    model = load_facebook_model(str(tmp_path / "cbow.bin"))
    assert (model.sg, model.window, model.epochs, model.negative) == (0, 3, 4, 5)
    assert model.min_count == min(vectors.counts)
    assert Vectors.load(tmp_path / "cbow.bin").subwords.training.model == "cbow"


@pytest.mark.parametrize(("flags", "message"), [
    (["--subwords", "3"], "subwords must be 0 (none) or MIN-MAX"),
    (["--subwords", "6-3"], "1 <= MIN <= MAX"),
    (["--subwords", "3-6", "--buckets", "0"], "buckets"),
    (["--subwords", "3-6", "--freeze", "--init", "VECTORS"], "--freeze cannot"),
])
def test_bad_subword_settings_are_one_clear_error(dataset: Path, tmp_path: Path, capsys,
                                                  flags: list[str], message: str) -> None:
    init = tmp_path / "init.txt"
    init.write_text("1 2\nkitaba 0.5 0.5\n")
    flags = [str(init) if flag == "VECTORS" else flag for flag in flags]
    assert_error(w2v(capsys, "train", "--data", dataset, "--run-dir", tmp_path / "r", *flags),
                 message)
    assert not (tmp_path / "r").exists()


def test_plain_runs_still_refuse_unknown_words(dataset: Path, tmp_path: Path, capsys) -> None:
    plain = tmp_path / "plain"
    api.train(dataset, run_dir=plain, device="cpu", progress=False,
              **{**TRAIN, "subwords": "0", "epochs": 1})
    assert not (plain / "subword_input.npy").exists()
    assert_error(w2v(capsys, "neighbors", "kitabful", "--run", plain), "kitabful")
    assert_error(w2v(capsys, "export", "--run", plain, "--format", "fasttext-bin", "--output",
                     tmp_path / "m.bin"), "fasttext-bin needs")
    shutil.rmtree(plain)


def test_a_run_whose_bucket_file_is_missing_or_damaged_is_one_clear_error(
        run: Path, tmp_path: Path) -> None:
    from w2v.run import SUBWORD_BUCKETS

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / SUBWORD_BUCKETS).unlink()
    with pytest.raises(W2VError, match="is missing"):
        Vectors.load(copy)
    np.save(copy / SUBWORD_BUCKETS, np.array([3.0, 1.0]))
    with pytest.raises(W2VError, match="is damaged"):
        Vectors.load(copy)


def test_a_word_past_restrict_vocab_is_scored_by_its_ngrams(run: Path, tmp_path: Path) -> None:
    vectors = Vectors.load(run)
    late = vectors.words[-8:]  # in the vocabulary, past the first 5 words
    pairs = tmp_path / "pairs.tsv"
    human = [9.0, 7.0, 4.0, 1.0]
    pairs.write_text("".join(f"{a}\t{b}\t{h}\n" for a, b, h in
                             zip(late[:4], late[4:], human, strict=True)))
    scores = evaluate_word_pairs(vectors, pairs, restrict_vocab=5)
    assert (scores.pairs, scores.unseen) == (4, 4)
    ngrams = vectors.subwords.unseen_vectors(late)
    units = ngrams / np.linalg.norm(ngrams, axis=1, keepdims=True)
    cosines = (units[:4] * units[4:]).sum(1)
    assert scores.spearman == pytest.approx(spearman(np.array(human), cosines), abs=1e-6)
