"""One owner per contract: the defaults in one place (the TOML files and the README agree with
it), the run directory's file names in one module, the models on one contract."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from cli_support import ROOT

from w2v.config import MODEL_DEFAULTS, MODELS, TrainConfig, defaults, load_config, read_toml
from w2v.errors import W2VError
from w2v.models import MODEL_CLASSES, NegativeSamplingModel

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize(("file", "model"), [("ptb.toml", "skipgram"), ("cbow.toml", "cbow")])
@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_the_config_files_hold_the_defaults(file: str, model: str, device_type: str) -> None:
    path = ROOT / "configs" / file
    assert load_config(path, device_type=device_type) == defaults(model, device_type)
    # the batch size and the rate are left to the device and the batch, and said in comments
    assert {"batch_size", "lr"}.isdisjoint(read_toml(path))
    assert load_config(path, batch_size=32768).lr == {"skipgram": 0.07, "cbow": 0.2}[model]


def test_the_readme_states_the_defaults() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (\S+) \| (\S+) \|", README, re.MULTILINE)
    assert [name for name, _, _ in rows] == [f.name for f in dataclasses.fields(TrainConfig)]
    for model, column in (("skipgram", 1), ("cbow", 2)):
        config = defaults(model)
        assert {row[0]: row[column] for row in rows} == \
            {name: str(value) for name, value in config.to_dict().items()}
    skipgram, cbow = defaults("skipgram"), defaults("cbow")
    prose = " ".join(README.split())
    start, end, ratio = re.search(r"decays linearly from ([\d.]+) to ([\d.]+)·([\d.e-]+)",
                                  prose).groups()
    assert float(start) == float(end) == skipgram.lr and float(ratio) == skipgram.min_lr_ratio
    epochs, lr, batch = re.search(r"\((\d+) epochs at lr ([\d.]+) in batches of (\d+) by "
                                  r"default", prose).groups()
    assert (int(epochs), float(lr), int(batch)) == (cbow.epochs, cbow.lr, cbow.batch_size)
    assert float(re.search(r"\(t = ([\d.e-]+)\)", prose).group(1)) == skipgram.sample
    assert f"drawn uniformly from 1..{skipgram.window}" in prose
    assert f"{skipgram.negatives} noise words per context word" in prose
    gpu_sg, gpu_cbow = defaults("skipgram", "cuda"), defaults("cbow", "cuda")
    assert gpu_sg.batch_size == gpu_cbow.batch_size
    assert f"center words per step (on a GPU: {gpu_sg.batch_size})" in prose


def test_a_gpu_takes_larger_steps_unless_the_file_or_a_flag_says_otherwise(
        tmp_path: Path) -> None:
    assert load_config(None).batch_size == 2048 and load_config(None).step_limit == 3.0
    on_gpu = load_config(None, device_type="cuda")
    assert (on_gpu.batch_size, on_gpu.step_limit, on_gpu.lr) == (8192, 3.0, 0.0441)
    cbow = load_config(None, device_type="cuda", model="cbow")
    assert (cbow.batch_size, cbow.step_limit, cbow.lr) == (8192, 3.0, 0.126)
    small = load_config(None, device_type="cuda", batch_size=1024)
    assert (small.batch_size, small.lr) == (1024, 0.035)
    (tmp_path / "small.toml").write_text("batch_size = 512\nstep_limit = 0\n")
    from_file = load_config(tmp_path / "small.toml", device_type="cuda")
    assert (from_file.batch_size, from_file.step_limit, from_file.lr) == (512, 0.0, 0.035)


def test_larger_batches_take_a_higher_rate_unless_one_is_set(tmp_path: Path) -> None:
    # the cube root of (batch / 4096) times the model's rate, from a flag or a file's batch size
    assert load_config(None, batch_size=32768).lr == 0.07
    assert load_config(None, model="cbow", batch_size=32768).lr == 0.2
    assert load_config(None, model="cbow", batch_size=4096).lr == 0.1
    assert load_config(None, model="cbow", batch_size=2048).lr == 0.1
    (tmp_path / "big.toml").write_text('model = "cbow"\nbatch_size = 32768\n')
    assert load_config(tmp_path / "big.toml").lr == 0.2
    assert load_config(tmp_path / "big.toml", lr=0.05).lr == 0.05
    (tmp_path / "set.toml").write_text("batch_size = 32768\nlr = 0.02\n")
    assert load_config(tmp_path / "set.toml").lr == 0.02
    with pytest.raises(W2VError, match="--batch-size must be at least 1"):
        load_config(None, batch_size=0)


def test_every_model_has_its_defaults_and_its_class() -> None:
    assert tuple(MODEL_CLASSES) == MODELS == tuple(MODEL_DEFAULTS)
    for name, cls in MODEL_CLASSES.items():
        assert issubclass(cls, NegativeSamplingModel) and cls.name == name
    with pytest.raises(TypeError, match="abstract"):
        NegativeSamplingModel(3, 2)


RUN_FILES = ["run.json", "config.json", "metrics.jsonl", "checkpoint.pt", "vectors.npy",
             "loss.png", "words.png", "subword_input.npy", "subword_buckets.npy"]


def test_the_run_directorys_file_names_are_in_one_module() -> None:
    for path in sorted((ROOT / "w2v").rglob("*.py")):
        if path.name == "run.py":
            continue
        text = path.read_text(encoding="utf-8")
        named = [name for name in RUN_FILES if name in text]
        # vocab.tsv is also the dataset's; the dataset's modules live in w2v/data
        if path.parent.name != "data" and "vocab.tsv" in text:
            named.append("vocab.tsv")
        assert not named, f"{path.relative_to(ROOT)} names {', '.join(named)}"
