"""The fast SGD step computes the seed's function: masked sigmoid BCE on (centers, contexts_negatives)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2v.config import TrainConfig
from w2v.data.batcher import Batch, Batcher
from w2v.model import SkipGram, masked_bce

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
        model.center.weight.normal_(generator=torch.Generator().manual_seed(seed + 1))
        model.context.weight.normal_(generator=torch.Generator().manual_seed(seed + 2))
    return model.double()


def autograd_reference(model: SkipGram, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    centers, contexts_negatives, mask, labels = batch.dense()
    model.zero_grad()
    logits = model(centers, contexts_negatives)
    loss = masked_bce(logits, labels.double(), mask.double(), reduction="sum")
    loss.backward()
    return loss.detach(), model.center.weight.grad.clone(), model.context.weight.grad.clone()


def dense_gradients(model: SkipGram, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, center gradient, context gradient) from the fast path's updates at lr = 1."""
    step = model.gradients(_as_double(batch), lr=1.0)
    center = torch.zeros_like(model.center.weight)
    for rows, update in zip(step.center_ids, step.center_update, strict=True):
        center.index_add_(0, rows, update)
    context = torch.zeros_like(model.context.weight)
    for rows, update in zip(step.context_ids, step.context_update, strict=True):
        context.index_add_(0, rows, update)
    return step.loss, -center, -context


def _as_double(batch: Batch) -> Batch:
    return Batch(batch.centers, batch.stream, batch.context_mask.double(), batch.noise,
                 batch.noise_mask.double(), batch.words, batch.centers_count)


@pytest.mark.parametrize("gather_contexts", [False, True], ids=["shifted", "gathered"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_gradients_equal_autograd_on_the_seed_layout(seed: int, gather_contexts: bool) -> None:
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
    before_center = model.center.weight.detach().clone()
    before_context = model.context.weight.detach().clone()
    model.sgd_step(_as_double(batch), lr=0.1)
    assert torch.allclose(model.center.weight, before_center - 0.1 * center_grad, atol=1e-12)
    assert torch.allclose(model.context.weight, before_context - 0.1 * context_grad, atol=1e-12)


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
    centers, contexts_negatives, mask, labels = batch.dense()
    model = random_model(5)
    loss, center_grad, context_grad = autograd_reference(model, batch)
    scrambled = torch.where(mask.bool(), contexts_negatives, (contexts_negatives + 7) % VOCAB)
    model.zero_grad()
    loss2 = masked_bce(model(centers, scrambled), labels.double(), mask.double(), "sum")
    loss2.backward()
    assert torch.allclose(loss, loss2.detach())
    assert torch.equal(model.center.weight.grad, center_grad)
    assert torch.equal(model.context.weight.grad, context_grad)


def test_initial_tables_follow_word2vec() -> None:
    model = SkipGram(50, 20, torch.Generator().manual_seed(0))
    assert model.center.weight.abs().max() <= 0.5 / 20
    assert model.center.weight.std() > 0
    assert torch.count_nonzero(model.context.weight) == 0


def limited_reference(model: SkipGram, batch: Batch, lr: float,
                      limit: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The step with a step limit on the seed's layout, from autograd: each row moves by
    -lr * min(1, limit / gain) * its gradient, where gain sums lr * (|l'| + l'' |other row|^2)
    over its terms. Returns (center move, context move, center gains, context gains)."""
    centers, contexts_negatives, mask, labels = batch.dense()
    mask, labels = mask.double(), labels.double()
    _, center_grad, context_grad = autograd_reference(model, batch)
    with torch.no_grad():
        logits = model(centers, contexts_negatives)
    x = logits.requires_grad_()
    (first,) = torch.autograd.grad(masked_bce(x, labels, mask, "sum"), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    first = first.detach()
    v_sq = model.center.weight.detach()[centers].pow(2).sum(1)
    u_sq = model.context.weight.detach()[contexts_negatives].pow(2).sum(2)
    center_gain = torch.zeros(VOCAB, dtype=torch.float64).index_add_(
        0, centers, lr * (first.abs() + second * u_sq).sum(1))
    context_gain = torch.zeros(VOCAB, dtype=torch.float64).index_add_(
        0, contexts_negatives.reshape(-1), (lr * (first.abs() + second * v_sq[:, None])).reshape(-1))
    center_move = -lr * (limit / center_gain).clamp(max=1)[:, None] * center_grad
    context_move = -lr * (limit / context_gain).clamp(max=1)[:, None] * context_grad
    return center_move, context_move, center_gain, context_gain


@pytest.mark.parametrize("gather_contexts", [False, True], ids=["shifted", "gathered"])
@pytest.mark.parametrize("seed", [0, 1])
def test_step_limit_scales_each_rows_update_as_the_autograd_reference(
        seed: int, gather_contexts: bool) -> None:
    batch, model, lr, limit = _as_double(small_batch(seed)), random_model(seed), 0.05, 1.5
    model.gather_contexts = gather_contexts
    model.step_limit = limit
    center_move, context_move, center_gain, context_gain = limited_reference(model, batch, lr, limit)
    for gain in (center_gain, context_gain):  # the limit binds on some rows and not on others
        assert (gain > limit).any() and ((gain > 0) & (gain < limit)).any()
    center, context = model.center.weight.detach().clone(), model.context.weight.detach().clone()
    model.sgd_step(batch, lr)
    torch.testing.assert_close(model.center.weight.detach() - center, center_move,
                               rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(model.context.weight.detach() - context, context_move,
                               rtol=1e-9, atol=1e-12)


def test_with_a_step_limit_the_step_is_the_same_function_of_the_batch_in_parts() -> None:
    batch, lr = _as_double(small_batch(6)), 0.05
    whole, parted = random_model(6), random_model(6)
    for model in (whole, parted):
        model.step_limit = 1.5
    whole.sgd_step(batch, lr)
    parted.apply([parted.gradients(part, lr) for part in batch.split(3)])
    assert not torch.equal(whole.context.weight, random_model(6).context.weight)
    torch.testing.assert_close(parted.center.weight, whole.center.weight, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(parted.context.weight, whole.context.weight, rtol=1e-12, atol=1e-14)
