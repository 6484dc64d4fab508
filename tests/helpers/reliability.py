"""Reliability tests' tools: training processes with planted faults, the recipe in this process,
waiting on conditions, polling status while a run lives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1] / "reliability"
ROOT = HERE.parent.parent


# Wide, plain output: log lines that name paths must not be wrapped by Rich.
PLAIN_ENV = {"COLUMNS": "500", "NO_COLOR": "1", "TERM": "dumb"}


class Proc:
    """A CLI process in its own session, its output in files (a pipe nobody reads would block it)."""

    def __init__(self, args: list[str], log_dir: Path, name: str, env: dict[str, str] | None = None):
        self.out_path, self.err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
        self._out, self._err = self.out_path.open("w"), self.err_path.open("w")
        self.popen = subprocess.Popen(args, stdout=self._out, stderr=self._err, start_new_session=True, cwd=ROOT,
                                      env={**os.environ, **PLAIN_ENV, **(env or {})})

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = 600) -> int:
        try:
            return self.popen.wait(timeout)
        finally:
            self._out.close()
            self._err.close()

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")


def start_train(log_dir: Path, name: str, *args: str, faults: list[dict[str, Any]] | None = None,
                env: dict[str, str] | None = None) -> Proc:
    """`tuneguard train ARGS` through the fault-injecting entry point."""
    return Proc([sys.executable, str(HERE / "faulty_train.py"), "train", *args], log_dir, name,
                env={"TG_FAULTS": json.dumps(faults or []), **(env or {})})


def train_inproc(cfg_path: Path, run_dir: Path, *sets: str, **kw: Any) -> int:
    """`tuneguard train` in this process: the config loaded as the CLI loads it, then the
    recipe the CLI calls (`run_training`); its error line goes to stderr (capsys)."""
    import io

    from rich.console import Console

    from tuneguard.cli.errors import show_outcome
    from tuneguard.config.load import load_config
    from tuneguard.store.invocation import Invocation
    from tuneguard.train.run import run_training

    invocation = Invocation.given(str(cfg_path), list(sets), force=kw.get("force", False))  # as the CLI records it
    return show_outcome(run_training(load_config(str(cfg_path), list(sets)), run_dir,
                                     console=Console(file=io.StringIO(), width=300), invocation=invocation, **kw))


def wait_until(cond: Callable[[], bool], what: str, proc: Proc | None = None, timeout: float = 600,
               interval: float = 0.02) -> None:
    """Poll `cond` until true; fail early (with the process's stderr) if `proc` exits first."""
    end = time.monotonic() + timeout
    while not cond():
        if proc is not None and not proc.alive():
            if cond():
                return
            raise AssertionError(f"process exited ({proc.popen.returncode}) before {what}:\n{proc.stderr[-3000:]}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class Poller:
    """`status --json` every `interval` s from another process (tests/reliability/poller.py)."""

    def __init__(self, run_dir: Path, out: Path, interval: float = 0.1):
        self.out = out
        self.proc = subprocess.Popen([sys.executable, str(HERE / "poller.py"), str(run_dir), str(out), str(interval)],
                                     cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE, text=True)

    def stop(self, timeout: float = 120) -> dict[str, Any]:
        Path(str(self.out) + ".stop").touch()
        _, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return json.loads(self.out.read_text())
