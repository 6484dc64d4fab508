"""Live tiny runs in a subprocess, and run stores built by hand, for the control tests.

Imported by the tests and by conftest.py (a module of its own name: several test folders
have a conftest.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneguard.store.run_store import RunStore

# Slow shared machine: generous limits, and polling rather than fixed sleeps.
START_TIMEOUT = 180.0
END_TIMEOUT = 240.0

# A fast, deterministic run: no guards (a tiny model's noisy loss must not halt it), no
# evaluation, one log row per step (the resume test counts them).
BASE_SETTINGS = ["train.logging_steps=1", "guard.enabled=false", 'eval.strategy="no"',
                 "eval.load_best_model_at_end=false", "train.save_total_limit=10"]


def poll(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05,
         alive: Callable[[], None] | None = None) -> Any:
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


class LiveRun:
    """`python -m tuneguard train tiny` in its own process group (killed in `close`)."""

    def __init__(self, run_dir: Path, data: Path, max_steps: int, settings: list[str] | None = None,
                 resume: bool = False):
        self.run_dir = run_dir
        self.log_path = run_dir.parent / f"{run_dir.name}{'-resume' if resume else ''}.log"
        sets = [f"data.train_file={data}", f"train.max_steps={max_steps}", *BASE_SETTINGS, *(settings or [])]
        cmd = [sys.executable, "-m", "tuneguard", "train", "tiny", "--force", "--run-dir", str(run_dir)]
        for s in sets:
            cmd += ["--set", s]
        if resume:
            cmd += ["--resume", "auto"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200"}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"trainer exited early with {self.proc.returncode}:\n{self.output()[-3000:]}")

    def step(self) -> int:
        return int(read_store(self.run_dir, lambda s: s.get_meta("step") or 0) or 0)

    def state(self) -> str | None:
        return read_store(self.run_dir, lambda s: s.state())

    def wait_running(self, min_step: int = 3) -> int:
        """Wait until the store says running and `min_step` steps are logged; returns the step."""
        poll(lambda: self.state() == "running" and self.step() >= min_step, START_TIMEOUT,
             f"state running at step >= {min_step}", interval=0.1, alive=self._check_alive)
        return self.step()

    def wait_state(self, state: str, timeout: float = 60.0) -> None:
        poll(lambda: self.state() == state, timeout, f"state {state}", alive=self._check_alive)

    def wait(self, timeout: float = END_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"trainer still running after {timeout} s:\n{self.output()[-3000:]}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(30)
        self._log.close()


def checkpoint_steps(run_dir: Path) -> list[int]:
    d = run_dir / "checkpoints"
    return sorted(int(p.name.split("-")[1]) for p in d.glob("checkpoint-*")) if d.is_dir() else []


def build_finished_run(run_dir: Path, state: str = "finished", steps: int = 40) -> Path:
    """A run store as a finished tiny run leaves it (no training)."""
    from tuneguard.findings import Finding

    with RunStore(run_dir, create=True) as s:
        s.init_run(config={"model": {"name": "builtin:tiny-gptj"}}, max_steps=steps, run_id="done01")
        s.set_state("running", started=time.time() - 60)
        for step in range(1, steps + 1):
            s.log_metrics(step, "train", {"loss": 4.0 - step * 0.05, "epoch": step / 20, "tokens_per_s": 1000.0 + step,
                                          "rss_gb": 1.2, "eta_s": float(steps - step)})
            if step % 10 == 0:
                s.log_metrics(step, "eval", {"eval_loss": 4.2 - step * 0.04, "epoch": step / 20})
        s.add_finding(Finding(code="PLATEAU", severity="warning", step=30, source="guard",
                              message="The eval loss has not improved for 2 evaluations."))
        s.request_control("checkpoint", requested_by="tester@host pid 1")
        s.mark_control(1, "done", 12, "checkpoint-12 written")
        s.heartbeat(steps)
        s.set_state(state, exit_reason="completed" if state == "finished" else state)
    return run_dir
