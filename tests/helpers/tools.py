"""The tools' tests: the QA probe prompt, the one error line of a command, the CLI in this process."""

from __future__ import annotations

PROBE = "### Instruction:\nWhat is 2 plus 3?\n\n### Response:\n"


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
