"""One error hierarchy, one CLI mapping: every error a user can cause carries the contract's
exit code, the CLI turns it into one `error:` line (and JSON when asked for), and a run that
is refused returns its line in the outcome instead of printing it. Fast: no model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from rich.console import Console

from tuneguard.cli.errors import show_outcome, user_errors
from tuneguard.config.load import ConfigError, load_config
from tuneguard.data.load import DataError
from tuneguard.demo import DemoRefused
from tuneguard.errors import EXIT_FAIL, EXIT_USAGE, TuneguardError, UsageError
from tuneguard.fix.write import OutputRefused as FixOutputRefused
from tuneguard.model.load import ModelError
from tuneguard.report.output import OutputRefused as ReportOutputRefused
from tuneguard.tools import ToolError, ToolUsageError
from tuneguard.train.diskfull import DiskFull
from tuneguard.train.preflight import PreflightRefusal
from tuneguard.train.run import run_training


@pytest.mark.parametrize(("error", "code"), [
    (ConfigError(["train.learning_rate must be > 0, got -1"]), EXIT_USAGE),
    (DataError("data file x.jsonl does not exist"), EXIT_USAGE),
    (ModelError("model.name nope is not a model"), EXIT_USAGE),
    (PreflightRefusal("needs a GPU"), EXIT_USAGE),
    (ReportOutputRefused("report.html is not a report"), EXIT_USAGE),
    (FixOutputRefused("out is not a fix output"), EXIT_USAGE),
    (DemoRefused("not a demo run"), EXIT_USAGE),
    (ToolUsageError("--batch-size must be >= 1"), EXIT_USAGE),
    (ToolError("the calibration ran 1 step"), EXIT_FAIL),
    (DiskFull("the report", OSError(28, "No space left on device")), EXIT_FAIL),
])
def test_every_error_carries_the_contracts_exit_code(error, code, capsys):
    assert isinstance(error, TuneguardError) and error.exit_code == code
    with pytest.raises(typer.Exit) as ex, user_errors():
        raise error
    assert ex.value.exit_code == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: {error.line()}"]


def test_a_config_error_is_its_problems_on_one_line_and_a_hint_is_appended():
    assert ConfigError(["a is wrong", "b is wrong"]).line() == "a is wrong; b is wrong"
    assert UsageError("the run directory is a file", hint="give a directory").line() == \
        "the run directory is a file (give a directory)"


def test_json_commands_get_the_error_as_json_too(capsys):
    with pytest.raises(typer.Exit) as ex, user_errors(json_out=True):
        raise DataError("data file [/x] does not exist")
    out = capsys.readouterr()
    assert ex.value.exit_code == EXIT_USAGE
    assert json.loads(out.out) == {"error": "data file [/x] does not exist"}
    assert out.err.strip() == "error: data file [/x] does not exist"  # verbatim: no markup


def test_a_refused_run_returns_its_line_and_the_cli_prints_it(tmp_path: Path, capsys):
    missing = tmp_path / "nowhere.jsonl"
    cfg = load_config("tiny", [f"data.train_file={missing}"])
    outcome = run_training(cfg, tmp_path / "run", console=Console(file=open("/dev/null", "w")))
    assert (outcome.exit_code, outcome.state) == (EXIT_USAGE, "refused")
    assert outcome.error == f"data file {missing} does not exist: check data.train_file"
    assert capsys.readouterr().err == ""  # the recipe prints nothing itself
    assert not (tmp_path / "run").exists()  # refused before a run directory was made
    assert show_outcome(outcome) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == f"error: {outcome.error}"
