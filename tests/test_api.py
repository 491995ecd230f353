"""The Python API: w2v.prepare, w2v.train (datasets, paths, token lists; callbacks), w2v.Run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import ROOT, assert_error, w2v
from support import topic_corpus

import w2v as api
from w2v.config import TrainConfig
from w2v.errors import W2VError

SETTINGS = {"dim": 16, "window": 3, "negatives": 3, "epochs": 3, "batch_size": 128,
            "group_size": 16, "lr": 0.05, "sample": 0.0, "log_every": 5}
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return topic_corpus(tmp_path_factory.mktemp("api") / "topics.txt")


@pytest.fixture(scope="module")
def dataset(corpus: Path) -> api.Dataset:
    return api.prepare(corpus, data_dir=corpus.parent / "data", min_count=1, progress=False)


def sentences(corpus: Path) -> list[list[str]]:
    return [line.split() for line in corpus.read_text().splitlines()]


def test_the_readme_example_runs_in_a_fresh_interpreter(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
                   if "w2v.train(" in block)
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)] + ["chip"] * 20
    lines = [" ".join(rng.choice(words, 12)) for _ in range(3000)]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n")

    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=ENV, text=True,
                          capture_output=True, timeout=300, check=False)

    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert [line.split()[0] for line in out[:5]] == ["1", "2", "3", "4", "5"]  # one per epoch
    assert out[5].startswith("[(") and len(eval(out[5])) == 5  # the neighbours of "chip"
    assert out[6].startswith("complete 100 ") and out[6].endswith("Vectors(301 words, dim 100)")
    assert json.loads((tmp_path / "runs/y/run.json").read_text())["vocab_size"] == 5


def test_prepare_does_not_import_torch(corpus: Path, tmp_path: Path) -> None:
    code = ("import sys, w2v\n"
            f"data = w2v.prepare({str(corpus)!r}, data_dir={str(tmp_path)!r}, min_count=1, "
            "progress=False)\n"
            "assert 'torch' not in sys.modules, 'w2v.prepare imported torch'\n"
            "print(type(data).__name__, len(data.vocab))\n")
    done = subprocess.run([sys.executable, "-c", code], env=ENV, text=True, capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Dataset", "52"]


HUGE_PAGES = "1" if Path("/sys/kernel/mm/transparent_hugepage/enabled").exists() else "unset"


@pytest.mark.parametrize(("given", "seen"), [(None, HUGE_PAGES), ("0", "0")],
                         ids=["unset", "user's"])
def test_import_asks_for_huge_pages_unless_the_user_chose(given: str | None, seen: str) -> None:
    env = {k: v for k, v in ENV.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if given is not None:
        env["THP_MEM_ALLOC_ENABLE"] = given
    code = "import os, w2v; print(os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, text=True, capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == seen


def test_callbacks_see_every_epoch(dataset: api.Dataset, tmp_path: Path) -> None:
    events, vectors = [], []
    run = api.train(dataset, run_dir=tmp_path / "run", progress=False,
                    callbacks=[events.append, lambda e: vectors.append(e.vectors())], **SETTINGS)

    tokens = int(dataset.offsets[-1])
    assert [e.epoch for e in events] == [1, 2, 3]
    assert [e.words for e in events] == [tokens, 2 * tokens, 3 * tokens]
    assert all(0 < e.loss < np.log(2) for e in events) and events[-1].loss < events[0].loss
    assert all(e.words_per_s > 0 for e in events)
    assert events[0].seconds < events[1].seconds < events[2].seconds
    assert events[0].lr > events[2].lr
    first, last = vectors[0], vectors[-1]
    assert first.words == dataset.vocab.words and not np.array_equal(first.vectors, last.vectors)
    np.testing.assert_array_equal(last.vectors, run.vectors.vectors)
    assert run.status == "complete" and run.result.loss == events[-1].loss


def test_a_callback_stops_the_run_after_its_epoch(dataset: api.Dataset, tmp_path: Path) -> None:
    seen = []

    def stop_after_two(event: api.EpochEvent) -> bool:
        seen.append(event.epoch)
        return event.epoch < 2

    run = api.train(dataset, run_dir=tmp_path / "stopped", progress=False,
                    callbacks=[stop_after_two, lambda e: None], **SETTINGS)

    assert seen == [1, 2]
    assert run.status == "stopped" and run.info["epochs_done"] == 2
    checkpoint = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=True)
    assert checkpoint["position"]["epoch"] == 2
    np.testing.assert_array_equal(run.vectors.vectors, checkpoint["center"].numpy())

    resumed = api.train(run_dir=tmp_path / "stopped", resume=True, progress=False)
    whole = api.train(dataset, run_dir=tmp_path / "whole", progress=False, **SETTINGS)
    assert resumed.status == "complete"
    np.testing.assert_array_equal(resumed.vectors.vectors, whole.vectors.vectors)


def test_token_lists_train_as_the_same_sentences_in_a_file(corpus: Path, dataset: api.Dataset,
                                                           tmp_path: Path) -> None:
    from_file = api.train(dataset, run_dir=tmp_path / "file", progress=False, **SETTINGS)
    from_lists = api.train(iter(sentences(corpus)), min_count=1, run_dir=tmp_path / "lists",
                           progress=False, **SETTINGS)
    from_text = api.train(corpus, min_count=1, run_dir=tmp_path / "text", progress=False,
                          **SETTINGS)

    assert from_lists.vectors.words == from_file.vectors.words
    np.testing.assert_array_equal(from_lists.vectors.vectors, from_file.vectors.vectors)
    np.testing.assert_array_equal(from_text.vectors.vectors, from_file.vectors.vectors)


def test_run_load_reads_what_training_wrote(dataset: api.Dataset, tmp_path: Path) -> None:
    api.train(dataset, run_dir=tmp_path / "runs" / "a", progress=False, **SETTINGS)
    run = api.Run.load(tmp_path / "runs")  # a folder of runs: the newest

    assert run.path == tmp_path / "runs" / "a"
    assert run.config == TrainConfig(**SETTINGS)
    steps = [m for m in run.metrics if "step" in m]
    assert steps and {"step", "epoch", "words", "loss", "lr", "words_per_s", "seconds"} <= \
        set(steps[0])
    assert run.vectors.words == dataset.vocab.words
    assert run.info["vocab_size"] == len(dataset.vocab)


def test_callbacks_cannot_reach_other_processes(dataset: api.Dataset, tmp_path: Path) -> None:
    with pytest.raises(W2VError, match="callbacks cannot reach the processes that nproc > 1 "
                                       "starts"):
        api.train(dataset, run_dir=tmp_path / "run", nproc=2, callbacks=[print], progress=False,
                  **SETTINGS)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("data", "kwargs", "message"), [
    ([["a", "b"], "c d"], {"min_count": 1}, "sentence 2 is a string, not a list of tokens"),
    ([["a", 3]], {"min_count": 1}, "sentence 1 holds a token that is not a string"),
    ([["a", "b c"]], {"min_count": 1}, "sentence 1 holds an empty token or one with white space"),
    (None, {"dims": 5}, "unknown setting 'dims'; the settings are model, dim,"),
    (None, {"min_count": 2}, "min_count and max_vocab apply to text and token lists"),
])
def test_mistakes_are_one_clear_error(dataset: api.Dataset, tmp_path: Path, data: object,
                                      kwargs: dict, message: str) -> None:
    with pytest.raises(W2VError, match=re.escape(message)):
        api.train(dataset if data is None else data, run_dir=tmp_path / "run", progress=False,
                  **kwargs)
    assert not (tmp_path / "run").exists()


def test_train_scores_the_users_own_files(dataset: api.Dataset, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pairs.tsv").write_text("t0w1\tt0w2\t9.0\nt0w1\tt1w2\t1.0\nt2w1\tt2w5\t8.5\n"
                                 "t3w1\tt1w1\t0.5\n")
    Path("questions.txt").write_text(": topics\nt0w1 t0w2 t1w1 t1w2\nt2w1 t2w2 t3w1 t3w2\n")
    flags = ["--data", dataset.path, "--dim", "16", "--window", "3", "--epochs", "2",
             "--batch-size", "128", "--sample", "0", "--lr", "0.05", "--quiet"]

    result = w2v(capsys, "train", *flags, "--run-dir", "runs/a", "--eval-similarity",
                 "pairs.tsv", "--eval-analogies", "questions.txt")

    assert result.code == 0, result.err
    assert [line.split(":")[0] for line in result.out.splitlines()[:2]] == ["epoch 1", "epoch 2"]
    evals = [r["eval"] for r in api.Run.load("runs/a").metrics if "eval" in r]
    assert len(evals) == 2 and set(evals[0]) == {"pairs.tsv", "questions.txt"}
    assert evals[1]["pairs.tsv"]["pairs"] == 4 and evals[1]["questions.txt"]["total"] == 2
    assert_error(w2v(capsys, "train", *flags, "--run-dir", "runs/b", "--eval-analogies",
                     "nope.txt"), "--eval-analogies nope.txt: no such file")
    assert not Path("runs/b").exists()


def test_queries_are_read_as_the_dataset_read_its_text(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text("The Water, the River. Water; rivers and WATER!\n" * 200, encoding="utf-8")
    words = api.prepare(raw, tmp_path / "data", name="words", tokenizer="words", min_count=1,
                        progress=False)
    plain = api.prepare(raw, tmp_path / "data", name="plain", min_count=1, progress=False)
    settings = {"dim": 8, "epochs": 1, "batch_size": 64, "group_size": 16, "progress": False}
    vectors = api.train(words, run_dir=tmp_path / "words-run", **settings).vectors
    assert "water" in vectors.words and "Water," not in vectors.words
    for query in ("Water,", "WATER", "  water!"):
        assert query in vectors
        assert np.array_equal(vectors[query], vectors["water"])
    assert vectors.most_similar("River.", topn=2) == vectors.most_similar("river", topn=2)
    assert "water river" not in vectors and "!!" not in vectors
    result = w2v(capsys, "neighbors", "Water,", "--run", tmp_path / "words-run", "-k", "2")
    assert result.code == 0
    assert [line.split()[0] for line in result.out.splitlines()[1:]] == \
        [word for word, _ in vectors.most_similar("water", topn=2)]
    as_written = api.train(plain, run_dir=tmp_path / "plain-run", **settings).vectors
    assert "Water," in as_written and "water!" not in as_written  # whitespace: words as they are
    with pytest.raises(W2VError, match="unknown word 'water!'"):
        as_written["water!"]
