"""Fixtures of this folder: hand-built run directories (see runs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .runs import build_collapse, build_healthy


@pytest.fixture
def healthy_run(tmp_path: Path) -> Path:
    return build_healthy(tmp_path / "healthy")


@pytest.fixture
def collapse_run(tmp_path: Path) -> Path:
    return build_collapse(tmp_path / "collapse")
