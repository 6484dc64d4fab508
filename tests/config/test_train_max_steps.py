"""`tuneguard train CONFIG --max-steps N` is `--set train.max_steps=N`: the config trains N steps,
the run store keeps it as that override (so "continue it with" repeats it), and it wins over a
`--set` of the same key given with it."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers.cli import invoke
from tuneguard.cli.main import app


class _Started(Exception):
    pass


def test_max_steps_is_the_set_of_train_max_steps(monkeypatch, tmp_path) -> None:
    import tuneguard.train.run as run

    seen: dict[str, Any] = {}

    def fake(cfg, target, **kw):  # type: ignore[no-untyped-def]
        seen.update(max_steps=cfg.train.max_steps, sets=kw["invocation"].sets)
        raise _Started

    monkeypatch.setattr(run, "run_training", fake)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["train", "tiny", "--set", "train.max_steps=7", "--max-steps", "40"])
    assert isinstance(r.exception, _Started), r.output
    assert seen == {"max_steps": 40, "sets": ("train.max_steps=7", "train.max_steps=40")}


@pytest.mark.parametrize("bad", ["0", "-3", "ten"])
def test_max_steps_below_one_or_not_a_number_is_a_usage_error(bad: str) -> None:
    r = invoke("train", "tiny", "--max-steps", bad)
    assert r.returncode == 2 and "--max-steps" in r.stderr, r.stderr


def test_train_help_names_the_shortcut() -> None:
    out = " ".join(invoke("train", "--help").stdout.split())  # the help wraps at the terminal's width
    assert "--max-steps N" in out and "short for --set train.max_steps=N" in out
