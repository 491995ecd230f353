"""`w2v prepare` run as a user runs it: in a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PREPARE_WITHOUT_TORCH = """
import sys
from w2v.cli import app

try:
    app(["prepare", "corpus.txt", "--data-dir", "data", "--min-count", "1", "--quiet"])
except SystemExit as exit:
    assert not exit.code, f"w2v prepare exited with {exit.code}"
assert "torch" not in sys.modules, "w2v prepare imported torch"
"""


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat\nthe dog\n")
    return tmp_path


def test_prepare_does_not_import_torch(corpus: Path) -> None:
    result = run_python(["-c", PREPARE_WITHOUT_TORCH], corpus)

    assert result.returncode == 0, result.stderr
    assert "corpus: 2 sentences, 8 tokens" in result.stdout
    assert (corpus / "data" / "corpus" / "tokens.bin").is_file()


def test_workers_below_one_is_a_one_line_error(corpus: Path) -> None:
    result = run_python(["-m", "w2v", "prepare", "corpus.txt", "--workers", "0"], corpus)

    assert result.returncode == 1
    assert result.stderr == "w2v: error: --workers must be at least 1, not 0\n"
    assert not (corpus / "data").exists()


def test_raw_text_gets_a_one_line_note(corpus: Path) -> None:
    (corpus / "raw.txt").write_text("The cat sat.\nthe cat, the dog.\nThe end.\n" * 5)
    result = run_python(["-m", "w2v", "prepare", "raw.txt", "--min-count", "1", "--quiet"],
                        corpus)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("w2v: note: this looks like raw text: ")
    assert len(result.stderr.splitlines()) == 1 and "--tokenizer words" in result.stderr

    result = run_python(["-m", "w2v", "prepare", "raw.txt", "--tokenizer", "words",
                         "--min-count", "1", "--quiet"], corpus)
    assert result.returncode == 0 and result.stderr == ""
    assert "raw: 15 sentences, 45 tokens, vocabulary 5" in result.stdout


@pytest.mark.parametrize(("flags", "message"), [
    (["--tokenizer", "bpe"], "--tokenizer must be one of whitespace, words, not 'bpe'"),
    (["--count-memory", "8"], "--count-memory must be at least 16 (MB), not 8"),
])
def test_bad_tokenizer_or_memory_is_one_line(corpus: Path, flags: list[str], message: str) -> None:
    result = run_python(["-m", "w2v", "prepare", "corpus.txt", *flags], corpus)
    assert result.returncode == 1
    assert result.stderr == f"w2v: error: {message}\n"
    assert not (corpus / "data").exists()
