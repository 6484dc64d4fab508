"""Running tuneguard from tests: the real CLI in a subprocess (`cli`, `start_cli`, `kill_group`) or in this
process (`invoke`), a tiny-preset config file (`tiny_config`), and skipping for a missing dependency (`missing`)."""

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


def missing(reason: str, module_level: bool = False) -> NoReturn:
    """A dependency this machine lacks: skip here, but fail under CI (`CI=true`), where
    `scripts/install.sh --test` installs every test dependency and a skip would hide a
    broken installation."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: CI must have it)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


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


def assert_failed_start(run: Any, reason: str) -> None:
    """A refusal before training left a failed record that does not block the next try: state
    failed, exit code 2, the refusal's line as the exit reason, and the lock released."""
    from tuneguard.store.run_store import RunStore
    from tuneguard.train.rundir import RunDirLock

    with RunStore(run, readonly=True) as store:
        assert store.state() == "failed" and store.get_meta("exit_code") == 2
        assert store.summary()["exit_reason"] == reason, store.summary()["exit_reason"]
    lock = RunDirLock(run)
    lock.acquire()  # released: the next try may take the directory
    lock.release()
