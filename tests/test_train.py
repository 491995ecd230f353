"""Training on a small generated corpus: it learns, it is reproducible, it writes the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support import topic_corpus, train_here

from w2v.config import TrainConfig, default_lr
from w2v.data.corpus import open_dataset
from w2v.data.prepare import prepare
from w2v.device import resolve_device
from w2v.distributed import sync_interval
from w2v.errors import W2VError
from w2v.models import SkipGram
from w2v.trainer import learning_rate
from w2v.vectors import Vectors

CONFIG = TrainConfig(dim=16, window=3, negatives=3, epochs=4, batch_size=128, group_size=16,
                     lr=0.05, sample=0.0, log_every=5)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    text = topic_corpus(root / "topics.txt")
    return prepare(str(text), root / "data", min_count=1, progress=False).path


def train(dataset_dir: Path, run_dir: Path, threads: int = 2, **changes: object) -> Vectors:
    config = CONFIG.replace(**changes)
    train_here(open_dataset(dataset_dir), config, run_dir, threads=threads)
    return Vectors.load(run_dir)


def test_words_of_a_topic_end_up_together(dataset_dir: Path, tmp_path: Path) -> None:
    vectors = train(dataset_dir, tmp_path / "run", epochs=8)
    topic_words = [w for w in vectors.words if w.startswith("t")]
    same_topic = [
        other[:2] == word[:2]
        for word in topic_words
        for other, _ in vectors.most_similar(word, 5)
    ]
    assert np.mean(same_topic) > 0.9


def test_run_directory_contract(dataset_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    vectors = train(dataset_dir, run)
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.pt", "config.json", "metrics.jsonl", "run.json", "vectors.npy", "vocab.tsv"]
    assert np.load(run / "vectors.npy").shape == (len(vectors), CONFIG.dim)
    assert json.loads((run / "config.json").read_text()) == CONFIG.to_dict()
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and info["epochs_done"] == CONFIG.epochs
    assert info["words"] == CONFIG.epochs * int(open_dataset(dataset_dir).offsets[-1])
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) >= 3
    steps = [m["step"] for m in metrics]
    assert steps == sorted(set(steps))
    assert set(range(5, steps[-1] + 1, 5)) <= set(steps)  # every log_every steps, and epoch ends
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    lrs = [m["lr"] for m in metrics]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] <= CONFIG.lr
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["position"]["epoch"] == CONFIG.epochs
    assert torch.equal(checkpoint["center"], torch.from_numpy(vectors.vectors))


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_same_vectors(dataset_dir: Path, tmp_path: Path, threads: int) -> None:
    a = train(dataset_dir, tmp_path / "a", threads=threads, epochs=2, sample=1e-2)
    b = train(dataset_dir, tmp_path / "b", threads=threads, epochs=2, sample=1e-2)
    c = train(dataset_dir, tmp_path / "c", threads=threads, epochs=2, sample=1e-2, seed=2)
    assert np.array_equal(a.vectors, b.vectors)
    assert not np.allclose(a.vectors, c.vectors)


def test_threads_compute_the_same_steps(dataset_dir: Path, tmp_path: Path) -> None:
    one = train(dataset_dir, tmp_path / "one", threads=1, epochs=2)
    two = train(dataset_dir, tmp_path / "two", threads=2, epochs=2)
    assert np.allclose(one.vectors, two.vectors, atol=1e-5)


def test_the_gpu_layout_of_context_slots_trains_the_same_steps(dataset_dir: Path,
                                                              tmp_path: Path) -> None:
    data = open_dataset(dataset_dir)
    config = CONFIG.replace(epochs=2)
    model = SkipGram(len(data.vocab.words), config.dim, torch.Generator().manual_seed(config.seed))
    model.gather_contexts = True
    train_here(data, config, tmp_path / "gathered", threads=1, model=model)
    shifted = train(dataset_dir, tmp_path / "shifted", threads=1, epochs=2)
    gathered = Vectors.load(tmp_path / "gathered")
    assert np.allclose(shifted.vectors, gathered.vectors, atol=1e-5)
    assert np.abs(shifted.vectors).max() > 0.1


@pytest.fixture(scope="module")
def zipf_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300,000 words drawn from a Zipf law over 3,000 words: the most frequent word is 12% of
    the text, so a batch of 65,536 centers touches its rows hundreds of thousands of times."""
    root = tmp_path_factory.mktemp("zipf")
    rng = np.random.default_rng(0)
    weights = 1.0 / np.arange(1, 3001)
    tokens = rng.choice(3000, size=300_000, p=weights / weights.sum())
    lines = [" ".join(f"w{t}" for t in tokens[i:i + 20]) for i in range(0, len(tokens), 20)]
    (root / "zipf.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prepare(str(root / "zipf.txt"), root / "data", min_count=1, progress=False).path


def test_batches_of_65536_do_not_diverge_under_the_step_limit(zipf_dataset: Path,
                                                               tmp_path: Path) -> None:
    # the default rate and limit of this batch size
    config = TrainConfig(dim=16, epochs=3, batch_size=65536, lr=default_lr("skipgram", 65536),
                         sample=0.0, log_every=1)
    data = open_dataset(zipf_dataset)
    with pytest.raises(W2VError, match="training diverged"):  # plain SGD
        train_here(data, config.replace(step_limit=0.0), tmp_path / "plain", threads=1)
    train_here(data, config.replace(step_limit=TrainConfig().step_limit), tmp_path / "limited",
               threads=1)
    losses = [json.loads(line)["loss"]
              for line in (tmp_path / "limited" / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) >= 10 and losses[-1] < 0.95 * losses[0]
    assert np.isfinite(Vectors.load(tmp_path / "limited").vectors).all()
    assert np.abs(Vectors.load(tmp_path / "limited").vectors).max() < 10


def test_processes_sync_by_device_unless_the_config_says() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert sync_interval(TrainConfig(), cpu, 10_000) == 32
    assert sync_interval(TrainConfig(), cpu, 100_000) == 128  # a long tail of rows per sync
    assert sync_interval(TrainConfig(), cuda, 10_000) == 4
    assert sync_interval(TrainConfig(), cuda, 2_000_000) == 4
    assert sync_interval(TrainConfig(sync_every=8), cpu, 2_000_000) == 8
    with pytest.raises(W2VError, match="'sync_every' must be 0"):
        TrainConfig(sync_every=-1)


def test_learning_rate_decays_linearly_to_the_floor() -> None:
    config = TrainConfig(lr=0.1, min_lr_ratio=1e-3)
    assert learning_rate(config, 0, 100) == 0.1
    assert learning_rate(config, 50, 100) == pytest.approx(0.05)
    assert learning_rate(config, 100, 100) == pytest.approx(1e-4)


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
        return
    with pytest.raises(W2VError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(W2VError, match="--device must be"):
        resolve_device("tpu")
