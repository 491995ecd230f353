"""Quality and speed of training settings side by side: each setting over several seeds.

    python scripts/batch_sweep.py --data data/ptb --men MEN.tsv \\
        --setting batch_size=2048 --setting batch_size=8192,step_limit=1
    python scripts/batch_sweep.py --data data/ptb --device cuda --jobs 6 \\
        --setting model=cbow,batch_size=32768,step_limit=1 --seeds 1 2 3

Each setting is a comma-separated list of TrainConfig fields (as `w2v.train` takes them) on top
of the defaults. Every (setting, seed) trains one run in its own process, `--jobs` at a time
(on a GPU several runs share the device; on a CPU use one job, or timings mean nothing). Scores
are Spearman's rho on WordSim-353 and on --men, and the Google analogy accuracy (%), by w2v's
evaluator; words/s is the training loop's own figure from run.json. Runs go to --out (a run there is started over).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's w2v


def parse_setting(text: str) -> dict[str, Any]:
    """"batch_size=8192,step_limit=1" -> {"batch_size": 8192, "step_limit": 1.0}."""
    from w2v.config import TrainConfig

    types = {name: type(value) for name, value in vars(TrainConfig()).items()}
    setting: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name not in types or not value:
            sys.exit(f"--setting {text!r}: {item!r} is not NAME=VALUE of a TrainConfig field")
        kind = types[name]
        try:
            setting[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError:
            sys.exit(f"--setting {text!r}: {name} must be {kind.__name__}, not {value!r}")
    return setting


def train_and_score(data: str, run_dir: str, device: str, setting: dict[str, Any], seed: int,
                    men: str | None) -> dict[str, float]:
    import torch

    import w2v
    from w2v.evaluate import (
        default_analogy_files,
        default_similarity_files,
        evaluate_word_analogies,
        evaluate_word_pairs,
    )
    from w2v.vectors import Vectors

    torch.set_num_threads(2)
    w2v.train(data, run_dir=run_dir, device=device, force=True, progress=False, **setting,
              seed=seed)
    info = json.loads((Path(run_dir) / "run.json").read_text())
    vectors = Vectors.load(run_dir)
    scores = {"words_per_s": info.get("words_per_s", float("nan")),
              "status": info.get("status"),
              "wordsim": evaluate_word_pairs(vectors, default_similarity_files()[0]).spearman,
              "analogy": 100 * evaluate_word_analogies(vectors, default_analogy_files()[0]).accuracy}
    scores["men"] = evaluate_word_pairs(vectors, men).spearman if men else float("nan")
    return scores


def outcome(future: Any) -> dict[str, Any]:
    """A run's scores, or NaNs and the error as its status where it failed."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 (one failed setting must not hide the others')
        nan = float("nan")
        return {"words_per_s": nan, "wordsim": nan, "men": nan, "analogy": nan,
                "status": f"failed: {type(exc).__name__}: {exc}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a prepared dataset")
    parser.add_argument("--setting", action="append", required=True,
                        help="TrainConfig fields, e.g. batch_size=8192,step_limit=1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--men", help="the MEN word pairs (tab-separated)")
    parser.add_argument("--out", type=Path, default=Path("sweep-out"))
    args = parser.parse_args()
    settings = [(text, parse_setting(text)) for text in args.setting]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = {(i, seed): pool.submit(
            train_and_score, args.data, str(args.out / f"{i}-s{seed}"), args.device, setting,
            seed, args.men)
            for i, (text, setting) in enumerate(settings) for seed in args.seeds}
        results = {key: outcome(future) for key, future in futures.items()}
    print(f"{'setting':<52} {'seed':>4} {'words/s':>12} {'WS353':>6} {'MEN':>6} {'analogy%':>8}")
    for i, (text, _) in enumerate(settings):
        mine = [results[i, seed] for seed in args.seeds]
        for seed, r in zip(args.seeds, mine, strict=True):
            print(f"{text:<52} {seed:>4} {r['words_per_s']:>12,.0f} {r['wordsim']:>6.3f} "
                  f"{r['men']:>6.3f} {r['analogy']:>8.2f} {r['status']}")
        print(f"{text + ' (mean)':<52} {'':>4} "
              f"{statistics.mean(r['words_per_s'] for r in mine):>12,.0f} "
              f"{statistics.mean(r['wordsim'] for r in mine):>6.3f} "
              f"{statistics.mean(r['men'] for r in mine):>6.3f} "
              f"{statistics.mean(r['analogy'] for r in mine):>8.2f}", flush=True)


if __name__ == "__main__":
    main()
