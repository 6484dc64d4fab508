"""The code's own rules, enforced by the test command (and so by CI): ruff (pyflakes, bugbear,
complexity <= 15, line length; configured in pyproject.toml), mypy on the core packages, and
no function in src/ longer than 60 lines."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tuneguard"

# The packages whose types are checked: the contracts everything else builds on, and the recipe.
MYPY_TARGETS = ["config", "store", "findings.py", "checkpoints.py", "context.py", "dist", "model", "errors.py", "events.py",
                "train/run.py", "train/build.py", "train/rundir.py", "train/finish.py", "train/failure.py",
                "train/trainer.py"]

MAX_FUNCTION_LINES = 60

# Functions still longer than MAX_FUNCTION_LINES, each with the reason it waits. The test fails
# when one of them gets short enough, so that the list only shrinks.
LONG_FUNCTIONS: dict[str, str] = {}


def _tool(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: pip install -e '.[test]' (scripts/install.sh --test)", pytrace=False)


def test_ruff_finds_nothing():
    _tool("ruff")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing_in_the_core_packages():
    _tool("mypy")
    targets = [str(SRC / t) for t in MYPY_TARGETS if (SRC / t).exists()]
    done = subprocess.run([sys.executable, "-m", "mypy", *targets], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def long_functions(root: Path = SRC) -> dict[str, int]:
    """`path:name` -> lines, for every function in `root` longer than MAX_FUNCTION_LINES."""
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found[f"{path.relative_to(root).as_posix()}:{node.name}"] = lines
    return found


def test_no_function_is_longer_than_60_lines():
    found = long_functions()
    new = {k: v for k, v in found.items() if k not in LONG_FUNCTIONS}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (split them): {new}"
    fixed = sorted(set(LONG_FUNCTIONS) - set(found))
    assert not fixed, f"no longer over {MAX_FUNCTION_LINES} lines: remove from LONG_FUNCTIONS: {fixed}"


def test_the_length_check_sees_a_long_function(tmp_path: Path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n    return 0\n")
    assert long_functions(tmp_path) == {"m.py:long": MAX_FUNCTION_LINES + 2}
