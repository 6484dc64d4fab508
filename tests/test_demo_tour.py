"""The demo's tour says how to reach the commands it prints: the README runs
`.venv/bin/tuneguard demo` with no virtual environment active, so a pasted `tuneguard ...`
would fail (command not found) unless the tour says to activate it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tuneguard.cli import demo_cmd


def _bin(tmp_path: Path, *names: str) -> Path:
    d = tmp_path / "venv" / "bin"
    d.mkdir(parents=True)
    for name in names:
        (d / name).write_text("#!/bin/sh\n")
    return d


def test_the_tour_says_to_activate_the_environment_when_tuneguard_is_not_on_path(tmp_path, monkeypatch) -> None:
    d = _bin(tmp_path, "python", "tuneguard", "activate")
    monkeypatch.setattr(sys, "executable", str(d / "python"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert demo_cmd._path_hint() == [
        "tuneguard is not on this shell's PATH: run `source venv/bin/activate` first for the commands below "
        "(or type venv/bin/tuneguard instead of tuneguard)"]
    # Active (its bin on PATH): nothing to say.
    monkeypatch.setenv("PATH", str(d))
    (d / "tuneguard").chmod(0o755)
    assert demo_cmd._path_hint() == []


@pytest.mark.parametrize("names", [("python",), ("python", "tuneguard")])
def test_without_an_activate_script_the_tour_names_the_program_to_type(tmp_path, monkeypatch, names) -> None:
    d = _bin(tmp_path, *names)
    monkeypatch.setattr(sys, "executable", str(d / "python"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    program = "venv/bin/tuneguard" if "tuneguard" in names else f"{d / 'python'} -m tuneguard"
    assert demo_cmd._path_hint() == [
        f"tuneguard is not on this shell's PATH: type {program} instead of tuneguard in the commands below"]
