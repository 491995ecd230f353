"""The run directory: what a training run leaves behind, and finding the one a command means.

Layout (format "w2v-run", version 1):
    vectors.npy     float32 [vocab, dim], the word vectors (skip-gram: center table, CBOW: context)
    vocab.tsv       word<TAB>count, line i is word id i (copied from the dataset)
    config.json     the resolved TrainConfig
    metrics.jsonl   one JSON object per logged step: step, epoch, words, loss, lr, words_per_s, seconds
                    (on several processes also sync_rows, sync_bytes and sync_share)
    checkpoint.pt   both tables and the position in training, for --resume
    run.json        what the run is: dataset, device, times, speeds, final loss, status, and on
                    several processes what their syncs moved and took
    loss.png        the training loss (and evaluation scores), drawn by `w2v plot`
    words.png       a 2-D map of word vectors, drawn by `w2v plot`
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from w2v.errors import W2VError

RUN_FORMAT = "w2v-run"
RUN_VERSION = 1
RUNS_ROOT = Path("runs")


def is_run(path: Path) -> bool:
    return (path / "run.json").is_file()


def new_run_dir(root: Path, name: str) -> Path:
    """root/name, or root/name-2, root/name-3, ... whichever does not exist yet."""
    candidate, n = root / name, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{name}-{n}"
    return candidate


def find_run(path: Path | None, root: Path = RUNS_ROOT, option: str = "--run") -> Path:
    """A run directory itself, or the most recent run inside a folder of runs (default ./runs).

    `option` is the flag that gave `path`, for the error message.
    """
    where = root if path is None else Path(path)
    if is_run(where):
        return where
    runs = [p for p in where.iterdir() if is_run(p)] if where.is_dir() else []
    if not runs:
        hint = ("train one with 'w2v train'" if path is None
                else f"pass a run directory with {option}")
        raise W2VError(f"no training run found in {where}/; {hint}")
    return max(runs, key=lambda p: (p / "run.json").stat().st_mtime)


def read_run_info(run: Path) -> dict[str, Any]:
    try:
        info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise W2VError(f"{run}/run.json is missing or damaged ({e}); train the run again") from None
    if info.get("format") != RUN_FORMAT or info.get("version") != RUN_VERSION:
        raise W2VError(f"{run} is not a w2v run of format version {RUN_VERSION}")
    return info


def describe_run(run: Path) -> str:
    """A few lines on what a run is: corpus, vocabulary, settings, time, speed, loss, scores."""
    info = read_run_info(run)
    try:
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    lines = [
        f"run          {run}",
        f"status       {info['status']} ({info['epochs_done']} of {config.get('epochs', '?')} epochs)",
        f"corpus       {info.get('corpus')}  (dataset {info.get('dataset')})",
        f"vocabulary   {info['vocab_size']:,} words, dimension {info['dim']}",
        f"device       {info['device']}",
        (f"time         {info['seconds']:.1f} s, {info['words_per_s']:,} words/s, "
        f"{info['centers_per_s']:,} centers/s"),
        f"final loss   {info['final_loss']}",
        *_sync_lines(info),
        "config       " + ", ".join(f"{k}={v}" for k, v in config.items()),
    ]
    for name, scores in (info.get("eval") or {}).items():
        shown = {k: v for k, v in scores.items() if k != "sections"}
        if "error" in shown:
            lines.append(f"eval         {name}: {shown['error']}")
            continue
        lines.append(f"eval         {name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                          else f"{k}={v}" for k, v in shown.items()))
    return "\n".join(lines)


def _sync_lines(info: dict[str, Any]) -> list[str]:
    """How the processes of a run kept their tables in step, and what it cost."""
    sync = info.get("sync")
    if not sync:
        return []
    mb = 2**20
    return [(f"sync         {info['processes']} processes, {sync['syncs']:,} syncs of "
             f"{sync['bytes_per_sync'] / mb:.1f} MB (whole tables: {sync['dense_bytes'] / mb:.1f} "
             f"MB), {sync['seconds']:.1f} s, {sync['share']:.1%} of the time")]
