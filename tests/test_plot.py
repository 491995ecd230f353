import json
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from w2v.cli import app
from w2v.errors import W2VError
from w2v.plot import DOT_RADIUS, _place_labels, pca_2d, plot_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_run(root: Path, vocab_size: int = 30, records: list[dict] | None = None) -> Path:
    """A run directory as training leaves it, with random vectors and the given metrics."""
    run = root / "run"
    run.mkdir()
    words = [f"w{i}" for i in range(vocab_size)]
    vectors = np.random.default_rng(0).normal(size=(vocab_size, 8)).astype(np.float32)
    np.save(run / "vectors.npy", vectors)
    (run / "vocab.tsv").write_text("".join(f"{w}\t{1000 - i}\n" for i, w in enumerate(words)))
    (run / "run.json").write_text("{}")
    lines = [json.dumps(r) for r in records or []]
    (run / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
    return run


def steps(n: int) -> list[dict]:
    return [{"step": 20 * (i + 1), "epoch": i // 4, "words": 5000 * (i + 1), "loss": 0.7 - 0.01 * i,
             "lr": 0.025, "words_per_s": 1000, "seconds": 5.0 * (i + 1)} for i in range(n)]


def evaluation(epoch: int, spearman: float, accuracy: float) -> dict:
    return {"epoch": epoch, "eval": {
        "wordsim353.tsv": {"pearson": 0.1, "spearman": spearman, "oov_ratio": 0.0, "pairs": 9},
        "questions-words.txt": {"accuracy": accuracy, "correct": 1, "total": 9, "sections": {}}}}


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_plot_writes_two_pngs_into_the_run(tmp_path: Path) -> None:
    run = make_run(tmp_path, records=steps(10))

    plots = plot_run(run, ["w1", "w2", "w3", "w4"])

    assert (plots.loss_png, plots.words_png) == (run / "loss.png", run / "words.png")
    assert_png(plots.loss_png)
    assert_png(plots.words_png)
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_loss_curve_has_one_point_per_logged_step(tmp_path: Path) -> None:
    records = steps(9)
    records[4:4] = [evaluation(1, 0.2, 0.05)]
    records += [evaluation(2, 0.3, 0.1)]
    run = make_run(tmp_path, records=records)

    plots = plot_run(run, ["w1", "w2"])

    assert plots.loss_curve == [(r["words"], r["loss"]) for r in steps(9)]
    assert plots.scores == {"wordsim353.tsv spearman": [(1, 0.2), (2, 0.3)],
                            "questions-words.txt accuracy": [(1, 0.05), (2, 0.1)]}
    assert_png(plots.loss_png)


def test_a_run_without_logged_steps_still_gets_its_pictures(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "metrics.jsonl").unlink()

    plots = plot_run(run, ["w1", "w2"])

    assert plots.loss_curve == [] and plots.scores == {}
    assert_png(plots.loss_png)


def test_default_words_are_the_100_most_frequent(tmp_path: Path) -> None:
    run = make_run(tmp_path, vocab_size=130, records=steps(2))

    plots = plot_run(run)

    assert list(plots.projection) == [f"w{i}" for i in range(100)]
    assert_png(plots.words_png)


def test_unknown_words_are_named_in_one_line(tmp_path: Path) -> None:
    run = make_run(tmp_path)

    with pytest.raises(W2VError) as error:
        plot_run(run, ["w1", "nope", "w2", "gone"])

    assert "nope" in str(error.value) and "gone" in str(error.value)
    assert "\n" not in str(error.value)
    assert not (run / "words.png").exists()


def test_one_word_is_not_a_map(tmp_path: Path) -> None:
    with pytest.raises(W2VError, match="at least 2"):
        plot_run(make_run(tmp_path), ["w1", "w1"])


def test_damaged_metrics_name_the_line(tmp_path: Path) -> None:
    run = make_run(tmp_path, records=steps(2))
    with open(run / "metrics.jsonl", "a") as metrics:
        metrics.write('{"step": 3, "wor\n')

    with pytest.raises(W2VError, match="line 3"):
        plot_run(run, ["w1", "w2"])


def test_missing_matplotlib_is_a_one_line_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    with pytest.raises(W2VError) as error:
        plot_run(make_run(tmp_path), ["w1", "w2"])

    assert str(error.value) == "plotting needs matplotlib: pip install 'w2v[plot]'"


def test_pca_keeps_the_distances_of_points_on_a_plane() -> None:
    rng = np.random.default_rng(1)
    flat = rng.normal(size=(20, 2))
    basis, _ = np.linalg.qr(rng.normal(size=(10, 2)))
    coords = pca_2d(flat @ basis.T + rng.normal(size=10))

    def distances(points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points[:, None] - points[None, :], axis=-1)

    np.testing.assert_allclose(distances(coords), distances(flat), atol=1e-9)
    assert coords[:, 0].var() >= coords[:, 1].var()


def test_labels_cover_neither_each_other_nor_the_dots() -> None:
    rng = np.random.default_rng(2)
    dots = rng.uniform(0, 200, size=(60, 2))
    boxes = np.hstack([dots + [4, 1], dots + [34, 9]])  # 30 x 8 labels up and right of the dots

    shifts = _place_labels(boxes, dots)

    moved = boxes + np.tile(shifts, 2)
    every = np.vstack([moved, np.hstack([dots - DOT_RADIUS, dots + DOT_RADIUS])])
    for i, a in enumerate(moved):
        for j, b in enumerate(every):
            if i != j:
                assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])
    assert (shifts == 0).all(axis=1).sum() > 10  # labels with room stay where they are


def test_plot_command_prints_both_paths(tmp_path: Path) -> None:
    run = make_run(tmp_path, records=steps(3))

    result = CliRunner().invoke(app, ["plot", "--run", str(run), "--words", "w1,w2,w3"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"wrote {run / 'loss.png'}", f"wrote {run / 'words.png'}"]
