"""The command line end to end: prepare (over real HTTP), train, neighbors, export."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from support import Server, topic_corpus

from w2v.cli import main
from w2v.data import ptb
from w2v.data.checksum import sha256_stream

FAST = ["--dim", "16", "--window", "3", "--epochs", "5", "--sample", "0", "--batch-size", "128", "--lr", "0.05",
        "--quiet"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ptb_mirror(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Server:
    """A PTB-shaped archive of generated text on a real loopback HTTP server."""
    train = topic_corpus(tmp_path / "train.txt").read_bytes()
    texts = {"ptb.train.txt": train, "ptb.valid.txt": b"t0w1 t0w2\n", "ptb.test.txt": b"t1w1\n"}
    with zipfile.ZipFile(server.root / "ptb.zip", "w") as archive:
        for name, data in texts.items():
            archive.writestr(f"ptb/{name}", data)
    monkeypatch.setattr(ptb, "CHECKSUMS",
                        {name: sha256_stream(io.BytesIO(data)) for name, data in texts.items()})
    monkeypatch.setenv("W2V_PTB_URL", server.url("ptb.zip"))
    return server


def test_prepare_train_neighbors_export(ptb_mirror: Server, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "prepare", "--min-count", "1", "--quiet")
    assert code == 0 and "sentences" in out and "vocabulary" in out
    assert ptb_mirror.requests == ["/ptb.zip"]
    assert (tmp_path / "data" / "ptb" / "tokens.bin").is_file()

    code, out, _ = run_cli(capsys, "prepare", "--min-count", "1", "--quiet")
    assert code == 0 and ptb_mirror.requests == ["/ptb.zip"]  # not downloaded again

    code, out, _ = run_cli(capsys, "train", *FAST)
    assert code == 0 and "words/s" in out and "centers/s" in out and "device cpu" in out
    run = tmp_path / "runs" / "ptb"
    assert json.loads((run / "run.json").read_text())["status"] == "complete"

    code, out, _ = run_cli(capsys, "neighbors", "t0w1", "t2w3", "-k", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "t0w1:" and lines[4] == "t2w3:"
    assert all(line.split()[0].startswith("t0") for line in lines[1:4])

    code, out, _ = run_cli(capsys, "export")
    assert code == 0 and out == f"wrote {Path('runs/ptb/vectors.txt')}\n"
    kv = KeyedVectors.load_word2vec_format(run / "vectors.txt")
    np.testing.assert_array_equal(kv.vectors, np.load(run / "vectors.npy"))

    code, out, _ = run_cli(capsys, "export", "--format", "word2vec-binary", "--output", "v.bin")
    assert code == 0
    kv = KeyedVectors.load_word2vec_format(tmp_path / "v.bin", binary=True)
    assert np.allclose(kv["t0w1"], np.load(run / "vectors.npy")[kv.key_to_index["t0w1"]])

    # the output table and the sum of both, from the checkpoint; skip-gram's words are "center"
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    tables = {name: state[name].numpy() for name in ("center", "context")}
    tables["sum"] = tables["center"] + tables["context"]
    np.testing.assert_array_equal(tables["center"], np.load(run / "vectors.npy"))
    for table, expected in tables.items():
        code, out, _ = run_cli(capsys, "export", "--table", table, "--format", "word2vec-binary")
        assert code == 0 and out == f"wrote {Path(f'runs/ptb/vectors-{table}.bin')}\n"
        kv = KeyedVectors.load_word2vec_format(run / f"vectors-{table}.bin", binary=True)
        np.testing.assert_array_equal(kv.vectors, expected)

    code, out, _ = run_cli(capsys, "train", *FAST)
    assert code == 0 and (tmp_path / "runs" / "ptb-2" / "vectors.npy").is_file()


def test_unknown_word_is_one_line_with_suggestions(ptb_mirror: Server, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "prepare", "--min-count", "1", "--quiet")[0] == 0
    assert run_cli(capsys, "train", *FAST)[0] == 0
    code, out, err = run_cli(capsys, "neighbors", "t0w1", "t0w1x")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("w2v: error: unknown word 't0w1x'")
    assert "close words in the vocabulary: t0w1," in err


def test_console_script_on_a_url_corpus(server: Server, tmp_path: Path) -> None:
    """The real entry point in a fresh process: exit codes and one-line errors."""
    topic_corpus(server.root / "news.txt")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}

    def w2v(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "w2v", *args], cwd=tmp_path, env=env, check=False,
                              capture_output=True, text=True, timeout=120)

    done = w2v("prepare", server.url("news.txt"), "--min-count", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "news" / "meta.json").is_file()
    done = w2v("train", *FAST, "--epochs", "1")
    assert done.returncode == 0, done.stderr
    done = w2v("train", "--device", "cuda") if not _has_cuda() else w2v("train", "--window", "0")
    assert done.returncode == 1
    assert done.stderr.startswith("w2v: error: ") and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_eval_info_evaluate_analogy(ptb_mirror: Server, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "prepare", "--min-count", "1", "--quiet")[0] == 0
    code, out, _ = run_cli(capsys, "train", *FAST, "--epochs", "2", "--eval")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()[:2]] == ["epoch 1", "epoch 2"]
    run = tmp_path / "runs" / "ptb"
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [m for m in logged if "eval" in m]
    assert [m["epoch"] for m in evals] == [1, 2]
    # the packaged files share no words with this corpus: reported, training goes on
    assert set(evals[0]["eval"]) == {"wordsim353.tsv", "questions-words.txt"}
    assert "no" in evals[0]["eval"]["wordsim353.tsv"]["error"]

    code, out, _ = run_cli(capsys, "info")
    assert code == 0 and "status       complete (2 of 2 epochs)" in out
    assert "eval         wordsim353.tsv" in out

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("# topic words\nt0w1\tt0w2\t9.0\nt0w1\tt1w2\t1.0\nt2w1\tt2w5\t8.5\n"
                     "t3w1\tt1w1\t0.5\nt0w1\tnowhere\t5\n")
    questions = tmp_path / "questions.txt"
    questions.write_text(": topics\nt0w1 t0w2 t1w1 t1w2\nt2w1 t2w2 t3w1 t3w2\nt0w1 t0w2 xx yy\n")
    code, out, _ = run_cli(capsys, "evaluate", "--similarity", str(pairs),
                           "--analogies", str(questions), "--json")
    assert code == 0
    scores = json.loads(out)
    assert scores["pairs.tsv"]["pairs"] == 4
    assert scores["pairs.tsv"]["oov_ratio"] == pytest.approx(0.2)
    assert scores["questions.txt"]["total"] == 2
    assert set(scores["questions.txt"]["sections"]) == {"topics"}

    code, out, _ = run_cli(capsys, "analogy", "t0w1", "t0w2", "t1w1", "-k", "3")
    assert code == 0 and len(out.splitlines()) == 3
    assert not {"t0w1", "t0w2", "t1w1"} & {line.split()[0] for line in out.splitlines()}


def test_queries_run_without_importing_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ("import sys, w2v; from w2v import Vectors; "
         "v = Vectors(['a', 'b'], [[1, 0], [0, 1]]); v.most_similar('a', 1); "
         "assert 'torch' not in sys.modules; v.to_embedding(); assert 'torch' in sys.modules; "
         "print(Vectors.__name__)")],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Vectors"
