"""Skip-gram's fast updates are the gradient of the masked sigmoid BCE on dense rows
(centers, contexts_negatives), as autograd computes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2v.config import TrainConfig
from w2v.data.batcher import Batch, Batcher
from w2v.models import SkipGram
from w2v.models.reference import dense_batch, masked_bce, skipgram_logits
from w2v.step import SGD

VOCAB = 40


def small_batch(seed: int = 0, window: int = 3, negatives: int = 2) -> Batch:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, size=60)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = rng.integers(VOCAB, size=int(offsets[-1])).astype(np.int32)
    counts = np.bincount(tokens, minlength=VOCAB) + 1
    config = TrainConfig(window=window, negatives=negatives, batch_size=64, group_size=16,
                         sample=0.0, seed=seed)
    batcher = Batcher(tokens, offsets, counts, config, torch.device("cpu"))
    return next(batcher.epoch(0))[3]


def random_model(seed: int = 0, dim: int = 8) -> SkipGram:
    model = SkipGram(VOCAB, dim, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        model.input.weight.normal_(generator=torch.Generator().manual_seed(seed + 1))
        model.output.weight.normal_(generator=torch.Generator().manual_seed(seed + 2))
    return model.double()


def autograd_reference(model: SkipGram, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    centers, contexts_negatives, mask, labels = dense_batch(batch)
    model.zero_grad()
    logits = skipgram_logits(model, centers, contexts_negatives)
    loss = masked_bce(logits, labels.double(), mask.double(), reduction="sum")
    loss.backward()
    return loss.detach(), model.input.weight.grad.clone(), model.output.weight.grad.clone()


def dense_gradients(model: SkipGram, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, input gradient, output gradient) from the fast path's updates at lr = 1."""
    step = model.updates(_as_double(batch), lr=1.0)
    center = torch.zeros_like(model.input.weight)
    for rows, update in zip(step.input.ids, step.input.rows, strict=True):
        center.index_add_(0, rows, update)
    context = torch.zeros_like(model.output.weight)
    for rows, update in zip(step.output.ids, step.output.rows, strict=True):
        context.index_add_(0, rows, update)
    return step.loss, -center, -context


def _as_double(batch: Batch) -> Batch:
    return Batch(batch.centers, batch.stream, batch.context_mask.double(), batch.noise,
                 batch.noise_mask.double(), batch.words, batch.centers_count)


@pytest.mark.parametrize("gather_contexts", [False, True], ids=["shifted", "gathered"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_gradients_equal_autograd_on_dense_rows(seed: int, gather_contexts: bool) -> None:
    batch = small_batch(seed)
    model = random_model(seed)
    model.gather_contexts = gather_contexts
    loss_ref, center_ref, context_ref = autograd_reference(model, batch)
    loss, center, context = dense_gradients(model, batch)
    assert torch.allclose(loss, loss_ref, rtol=1e-10)
    assert torch.allclose(center, center_ref, rtol=1e-9, atol=1e-12)
    assert torch.allclose(context, context_ref, rtol=1e-9, atol=1e-12)
    assert center.abs().sum() > 0 and context.abs().sum() > 0


def test_sgd_step_moves_the_tables_by_lr_times_the_gradient() -> None:
    batch = small_batch(3)
    model = random_model(3)
    _, center_grad, context_grad = autograd_reference(model, batch)
    before_center = model.input.weight.detach().clone()
    before_context = model.output.weight.detach().clone()
    SGD(model).step(_as_double(batch), lr=0.1)
    assert torch.allclose(model.input.weight, before_center - 0.1 * center_grad, atol=1e-12)
    assert torch.allclose(model.output.weight, before_context - 0.1 * context_grad, atol=1e-12)


def test_split_batches_add_up_to_the_whole() -> None:
    batch = small_batch(4)
    model = random_model(4)
    loss, center, context = dense_gradients(model, batch)
    parts = batch.split(2)
    assert [p.centers.shape[0] for p in parts] == [32, 32]
    sums = [dense_gradients(model, part) for part in parts]
    assert torch.allclose(sum(s[0] for s in sums), loss)
    assert torch.allclose(sum(s[1] for s in sums), center)
    assert torch.allclose(sum(s[2] for s in sums), context)


def test_masked_slots_contribute_neither_loss_nor_gradient() -> None:
    batch = small_batch(5)
    centers, contexts_negatives, mask, labels = dense_batch(batch)
    model = random_model(5)
    loss, center_grad, context_grad = autograd_reference(model, batch)
    scrambled = torch.where(mask.bool(), contexts_negatives, (contexts_negatives + 7) % VOCAB)
    model.zero_grad()
    loss2 = masked_bce(skipgram_logits(model, centers, scrambled), labels.double(),
                       mask.double(), "sum")
    loss2.backward()
    assert torch.allclose(loss, loss2.detach())
    assert torch.equal(model.input.weight.grad, center_grad)
    assert torch.equal(model.output.weight.grad, context_grad)


def test_initial_tables_follow_word2vec() -> None:
    model = SkipGram(50, 20, torch.Generator().manual_seed(0))
    assert model.input.weight.abs().max() <= 0.5 / 20
    assert model.input.weight.std() > 0
    assert torch.count_nonzero(model.output.weight) == 0


def limited_reference(model: SkipGram, batch: Batch, lr: float,
                      limit: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The step with a step limit on dense rows, from autograd: each row moves by
    -min(lr, limit / stiffness) times its gradient, its stiffness summing |l'| + l'' |other|^2
    over its terms. Returns (input move, output move, input stiffness, output stiffness)."""
    centers, contexts_negatives, mask, labels = dense_batch(batch)
    mask, labels = mask.double(), labels.double()
    _, input_grad, output_grad = autograd_reference(model, batch)
    with torch.no_grad():
        logits = skipgram_logits(model, centers, contexts_negatives)
    x = logits.requires_grad_()
    (first,) = torch.autograd.grad(masked_bce(x, labels, mask, "sum"), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    first = first.detach()
    v_sq = model.input.weight.detach()[centers].pow(2).sum(1)
    u_sq = model.output.weight.detach()[contexts_negatives].pow(2).sum(2)
    input_stiffness = torch.zeros(VOCAB, dtype=torch.float64).index_add_(
        0, centers, (first.abs() + second * u_sq).sum(1))
    output_stiffness = torch.zeros(VOCAB, dtype=torch.float64).index_add_(
        0, contexts_negatives.reshape(-1), (first.abs() + second * v_sq[:, None]).reshape(-1))
    input_move = -(limit / input_stiffness).clamp(max=lr)[:, None] * input_grad
    output_move = -(limit / output_stiffness).clamp(max=lr)[:, None] * output_grad
    return input_move, output_move, input_stiffness, output_stiffness


@pytest.mark.parametrize("gather_contexts", [False, True], ids=["shifted", "gathered"])
@pytest.mark.parametrize("seed", [0, 1])
def test_step_limit_scales_each_rows_update_as_the_autograd_reference(
        seed: int, gather_contexts: bool) -> None:
    batch, model, lr, limit = _as_double(small_batch(seed)), random_model(seed), 0.05, 1.5
    model.gather_contexts = gather_contexts
    input_move, output_move, *stiffness = limited_reference(model, batch, lr, limit)
    for rows in stiffness:  # the limit binds on some rows and not on others
        assert (lr * rows > limit).any() and ((rows > 0) & (lr * rows < limit)).any()
    before_input = model.input.weight.detach().clone()
    before_output = model.output.weight.detach().clone()
    SGD(model, step_limit=limit).step(batch, lr)
    torch.testing.assert_close(model.input.weight.detach() - before_input, input_move,
                               rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(model.output.weight.detach() - before_output, output_move,
                               rtol=1e-9, atol=1e-12)


def test_with_a_step_limit_the_step_is_the_same_function_of_the_batch_in_slices() -> None:
    batch, lr = _as_double(small_batch(6)), 0.05
    whole, sliced = random_model(6), random_model(6)
    SGD(whole, step_limit=1.5).step(batch, lr)
    sgd = SGD(sliced, step_limit=1.5)
    updates = [sgd.updates(part, lr) for part in batch.split(3)]
    sgd.apply_input(updates, lr)
    sgd.apply_output(updates, lr)
    assert not torch.equal(whole.output.weight, random_model(6).output.weight)
    torch.testing.assert_close(sliced.input.weight, whole.input.weight, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(sliced.output.weight, whole.output.weight, rtol=1e-12, atol=1e-14)
