"""Running the w2v command line in-process, and what a user-facing error must look like."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from w2v import cli

ROOT = Path(__file__).resolve().parents[1]
# Small and fast: 8 dimensions, 2 epochs, batches of 64 centers.
FAST = ["--dim", "8", "--epochs", "2", "--batch-size", "64", "--sample", "0", "--quiet"]


@dataclass
class Result:
    code: int
    out: str
    err: str


def w2v(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    """Run `w2v ARGS` through the console entry point, as the user would, without a new process."""
    capsys.readouterr()
    debug, cli._debug = cli._debug, False  # as without W2V_DEBUG; --verbose turns it on
    try:
        cli.main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        cli._debug = debug
    out, err = capsys.readouterr()
    return Result(code, out, err)


def w2v_process(cwd: Path, *args: str | Path, **kwargs) -> subprocess.Popen[str]:
    """`python -m w2v ARGS` in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "W2V_DEBUG": "0"}
    return subprocess.Popen([sys.executable, "-m", "w2v", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def assert_error(result: Result | tuple[int, str], *fragments: str, code: int = 1) -> str:
    """Exit code `code`, and stderr exactly one line `w2v: error: ...` holding every fragment."""
    if isinstance(result, Result):
        result_code, err = result.code, result.err
    else:
        result_code, err = result
    assert result_code == code, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("w2v: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def tree(folder: Path) -> list[str]:
    """Every path under `folder`, relative, sorted: what a command left behind."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
