"""One trained tiny run shared by the tools tests (they only read it), with a QA probe so
that `evaluate` has probes to score."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli, tiny_config

PROBE = "### Instruction:\nWhat is 2 plus 3?\n\n### Response:\n"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run: 60 steps, checkpoints at 20, 40, 60, the best adapter in adapter/.

    Session scope: training once (instead of once per module) keeps the suite within its
    time budget; no test writes into the run directory.
    """
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    root = tmp_path_factory.mktemp("tools-run")
    train_file = write_jsonl(make_instruction_rows(400, seed=0), root / "train.jsonl")
    cfg = tiny_config(root, train_file, eval={"qa_probes": [{"prompt": PROBE, "keywords": ["5", "sum"]}],
                                              "qa_max_new_tokens": 12})
    run = root / "run"
    r = cli("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    return run


def one_line_error(stderr: str) -> str:
    """The single line a user error prints (asserting there is exactly one and no traceback)."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def invoke(*args: str, env: dict[str, str] | None = None) -> object:
    """Run a tuneguard command in this process (typer's CliRunner): the error paths and
    the commands whose entry point a subprocess test already covers, without paying for a
    fresh interpreter each time. Returns click's Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from tuneguard.cli.main import app

    return CliRunner(env=env).invoke(app, list(args))
