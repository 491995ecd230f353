import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from typer.testing import CliRunner

import w2v
from w2v.cli import app
from w2v.config import TrainConfig, load_config, read_toml
from w2v.data.batcher import Batch, Batcher
from w2v.data.prepare import prepare
from w2v.models import CBOW
from w2v.models.reference import cbow_dense_layout, cbow_logits, masked_bce
from w2v.step import SGD
from w2v.vectors import Vectors

TOPICS = [[f"{topic}{i}" for i in range(8)] for topic in ("red", "tree", "car", "song")]


def random_batches(window: int, negatives: int, group_size: int) -> list[Batch]:
    """Every batch of one epoch over random sentences of random words, the last one padded."""
    rng = np.random.default_rng(window * 100 + negatives)
    vocab, length = 40, 2500
    tokens = rng.integers(0, vocab, length).astype(np.int32)
    ends = np.sort(rng.choice(np.arange(1, length), 400, replace=False))
    offsets = np.concatenate([[0], ends, [length]])
    config = TrainConfig(model="cbow", dim=6, window=window, negatives=negatives, sample=1e-2,
                         batch_size=64, group_size=group_size)
    counts = np.bincount(tokens, minlength=vocab)
    batcher = Batcher(tokens, offsets, counts, config, torch.device("cpu"))
    return [batch for *_, batch in batcher.epoch(0)]


def autograd_gradients(model: CBOW, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, output grad, input grad) of the reference: EmbeddingBag forward and autograd."""
    model.zero_grad()
    contexts, offsets, targets, labels, mask = cbow_dense_layout(batch)
    loss = masked_bce(cbow_logits(model, contexts, offsets, targets), labels.double(),
                      mask.double(), "sum")
    loss.backward()
    return loss.detach(), model.output.weight.grad.clone(), model.input.weight.grad.clone()


@pytest.mark.parametrize(("window", "negatives", "group_size"), [(1, 1, 1), (3, 4, 16), (5, 5, 8)])
def test_gradients_equal_autograd_on_the_reference(window: int, negatives: int,
                                                   group_size: int) -> None:
    model = CBOW(40, 6, torch.Generator().manual_seed(window)).double()
    with torch.no_grad():
        model.output.weight.normal_(generator=torch.Generator().manual_seed(negatives))
    batches = random_batches(window, negatives, group_size)
    assert batches[-1].centers_count < batches[-1].centers.shape[0]
    assert any((b.context_mask.sum(1) == 0).any() for b in batches)  # centers with no context
    for batch in batches:
        loss, center_grad, context_grad = autograd_gradients(model, batch)
        step = model.updates(batch, lr=1.0)  # the update: minus the gradient
        manual_center = torch.zeros_like(center_grad)
        for rows, update in zip(step.output.ids, step.output.rows, strict=True):
            manual_center.index_add_(0, rows, -update)
        manual_context = torch.zeros_like(context_grad)
        for rows, update in zip(step.input.ids, step.input.rows, strict=True):
            manual_context.index_add_(0, rows, -update)
        torch.testing.assert_close(step.loss, loss, rtol=1e-6, atol=0)
        torch.testing.assert_close(manual_center, center_grad, rtol=1e-6, atol=1e-12)
        torch.testing.assert_close(manual_context, context_grad, rtol=1e-6, atol=1e-12)
        assert step.count == cbow_dense_layout(batch)[4].sum()


def limited_reference(model: CBOW, batch: Batch, lr: float, limit: float) -> tuple[Tensor, ...]:
    """The step with a step limit on the reference layout, from autograd: each row moves by
    -min(lr, limit / stiffness) times its gradient. A term's stiffness is |l'| + l'' |mean|^2 at
    the output row it scores, and a |l'| + a^2 l'' |u|^2 at each input row that has the share a
    of its mean. Returns (output move, input move, output stiffness, input stiffness)."""
    _, output_grad, input_grad = autograd_gradients(model, batch)
    contexts, offsets, targets, labels, mask = cbow_dense_layout(batch)
    labels, mask = labels.double(), mask.double()
    with torch.no_grad():
        logits = cbow_logits(model, contexts, offsets, targets)
        means = F.embedding_bag(contexts, model.input.weight, offsets, mode="mean")
        u_sq = model.output.weight[targets].pow(2).sum(2)
    x = logits.requires_grad_()
    (first,) = torch.autograd.grad(masked_bce(x, labels, mask, "sum"), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    first = first.detach()
    vocab = model.output.weight.shape[0]
    output_stiffness = torch.zeros(vocab, dtype=torch.float64).index_add_(
        0, targets.reshape(-1), (first.abs() + second * means.pow(2).sum(1)[:, None]).reshape(-1))
    sizes = torch.diff(torch.cat([offsets, torch.tensor([len(contexts)])]))
    bag = torch.repeat_interleave(torch.arange(len(offsets)), sizes)
    share = 1.0 / sizes[bag].double()
    per_word = share * first.abs().sum(1)[bag] + share**2 * (second * u_sq).sum(1)[bag]
    input_stiffness = torch.zeros(vocab, dtype=torch.float64).index_add_(0, contexts, per_word)
    return (-(limit / output_stiffness).clamp(max=lr)[:, None] * output_grad,
            -(limit / input_stiffness).clamp(max=lr)[:, None] * input_grad,
            output_stiffness, input_stiffness)


@pytest.mark.parametrize(("window", "negatives", "group_size"), [(3, 4, 16), (5, 5, 8)])
def test_step_limit_scales_each_rows_update_as_the_autograd_reference(
        window: int, negatives: int, group_size: int) -> None:
    model = CBOW(40, 6, torch.Generator().manual_seed(window)).double()
    with torch.no_grad():
        model.output.weight.normal_(generator=torch.Generator().manual_seed(negatives))
        model.input.weight.normal_(generator=torch.Generator().manual_seed(group_size))
    batch, lr, limit = random_batches(window, negatives, group_size)[0], 0.05, 0.2
    output_move, input_move, *stiffness = limited_reference(model, batch, lr, limit)
    for rows in stiffness:  # the limit binds on some rows and not on others
        assert (lr * rows > limit).any() and ((rows > 0) & (lr * rows < limit)).any()
    output, input_ = model.output.weight.detach().clone(), model.input.weight.detach().clone()
    SGD(model, step_limit=limit).step(batch, lr)
    torch.testing.assert_close(model.output.weight.detach() - output, output_move)
    torch.testing.assert_close(model.input.weight.detach() - input_, input_move)


def test_dense_layout_reads_windows_and_noise_from_the_batch() -> None:
    batch = random_batches(2, 3, 4)[0]
    contexts, offsets, targets, labels, mask = cbow_dense_layout(batch)
    n = 5
    lo, hi = int(offsets[n]), int(offsets[n + 1])
    window = batch.contexts()[n][batch.context_mask[n].bool()]
    assert contexts[lo:hi].tolist() == window.tolist()
    assert targets[n].tolist() == [int(batch.centers[n])] + batch.noise[n // 4, :3].tolist()
    assert labels[n].tolist() == [1, 0, 0, 0]
    assert mask[n].tolist() == [float(hi > lo)] * 4


def test_sgd_step_follows_the_gradient() -> None:
    model = CBOW(40, 6, torch.Generator().manual_seed(0)).double()
    batch = random_batches(3, 2, 4)[0]
    _, center_grad, context_grad = autograd_gradients(model, batch)
    center, context = model.output.weight.detach().clone(), model.input.weight.detach().clone()
    SGD(model).step(batch, lr=0.1)
    torch.testing.assert_close(model.output.weight.detach(), center - 0.1 * center_grad)
    torch.testing.assert_close(model.input.weight.detach(), context - 0.1 * context_grad)


def test_word_vectors_are_the_context_table() -> None:
    model = CBOW(10, 4)
    assert model.word_vectors() is model.input.weight
    assert model.input.weight.abs().max() > 0 and model.output.weight.abs().max() == 0


@pytest.fixture(scope="module")
def topic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sentences of 8 words from one of four topics, so words of a topic share their contexts."""
    root = tmp_path_factory.mktemp("topics")
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(TOPICS[rng.integers(len(TOPICS))], 8)) for _ in range(1500)]
    (root / "topics.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return prepare(str(root / "topics.txt"), root / "data", min_count=1, progress=False).path


TRAIN = {"model": "cbow", "dim": 16, "window": 3, "sample": 0.0, "epochs": 3, "batch_size": 256,
         "group_size": 16, "lr": 0.05, "log_every": 5}


def test_cbow_trains_and_its_loss_falls(topic_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    w2v.train(topic_dataset, run_dir=run, device="cpu", progress=False, **TRAIN)

    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) >= 5
    assert np.mean(losses[-2:]) < 0.7 * losses[0]
    vectors = Vectors.load(run)
    same = vectors.similarity("red0", "red1")
    other = max(vectors.similarity("red0", f"{topic}1") for topic in ("tree", "car", "song"))
    assert same > other + 0.3
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    np.testing.assert_array_equal(np.load(run / "vectors.npy"), state["context"].numpy())


def test_cbow_run_resumes_as_cbow(topic_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    w2v.train(topic_dataset, run_dir=run, device="cpu", progress=False, **{**TRAIN, "epochs": 1})
    w2v.train(run_dir=run, resume=True, epochs=2, device="cpu", force=True, progress=False)

    assert json.loads((run / "run.json").read_text())["epochs_done"] == 2
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    np.testing.assert_array_equal(np.load(run / "vectors.npy"), state["context"].numpy())


def test_train_command_takes_the_model(topic_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(topic_dataset), "--run-dir", str(run),
                                      "--model", "cbow", "--epochs", "1", "--device", "cpu",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["model"] == "cbow"


def test_cbow_defaults_file_is_complete() -> None:
    config_dir = Path(__file__).parent.parent / "configs"
    assert read_toml(config_dir / "cbow.toml").keys() == read_toml(config_dir / "ptb.toml").keys()
    assert load_config(config_dir / "cbow.toml").model == "cbow"


def test_model_cbow_alone_takes_cbows_defaults() -> None:
    config_dir = Path(__file__).parent.parent / "configs"
    assert load_config(None, model="cbow") == load_config(config_dir / "cbow.toml")
    assert load_config(None, model="cbow", lr=0.05).lr == 0.05
    assert load_config(None).lr == load_config(config_dir / "ptb.toml").lr
