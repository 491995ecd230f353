"""`w2v train` on bad settings, bad data, divergence and a full disk: one line on stderr, a run
directory without half-written files, and a checkpoint that can still be resumed."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import FAST, assert_error, tree, w2v

from w2v import atomic
from w2v.data.prepare import prepare
from w2v.trainer import Trainer

Capsys = pytest.CaptureFixture[str]
RUN_FILES = ["checkpoint.pt", "config.json", "metrics.jsonl", "run.json", "vectors.npy",
             "vocab.tsv"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    lines = [" ".join(f"w{i}" for i in rng.integers(30, size=rng.integers(3, 15)))
             for _ in range(300)]
    (root / "small.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prepare(str(root / "small.txt"), root / "data", min_count=1, progress=False).path


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def copy(dataset: Path) -> Path:
    return Path(shutil.copytree(dataset, Path("data") / dataset.name))


def train(capsys: Capsys, dataset: Path, run: str = "runs/r", *args: str):
    return w2v(capsys, "train", "--data", dataset, "--run-dir", run, *FAST, *args)


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


# Settings: TOML files and flags


def test_unknown_key_in_config_file(capsys: Capsys, dataset: Path) -> None:
    Path("cfg.toml").write_text("dim = 8\nepoch = 3\n")
    result = train(capsys, dataset, "runs/r", "--config", "cfg.toml")
    assert_error(result, "unknown key 'epoch' in config file cfg.toml", "known keys: ")
    assert not Path("runs").exists()


@pytest.mark.parametrize(("line", "message"), [
    ('dim = "100"', "'dim' in config file cfg.toml must be int, got '100'"),
    ("epochs = 2.5", "'epochs' in config file cfg.toml must be int, got 2.5"),
    ('lr = "fast"', "'lr' in config file cfg.toml must be float, got 'fast'"),
    ("sample = true", "'sample' in config file cfg.toml must be float, got True"),
    ("window = [5]", "'window' in config file cfg.toml must be int, got [5]"),
    ("dim = 8\n[training]\nname = 'x'", "unknown key 'training' in config file cfg.toml"),
    ("dim = ", "config file cfg.toml is not valid TOML"),
])
def test_wrong_types_in_config_file(capsys: Capsys, dataset: Path, line: str,
                                    message: str) -> None:
    Path("cfg.toml").write_text(line + "\n")
    result = w2v(capsys, "train", "--data", dataset, "--config", "cfg.toml", "--quiet")
    assert_error(result, message)
    assert not Path("runs").exists()


def test_config_file_that_cannot_be_read(capsys: Capsys, dataset: Path) -> None:
    assert_error(train(capsys, dataset, "runs/r", "--config", "nope.toml"),
                 "config file nope.toml does not exist")
    Path("folder.toml").mkdir()
    assert_error(train(capsys, dataset, "runs/r", "--config", "folder.toml"),
                 "cannot read config file folder.toml")
    Path("latin1.toml").write_bytes(b"# caf\xe9\n")
    assert_error(train(capsys, dataset, "runs/r", "--config", "latin1.toml"),
                 "config file latin1.toml is not valid TOML")


IMPOSSIBLE = [
    ("dim", "0", "must be at least 1, got 0"),
    ("window", "0", "must be at least 1, got 0"),
    ("negatives", "0", "must be at least 1, got 0"),
    ("negatives", "-3", "must be at least 1, got -3"),
    ("epochs", "0", "must be at least 1, got 0"),
    ("batch_size", "0", "must be at least 1, got 0"),
    ("batch_size", "100", "must be a multiple of 'group_size' (64), got 100"),
    ("lr", "0", "must be a positive number, got 0.0"),
    ("lr", "-0.5", "must be a positive number, got -0.5"),
    ("lr", "inf", "must be a positive number, got inf"),
    ("lr", "nan", "must be a positive number, got nan"),
    ("sample", "-1", "must be 0 (off) or positive, got -1.0"),
    ("seed", "-1", "must be between 0 and 9223372036854775807, got -1"),
]


@pytest.mark.parametrize(("key", "value", "problem"), IMPOSSIBLE)
def test_impossible_value_by_flag(capsys: Capsys, dataset: Path, key: str, value: str,
                                  problem: str) -> None:
    flag = "--" + key.replace("_", "-")
    assert_error(train(capsys, dataset, "runs/r", flag, value), f"{flag} {problem}")
    assert not Path("runs").exists()


@pytest.mark.parametrize(("key", "value", "problem"), IMPOSSIBLE)
def test_impossible_value_in_config_file(capsys: Capsys, dataset: Path, key: str, value: str,
                                         problem: str) -> None:
    toml = {"inf": "inf", "nan": "nan", "-1": "-1"}.get(value, value)
    if key in ("lr", "sample") and "." not in toml and toml not in ("inf", "nan"):
        toml += ".0"
    Path("cfg.toml").write_text(f"{key} = {toml}\n")
    result = w2v(capsys, "train", "--data", dataset, "--run-dir", "runs/r", "--config",
                 "cfg.toml", "--quiet")
    assert_error(result, f"'{key}' in config file cfg.toml {problem}")


@pytest.mark.parametrize(("key", "toml", "problem"), [
    ("step_limit", "-1", "must be 0 (off) or positive, got -1.0"),
    ("step_limit", "nan", "must be 0 (off) or positive, got nan"),
    ("step_limit", "inf", "must be 0 (off) or positive, got inf"),
    ("step_limit", '"high"', "must be float, got 'high'"),
    ("cuda_graphs", "1", "must be bool, got 1"),
    ("cuda_graphs", '"yes"', "must be bool, got 'yes'"),
])
def test_impossible_step_setting_in_config_file(capsys: Capsys, dataset: Path, key: str,
                                                toml: str, problem: str) -> None:
    Path("cfg.toml").write_text(f"{key} = {toml}\n")
    result = w2v(capsys, "train", "--data", dataset, "--run-dir", "runs/r", "--config",
                 "cfg.toml", "--quiet")
    assert_error(result, f"'{key}' in config file cfg.toml {problem}")
    assert not Path("runs").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--dim", "abc"], "Invalid value for '--dim'"),
    (["--epoch", "3"], "No such option: --epoch (Possible options: --epochs"),
    (["--lr"], "Option '--lr' requires an argument"),
])
def test_flags_the_parser_refuses(capsys: Capsys, args: list[str], message: str) -> None:
    assert_error(w2v(capsys, "train", *args), message, code=2)


def test_verbose_shows_the_traceback(capsys: Capsys, dataset: Path) -> None:
    result = w2v(capsys, "--verbose", "train", "--data", dataset, "--dim", "0")
    assert result.code == 1
    assert "Traceback" in result.err
    assert result.err.splitlines()[-1] == "w2v: error: --dim must be at least 1, got 0"


def test_cuda_without_a_gpu(capsys: Capsys, dataset: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_error(train(capsys, dataset, "runs/r", "--device", "cuda"),
                 "--device cuda: no CUDA GPU is available here; use --device cpu")
    assert_error(train(capsys, dataset, "runs/r", "--device", "cuda:1"), "no CUDA GPU")
    assert_error(train(capsys, dataset, "runs/r", "--device", "tpu"),
                 "--device must be auto, cpu, cuda or cuda:N, got 'tpu'")
    assert not Path("runs").exists()


# Prepared data


def test_no_prepared_data(capsys: Capsys) -> None:
    assert_error(w2v(capsys, "train", "--quiet"), "no prepared dataset in data",
                 "run `w2v prepare` first")
    assert_error(w2v(capsys, "train", "--data", "elsewhere", "--quiet"),
                 "no prepared dataset in elsewhere")


def rewrite_tokens(folder: Path, change) -> None:
    tokens = np.fromfile(folder / "tokens.bin", dtype="<i4")
    change(tokens)
    tokens.tofile(folder / "tokens.bin")


DAMAGE = {
    "truncated tokens": (lambda d: os.truncate(d / "tokens.bin", 100),
                         "tokens.bin has 100 bytes, expected"),
    "meta not JSON": (lambda d: (d / "meta.json").write_text('{"format": "w2v-dat'),
                      "cannot read data/small/meta.json"),
    "meta not ours": (lambda d: (d / "meta.json").write_text("[1, 2]"),
                      "is not a w2v dataset description"),
    "meta without counts": (
        lambda d: (d / "meta.json").write_text(json.dumps(
            {**json.loads((d / "meta.json").read_text()), "tokens": -5})),
        "'tokens' is missing or not a positive count"),
    "offsets missing": (lambda d: (d / "offsets.bin").unlink(), "lacks offsets.bin"),
    "word id too large": (lambda d: rewrite_tokens(d, lambda t: t.__setitem__(7, 10**6)),
                          "tokens.bin holds word ids outside the vocabulary"),
    "negative word id": (lambda d: rewrite_tokens(d, lambda t: t.__setitem__(7, -1)),
                         "tokens.bin holds word ids outside the vocabulary"),
    "changed word ids": (lambda d: rewrite_tokens(d, lambda t: t.__setitem__(7, (t[7] + 1) % 3)),
                         "tokens.bin does not match its checksum in meta.json"),
    "vocab damaged": (lambda d: (d / "vocab.tsv").write_text("w0\tmany\n"),
                      "expected 'word<TAB>count'"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damaged_dataset(capsys: Capsys, dataset: Path, damage: str) -> None:
    folder = copy(dataset)
    change, message = DAMAGE[damage]
    change(folder)
    line = assert_error(train(capsys, folder), message)
    assert "w2v prepare" in line
    assert not Path("runs").exists()


def test_one_word_vocabulary(capsys: Capsys) -> None:
    Path("one.txt").write_text("hello hello\nhello\n")
    assert w2v(capsys, "prepare", "one.txt", "--min-count", "1", "--quiet").code == 0
    result = w2v(capsys, "train", "--data", "data/one", *FAST)
    assert_error(result, "has a vocabulary of one word ('hello')",
                 "negative sampling needs at least 2 words", "lower --min-count")
    assert not Path("runs").exists()


def test_sentences_of_one_word(capsys: Capsys) -> None:
    Path("list.txt").write_text("apple\npear\napple\npear\n")
    assert w2v(capsys, "prepare", "list.txt", "--min-count", "1", "--quiet").code == 0
    assert_error(w2v(capsys, "train", "--data", "data/list", *FAST),
                 "every sentence of the dataset data/list is a single word")


def test_subsampling_that_leaves_nothing(capsys: Capsys) -> None:
    Path("tiny.txt").write_text("a b a b\n")
    assert w2v(capsys, "prepare", "tiny.txt", "--min-count", "1", "--quiet").code == 0
    result = w2v(capsys, "train", "--data", "data/tiny", "--sample", "1e-4", "--quiet")
    assert_error(result, "subsampling (sample = 0.0001) keeps about 0.057 of the 4 words",
                 "use --sample 0 (off)")


# Divergence


def test_divergence_keeps_the_last_good_checkpoint(capsys: Capsys, dataset: Path) -> None:
    result = train(capsys, dataset, "runs/r", "--lr", "1e30", "--batch-size", "4096",
                   "--epochs", "5", "--step-limit", "0")

    line = assert_error(result, "training diverged: the weights became infinite or NaN at step 2",
                        "lower --lr (now 1e+30)",
                        "the last good checkpoint (step 1, 1 epochs done) is kept in runs/r")
    run = Path("runs/r")
    assert tree(run) == ["checkpoint.pt", "config.json", "metrics.jsonl", "run.json",
                         "vocab.tsv"], line
    checkpoint = load(run / "checkpoint.pt")
    assert checkpoint["position"]["epoch"] == 1 and checkpoint["position"]["steps"] == 1
    assert all(torch.isfinite(checkpoint[table]).all() for table in ("center", "context"))
    assert json.loads((run / "run.json").read_text())["status"] == "diverged"


def test_divergence_seen_in_the_loss(capsys: Capsys, dataset: Path) -> None:
    Path("cfg.toml").write_text("log_every = 1\ngroup_size = 8\n")
    result = train(capsys, dataset, "runs/r", "--config", "cfg.toml", "--lr", "1e30",
                   "--batch-size", "8", "--step-limit", "0")
    assert_error(result, "training diverged: the loss became", "lower --lr (now 1e+30)",
                 "no checkpoint had been saved yet")
    assert tree(Path("runs/r")) == ["config.json", "metrics.jsonl", "run.json", "vocab.tsv"]


# Resuming


def test_resume_with_other_settings_needs_force(capsys: Capsys, dataset: Path) -> None:
    assert train(capsys, dataset, "runs/r").code == 0
    Path("more.toml").write_text("epochs = 3\n")

    assert_error(w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--quiet"),
                 "the run in runs/r has finished all 2 epochs; nothing to resume",
                 "--epochs N --force")
    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--config", "more.toml",
                 "--lr", "0.01", "--quiet")
    assert_error(result, "--resume with settings that differ from the checkpoint's: "
                         "epochs (2 -> 3), lr (0.035 -> 0.01); drop them, or add --force")
    assert_error(w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--dim", "0",
                     "--quiet", "--force"), "--dim must be at least 1, got 0")
    assert_error(w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--dim", "9",
                     "--epochs", "3", "--quiet", "--force"), "--resume cannot change dim")

    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--config", "more.toml",
                 "--quiet", "--force")
    assert result.code == 0, result.err
    assert json.loads(Path("runs/r/config.json").read_text())["epochs"] == 2  # as started
    assert load(Path("runs/r/checkpoint.pt"))["config"]["epochs"] == 3
    assert json.loads(Path("runs/r/run.json").read_text())["epochs_done"] == 3


def test_resume_refuses_changes_that_would_make_the_run_wrong(capsys: Capsys,
                                                             dataset: Path) -> None:
    assert train(capsys, dataset, "runs/r", "--epochs", "1").code == 0
    assert_error(w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--model", "cbow",
                     "--epochs", "2", "--quiet", "--force"), "--resume cannot change the model")
    # as a checkpoint taken by an interrupt in the middle of the second epoch
    checkpoint = load(Path("runs/r/checkpoint.pt"))
    checkpoint["position"]["batches"] = [2]
    checkpoint["config"]["epochs"] = 2
    torch.save(checkpoint, "runs/r/checkpoint.pt")
    for flags, named in [(["--batch-size", "128"], "--batch-size"),
                         (["--window", "2", "--seed", "5"], "--window, --seed")]:
        result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", *flags, "--quiet",
                     "--force")
        assert_error(result, "the checkpoint was taken in the middle of epoch 2, and "
                             f"{named} would cut that epoch into other batches; resume without "
                             "changing it, or change it once the epoch is done")
    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--lr", "0.02", "--quiet",
                 "--force")
    assert result.code == 0, result.err
    assert json.loads(Path("runs/r/run.json").read_text())["epochs_done"] == 2


def test_resume_without_a_run(capsys: Capsys, dataset: Path) -> None:
    assert_error(w2v(capsys, "train", "--resume", "--run-dir", "runs/none", "--quiet"),
                 "no training run found in runs/none/; pass a run directory with --run-dir")
    assert train(capsys, dataset, "runs/r").code == 0
    assert_error(train(capsys, dataset, "runs/r"),
                 "runs/r already holds a run; continue it with --resume")


def test_resume_from_a_damaged_checkpoint(capsys: Capsys, dataset: Path) -> None:
    assert train(capsys, dataset, "runs/r", "--epochs", "1").code == 0
    checkpoint = Path("runs/r/checkpoint.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--epochs", "2", "--force",
                 "--quiet")
    assert_error(result, "the checkpoint runs/r/checkpoint.pt is damaged")
    checkpoint.unlink()
    assert_error(w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--quiet"),
                 "no checkpoint in runs/r")


# A full disk


def full_disk_on(monkeypatch: pytest.MonkeyPatch, call: int) -> list[int]:
    """Checkpoint number `call` (from 1) fails half-way through, as on a full disk."""
    calls = []
    real_save = torch.save

    def save(obj: object, f) -> None:
        calls.append(1)
        if len(calls) == call:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save)
    return calls


def test_full_disk_at_a_checkpoint(capsys: Capsys, dataset: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert train(capsys, dataset, "runs/whole", "--epochs", "3").code == 0
    with monkeypatch.context() as patch:
        full_disk_on(patch, call=2)
        result = train(capsys, dataset, "runs/r", "--epochs", "3")

    assert_error(result, "cannot write runs/r/checkpoint.pt: no space left on device",
                 "free some space and try again")
    assert tree(Path("runs/r")) == ["checkpoint.pt", "config.json", "metrics.jsonl",
                                    "run.json", "vocab.tsv"]
    assert load(Path("runs/r/checkpoint.pt"))["position"]["epoch"] == 1

    # With room again, --resume goes on from the epoch-1 checkpoint to the same vectors.
    result = w2v(capsys, "train", "--resume", "--run-dir", "runs/r", "--quiet")
    assert result.code == 0, result.err
    assert np.array_equal(np.load("runs/r/vectors.npy"), np.load("runs/whole/vectors.npy"))
    # the steps logged after the epoch-1 checkpoint were run again, and are logged once
    assert metrics(Path("runs/r")) == metrics(Path("runs/whole"))


def metrics(run: Path) -> list[tuple]:
    """Which steps metrics.jsonl logs (the loss averages over a log interval, which a resume
    starts afresh)."""
    records = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    return [(r["step"], r["epoch"], r["words"], r["lr"]) for r in records]


def test_full_disk_when_renaming_the_vectors(capsys: Capsys, dataset: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "vectors.npy":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    result = train(capsys, dataset)

    assert_error(result, "cannot write runs/r/vectors.npy: no space left on device")
    assert tree(Path("runs/r")) == ["checkpoint.pt", "config.json", "metrics.jsonl",
                                    "run.json", "vocab.tsv"]
    assert load(Path("runs/r/checkpoint.pt"))["position"]["epoch"] == 2


def test_full_disk_elsewhere_is_still_one_line(capsys: Capsys, dataset: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def no_room(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Trainer, "_log", no_room)
    assert_error(train(capsys, dataset), "no space left on device; check the path, "
                                         "permissions and free disk space")
