"""Shared fixtures: data the tests make, configs based on the tiny preset, CLI runners."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tiny models gain nothing from a second torch thread, and on a loaded 2-core machine
# OpenMP threads spinning while they wait for each other slow them down many times over
# (docs/BENCHMARKS.md, "Soak"). Subprocesses started by the tests inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cuda` need a GPU: the GPU script (bench/gpu_gptj.sh) runs them; without
    one they are skipped and say why (CI has no GPU, so CI skipping them hides nothing)."""
    if not any("cuda" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: run by `bash bench/gpu_gptj.sh` on the GPU machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU path even on a machine with a GPU, for tests that claim CPU behaviour: no CUDA
    device for subprocesses (CUDA_VISIBLE_DEVICES) nor for this process."""
    import torch

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    return write_jsonl(make_instruction_rows(400, seed=0), tmp_path / "train.jsonl")


def tiny_config(tmp_path: Path, train_file: Path, **sections: dict[str, Any]) -> Path:
    """Write a config file based on the tiny preset with section overrides."""
    import yaml

    raw: dict[str, Any] = {"preset": "tiny", "data": {"train_file": str(train_file)}}
    for sec, vals in sections.items():
        raw.setdefault(sec, {}).update(vals)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    return path


def cli(*args: str, timeout: float = 600, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m tuneguard ARGS` in a subprocess (the real entry point)."""
    return subprocess.run([sys.executable, "-m", "tuneguard", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tuneguard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
