"""Real 2-process training on torch.distributed (gloo, CPU), as `--nproc 2` and as torchrun."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import topic_corpus

from w2v.data.batcher import even_chunks
from w2v.data.prepare import prepare

FLAGS = ["--dim", "16", "--window", "3", "--epochs", "3", "--batch-size", "128", "--sample", "0",
         "--lr", "0.05", "--quiet"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dist")
    prepare(str(topic_corpus(root / "topics.txt", sentences=800)), root / "data", min_count=1,
            progress=False)
    return root


def run(workdir: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=workdir, env=ENV, capture_output=True, text=True,
                          timeout=300, check=False)


def check_run(run_dir: Path, corpus_tokens: int) -> None:
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete" and info["processes"] == 2
    digests = info["table_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]  # the ranks ended with equal tables
    assert info["words"] == 3 * corpus_tokens  # words counted over both ranks
    assert np.load(run_dir / "vectors.npy").shape[1] == 16
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    sync = info["sync"]
    assert 0 < sync["syncs"] <= len(logged) and 0 < sync["share"] < 1  # this run's syncs
    # the rows each rank changed, summed over the 2 ranks, in 2 tables
    assert all(0 < m["sync_rows"] <= 2 * 2 * info["vocab_size"] for m in logged)
    # at most a row id and 16 floats per row synced, and the counters of both ranks
    assert all(0 < m["sync_bytes"] <= (8 + 16 * 4) * m["sync_rows"] + 2 * 7 * 8 for m in logged)
    shown = subprocess.run([sys.executable, "-m", "w2v", "info", "--run", str(run_dir)], env=ENV,
                           capture_output=True, text=True, check=True).stdout
    assert f"sync         2 processes, {sync['syncs']} syncs of" in shown
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.pt", "config.json", "metrics.jsonl", "run.json", "vectors.npy", "vocab.tsv"]


def corpus_tokens(workdir: Path) -> int:
    return json.loads((workdir / "data" / "topics" / "meta.json").read_text())["tokens"]


def test_nproc_two_writes_one_run_with_equal_tables(workdir: Path) -> None:
    done = run(workdir, sys.executable, "-m", "w2v", "train", "--nproc", "2", *FLAGS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "device cpu x 2" in done.stdout
    assert [p.name for p in (workdir / "runs").iterdir()] == ["topics"]
    check_run(workdir / "runs" / "topics", corpus_tokens(workdir))
    info = json.loads((workdir / "runs" / "topics" / "run.json").read_text())
    assert info["sync"]["syncs"] == len((workdir / "runs" / "topics" / "metrics.jsonl")
                                        .read_text().splitlines())


def test_torchrun_form(workdir: Path) -> None:
    done = run(workdir, sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "-m", "w2v", "train", *FLAGS, "--run-dir", "runs/tr")
    assert done.returncode == 0, done.stderr
    check_run(workdir / "runs" / "tr", corpus_tokens(workdir))


def test_even_chunks_cover_the_corpus_at_sentence_ends() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        lengths = rng.integers(1, 50, size=rng.integers(1, 40))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        parts = int(rng.integers(1, len(lengths) + 1))
        bounds = even_chunks(offsets, parts)
        assert len(bounds) == parts
        assert bounds[0][0] == 0 and bounds[-1][1] == offsets[-1]
        assert all(a < b for a, b in bounds)
        assert all(b == c for (_, b), (c, _) in itertools.pairwise(bounds))
        assert {b for _, b in bounds} <= set(offsets.tolist())


def test_resume_a_two_process_run(workdir: Path) -> None:
    flags = [*FLAGS]
    flags[flags.index("--epochs") + 1] = "2"
    done = run(workdir, sys.executable, "-m", "w2v", "train", "--nproc", "2", *flags,
               "--run-dir", "runs/longer")
    assert done.returncode == 0, done.stderr
    done = run(workdir, sys.executable, "-m", "w2v", "train", "--resume", "--nproc", "2",
               "--run-dir", "runs/longer", "--epochs", "3", "--force", "--quiet")
    assert done.returncode == 0, done.stderr
    check_run(workdir / "runs" / "longer", corpus_tokens(workdir))
    metrics = (workdir / "runs" / "longer" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in metrics]
    assert steps == sorted(steps)


@pytest.mark.parametrize(("flags", "message"), [
    (["--nproc", "0"], "--nproc must be at least 1, got 0"),
    (["--nproc", "2", "--device", "tpu"], "--device must be auto, cpu, cuda or cuda:N"),
])
def test_bad_launches_are_one_line_before_any_process_starts(workdir: Path, flags: list[str],
                                                            message: str) -> None:
    done = run(workdir, sys.executable, "-m", "w2v", "train", *flags, "--quiet")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert "Traceback" not in done.stderr
