"""A run directory is the user's too: one writer at a time, no folder that is not a run taken
over, a truthful status whatever happens (a full disk, a crash, divergence), and settings
that cannot fit refused before anything is allocated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import ROOT, assert_error, tree, w2v, w2v_process

from w2v.data.prepare import prepare

Capsys = pytest.CaptureFixture[str]
SMALL = ["--dim", "8", "--batch-size", "64", "--sample", "0", "--lr", "0.01", "--quiet"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "W2V_DEBUG": "0"}


def corpus(path: Path, vocab: int = 30, tokens: int = 3000, seed: int = 0, prefix: str = "w"
           ) -> Path:
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, vocab + 1)
    words = rng.choice(vocab, size=tokens, p=p / p.sum())
    cuts = np.cumsum(rng.integers(5, 20, size=tokens))
    lines = [" ".join(f"{prefix}{i}" for i in s) for s in np.split(words, cuts[cuts < tokens])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the datasets `small` (30 words), `other` (30 other words) and `z200`
    (200 words, 20,000 tokens)."""
    root = tmp_path_factory.mktemp("safety")
    for name, vocab, tokens, prefix in [("small", 30, 3000, "w"), ("other", 30, 3000, "v"),
                                        ("z200", 200, 20_000, "w")]:
        prepare(str(corpus(root / f"{name}.txt", vocab, tokens, prefix=prefix)), root / "data",
                min_count=1, progress=False)
    return root / "data"


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def train(capsys: Capsys, data: Path, run: str, *args: str):
    return w2v(capsys, "train", "--data", data / "small", "--run-dir", run, *SMALL, *args)


def status(run: Path | str) -> str:
    return json.loads((Path(run) / "run.json").read_text())["status"]


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def one_line(done: subprocess.CompletedProcess[str] | tuple[int, str], *fragments: str,
             code: int = 1) -> None:
    result = (done.returncode, done.stderr) if not isinstance(done, tuple) else done
    assert_error(result, *fragments, code=code)


def run_w2v(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "w2v", *map(str, args)], env=ENV, text=True,
                          capture_output=True, timeout=timeout, check=False)


# One writer per run directory


def test_a_second_writer_gets_one_line_and_a_dead_ones_lock_is_stale(data: Path,
                                                                    capsys: Capsys) -> None:
    holder = w2v_process(Path.cwd(), "train", "--data", data / "small", "--run-dir", "runs/r",
                         *SMALL, "--epochs", "100000")
    try:
        wait_for(Path("runs/r/checkpoint.pt"), holder)
        for args in (["--run-dir", "runs/r"], ["--run-dir", "runs/r", "--force"],
                     ["--resume", "--run-dir", "runs/r"],
                     ["--resume", "--run-dir", "runs/r", "--nproc", "2"]):
            done = run_w2v("train", "--data", data / "small", *SMALL, *args)
            one_line(done, "another w2v process is training the run in runs/r",
                     "wait for it to finish")
        torchrun = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
             "2", "-m", "w2v", "train", "--resume", "--run-dir", "runs/r", "--quiet"],
            env=ENV, text=True, capture_output=True, timeout=120, check=False)
        assert torchrun.returncode != 0
        assert "w2v: error: another w2v process is training the run in runs/r" in torchrun.stderr
        assert status("runs/r") == "running"
        assert holder.poll() is None  # the first writer trains on, undisturbed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)

    # killed: run.json still says running, but no process holds the run
    result = w2v(capsys, "info", "--run", "runs/r")
    assert result.code == 0, result.err
    assert "status       crashed: run.json says running, but no process is training it" in \
        result.out
    assert "continue it with: w2v train --resume --run-dir runs/r" in result.out
    # the lock died with its owner: the run resumes and completes
    epochs = torch.load("runs/r/checkpoint.pt", weights_only=True)["position"]["epoch"] + 1
    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--epochs", str(epochs),
                 "--force", "--quiet")
    assert result.code == 0, result.err
    assert status("runs/r") == "complete"
    assert "status       complete" in w2v(capsys, "info", "--run", "runs/r").out


def test_a_run_of_several_processes_holds_its_lock(data: Path) -> None:
    holder = w2v_process(Path.cwd(), "train", "--data", data / "small", "--run-dir", "runs/r",
                         *SMALL, "--epochs", "100000", "--nproc", "2")
    try:
        wait_for(Path("runs/r/checkpoint.pt"), holder)
        done = run_w2v("train", "--resume", "--run-dir", "runs/r", "--quiet")
        one_line(done, "another w2v process is training the run in runs/r")
    finally:
        holder.send_signal(signal.SIGTERM)
        _, err = holder.communicate(timeout=60)
    one_line((holder.returncode, err), "stopped by", code=130)
    assert status("runs/r") == "interrupted"


def test_metrics_logged_before_a_kill_are_on_disk(data: Path) -> None:
    """SIGKILL right after the first checkpoint: every step logged until then is in the file."""
    kill_after_checkpoint = (
        "import os, signal, sys\n"
        "from w2v import atomic, cli\n"
        "replace = atomic.os.replace\n"
        "def replace_then_die(src, dst):\n"
        "    replace(src, dst)\n"
        "    if str(dst).endswith('checkpoint.pt'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "atomic.os.replace = replace_then_die\n"
        "cli.main(sys.argv[1:])\n")
    done = subprocess.run(
        [sys.executable, "-c", kill_after_checkpoint, "train", "--data", str(data / "small"),
         "--run-dir", "runs/r", *SMALL, "--epochs", "3", "--config", str(log_every(1))],
        env=ENV, text=True, capture_output=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    steps = torch.load("runs/r/checkpoint.pt", weights_only=True)["position"]["steps"]
    logged = [json.loads(line)["step"] for line in Path("runs/r/metrics.jsonl").read_text()
              .splitlines()]
    assert steps > 10 and logged[:steps] == list(range(1, steps + 1))


def log_every(steps: int) -> Path:
    path = Path("log.toml")
    path.write_text(f"log_every = {steps}\n")
    return path.resolve()


# Only an empty or new directory takes a new run


def test_a_folder_that_is_not_a_run_is_left_alone(data: Path, capsys: Capsys) -> None:
    mine = Path("mywork")
    mine.mkdir()
    files = {"config.json": '{"mine": true}\n', "metrics.jsonl": "my notes\n",
             "vocab.tsv": "my\t1\n", "notes.txt": "keep me\n"}
    for name, text in files.items():
        (mine / name).write_text(text)
    for force in ([], ["--force"]):
        result = train(capsys, data, "mywork", "--epochs", "1", *force)
        assert_error(result, "mywork holds files that are not a w2v run",
                     "a new run goes into a new or empty directory")
    assert {p.name: p.read_text() for p in mine.iterdir()} == files

    Path("empty").mkdir()
    assert train(capsys, data, "empty", "--epochs", "1").code == 0
    assert status("empty") == "complete"


def test_force_starts_a_run_over_and_keeps_what_w2v_did_not_make(data: Path,
                                                                capsys: Capsys) -> None:
    assert train(capsys, data, "runs/r", "--epochs", "1", "--seed", "1").code == 0
    Path("runs/r/notes.txt").write_text("mine\n")
    first = np.load("runs/r/vectors.npy")
    assert_error(train(capsys, data, "runs/r", "--epochs", "1"),
                 "runs/r already holds a run; continue it with --resume, start it over with "
                 "--force")

    result = train(capsys, data, "runs/r", "--epochs", "2", "--seed", "2", "--force")

    assert result.code == 0, result.err
    assert tree(Path("runs/r")) == ["checkpoint.pt", "config.json", "metrics.jsonl", "notes.txt",
                                    "run.json", "vectors.npy", "vocab.tsv"]
    assert Path("runs/r/notes.txt").read_text() == "mine\n"
    assert json.loads(Path("runs/r/config.json").read_text())["seed"] == 2
    assert not np.array_equal(np.load("runs/r/vectors.npy"), first)


# A truthful status


def test_a_full_disk_at_a_checkpoint_is_one_line_and_a_failed_run(data: Path) -> None:
    """A file size limit (ulimit -f) makes the checkpoint's writes fail for real (EFBIG)."""
    limited = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))\n"
        "from w2v.cli import main\n"
        "main(sys.argv[1:])\n")
    # the tables of 200 words x 64 dimensions take 102 kB; the other files stay under 60 kB
    done = subprocess.run(
        [sys.executable, "-c", limited, "train", "--data", str(data / "z200"), "--run-dir",
         "runs/r", "--dim", "64", "--epochs", "2", "--sample", "0", "--lr", "0.001", "--quiet"],
        env=ENV, text=True, capture_output=True, timeout=120, check=False)

    one_line(done, "cannot write runs/r/checkpoint.pt: the file is larger than this file system "
                   "or a size limit (ulimit -f) allows")
    info = json.loads(Path("runs/r/run.json").read_text())
    assert info["status"] == "failed" and "checkpoint.pt" in info["error"]
    assert tree(Path("runs/r")) == ["config.json", "metrics.jsonl", "run.json", "vocab.tsv"]


def test_info_on_a_run_json_without_its_keys(capsys: Capsys) -> None:
    Path("runs/r").mkdir(parents=True)
    Path("runs/r/run.json").write_text('{"format": "w2v-run", "version": 1}\n')
    result = w2v(capsys, "info", "--run", "runs/r")
    assert result.code == 0, result.err
    assert "status       unknown (? of ? epochs)" in result.out
    assert "vocabulary   ? words, dimension ?" in result.out


@pytest.mark.parametrize("damage", ["wider", "flat", "longer"])
def test_a_checkpoint_whose_tables_have_the_wrong_shape(data: Path, capsys: Capsys,
                                                        damage: str) -> None:
    assert train(capsys, data, "runs/r", "--epochs", "1").code == 0
    state = torch.load("runs/r/checkpoint.pt", weights_only=True)
    table = state["context"]
    state["context"] = {"wider": torch.zeros(table.shape[0], table.shape[1] + 1),
                        "flat": table.reshape(-1),
                        "longer": torch.zeros(table.shape[0] + 1, table.shape[1])}[damage]
    torch.save(state, "runs/r/checkpoint.pt")
    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--epochs", "2", "--force",
                 "--quiet")
    assert_error(result, "the checkpoint runs/r/checkpoint.pt is damaged (ValueError: its tables "
                         "have shapes")


def test_resuming_on_another_dataset_of_the_same_size_is_refused(data: Path,
                                                                 capsys: Capsys) -> None:
    assert train(capsys, data, "runs/r", "--epochs", "1").code == 0
    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--data", data / "other",
                 "--epochs", "2", "--force", "--quiet")
    assert_error(result, f"the dataset {data / 'other'} has other words than the run in runs/r "
                         f"was trained on", "give the run's dataset with --data")
    assert status("runs/r") == "complete"


# Divergence is an error, not a result


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_a_loss_that_explodes_is_divergence(data: Path, capsys: Capsys, model: str) -> None:
    """200 words, one epoch without subsampling: each row gets thousands of updates a step."""
    result = w2v(capsys, "train", "--data", data / "z200", "--run-dir", "runs/r", "--epochs",
                 "1", "--sample", "0", "--model", model, "--step-limit", "0", "--quiet")
    assert_error(result, "training diverged: the loss became", "far above its start (0.693 per "
                         "term)", "lower --lr", "no checkpoint had been saved yet")
    assert status("runs/r") == "diverged"
    assert not Path("runs/r/vectors.npy").exists()


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_the_step_limit_trains_what_plain_sgd_cannot(data: Path, capsys: Capsys,
                                                     model: str) -> None:
    """The same run as above, at the default step limit."""
    result = w2v(capsys, "train", "--data", data / "z200", "--run-dir", "runs/r", "--epochs",
                 "1", "--sample", "0", "--model", model, "--quiet")
    assert result.code == 0, result.err
    vectors = np.load("runs/r/vectors.npy")
    assert np.isfinite(vectors).all() and 0.01 < np.abs(vectors).max() < 10


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_rows_that_explode_are_divergence(data: Path, capsys: Capsys, model: str) -> None:
    """One step at lr 1e9 leaves a loss of ln 2 (it is measured before the step) and rows a
    billion long."""
    result = w2v(capsys, "train", "--data", data / "small", "--run-dir", "runs/r", "--epochs",
                 "1", "--sample", "0", "--batch-size", "4096", "--lr", "1e9", "--model", model,
                 "--step-limit", "0", "--quiet")
    assert_error(result, "training diverged: rows of the tables grew to a norm of",
                 "so no good one is kept")
    assert status("runs/r") == "diverged"


def test_a_completed_runs_loss_is_finite_and_below_its_start(data: Path, capsys: Capsys) -> None:
    assert train(capsys, data, "runs/r", "--epochs", "2").code == 0
    info = json.loads(Path("runs/r/run.json").read_text())
    assert info["status"] == "complete" and 0 < info["final_loss"] < np.log(2)


def test_queries_skip_a_newest_run_without_vectors(data: Path, capsys: Capsys) -> None:
    assert train(capsys, data, "runs/good", "--epochs", "1").code == 0
    time.sleep(0.01)
    assert w2v(capsys, "train", "--data", data / "z200", "--run-dir", "runs/bad", "--epochs", "1",
               "--sample", "0", "--step-limit", "0", "--quiet").code == 1
    for command in (["neighbors", "w1"], ["evaluate"], ["export", "--output", "v.txt"]):
        assert_error(w2v(capsys, *command),
                     "the newest run in runs/, runs/bad, has no vectors (it is diverged)",
                     "the newest run with vectors is runs/good: pass --run runs/good")
    assert w2v(capsys, "neighbors", "w1", "--run", "runs/good").code == 0


# Settings that cannot fit


@pytest.mark.parametrize(("flags", "lower"), [
    (["--dim", "10000000000"], "lower --dim (at its default, 100, they would need"),
    (["--window", "1000000000"], "lower --window (at its default, 5,"),
    (["--negatives", "1000000000"], "lower --negatives (at its default, 5,"),
    (["--batch-size", str(2**40)], "lower --batch-size (at its default, 2048,"),
])
def test_settings_too_large_for_memory_are_one_line(data: Path, capsys: Capsys,
                                                    flags: list[str], lower: str) -> None:
    result = w2v(capsys, "train", "--data", data / "small", *flags, "--quiet")
    assert_error(result, "these settings need about", "of memory, more than the", lower)
    assert not Path("runs").exists()


def test_a_huge_dim_in_a_config_file(data: Path, capsys: Capsys) -> None:
    Path("big.toml").write_text("dim = 100000000000\n")
    assert_error(w2v(capsys, "train", "--data", data / "small", "--config", "big.toml",
                     "--quiet"), "these settings need about", "lower --dim")
    Path("float.toml").write_text("dim = 1e23\n")
    assert_error(w2v(capsys, "train", "--data", data / "small", "--config", "float.toml",
                     "--quiet"), "'dim' in config file float.toml must be int, got 1e+23")
