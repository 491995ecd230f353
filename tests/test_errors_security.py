"""Files from users and downloads are data, never code or paths."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import FAST, ROOT, assert_error, w2v

Capsys = pytest.CaptureFixture[str]


def calls(name: str) -> list[tuple[Path, ast.Call]]:
    """Every call of `<module>.<name>(...)` in the w2v package."""
    found = []
    for path in sorted((ROOT / "w2v").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == name):
                found.append((path, node))
    return found


def keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.literal_eval(kw.value)
    return "missing"


def test_every_torch_load_is_weights_only() -> None:
    loads = [(path, call) for path, call in calls("load")
             if isinstance(call.func.value, ast.Name) and call.func.value.id == "torch"]
    assert loads, "no torch.load found: has the checkpoint code moved?"
    for path, call in loads:
        assert keyword(call, "weights_only") is True, f"{path.name}:{call.lineno}"


def test_no_numpy_load_allows_pickles() -> None:
    for path, call in calls("load"):
        if isinstance(call.func.value, ast.Name) and call.func.value.id == "np":
            assert keyword(call, "allow_pickle") in (False, "missing"), f"{path.name}:{call.lineno}"


class Payload:
    """Unpickling this runs open(marker, "w"): what a hostile checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def test_a_checkpoint_with_code_in_it_is_refused_unrun(capsys: Capsys, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("corpus.txt").write_text("a b c a b c d e\n" * 50)
    assert w2v(capsys, "prepare", "corpus.txt", "--min-count", "1", "--quiet").code == 0
    # five words: a small learning rate, or every row gets so many updates a step that it diverges
    assert w2v(capsys, "train", "--data", "data/corpus", "--run-dir", "run", *FAST,
               "--lr", "0.01").code == 0
    state = torch.load("run/checkpoint.pt", weights_only=True)
    marker = tmp_path / "code-ran"
    torch.save({**state, "extra": Payload(marker)}, "run/checkpoint.pt")

    result = w2v(capsys, "train", "--resume", "--run-dir", "run", "--epochs", "3", "--force",
                 "--quiet")

    assert_error(result, "the checkpoint run/checkpoint.pt is damaged (UnpicklingError)")
    assert not marker.exists()


def test_vectors_npy_with_objects_is_refused(capsys: Capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    (run / "vocab.tsv").write_text("a\t1\n")
    np.save(run / "vectors.npy", np.array([Payload(tmp_path / "code-ran")], dtype=object))
    assert_error(w2v(capsys, "neighbors", "a", "--run", run), "vectors.npy is damaged")
    assert not (tmp_path / "code-ran").exists()
