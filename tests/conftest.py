"""Shared fixtures: data the tests make, configs based on the tiny preset, CLI runners."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tiny models gain nothing from a second torch thread, and on a loaded 2-core machine
# OpenMP threads spinning while they wait for each other slow them down many times over
# (docs/BENCHMARKS.md, "Soak"). Subprocesses started by the tests inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def missing(reason: str, module_level: bool = False) -> NoReturn:
    """A dependency this machine lacks: skip here, but fail under CI (`CI=true`), where
    `scripts/install.sh --test` installs every test dependency and a skip would hide a
    broken installation."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: CI must have it)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


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


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real `tuneguard` Typer app in this process; the logging and warning set-up the
    CLI does is undone afterwards (the next command sets it up again)."""
    import transformers
    from typer.testing import CliRunner

    from tuneguard.cli.main import app

    root = logging.getLogger()
    handlers, level, verbosity = list(root.handlers), root.level, transformers.logging.get_verbosity()
    try:
        with warnings.catch_warnings():
            r = CliRunner(env=env).invoke(app, list(args))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        transformers.logging.set_verbosity(verbosity)
    # Only a clean exit: any other exception is a crash (a traceback a user would see).
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return subprocess.CompletedProcess(list(args), r.exit_code, r.stdout, r.stderr)
