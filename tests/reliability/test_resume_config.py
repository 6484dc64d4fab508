"""--resume auto compares the config given now with the one the run was started with, on the keys
of both sides: an override the new config drops (a map emptied) is a change like an edited value."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneguard.errors import UsageError
from tuneguard.train.rundir import prepare_run_dir


def _started_with(run_dir: Path, cfg: dict[str, Any]) -> None:
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg), "utf-8")


def _cfg(severity: dict[str, str], lr: float = 2e-4, notify: str = "") -> dict[str, Any]:
    return {"guard": {"severity": severity}, "train": {"learning_rate": lr}, "notify": {"line_token": notify}}


def test_a_dropped_override_is_a_change(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _started_with(run, _cfg({"PLATEAU": "off"}))
    with pytest.raises(UsageError) as exc:
        prepare_run_dir(run, _cfg({}), resume=True, overwrite=False)
    assert str(exc.value) == (f"--resume auto needs the same config as the run in {run}; changed: "
                              "guard.severity.PLATEAU. Use another --run-dir for a new run")


def test_an_edited_value_and_an_added_override_are_changes_in_the_new_configs_order(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _started_with(run, _cfg({}))
    with pytest.raises(UsageError) as exc:
        prepare_run_dir(run, _cfg({"PLATEAU": "off"}, lr=1e-3), resume=True, overwrite=False)
    assert str(exc.value).endswith("changed: guard.severity.PLATEAU, train.learning_rate. Use another --run-dir for a new run")


def test_the_same_config_or_a_notify_change_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _started_with(run, _cfg({"PLATEAU": "off"}))
    assert prepare_run_dir(run, _cfg({"PLATEAU": "off"}), resume=True, overwrite=False) is None
    assert prepare_run_dir(run, _cfg({"PLATEAU": "off"}, notify="x"), resume=True, overwrite=False) is None
