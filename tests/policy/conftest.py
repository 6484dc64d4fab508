"""Fixtures of the policy tests: one training file, one thread, live runs that are always killed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from policy_helpers import LiveRun

from tests.helpers.threads import one_torch_thread

from tuneguard.data.synthetic import make_instruction_rows, write_jsonl


@pytest.fixture(scope="session")
def policy_train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 rows: 360 training rows after the validation split, 45 steps of 8 per epoch."""
    return write_jsonl(make_instruction_rows(400, seed=0), tmp_path_factory.mktemp("policy-data") / "train.jsonl")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread on a shared, oversubscribed CPU (and deterministically)."""
    with one_torch_thread():
        yield


@pytest.fixture
def live_run(tmp_path: Path, policy_train_file: Path) -> Iterator[Callable[..., LiveRun]]:
    runs: list[LiveRun] = []

    def start(max_steps: int, settings: list[str] | None = None) -> LiveRun:
        run = LiveRun(tmp_path / "run", policy_train_file, max_steps, settings)
        runs.append(run)
        return run

    yield start
    for r in runs:
        r.close()
