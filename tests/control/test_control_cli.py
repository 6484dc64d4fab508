"""Control commands and `watch` on runs that are not live (hand-built stores, no training)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from control_helpers import build_finished_run, watch_screen, watch_snapshot
from typer.testing import CliRunner

from tuneguard.cli.main import app
from tuneguard.cli.watch import compact_line, sparkline
from tuneguard.store.run_store import RunStore

runner = CliRunner()


@pytest.mark.parametrize("action", ["stop", "pause", "continue", "checkpoint"])
def test_request_to_a_finished_run_says_so_and_exits_1(tmp_path: Path, action: str):
    run = build_finished_run(tmp_path / "run")
    result = runner.invoke(app, [action, str(run)])
    assert result.exit_code == 1
    assert f"no live run in {run}: state finished" in " ".join(result.output.split())
    with RunStore(run) as s:
        assert [r["action"] for r in s.control_requests()] == ["checkpoint"]  # nothing inserted


def test_request_to_a_run_whose_process_died(tmp_path: Path):
    run = build_finished_run(tmp_path / "run")
    with RunStore(run) as s:
        s.set_state("running")
        s.set_meta(pid=2**22 + 12345)  # no such process
    result = runner.invoke(app, ["stop", str(run)])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    # A store written before the command was recorded: the config is CONFIG, and it says why.
    assert out == (f"error: no live run in {run}: state running, but its process (pid {2**22 + 12345} on "
                   f"{socket.gethostname()}) is gone; continue it with `tuneguard train CONFIG --run-dir {run} "
                   "--resume auto`, with CONFIG the config the run was started with (a run this old does not record "
                   "it)")


def test_a_dead_run_is_continued_with_the_command_that_started_it(tmp_path: Path):
    """The store keeps the config as given and the --set overrides; the advice repeats them
    (quoted for the shell) and leaves out the one that holds a token, saying so."""
    from tuneguard.store.invocation import Invocation

    run = build_finished_run(tmp_path / "my run")
    token = "Zq7tokenVALUE0123456789"
    inv = Invocation.given("configs/base.yaml", ["train.max_steps=40", f'notify.urls=["json://h/hook/{token}"]'],
                           force=True)
    with RunStore(run) as s:
        s.set_state("running")
        s.set_meta(pid=2**22 + 12345, invocation=inv.to_dict())
    result = runner.invoke(app, ["pause", str(run)])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert out.endswith(f"is gone; continue it with `tuneguard train configs/base.yaml --run-dir '{run}' --set "
                        "train.max_steps=40 --force --resume auto`, adding your --set notify.urls again as you gave "
                        "it (left out here: a secret is never shown)"), out
    assert token not in out


def test_a_trainer_that_exited_but_was_not_collected_by_its_parent_is_not_live(tmp_path: Path):
    """A notebook that started `tuneguard train` with Popen and never waited keeps the killed
    trainer as a zombie: signal 0 still reaches it, but it is gone."""
    import json
    import subprocess
    import sys

    import psutil

    run = build_finished_run(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])  # never polled until the end: a zombie
    try:
        end = time.monotonic() + 60
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < end, "the child did not exit"
            time.sleep(0.01)
        with RunStore(run) as s:
            s.set_state("running")
            s.set_meta(pid=proc.pid)
        status = runner.invoke(app, ["status", str(run), "--json"])
        assert status.exit_code == 0 and json.loads(status.stdout)["state"] == "failed", status.output
        stop = runner.invoke(app, ["stop", str(run)])
        assert stop.exit_code == 1 and "but its process" in " ".join(stop.output.split()), stop.output
        with RunStore(run) as s:
            assert [r["action"] for r in s.control_requests()] == ["checkpoint"]  # nothing queued
    finally:
        proc.wait()


def test_a_run_on_another_machine_is_live_until_its_heartbeat_is_10_minutes_old(tmp_path: Path):
    """Shared storage: the trainer's pid means nothing here, its heartbeat does."""
    run = build_finished_run(tmp_path / "run")
    with RunStore(run) as s:
        s.set_state("running")
        s.set_meta(host="another-machine", pid=1, heartbeat=time.time() - 601)
    stale = runner.invoke(app, ["stop", str(run)])
    assert stale.exit_code == 1 and f"no live run in {run}" in " ".join(stale.output.split())
    with RunStore(run) as s:
        s.set_meta(heartbeat=time.time() - 540)
    fresh = runner.invoke(app, ["stop", str(run)])
    assert fresh.exit_code == 0, fresh.output
    with RunStore(run) as s:
        assert [(r["action"], r["status"]) for r in s.control_requests()][1:] == [("stop", "pending")]


def test_request_to_a_folder_without_a_run(tmp_path: Path):
    result = runner.invoke(app, ["stop", str(tmp_path)])
    assert result.exit_code == 1 and "no run store" in result.output


def test_request_to_a_live_run_is_recorded_with_who(tmp_path: Path):
    run = build_finished_run(tmp_path / "run")
    with RunStore(run) as s:
        s.set_state("running")  # this process: alive
    result = runner.invoke(app, ["pause", str(run)])
    assert result.exit_code == 0, result.output
    assert "pause requested" in result.output
    with RunStore(run) as s:
        r = s.control_requests()[-1]
    assert r["action"] == "pause" and r["status"] == "pending"
    assert "@" in r["requested_by"] and " pid " in r["requested_by"] and r["time"] > 0


def _running_at_step_8(tmp_path: Path, config: dict | None = None) -> Path:
    """A finished run's store marked running at step 8 by this (live) process, with `config`
    as its recorded config when given."""
    run = build_finished_run(tmp_path / "run")
    with RunStore(run) as s:
        if config is not None:
            s.set_meta(config=config)
        s.set_state("running")  # this process: alive
        s.set_meta(step=8)
    return run


def _refused(command: str, run: Path) -> str:
    """`tuneguard COMMAND RUN` answered with exit 1: its output on one line."""
    r = runner.invoke(app, [command, str(run)])
    assert r.exit_code == 1, r.output
    return " ".join(r.output.split())


def test_continue_a_run_that_is_not_paused_and_pause_a_paused_one_exit_1_and_queue_nothing(tmp_path: Path):
    """The trainer would reject them at its next step, while the command said "the paused
    trainer resumes" and exited 0. A `continue` sent right after a `pause` the trainer has not
    reached yet is a real request."""
    run = _running_at_step_8(tmp_path)
    assert _refused("continue", run) == (f"error: {run} is not paused (state running at step 8): there is nothing to "
                                         f"continue; `tuneguard pause {run}` pauses it")
    assert runner.invoke(app, ["pause", str(run)]).exit_code == 0
    assert runner.invoke(app, ["continue", str(run)]).exit_code == 0  # follows the pending pause
    with RunStore(run) as s:
        assert [(q["action"], q["status"]) for q in s.control_requests()][1:] == [("pause", "pending"),
                                                                                   ("continue", "pending")]
        s.set_state("paused", paused_at_step=8)
        for q in s.pending_control():
            s.mark_control(q["id"], "done", 8, "handled")
    assert _refused("pause", run) == (f"error: {run} is already paused at step 8: `tuneguard continue {run}` "
                                      f"resumes it, `tuneguard stop {run}` ends it")
    assert runner.invoke(app, ["continue", str(run)]).exit_code == 0
    with RunStore(run) as s:
        assert [q["action"] for q in s.control_requests()][1:] == ["pause", "continue", "continue"]


def test_watch_on_a_finished_run_prints_the_final_state(tmp_path: Path):
    run = build_finished_run(tmp_path / "run")
    result = runner.invoke(app, ["watch", str(run), "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "finished step 40/40 (100%)" in lines[0]
    assert lines[-1].startswith("run finished at step 40/40; best eval loss 2.6; completed")


def test_watch_without_a_run_store_exits_2(tmp_path: Path):
    result = runner.invoke(app, ["watch", str(tmp_path)])
    assert result.exit_code == 2 and "no run store" in result.output


def test_dashboard_render(tmp_path: Path):
    run = build_finished_run(tmp_path / "run", steps=40)
    with RunStore(run) as s:
        s.set_state("paused", paused_at_step=40)
        s.request_control("stop", requested_by="me@box pid 7")
    snap = watch_snapshot(run)
    assert snap.state == "paused" and not snap.final and snap.step == 40 and snap.best_eval == pytest.approx(2.6)
    text = watch_screen(snap, run, 160)
    assert "PAUSED" in text and "100%" in text and "step 40/40" in text
    # The loss sparkline: 40 strictly falling values, from the highest block to the lowest.
    spark = next(w for w in text.split() if set(w) <= set("▁▂▃▄▅▆▇█") and len(w) >= 20)
    assert spark[0] == "█" and spark[-1] == "▁" and list(spark) == sorted(spark, reverse=True)
    assert len(set(spark)) == 8  # every level used: the scale spans the values
    assert "PLATEAU" in text and "pending stop by me@box pid 7" in text
    assert "tuneguard continue" in text and "RSS 1.20 GB" in text
    assert "pending stop" in compact_line(snap)


def test_sparkline():
    assert sparkline([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3.0, None, float("nan"), 1.0]) == "█ !▁"
    assert sparkline([2.0, 2.0]) == "▅▅"
    assert sparkline([]) == ""
    assert len(sparkline([float(i) for i in range(500)], width=60)) == 60


def test_the_live_view_fits_an_80_by_24_terminal_with_the_newest_findings_whole(tmp_path: Path):
    """Rich's Live view cuts what does not fit the terminal: the newest finding (the one that
    matters) must be whole, older ones named by how to see them."""
    from tuneguard.findings import Finding

    run = build_finished_run(tmp_path / "run", steps=40)
    long = ("Training loss fell from 6.626 to 0.226 (below 5% of the initial loss) at step 11, after 88 examples "
            "(0.033 passes over the 2,700 rows, which hold one distinct row, seen 88 times).")
    with RunStore(run) as s:
        s.set_state("running")
        for step in (32, 34, 36, 38):
            s.add_finding(Finding(code="LOSS_SPIKE", severity="warning", step=step, source="guard",
                                  message=f"step {step}: " + long, recommendation="Fix the data, not the learning rate "
                                  "(a lower one only slows the collapse); the newest says step " + str(step)))
    snap = watch_snapshot(run)
    lines = watch_screen(snap, run, 80, height=24).rstrip("\n").splitlines()
    text = " ".join(" ".join(lines).split())
    assert len(lines) <= 24, "\n".join(lines)
    assert "the newest says step 38" in text and "step 38: Training loss fell" in text
    assert "the newest says step 32" not in text
    assert "earlier findings not shown here: tuneguard status" in text
    # Not on a live terminal (and without a console to measure): every finding, as before.
    full = watch_screen(snap, run, 80)
    assert all(f"the newest says step {n}" in " ".join(full.split()) for n in (32, 34, 36, 38))


def test_a_thai_run_is_answered_in_thai(tmp_path: Path):
    """notify.language: th (report.language unset): what concerns the run is said in Thai,
    as its report and notifications are; the same request in English reads as before."""
    run = _running_at_step_8(tmp_path, config={"model": {"name": "builtin:tiny-gptj"}, "notify": {"language": "th"}})
    assert _refused("continue", run) == (f"error: {run} ไม่ได้พักอยู่ (สถานะ running ที่ step 8) จึงไม่มีอะไรให้ฝึกต่อ "
                                         f"`tuneguard pause {run}` ใช้พักการรัน")
    r = runner.invoke(app, ["checkpoint", str(run)])
    assert r.exit_code == 0
    assert " ".join(r.output.split()) == (f"ส่งคำขอ checkpoint ถึง {run} แล้ว (คำขอที่ 2): การฝึกจะบันทึก checkpoint "
                                          "ที่ optimizer step ถัดไป")
    with RunStore(run) as s:
        s.set_state("finished", exit_reason="completed")
    r = runner.invoke(app, ["stop", str(run)])
    assert r.exit_code == 1 and " ".join(r.output.split()) == f"error: ไม่มีการรันที่ยังทำงานอยู่ใน {run}: สถานะ finished"
