"""Fixtures of the control tests: a training file and live tiny runs that are always killed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from control_helpers import LiveRun

from tuneguard.data.synthetic import make_instruction_rows, write_jsonl


@pytest.fixture(scope="session")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    write_jsonl(make_instruction_rows(200, seed=0), path)
    return path


@pytest.fixture
def live_run(tmp_path: Path, train_file: Path) -> Iterator[Callable[..., LiveRun]]:
    runs: list[LiveRun] = []

    def start(max_steps: int = 60, settings: list[str] | None = None, resume: bool = False,
              name: str = "run") -> LiveRun:
        run = LiveRun(tmp_path / name, train_file, max_steps, settings, resume)
        runs.append(run)
        return run

    yield start
    for r in runs:
        r.close()
