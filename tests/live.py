"""Driving a live `tuneguard train` in a subprocess: polling, reading its store, cleanup.

Shared by the tests that act on a running trainer (control, policy, several processes).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneguard.store.run_store import RunStore

START_TIMEOUT = 180.0
END_TIMEOUT = 240.0


def poll(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05,
         alive: Callable[[], None] | None = None) -> Any:
    """Wait for `cond()` to be truthy; `alive()` may raise when the process died first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        if alive is not None:
            alive()
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_store(run_dir: Path, fn: Callable[[RunStore], Any]) -> Any:
    """Run `fn` on a fresh read-only store; None while the trainer has not created it yet."""
    if not (run_dir / "run.db").exists():
        return None
    try:
        with RunStore(run_dir, readonly=True) as s:
            return fn(s)
    except sqlite3.OperationalError as exc:  # created, tables not yet there
        if "no such table" in str(exc):
            return None
        raise


class LiveProcess:
    """A command in its own process group, its output in a log file, killed in `close`."""

    what = "trainer"
    tail = 3000
    start_timeout = START_TIMEOUT
    end_timeout = END_TIMEOUT

    def _start(self, run_dir: Path, log_path: Path, cmd: list[str], env: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.what} exited early with {self.proc.returncode}:\n{self.output()[-self.tail:]}")

    _check_alive = check_alive

    def step(self) -> int:
        return int(read_store(self.run_dir, lambda s: s.get_meta("step") or 0) or 0)

    def state(self) -> str | None:
        return read_store(self.run_dir, lambda s: s.state())

    def wait_running(self, min_step: int = 3) -> int:
        """Wait until the store says running and `min_step` steps are logged; returns the step."""
        poll(lambda: self.state() == "running" and self.step() >= min_step, self.start_timeout,
             f"state running at step >= {min_step}", interval=0.1, alive=self.check_alive)
        return self.step()

    def wait_state(self, state: str, timeout: float = 60.0) -> None:
        poll(lambda: self.state() == state, timeout, f"state {state}", alive=self.check_alive)

    def wait(self, timeout: float | None = None) -> int:
        timeout = self.end_timeout if timeout is None else timeout
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.what} still running after {timeout} s:\n{self.output()[-self.tail:]}") from None

    def group_alive(self) -> bool:
        """Is any process of the group (launcher or worker) still there?"""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def close(self) -> None:
        if self.group_alive():  # workers may outlive a launcher: kill the whole group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(30)
        self._log.close()
