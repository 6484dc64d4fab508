"""Crash consistency: SIGKILL at chosen and at random moments, then `--resume auto`.

One run directory goes through three kills and a final resume:

1. killed while checkpoint-20 is being written (optimizer.pt half on disk, no marker);
2. resumed, then killed after checkpoint-40's trainer_state.json is written but before the
   marker (the folder looks complete but is not);
3. resumed, then killed at a seeded random moment;
4. resumed to the end.

Every resume must start from the newest *complete* checkpoint (checked here independently
of tuneguard: marker present, every file loads) and name the incomplete one it skipped;
the final store holds exactly one train row per step and one eval row per evaluation, and
every step replayed after a kill has the loss it had before. Meanwhile another process
runs `status --json` every 100 ms and must never see an error ("database is locked").
"""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import tiny_config
from tests.helpers.reliability import start_train, wait_until
from tuneguard.store.run_store import RunStore
from tuneguard.checkpoints import MARKER

pytestmark = pytest.mark.slow

MAX_STEPS = 70
SECTIONS = {"train": {"max_steps": MAX_STEPS, "save_steps": 10, "logging_steps": 1, "save_total_limit": 3},
            "eval": {"steps": 10}}
SEED = 20240611


def _really_complete(folder: Path) -> bool:
    """Independent of tuneguard's check: marked, and every file a resume reads loads."""
    if not (folder / MARKER).exists():
        return False
    try:
        json.loads((folder / "trainer_state.json").read_text())
        torch.load(folder / "optimizer.pt", weights_only=True)
        torch.load(folder / "scheduler.pt", weights_only=True)
        from safetensors.torch import load_file

        load_file(str(folder / "adapter_model.safetensors"))
    except Exception:  # noqa: BLE001 - any failure means "not resumable"
        return False
    return True


def _newest_complete(run: Path) -> Path | None:
    folders = sorted((p for p in (run / "checkpoints").glob("checkpoint-*") if p.is_dir()),
                     key=lambda p: int(p.name.split("-")[1]))
    done = [p for p in folders if _really_complete(p)]
    return done[-1] if done else None


def _train_rows(run: Path) -> dict[int, float]:
    with RunStore(run) as s:
        rows = s.metrics("train")
        s.summary()  # readable after a kill
    steps = [r["step"] for r in rows]
    assert steps == list(range(1, len(steps) + 1)), f"lost or duplicated train rows: {steps}"
    return {r["step"]: r["loss"] for r in rows}


def _resumed_from(proc_stderr: str, proc_stdout: str) -> str | None:
    m = re.search(r"resuming from (checkpoint-\d+)", proc_stdout + proc_stderr)
    return m.group(1) if m else None


def test_sigkill_at_any_moment_then_resume(tmp_path, train_file, poller):
    cfg = tiny_config(tmp_path, train_file, **SECTIONS)
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    args = (str(cfg), "--run-dir", str(run))
    reader = poller(run)
    seen: dict[int, float] = {}  # step -> loss logged before some kill
    expected_resumes: list[tuple[str, str | None]] = []  # (checkpoint resumed from, incomplete one skipped)
    checked: list[str] = []  # resumed events already checked

    def resumed_events() -> list[str]:
        with RunStore(run) as s:
            return [Path(e["payload"]["checkpoint"]).name for e in s.events("resumed")]

    def kill_and_check(proc, skipped: str | None) -> None:
        """SIGKILL; the store is readable and consistent; the process resumed (if it got
        that far) from the checkpoint expected when it started; note the next expected one."""
        proc.kill()
        proc.wait(60)
        seen.update(_train_rows(run))
        if (run / "run.db").exists():
            with RunStore(run) as s:
                assert s.summary()["state"] == "failed"  # not "running": its process is gone
        events = resumed_events()
        if expected_resumes:
            assert set(events[len(checked):]) <= {expected_resumes[-1][0]}, events
        checked[:] = events
        newest = _newest_complete(run)
        assert newest is not None
        if skipped:
            assert not (ckpts / skipped / MARKER).exists(), f"{skipped} should be incomplete"
        expected_resumes.append((newest.name, skipped))

    # 1. Killed in the middle of writing checkpoint-20: optimizer.pt is half written.
    p = start_train(tmp_path, "a", *args, faults=[{"step": 20, "at": "optimizer", "sleep": 120}])
    wait_until(lambda: "FAULT optimizer 20" in p.stderr, "checkpoint-20 half written", p)
    kill_and_check(p, "checkpoint-20")
    assert expected_resumes[-1][0] == "checkpoint-10"

    # 2. Resumed, then killed when checkpoint-40 has all its files but no marker yet.
    p = start_train(tmp_path, "b", *args, "--resume", "auto",
                    faults=[{"step": 40, "at": "trainer_state", "sleep": 120}])
    wait_until(lambda: "FAULT trainer_state 40" in p.stderr, "checkpoint-40 written but not marked", p)
    assert _resumed_from(p.stderr, p.stdout) == "checkpoint-10"
    assert "skipping incomplete checkpoint" in p.stderr and "checkpoint-20" in p.stderr
    kill_and_check(p, "checkpoint-40")
    assert expected_resumes[-1][0] == "checkpoint-30"
    assert (ckpts / "checkpoint-40" / "trainer_state.json").exists()  # looks complete, is not

    # 3. Resumed and killed at a seeded random moment of its start-up (loading, audit, model),
    #    then resumed and killed at a seeded random moment of training.
    rng = random.Random(SEED)
    p = start_train(tmp_path, "c", *args, "--resume", "auto")
    time.sleep(rng.uniform(0.5, 3.0))
    if p.alive():
        kill_and_check(p, None)
    else:  # a very fast machine: it resumed, trained and finished within the delay
        assert p.wait() == 0, p.stderr[-3000:]
    assert expected_resumes[-1][0] == "checkpoint-30"
    p = start_train(tmp_path, "d", *args, "--resume", "auto")
    wait_until(lambda: "resuming from" in p.stdout, "the resume to start", p)
    assert _resumed_from(p.stderr, p.stdout) == "checkpoint-30"
    assert "skipping incomplete checkpoint" in p.stderr and "checkpoint-40" in p.stderr
    target = rng.randint(32, MAX_STEPS - 5)
    wait_until(lambda: f"step {target}/" in p.stdout, f"step {target}", p, interval=0.005)
    time.sleep(rng.uniform(0.0, 0.2))
    assert p.alive(), "the run ended before the random kill"
    kill_and_check(p, None)

    # 4. Resumed to the end.
    p = start_train(tmp_path, "e", *args, "--resume", "auto")
    code = p.wait(600)
    assert code == 0, p.stderr[-3000:]
    assert _resumed_from(p.stderr, p.stdout) == expected_resumes[-1][0]

    final = _train_rows(run)
    assert sorted(final) == list(range(1, MAX_STEPS + 1))
    for step, loss in seen.items():  # a replayed step has the loss it had before the kill
        assert final[step] == pytest.approx(loss, rel=1e-5, abs=1e-6), step
    with RunStore(run) as s:
        assert [r["step"] for r in s.metrics("eval")] == list(range(10, MAX_STEPS + 1, 10))
        resumed = [e["payload"] for e in s.events("resumed")]
        assert s.summary()["state"] == "finished"
        guard = [(f.code, f.step) for f in s.findings("guard")]
    assert len(guard) == len(set(guard)), f"findings recorded twice after a resume: {guard}"
    assert [Path(r["checkpoint"]).name for r in resumed][len(checked):] == [expected_resumes[-1][0]]
    assert [Path(r["checkpoint"]).name for r in resumed][:2] == ["checkpoint-10", "checkpoint-30"]

    report = reader.stop()
    assert report["errors"] == [], report["errors"][:5]
    assert report["polls"] > 100 and report["max_step"] == MAX_STEPS
    assert "running" in report["states"] and report["states"][-1] == "finished"
