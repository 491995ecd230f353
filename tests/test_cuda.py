"""On a GPU: the step a CUDA graph replays trains the same tables as the plain step, and a run
with CUDA graphs trains end to end. These need a CUDA device; the CPU half of each check (the
static step run eagerly) is in test_step.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_step import CASES, batches, new_model

import w2v
from w2v.step import SGD, GraphStep, Step
from w2v.vectors import Vectors

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device and W2V_TEST_GPU=1")
CUDA = torch.device("cuda")


@pytest.mark.parametrize(("model_name", "gather_contexts"), CASES)
@pytest.mark.parametrize("step_limit", [0.0, 1.0])
def test_graph_replays_train_the_same_tables_as_eager_steps(
        model_name: str, gather_contexts: bool, step_limit: float) -> None:
    eager = new_model(model_name, gather_contexts).to(CUDA)
    graphed = new_model(model_name, gather_contexts).to(CUDA)
    eager_step = Step(SGD(eager, step_limit=step_limit), CUDA, threads=1)
    graph_step = GraphStep(SGD(graphed, step_limit=step_limit), CUDA)
    epoch = batches(model_name, CUDA)
    for i, batch in enumerate(epoch):
        lr = 0.05 * (1 - i / len(epoch))
        loss, _ = eager_step(batch, lr, with_loss=True)
        graph_loss, _ = graph_step(batch, lr, with_loss=True)
        torch.testing.assert_close(graph_loss, loss, rtol=1e-4, atol=1e-5)
    assert graph_step._graph is not None  # later steps were replays
    torch.testing.assert_close(graphed.input.weight, eager.input.weight, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(graphed.output.weight, eager.output.weight, rtol=1e-4, atol=1e-6)


def test_a_run_with_cuda_graphs_trains(tmp_path: Path) -> None:
    """In small chunks, so the batcher's thread draws the next chunk while a step is captured."""
    rng = np.random.default_rng(0)
    sentences = [[f"w{t}" for t in rng.zipf(1.3, size=12) % 400] for _ in range(3000)]
    run = w2v.train(sentences, run_dir=tmp_path / "run", device="cuda", cuda_graphs=True,
                    min_count=1, dim=16, epochs=3, batch_size=512, chunk_tokens=3000,
                    progress=False)
    assert run is not None
    losses = [json.loads(line)["loss"]
              for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if "loss" in line]
    assert losses[-1] < losses[0]
    vectors = Vectors.load(tmp_path / "run").vectors
    assert np.isfinite(vectors).all() and np.abs(vectors).max() > 0.01
