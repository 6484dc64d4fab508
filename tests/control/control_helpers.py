"""Live tiny runs in a subprocess, and run stores built by hand, for the control tests.

Imported by the tests and by conftest.py (a module of its own name: several test folders
have a conftest.py)."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

from tests.live import END_TIMEOUT, START_TIMEOUT, LiveProcess, poll, read_store  # noqa: F401 - re-exported
from tuneguard.store.run_store import RunStore

# Slow shared machine: generous limits, and polling rather than fixed sleeps.

# A fast, deterministic run: no guards (a tiny model's noisy loss must not halt it), no
# evaluation, one log row per step (the resume test counts them).
BASE_SETTINGS = ["train.logging_steps=1", "guard.enabled=false", 'eval.strategy="no"',
                 "eval.load_best_model_at_end=false", "train.save_total_limit=10"]


class LiveRun(LiveProcess):
    """`python -m tuneguard train tiny` in its own process group (killed in `close`)."""

    def __init__(self, run_dir: Path, data: Path, max_steps: int, settings: list[str] | None = None,
                 resume: bool = False):
        self.data = data
        sets = [f"data.train_file={data}", f"train.max_steps={max_steps}", *BASE_SETTINGS, *(settings or [])]
        cmd = [sys.executable, "-m", "tuneguard", "train", "tiny", "--force", "--run-dir", str(run_dir)]
        for s in sets:
            cmd += ["--set", s]
        if resume:
            cmd += ["--resume", "auto"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200"}
        self._start(run_dir, run_dir.parent / f"{run_dir.name}{'-resume' if resume else ''}.log", cmd, env)


def checkpoint_steps(run_dir: Path) -> list[int]:
    d = run_dir / "checkpoints"
    return sorted(int(p.name.split("-")[1]) for p in d.glob("checkpoint-*")) if d.is_dir() else []


def build_finished_run(run_dir: Path, state: str = "finished", steps: int = 40, language: str = "en") -> Path:
    """A run store as a finished tiny run leaves it (no training), configured in `language`."""
    from tuneguard.findings import Finding

    with RunStore(run_dir, create=True) as s:
        s.init_run(config={"model": {"name": "builtin:tiny-gptj"}, "notify": {"language": language}}, max_steps=steps,
                   run_id="done01")
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


def watch_snapshot(run_dir: Path):  # type: ignore[no-untyped-def]
    """What `tuneguard watch` reads of a run at one moment (its store reader closed again)."""
    from tuneguard.cli.watch import StoreReader

    reader = StoreReader(run_dir)
    try:
        return reader.snapshot()
    finally:
        reader.close()


def watch_screen(snap, run_dir: Path, width: int, height: int | None = None) -> str:  # type: ignore[no-untyped-def]
    """The `watch` dashboard of `snap` as plain text on a terminal `width` wide (and, with
    `height`, the findings cut to what fits it)."""
    from rich.console import Console

    from tuneguard.cli.watch import render

    buf = io.StringIO()
    con = Console(file=buf, width=width, height=height, force_terminal=True, color_system=None)
    con.print(render(snap, run_dir, width, con if height else None))
    return buf.getvalue()
