"""Starting from pretrained vectors (--init) and keeping them as they are (--freeze)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import assert_error, w2v
from support import topic_corpus

import w2v as api
from w2v.models import SkipGram

Capsys = pytest.CaptureFixture[str]
FLAGS = ["--dim", "16", "--window", "3", "--negatives", "3", "--epochs", "2", "--batch-size",
         "128", "--sample", "0", "--lr", "0.05", "--quiet"]
SETTINGS = {"dim": 16, "window": 3, "negatives": 3, "epochs": 2, "batch_size": 128,
            "sample": 0.0, "lr": 0.05}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of 52 words and a skip-gram run on it, runs/base."""
    root = tmp_path_factory.mktemp("init")
    api.prepare(topic_corpus(root / "topics.txt"), data_dir=root / "data", min_count=1,
                progress=False)
    api.train(root / "data" / "topics", run_dir=root / "runs" / "base", progress=False,
              **SETTINGS)
    return root


@pytest.fixture(autouse=True)
def _work(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)


def train(capsys: Capsys, run: str, *args: str):
    return w2v(capsys, "train", "--data", "data/topics", "--run-dir", run, *FLAGS, *args)


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_frozen_rows_stay_bit_for_bit(capsys: Capsys, model: str) -> None:
    run = f"runs/frozen-{model}"
    result = train(capsys, run, "--model", model, "--init", "runs/base", "--freeze", "--seed", "2")

    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "init: 52 of 52 words from runs/base, frozen"
    base = np.load("runs/base/vectors.npy")
    assert np.array_equal(np.load(f"{run}/vectors.npy"), base)
    output = "context" if model == "skipgram" else "center"
    assert torch.load(f"{run}/checkpoint.pt", weights_only=True)[output].abs().max() > 0.1
    info = json.loads(Path(run, "run.json").read_text())
    assert info["init"] == {"source": "runs/base", "words": 52, "frozen": True}

    # resumed, they stay frozen
    assert w2v(capsys, "train", "--resume", "--run-dir", run, "--epochs", "3", "--force",
               "--quiet").code == 0
    assert np.array_equal(np.load(f"{run}/vectors.npy"), base)
    assert "init         52 of 52 words from runs/base, frozen" in \
        w2v(capsys, "info", "--run", run).out


def test_words_found_in_a_word2vec_file_start_from_it(tmp_path: Path) -> None:
    words = [f"t0w{i}" for i in range(12)] + ["elsewhere"]
    rows = np.random.default_rng(0).normal(size=(len(words), 16)).astype(np.float32)
    rows[0, 0] = -0.0
    api.Vectors(words, rows).save(tmp_path / "pretrained.txt", format="word2vec-text")

    frozen = api.train("data/topics", run_dir=tmp_path / "frozen", init=tmp_path / "pretrained.txt",
                       freeze=True, seed=3, progress=False, **SETTINGS)
    free = api.train("data/topics", run_dir=tmp_path / "free", init=tmp_path / "pretrained.txt",
                     seed=3, progress=False, **SETTINGS)

    assert frozen.info["init"]["words"] == 12
    vectors = frozen.vectors
    found = [vectors.key_to_index[w] for w in words[:12]]
    others = np.setdiff1d(np.arange(len(vectors)), found)
    assert np.array_equal(vectors.vectors[found], rows[:12])
    start = SkipGram(len(vectors), 16, torch.Generator().manual_seed(3)).input.weight.detach()
    assert not np.isclose(vectors.vectors[others], start.numpy()[others]).all(axis=1).any()
    # without --freeze they start there, and train on
    assert not np.isclose(free.vectors.vectors[found], rows[:12]).all(axis=1).any()
    assert not np.array_equal(free.vectors.vectors, vectors.vectors)


def test_mistakes_with_init_are_one_line(capsys: Capsys, tmp_path: Path) -> None:
    assert_error(train(capsys, "runs/a", "--init", "runs/base", "--dim", "8"),
                 "--init runs/base has vectors of dimension 16, but this run's dim is 8; give "
                 "--dim 16")
    assert_error(train(capsys, "runs/a", "--freeze"), "--freeze keeps the rows that --init sets")
    api.Vectors(["nowhere", "else"], np.ones((2, 16), np.float32)).save(
        tmp_path / "other.txt", format="word2vec-text")
    assert_error(train(capsys, "runs/a", "--init", tmp_path / "other.txt"),
                 "none of the 52 words of the dataset data/topics has a vector there")
    assert_error(w2v(capsys, "train", "--resume", "--run-dir", "runs/base", "--init",
                     "runs/base", "--quiet"), "--init starts a new run")
    assert not Path("runs/a").exists()
