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

from tuneguard.bench.long_run import Curve, Timeline, simulate
from tuneguard.guard.records import STEPS_KEY
from tuneguard.cli.report_cmd import report
from tuneguard.report.plots import MAX_POINTS, decimate
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import LOSS_GRADUAL, compute_verdict
from tuneguard.store.run_store import open_for_reading
from tuneguard.train.metrics import KEEP_TRAIN_LOGS

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


# -- a spike late in a long healthy run, and what a run keeps per step --------------------------
SHORT = 3_000


def _spike_run(run_dir: Path, spikes: dict[int, float], timeline: Timeline | None = None):
    """A healthy 3,000-step curve (no periodic spikes) with `spikes` ({step: factor}) planted."""
    curve = Curve(SHORT, spike_every=0, single_spikes=spikes)
    return simulate(run_dir, SHORT, timeline or Timeline.realistic(SHORT), curve)


def _spikes(res) -> list[tuple[str, int, int, str | None]]:
    return [(f.severity, f.step, f.evidence["at_step"], f.evidence.get("spike_acted"))
            for f in res.ctx_findings if f.code == "LOSS_SPIKE"]


def test_a_late_spike_that_recovers_is_info_and_the_run_passes(tmp_path: Path) -> None:
    """One step at 2.4x the curve at step 2,700 of 3,000 (ordinary gradient norm), back at the
    next step: an info finding at its step, recovered at 2,701; no warning, no policy action,
    and the verdict's training-loss criterion passes. The run resumed three times on the way
    (the last at 2,669 from checkpoint-2000), its log history trimmed: each checkpoint's
    trainer_state.json holds evaluations and the latest 50 training logs, not every step."""
    run_dir = tmp_path / "run"
    res = _spike_run(run_dir, {2700: 2.4})
    assert _spikes(res) == [("info", 2701, 2700, None)]
    [spike] = [f for f in res.ctx_findings if f.code == "LOSS_SPIKE"]
    assert spike.evidence["spike_recovered_at"] == 2701 and spike.evidence["ratio"] > 2.0
    assert "recovered on its own" in spike.message
    assert [f for f in res.ctx_findings if f.severity != "info"] == []
    verdict = compute_verdict(load_run(run_dir))
    assert verdict.get(LOSS_GRADUAL).status == "pass"
    # What each checkpoint wrote: the same size at checkpoint 1 and 3, no per-step records in it.
    sizes = {step: size for step, size, _ in res.saves}
    assert sorted(sizes) == [1000, 2000, 3000]
    assert sizes[3000] < 1.2 * sizes[1000] and sizes[3000] < 40_000
    assert sum("loss" in e and "eval_loss" not in e for e in res.log_history) <= 2 * KEEP_TRAIN_LOGS
    assert not any(STEPS_KEY in e for e in res.log_history)
    with sqlite3.connect(run_dir / "run.db") as conn:  # the store keeps every step, once
        assert conn.execute("SELECT count(*), min(step), max(step) FROM steps").fetchone() == (SHORT, 1, SHORT)


def test_spikes_that_repeat_or_stay_up_still_warn_and_fail_the_verdict(tmp_path: Path) -> None:
    """At 1,500 an isolated spike (info); at 1,600, 100 steps (800 examples) later, another: it
    repeats, a warning at once; from 2,700 the loss stays at 2.4x for ten steps: a warning once
    guard.spike_recovery_steps (5) passed without recovery, or as soon as it climbs above the
    spike, naming step 2,700. The loss criterion fails on them."""
    run_dir = tmp_path / "run"
    res = _spike_run(run_dir, {1500: 2.4, 1600: 2.4, **{s: 2.4 for s in range(2700, 2710)}})
    found = _spikes(res)
    assert found[:2] == [("info", 1501, 1500, None), ("warning", 1600, 1600, "repeat")]
    # The first warning of the stretch names its start; the loss swings about 2.4x, so a step that
    # falls back below the spike rules and rises again starts a new episode: a repeat, warned too.
    (severity, step, at_step, why), *later = found[2:]
    assert (severity, at_step) == ("warning", 2700) and 2700 < step <= 2705
    assert why in ("grew", "not_recovered", "repeat")
    assert all(f[0] == "warning" and f[3] == "repeat" and f[1] <= 2709 for f in later)
    criterion = compute_verdict(load_run(run_dir)).get(LOSS_GRADUAL)
    assert criterion.status == "fail" and criterion.codes == ["LOSS_SPIKE"]


def test_a_resume_while_a_spike_is_held_gives_the_same_findings(tmp_path: Path) -> None:
    """A spike at 1,999 still up (1.6x) at 2,000: checkpoint-2000 holds it unjudged; the process
    dies at 2,003 (after the spike was judged recovered) and resumes from 2,000, replaying every
    step from the store (the log history holds only the latest 50 training logs): one recovered
    spike, judged again after the resume, against the same 128 steps and the same first-step
    loss as in the run that never stopped."""
    spikes = {1999: 2.4, 2000: 1.6}
    whole = _spike_run(tmp_path / "whole", spikes, Timeline(steps=SHORT))
    resumed = _spike_run(tmp_path / "resumed", spikes, Timeline(steps=SHORT, resumes=(2003,)))
    assert _spikes(whole) == _spikes(resumed) == [("info", 2001, 1999, None)]
    [a], [b] = ([f for f in r.ctx_findings if f.code == "LOSS_SPIKE"] for r in (whole, resumed))
    keys = ("initial_loss", "previous_steps", "running_median", "loss")
    assert [a.evidence[k] for k in keys] == [b.evidence[k] for k in keys]
    assert a.evidence["previous_steps"] == 128  # 1,024 examples of 8
    assert [f.code for f in resumed.ctx_findings] == [f.code for f in whole.ctx_findings]
