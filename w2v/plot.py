"""Pictures of a run: the training loss (and evaluation scores) and a 2-D map of word vectors.

matplotlib is optional (the `plot` extra) and imported only here, with the Agg canvas: no window,
no pyplot state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from w2v.atomic import atomic_path
from w2v.errors import W2VError
from w2v.run import LOSS_PNG, WORDS_PNG, read_metrics
from w2v.vectors import Vectors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_WORDS = 100
# What an evaluation record's per-file result is plotted by: word pairs, then analogies.
SCORE_KEYS = ("spearman", "accuracy")
LABEL_OFFSET = (3, 2)  # points right of and above a word's dot
DOT_RADIUS = 2.5  # pixels kept free of labels around each dot


@dataclass(frozen=True)
class Plots:
    """The pictures written into a run directory, and the data drawn in them."""

    loss_png: Path
    words_png: Path
    loss_curve: list[tuple[int, float]]  # (words processed, loss), one per logged step
    scores: dict[str, list[tuple[int, float]]]  # "file metric" -> (epoch, score) per evaluation
    projection: dict[str, tuple[float, float]]  # word -> its coordinates on the 2 principal axes


def plot_run(run: Path, words: Sequence[str] | None = None) -> Plots:
    """Draw the run's loss curve and a map of `words` (default: the DEFAULT_WORDS most frequent
    words of the vocabulary) into pictures in the run directory `run`."""
    _check_matplotlib()
    loss_curve, scores = curves(read_metrics(run))
    vectors = Vectors.load(run)
    chosen = _choose_words(vectors, words)
    coords = pca_2d(vectors.unit[[vectors.get_index(w) for w in chosen]])
    projection = {w: (float(x), float(y)) for w, (x, y) in zip(chosen, coords)}
    _save(_loss_figure(loss_curve, scores), run / LOSS_PNG)
    _save(_words_figure(projection), run / WORDS_PNG)
    return Plots(run / LOSS_PNG, run / WORDS_PNG, loss_curve, scores, projection)


def curves(records: list[dict[str, Any]]
           ) -> tuple[list[tuple[int, float]], dict[str, list[tuple[int, float]]]]:
    """(words, loss) of every logged step, and (epoch, score) of every evaluation, per score."""
    loss_curve: list[tuple[int, float]] = []
    scores: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        if "step" in record:
            loss_curve.append((int(record["words"]), float(record["loss"])))
        for name, result in record.get("eval", {}).items():
            key = next((k for k in SCORE_KEYS if k in result), None)
            if key is not None and result[key] is not None:
                scores.setdefault(f"{name} {key}", []).append((int(record["epoch"]), result[key]))
    return loss_curve, scores


def pca_2d(matrix: np.ndarray) -> np.ndarray:
    """[n, 2] coordinates of the rows on their first two principal axes (0 on a missing axis)."""
    centered = matrix - matrix.mean(axis=0)
    _, _, axes = np.linalg.svd(centered, full_matrices=False)
    coords = centered @ axes[:2].T
    return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))


def _choose_words(vectors: Vectors, words: Sequence[str] | None) -> list[str]:
    if words is None:
        return vectors.words[:DEFAULT_WORDS]  # a run's vocabulary is most frequent first
    chosen = list(dict.fromkeys(words))
    unknown = [w for w in chosen if w not in vectors]
    if unknown:
        raise W2VError(f"not in the run's vocabulary: {', '.join(unknown)}")
    if len(chosen) < 2:
        raise W2VError(f"a map of words needs at least 2 different words, got {len(chosen)}")
    return chosen


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise W2VError("plotting needs matplotlib: pip install 'w2v[plot]'") from None


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _loss_figure(loss_curve: list[tuple[int, float]],
                 scores: dict[str, list[tuple[int, float]]]) -> Figure:
    from matplotlib.ticker import EngFormatter, MaxNLocator

    figure = _figure(8, 6 if scores else 4)
    axes = figure.subplots(2 if scores else 1, 1, squeeze=False)[:, 0]
    loss_axes = axes[0]
    if loss_curve:
        words, losses = zip(*loss_curve)
        loss_axes.plot(words, losses, marker=".", markersize=3, linewidth=1)
    else:
        loss_axes.text(0.5, 0.5, "no training steps logged yet", ha="center",
                       transform=loss_axes.transAxes)
    loss_axes.xaxis.set_major_formatter(EngFormatter())
    loss_axes.set(title="Training loss", xlabel="words processed",
                  ylabel="loss (mean BCE per example, nats)")
    loss_axes.grid(alpha=0.3)
    if scores:
        score_axes = axes[1]
        for name, points in scores.items():
            epochs, values = zip(*points)
            score_axes.plot(epochs, values, marker="o", label=name)
        score_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        score_axes.set(title="Evaluation", xlabel="epoch", ylabel="score (Spearman ρ or accuracy)")
        score_axes.grid(alpha=0.3)
        score_axes.legend(fontsize="small")
    return figure


def _words_figure(projection: dict[str, tuple[float, float]]) -> Figure:
    figure = _figure(12, 9)
    axes = figure.subplots()
    xs, ys = zip(*projection.values())
    axes.scatter(xs, ys, s=8, color="tab:blue", zorder=2)
    axes.set(title=f"Word vectors: {len(projection)} words on their first two principal axes",
             xlabel="principal component 1 (of the unit-length vectors)",
             ylabel="principal component 2 (of the unit-length vectors)")
    axes.grid(alpha=0.3)
    labels = [axes.annotate(word, xy, xytext=LABEL_OFFSET, textcoords="offset points", fontsize=7.5,
                            arrowprops={"arrowstyle": "-", "color": "0.45", "linewidth": 0.6})
              for word, xy in projection.items()]
    for label in labels:
        label.set_in_layout(False)
    figure.canvas.draw()
    boxes = np.array([label.get_window_extent().extents for label in labels])
    shifts = _place_labels(boxes, axes.transData.transform(np.column_stack([xs, ys])))
    for label, shift in zip(labels, shifts * 72 / figure.dpi):  # pixels to points
        label.xyann = tuple(np.add(LABEL_OFFSET, shift))
    return figure


def _place_labels(boxes: np.ndarray, dots: np.ndarray) -> np.ndarray:
    """Shifts [n, 2] for label boxes [n, 4] (x0, y0, x1, y1) drawn up and right of their dots
    [n, 2] (all in pixels), so that no label covers a dot or an earlier label.

    Each label takes the first free corner of its dot (up-right, down-right, up-left, down-left),
    else the nearest free place straight above or below up-right; the highest is always free.
    """
    placed = np.hstack([dots - DOT_RADIUS, dots + DOT_RADIUS])
    shifts = np.zeros((len(boxes), 2))
    for i, box in enumerate(boxes):
        flip = -(2 * (box[:2] - dots[i]) + (box[2:] - box[:2]))  # to the dot's other side
        near = placed[(placed[:, 0] < box[2]) & (placed[:, 2] > box[0])]
        lifts = np.concatenate([[0.0], near[:, 3] - box[1] + 1, near[:, 1] - box[3] - 1])
        lifts = lifts[np.argsort(np.abs(lifts), kind="stable")]
        options = np.vstack([[[0, 0], [0, flip[1]], [flip[0], 0], flip],
                             np.column_stack([np.zeros_like(lifts), lifts])])
        free = ~_overlaps(box + np.tile(options, 2), placed).any(axis=1)
        shifts[i] = options[free][0]
        placed = np.vstack([placed, box + np.tile(shifts[i], 2)])
    return shifts


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)]: whether box a[i] and box b[j] (x0, y0, x1, y1) overlap."""
    return ((a[:, None, 0] < b[None, :, 2]) & (b[None, :, 0] < a[:, None, 2])
            & (a[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < a[:, None, 3]))


def _save(figure: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
