"""--resume auto compares the config given now with the one the run was started with, on the keys
of both sides: an override the new config drops (a map emptied) is a change like an edited value;
a key another tuneguard version's schema had or lacked is not."""
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


def test_a_key_this_version_no_longer_has_is_ignored_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The run was started by a tuneguard whose schema had a key this one dropped (in a section
    it still has, and a whole section): its config.yaml holds them, the config given now cannot.
    Not a change the user made: the resume goes on, and a log line says what was ignored."""
    run = tmp_path / "run"
    old = _cfg({"PLATEAU": "off"})
    old["train"]["retired_knob"] = 3
    old["retired_section"] = {"x": 1}
    _started_with(run, old)
    with caplog.at_level("INFO", logger="tuneguard.train.rundir"):
        assert prepare_run_dir(run, _cfg({"PLATEAU": "off"}), resume=True, overwrite=False) is None
    said = [r.getMessage() for r in caplog.records]
    assert sorted(m for m in said if "no longer has" in m) == [
        "resume: the run's config.yaml has retired_section.x, which this version of tuneguard no longer has: ignored",
        "resume: the run's config.yaml has train.retired_knob, which this version of tuneguard no longer has: ignored"]


def test_a_key_this_version_added_is_ignored_at_its_default_only(tmp_path: Path) -> None:
    """A field newer than the run's config.yaml: at its default it is what the old run did
    (resumes); set to something else it is a change (refused, as any other)."""
    from tuneguard.config.schema import Config

    run = tmp_path / "run"
    _started_with(run, _cfg({}))
    default = Config().train.warmup_ratio
    assert prepare_run_dir(run, {**_cfg({}), "train": {"learning_rate": 2e-4, "warmup_ratio": default}},
                           resume=True, overwrite=False) is None
    with pytest.raises(UsageError) as exc:
        prepare_run_dir(run, {**_cfg({}), "train": {"learning_rate": 2e-4, "warmup_ratio": default + 0.1}},
                        resume=True, overwrite=False)
    assert str(exc.value).endswith("changed: train.warmup_ratio. Use another --run-dir for a new run")
