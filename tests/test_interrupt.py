"""SIGINT and SIGTERM: training stops at a checkpoint and resumes to the very same vectors;
other commands leave no half-written files behind."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import assert_error, tree, w2v, w2v_process
from support import Server, partial_body, train_here

from w2v.config import load_config
from w2v.data.corpus import open_dataset
from w2v.data.prepare import prepare

Capsys = pytest.CaptureFixture[str]
# Many small steps, so that a signal lands mid-run; metrics.jsonl fills up from the start.
SETTINGS = ["--dim", "16", "--epochs", "3", "--batch-size", "64", "--sample", "0.001",
            "--seed", "7", "--config", "fast.toml", "--quiet"]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared dataset of 20,000 words, and the vectors of an uninterrupted run on it."""
    root = tmp_path_factory.mktemp("interrupt")
    rng = np.random.default_rng(0)
    vocab = 200
    p = 1 / np.arange(1, vocab + 1)
    words = rng.choice(vocab, size=20_000, p=p / p.sum())
    cuts = np.cumsum(rng.integers(5, 30, size=2000))
    lines = [" ".join(f"w{i}" for i in s) for s in np.split(words, cuts[cuts < len(words)])]
    (root / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    prepare(str(root / "corpus.txt"), root / "data", min_count=1, progress=False)
    (root / "fast.toml").write_text("log_every = 1\ngroup_size = 8\n")
    return root


@pytest.fixture(scope="module")
def uninterrupted(work: Path) -> np.ndarray:
    """The vectors of the same run without a signal, trained in this process."""
    config = load_config(work / "fast.toml", dim=16, epochs=3, batch_size=64, sample=0.001,
                         seed=7)
    run = work / "runs" / "whole"
    train_here(open_dataset(work / "data" / "corpus"), config, run)
    return np.load(run / "vectors.npy")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_at_a_checkpoint_and_resume_finishes_the_same_run(
        work: Path, uninterrupted: np.ndarray, capsys: Capsys, signum: signal.Signals,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    run = Path("runs") / signum.name
    process = w2v_process(work, "train", "--data", "data/corpus", "--run-dir", run,
                          "--device", "cpu", *SETTINGS)
    deadline = time.monotonic() + 60
    metrics = run / "metrics.jsonl"
    while not (metrics.exists() and metrics.stat().st_size > 0):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)

    assert_error((process.returncode, err), f"stopped by {signum.name} at epoch",
                 f"checkpoint saved in {run}; continue with: w2v train --resume --run-dir {run}",
                 code=130)
    assert tree(run) == ["checkpoint.pt", "config.json", "metrics.jsonl", "run.json",
                         "vectors.npy", "vocab.tsv"]
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    position = torch.load(run / "checkpoint.pt", weights_only=True)["position"]
    assert position["epoch"] < 3, "the signal came too late to interrupt the run"

    result = w2v(capsys, "train", "--resume", "--run-dir", run, "--quiet")

    assert result.code == 0, result.err
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert np.array_equal(np.load(run / "vectors.npy"), uninterrupted)
    # every step logged once, with the loss of the uninterrupted run
    assert logged(run) == logged(work / "runs" / "whole")


def logged(run: Path) -> list[tuple]:
    records = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    return [(r["step"], r["epoch"], r["words"], r["loss"], r["lr"]) for r in records]


def test_sigterm_during_a_download_leaves_no_partial_file(server: Server, tmp_path: Path) -> None:
    body = b"the cat sat on the mat\n" * 10_000

    server.routes["/corpus.txt"] = partial_body(body, 50_000, pause=3)
    process = w2v_process(tmp_path, "prepare", server.url("corpus.txt"), "--quiet")
    downloads = tmp_path / "data" / "downloads"
    deadline = time.monotonic() + 30
    while not (downloads.exists() and any(downloads.iterdir())):  # the partial file is there
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)

    assert process.returncode == 130 and err == "w2v: interrupted\n"
    assert tree(tmp_path / "data") == ["downloads"]
