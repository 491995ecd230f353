"""Host time and kernel-launching operations of one training step, per layout of the context slots.

    python scripts/profile_step.py                    # skip-gram, 64 centers, dim 4; plain and limited
    python scripts/profile_step.py --step-limit 3     # with the default step limit only
    python scripts/profile_step.py --model cbow --batch-size 2048 --dim 100

On a GPU every operation of a step costs a kernel launch and some microseconds of host time,
whatever the size of its tensors; this measures that cost on the CPU. The operations are the
aten calls the step makes under the torch profiler (not the ones they make in turn), less those
that only make views or empty tensors (they launch no kernel). The host time is the wall time per step with tiny tensors, the
minimum of --runs runs of --steps steps (one thread), where the arithmetic is negligible.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's w2v

from w2v.config import TrainConfig
from w2v.data.batcher import Batch, Batcher
from w2v.models import MODEL_CLASSES
from w2v.step import SGD

# aten operations that make views or allocate without writing: no kernel on a GPU
NO_KERNEL = {
    "aten::view", "aten::reshape", "aten::_reshape_alias", "aten::_unsafe_view", "aten::slice",
    "aten::select", "aten::unsqueeze", "aten::squeeze", "aten::transpose", "aten::t",
    "aten::expand", "aten::expand_as", "aten::as_strided", "aten::unfold", "aten::permute",
    "aten::detach", "aten::alias", "aten::view_as", "aten::narrow", "aten::split", "aten::chunk",
    "aten::empty", "aten::empty_like", "aten::empty_strided", "aten::resolve_conj",
    "aten::resolve_neg", "aten::lift_fresh", "aten::result_type",
}


def synthetic_batch(config: TrainConfig, vocab: int) -> Batch:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 30, size=config.batch_size)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    tokens = rng.integers(vocab, size=int(offsets[-1])).astype(np.int32)
    counts = np.bincount(tokens, minlength=vocab) + 1
    return next(Batcher(tokens, offsets, counts, config, torch.device("cpu")).epoch(0))[3]


def kernel_ops(step) -> int:
    """The aten operations a step calls (not those they call in turn), less NO_KERNEL's."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(1 for e in prof.events()
               if e.name.startswith("aten::") and e.name not in NO_KERNEL and not _in_aten(e))


def _in_aten(event) -> bool:
    parent = event.cpu_parent
    while parent is not None and not parent.name.startswith("aten::"):
        parent = parent.cpu_parent
    return parent is not None


def host_us(step, runs: int, steps: int) -> float:
    for _ in range(20):
        step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps * 1e6)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="skipgram", choices=list(MODEL_CLASSES))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dim", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--step-limit", type=float, nargs="+", default=[0.0, TrainConfig().step_limit],
                        help="step limits to profile (0: plain SGD)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig(model=args.model, batch_size=args.batch_size, sample=0.0,
                         group_size=min(64, args.batch_size))
    batch = synthetic_batch(config, args.vocab)
    layouts = [("shifted views (CPU)", False), ("gathered rows (GPU)", True)]
    print(f"{args.model}, {args.batch_size} centers, dim {args.dim}, vocab {args.vocab}, "
          f"torch {torch.__version__}")
    print(f"{'context slots as':<22} {'step limit':>10} {'loss':>5} {'ops/step':>9} "
          f"{'host us/step':>13}")
    for name, gather in layouts:
        for limit in args.step_limit:
            for with_loss in (True, False):
                model = MODEL_CLASSES[args.model](args.vocab, args.dim,
                                                  torch.Generator().manual_seed(0))
                model.gather_contexts = gather
                sgd = SGD(model, step_limit=limit)

                def step(sgd: SGD = sgd, with_loss: bool = with_loss) -> None:
                    sgd.step(batch, 0.01, with_loss)

                print(f"{name:<22} {limit:>10g} {'yes' if with_loss else 'no':>5} "
                      f"{kernel_ops(step):>9} {host_us(step, args.runs, args.steps):>13.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
