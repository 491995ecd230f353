"""The step a CUDA graph replays: static shapes, nothing that waits for the device, and the
same tables as the plain step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from w2v.config import TrainConfig
from w2v.data.batcher import Batch, Batcher
from w2v.models import MODEL_CLASSES, NegativeSamplingModel
from w2v.step import SGD, GraphStep, Step

VOCAB = 50


CPU = torch.device("cpu")


def batches(model: str, device: torch.device = CPU) -> list[Batch]:
    """One epoch of batches of 64 centers over random sentences, the last one padded."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 15, size=120)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = rng.integers(VOCAB, size=int(offsets[-1])).astype(np.int32)
    counts = np.bincount(tokens, minlength=VOCAB) + 1
    config = TrainConfig(model=model, window=3, negatives=2, batch_size=64, group_size=16,
                         sample=0.0)
    return [b for *_, b in Batcher(tokens, offsets, counts, config, device).epoch(0)]


def new_model(name: str, gather_contexts: bool) -> NegativeSamplingModel:
    model = MODEL_CLASSES[name](VOCAB, 8, torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.output.weight.normal_(generator=torch.Generator().manual_seed(1))
    model.gather_contexts = gather_contexts
    return model


CASES = [("skipgram", True), ("skipgram", False), ("cbow", True)]


@pytest.mark.parametrize(("model_name", "gather_contexts"), CASES)
@pytest.mark.parametrize("step_limit", [0.0, 1.0])
def test_the_static_step_trains_the_same_tables_as_the_plain_step(
        model_name: str, gather_contexts: bool, step_limit: float) -> None:
    plain, static = new_model(model_name, gather_contexts), new_model(model_name, gather_contexts)
    plain_step = Step(SGD(plain, step_limit=step_limit), torch.device("cpu"))
    static_step = GraphStep(SGD(static, step_limit=step_limit), torch.device("cpu"))
    epoch = batches(model_name)
    assert len(epoch) > GraphStep.WARMUP + 1 and epoch[-1].centers_count < 64
    for i, batch in enumerate(epoch):
        lr = 0.05 * (1 - i / len(epoch))
        loss, count = plain_step(batch, lr, with_loss=True)
        static_loss, static_count = static_step(batch, lr, with_loss=i % 2 == 0)
        torch.testing.assert_close(static_loss, loss)
        assert torch.equal(static_count, count)
    assert not torch.equal(static.output.weight, new_model(model_name, False).output.weight)
    # the same up to float rounding (the static step divides by the learning rate in float32)
    torch.testing.assert_close(static.input.weight, plain.input.weight, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(static.output.weight, plain.output.weight, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("model_name", "gather_contexts"), CASES)
@pytest.mark.parametrize("step_limit", [0.0, 1.0])
def test_the_step_waits_for_nothing_on_the_device(model_name: str, gather_contexts: bool,
                                                  step_limit: float) -> None:
    """On the meta device tensors have shapes but no values, so any operation that reads a
    value on the host (.item(), .tolist(), a tensor in an `if`, nonzero) raises: a step that
    runs there never waits for a GPU, as capturing it in a CUDA graph needs."""
    meta = torch.device("meta")
    with pytest.raises(RuntimeError, match="meta"):
        torch.ones(2, device=meta).sum().item()
    model = new_model(model_name, gather_contexts).to(meta)
    step = GraphStep(SGD(model, step_limit=step_limit), meta)
    for batch in batches(model_name)[:2]:
        on_meta = Batch(batch.centers.to(meta), batch.stream.to(meta),
                        batch.context_mask.to(meta), batch.noise.to(meta),
                        batch.noise_mask.to(meta), batch.words, batch.centers_count)
        loss, count = step(on_meta, 0.05, with_loss=False)
        assert loss.device == meta and loss.shape == () and count.shape == ()
