"""A long healthy run (20,000 logged steps, simulated without a model through the real metrics and
guard callbacks and the real store: evaluations, checkpoints, three resumes, one with twice the
batch, a pause of five hours) stays quiet, and what reads it reads only what it needs."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tuneguard.bench.long_run import Timeline, simulate
from tuneguard.cli.report_cmd import report
from tuneguard.report.plots import MAX_POINTS, decimate
from tuneguard.report.rundata import load_run
from tuneguard.store.run_store import open_for_reading

STEPS = 20_000


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("long") / "run"
    return run_dir, simulate(run_dir, STEPS, Timeline.realistic(STEPS))


def test_healthy_long_run_raises_no_warning(long_run) -> None:
    """No warning or error over 20,000 steps: noise, LR warmup and decay to 0, a plateau, spikes
    of 1.5-1.6x that recover, checkpoint slowdowns, resumes (one with twice the batch) and a
    pause of hours. (PLATEAU at three evaluations warned at steps of this curve.)"""
    _, res = long_run
    assert [(f.code, f.severity, f.step) for f in res.ctx_findings if f.severity != "info"] == []


def test_store_holds_one_row_per_step_after_resumes(long_run) -> None:
    run_dir, res = long_run
    with sqlite3.connect(run_dir / "run.db") as conn:
        rows = dict(conn.execute("SELECT kind, count(*) FROM metrics GROUP BY kind").fetchall())
        steps = [s for (s,) in conn.execute("SELECT step FROM metrics WHERE kind='train' ORDER BY step")]
    assert rows == {"train": STEPS, "eval": STEPS // 500}
    assert steps == list(range(1, STEPS + 1))


def test_status_reads_the_latest_row_by_index(long_run) -> None:
    run_dir, _ = long_run
    with open_for_reading(run_dir) as store:
        plan = store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM metrics WHERE kind=? ORDER BY step DESC LIMIT 1", ("train",)).fetchall()
        evals = store._conn.execute("EXPLAIN QUERY PLAN SELECT * FROM metrics WHERE kind=? ORDER BY step, kind",
                                    ("eval",)).fetchall()
        s = store.summary()
        last = store._conn.execute("SELECT loss, epoch FROM metrics WHERE kind='train' AND step=?", (STEPS,)).fetchone()
    assert "USING INDEX metrics_kind_step" in plan[0][-1] and "USING INDEX metrics_kind_step" in evals[0][-1]
    assert (s["step"], s["train_loss"], s["epoch"], s["state"]) == (STEPS, last[0], last[1], "finished")


def test_report_charts_are_decimated_keeping_extremes(long_run, tmp_path: Path) -> None:
    """The HTML stays small and its loss chart holds at most MAX_POINTS points, among them the
    run's highest and lowest training loss (the spikes stay visible)."""
    run_dir, _ = long_run
    app = typer.Typer()
    app.command()(report)
    out = tmp_path / "r.html"
    r = CliRunner().invoke(app, [str(run_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text("utf-8")
    assert len(html.encode()) < 2 * 2**20
    polylines = re.findall(r'<polyline class="series" points="([^"]*)"', html)
    assert polylines and max(len(p.split()) for p in polylines) <= MAX_POINTS
    pts = load_run(run_dir).series("train", "loss")
    kept = decimate(pts)
    assert len(pts) == STEPS and len(kept) <= MAX_POINTS
    assert max(pts, key=lambda p: p[1]) in kept and min(pts, key=lambda p: p[1]) in kept


def test_checkpoint_retention_over_a_long_run(tmp_path: Path) -> None:
    """100 saves with train.save_total_limit 3, the best evaluation at step 60,000, a process
    killed while writing checkpoint 75,000 and resumed: what is left on disk is the best and the
    two newest, and nothing half-written."""
    from types import SimpleNamespace

    from transformers import TrainerControl, TrainerState

    from tuneguard.checkpoints import CheckpointMarkerCallback

    ckpts = tmp_path / "checkpoints"
    state, args, control = TrainerState(), SimpleNamespace(output_dir=str(ckpts)), TrainerControl()
    cb = CheckpointMarkerCallback(ckpts, is_main=True, keep=3)
    cb.on_train_begin(args, state, control)
    for step in range(1000, 100_001, 1000):
        folder = ckpts / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "adapter_model.safetensors").write_bytes(b"x" * 64)
        if step == 75_000:  # killed before the marker; the resumed process starts at 74,000
            cb = CheckpointMarkerCallback(ckpts, is_main=True, keep=3)
            cb.on_train_begin(args, state, control)
            continue
        state.global_step = step
        if step <= 60_000:
            state.best_model_checkpoint = str(folder)
        cb.on_save(args, state, control)
    assert sorted(p.name for p in ckpts.iterdir() if p.is_dir()) == [
        "checkpoint-100000", "checkpoint-60000", "checkpoint-99000"]
