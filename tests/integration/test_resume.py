"""SIGKILL after the first checkpoint, then --resume auto: the same losses as an uninterrupted run."""

import pytest

from tests.helpers.cli import cli, kill_group, start_cli, tiny_config
from tests.live import poll
from tuneguard.store.run_store import RunStore
from tuneguard.checkpoints import MARKER

pytestmark = pytest.mark.slow

SECTIONS = dict(train={"max_steps": 120, "save_steps": 10, "logging_steps": 1, "save_total_limit": 20},
                eval={"steps": 10})


def _losses(run):
    with RunStore(run) as s:
        rows = s.metrics("train")
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), "duplicate or unordered metric rows"
    return {r["step"]: r["loss"] for r in rows}


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, train_file):
    cfg = tiny_config(tmp_path, train_file, **SECTIONS)
    ref = tmp_path / "ref"
    assert cli("train", str(cfg), "--run-dir", str(ref)).returncode == 0
    expected = _losses(ref)

    run = tmp_path / "run"
    proc = start_cli("train", str(cfg), "--run-dir", str(run))
    try:
        poll(lambda: (run / "checkpoints" / "checkpoint-10" / MARKER).exists(), 300, "checkpoint-10",
             interval=0.02, alive=lambda: proc.poll() is None or pytest.fail(str(proc.communicate())))
        kill_group(proc)
        proc.wait(30)
    finally:
        kill_group(proc)
    with RunStore(run) as s:
        killed_at = max(r["step"] for r in s.metrics("train"))
    assert killed_at < 120

    r = cli("train", str(cfg), "--run-dir", str(run), "--resume", "auto")
    assert r.returncode == 0, r.stdout + r.stderr
    got = _losses(run)
    assert sorted(got) == list(range(1, 121))  # exactly one row per step, none lost
    for step in range(11, 121):
        assert got[step] == pytest.approx(expected[step], rel=1e-5, abs=1e-6), step
    with RunStore(run) as s:
        resumed = s.events("resumed")
        finished = s.events("finished")[-1]["payload"]
        meta = s.meta()
    assert resumed and resumed[0]["payload"]["from_step"] >= 10
    # The finished message and the report count both processes from the first start.
    assert finished["processes"] == 2 and len(meta["earlier_processes"]) == 1
    assert finished["started"] == meta["first_started"] == meta["earlier_processes"][0][0] < resumed[0]["time"]
    assert finished["train_s"] <= finished["duration_s"]
    assert " over 2 sessions (resumed)" in (run / "report.md").read_text("utf-8")
