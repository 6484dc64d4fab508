"""Tiny runs launched with two processes (torchrun or accelerate launch) for the tests.

Each launch gets its own process group (start_new_session) and `close()` kills the whole
group: killing only the launcher would leave its workers running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneguard.store.run_store import RunStore

START_TIMEOUT = 240.0  # slow shared machine: two processes import torch and transformers
END_TIMEOUT = 300.0

# Deterministic tiny runs: no evaluation, one log row per step (the tests count them).
QUIET = ["train.logging_steps=1", "guard.enabled=false", 'eval.strategy="no"', "eval.load_best_model_at_end=false",
         "train.save_total_limit=10"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_collapse_data(path: Path, rows: int = 3000) -> Path:
    """One instruction row repeated: the audit's DUPLICATE_EXACT and the guard's LOSS_COLLAPSE."""
    row = json.dumps({"instruction": "Say hello.", "output": "Hello there, friend."}) + "\n"
    path.write_text(row * rows, "utf-8")
    return path


def poll(cond: Callable[[], Any], timeout: float, what: str, alive: Callable[[], None] | None = None) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        if alive is not None:
            alive()
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def read_store(run_dir: Path, fn: Callable[[RunStore], Any]) -> Any:
    if not (run_dir / "run.db").exists():
        return None
    try:
        with RunStore(run_dir, readonly=True) as s:
            return fn(s)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise


class Launch:
    """`tuneguard train` under a two-process launcher, output in RUN_DIR.log."""

    def __init__(self, run_dir: Path, config: str, settings: list[str], *, launcher: str = "torchrun",
                 extra: list[str] | None = None, env: dict[str, str] | None = None):
        self.run_dir = run_dir
        self.log_path = run_dir.parent / f"{run_dir.name}-{launcher}-{int(time.monotonic() * 1000)}.log"
        if launcher == "torchrun":
            head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        else:  # accelerate on CPU: --multi_gpu with train.use_cpu runs two gloo processes
            head = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                    "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                    "--main_process_port", str(free_port())]
        cmd = [*head, "-m", "tuneguard", "train", config, "--run-dir", str(run_dir), *(extra or [])]
        for s in settings:
            cmd += ["--set", s]
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
                    "COLUMNS": "200", **(env or {})}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"launcher exited early with {self.proc.returncode}:\n{self.output()[-4000:]}")

    def step(self) -> int:
        return int(read_store(self.run_dir, lambda s: s.get_meta("step") or 0) or 0)

    def state(self) -> str | None:
        return read_store(self.run_dir, lambda s: s.state())

    def wait_running(self, min_step: int = 3) -> int:
        poll(lambda: self.state() == "running" and self.step() >= min_step, START_TIMEOUT,
             f"state running at step >= {min_step}", alive=self._check_alive)
        return self.step()

    def wait(self, timeout: float = END_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s (a rank hangs?):\n{self.output()[-4000:]}") from None

    def group_alive(self) -> bool:
        """Is any process of the launch's group (launcher or worker) still there?"""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def assert_no_worker_left(self, timeout: float = 60.0) -> None:
        poll(lambda: not self.group_alive(), timeout, "every worker of the launch to exit")

    def close(self) -> None:
        if self.group_alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(30)
        self._log.close()


def checkpoint_steps(run_dir: Path) -> list[int]:
    d = run_dir / "checkpoints"
    return sorted(int(p.name.split("-")[1]) for p in d.glob("checkpoint-*")) if d.is_dir() else []


def saved_by_both_ranks(ckpt: Path) -> bool:
    """Each rank writes its own RNG state into a checkpoint: both took part in that save."""
    return (ckpt / "rng_state_0.pth").exists() and (ckpt / "rng_state_1.pth").exists()
