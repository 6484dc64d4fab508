"""Tiny runs launched with two processes (torchrun or accelerate launch) for the tests.

Each launch gets its own process group (start_new_session) and `close()` kills the whole
group: killing only the launcher would leave its workers running.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.live import LiveProcess, poll, read_store  # noqa: F401 - re-exported

START_TIMEOUT = 240.0  # slow shared machine: two processes import torch and transformers
END_TIMEOUT = 300.0

# Deterministic tiny runs: no evaluation, one log row per step (the tests count them).
QUIET = ["train.logging_steps=1", "guard.enabled=false", 'eval.strategy="no"', "eval.load_best_model_at_end=false",
         "train.save_total_limit=10"]


# tuneguard with the default process group as "cpu:gloo,cuda:gloo" (a GPU machine's shape).
MIXED_BACKEND = [str(Path(__file__).with_name("mixed_backend.py"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_collapse_data(path: Path, rows: int = 3000) -> Path:
    """One instruction row repeated: the audit's DUPLICATE_EXACT and the guard's LOSS_COLLAPSE."""
    row = json.dumps({"instruction": "Say hello.", "output": "Hello there, friend."}) + "\n"
    path.write_text(row * rows, "utf-8")
    return path


class Launch(LiveProcess):
    """`tuneguard train` under a two-process launcher, output in RUN_DIR.log."""

    what = "launcher"
    tail = 4000
    start_timeout = START_TIMEOUT
    end_timeout = END_TIMEOUT

    def __init__(self, run_dir: Path, config: str, settings: list[str], *, launcher: str = "torchrun",
                 extra: list[str] | None = None, env: dict[str, str] | None = None, entry: list[str] | None = None):
        """`entry`: what the launcher runs instead of `-m tuneguard` (e.g. MIXED_BACKEND)."""
        if launcher == "torchrun":
            head = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        else:  # accelerate on CPU: --multi_gpu with train.use_cpu runs two gloo processes
            head = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                    "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                    "--main_process_port", str(free_port())]
        cmd = [*head, *(entry or ["-m", "tuneguard"]), "train", config, "--run-dir", str(run_dir), *(extra or [])]
        for s in settings:
            cmd += ["--set", s]
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
                    "COLUMNS": "200", **(env or {})}
        self._start(run_dir, run_dir.parent / f"{run_dir.name}-{launcher}-{int(time.monotonic() * 1000)}.log",
                    cmd, full_env)

    def wait(self, timeout: float | None = None) -> int:
        timeout = self.end_timeout if timeout is None else timeout
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s (a rank hangs?):\n{self.output()[-4000:]}") from None

    def assert_no_worker_left(self, timeout: float = 60.0) -> None:
        poll(lambda: not self.group_alive(), timeout, "every worker of the launch to exit")


def checkpoint_steps(run_dir: Path) -> list[int]:
    d = run_dir / "checkpoints"
    return sorted(int(p.name.split("-")[1]) for p in d.glob("checkpoint-*")) if d.is_dir() else []


def saved_by_both_ranks(ckpt: Path) -> bool:
    """Each rank writes its own RNG state into a checkpoint: both took part in that save."""
    return (ckpt / "rng_state_0.pth").exists() and (ckpt / "rng_state_1.pth").exists()
