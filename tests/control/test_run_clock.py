"""`status` and `watch` say when a run first started, its wall and training time over every
process, and a running run's time left, in the run's language. The store's times are the
tests' own (meta written with set_meta); a live run's counting up to now is given `now`."""

from __future__ import annotations

import json
from pathlib import Path

from control_helpers import build_finished_run, watch_screen, watch_snapshot
from typer.testing import CliRunner

from tuneguard.cli.main import app
from tuneguard.cli.run_clock import clock_line, run_clock
from tuneguard.store.run_store import RunStore, run_times

runner = CliRunner()


def resumed_finished_run(run_dir: Path, language: str = "en") -> Path:
    """A run trained by two processes: 1000-1100 (killed), then 1200-1260 (finished)."""
    build_finished_run(run_dir)
    with RunStore(run_dir) as s:
        s.set_meta(config={"model": {"name": "builtin:tiny-gptj"}, "report": {"language": language}},
                   started=1200.0, heartbeat=1250.0, ended=1260.0, first_started=1000.0,
                   earlier_processes=[[1000.0, 1100.0]], trainer_pid=None)
    return run_dir


def test_status_and_watch_show_the_first_start_and_the_times_over_every_process(tmp_path: Path, utc):
    run = resumed_finished_run(tmp_path / "run")
    line = "started 1970-01-01 00:16:40 · wall time 4m 20s · training time 2m 40s over 2 sessions (resumed)"
    shown = runner.invoke(app, ["status", str(run)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert line in shown.output.splitlines() and "time left" not in shown.output
    as_json = runner.invoke(app, ["status", str(run), "--json"])
    assert json.loads(as_json.stdout)["times"] == {"first_started": 1000.0, "wall_s": 260.0, "train_s": 160.0,
                                                   "processes": 2, "eta_s": None}
    assert line in watch_screen(watch_snapshot(run), run, 200).splitlines()


def test_a_thai_run_says_it_in_thai(tmp_path: Path, utc):
    run = resumed_finished_run(tmp_path / "run", language="th")
    shown = runner.invoke(app, ["status", str(run)], terminal_width=200)
    assert ("เริ่มครั้งแรก 1970-01-01 00:16:40 · เวลาตั้งแต่เริ่ม 4 นาที 20 วินาที · "
            "เวลาฝึกจริง 2 นาที 40 วินาที รวม 2 ช่วง (ฝึกต่อจากเดิม)") in shown.output.splitlines()


def test_a_live_run_counts_up_to_now_and_shows_its_time_left(utc):
    meta = {"started": 1200.0, "heartbeat": 1250.0, "first_started": 1000.0, "earlier_processes": [[1000.0, 1100.0]],
            "state": "running"}
    running = run_clock(run_times(meta), "running", 90.0, now=1300.0)
    assert (running.wall_s, running.train_s, running.eta_s) == (300.0, 200.0, 90.0)
    assert clock_line(running, "running", {}) == ("started 1970-01-01 00:16:40 · wall time 5m 00s · training time "
                                                  "3m 20s over 2 sessions (resumed) · time left 1m 30s")
    assert clock_line(run_clock(run_times(meta), "running", None, now=1300.0), "running", {"notify": {"language": "th"}}
                      ).endswith(" · ยังไม่ทราบเวลาที่เหลือ")
    paused = run_clock(run_times(meta), "paused", 90.0, now=1300.0)
    assert (paused.wall_s, paused.eta_s) == (300.0, None)  # a pause has no time left
    assert "time left" not in clock_line(paused, "paused", {})


def test_status_of_a_live_run_shows_the_eta_of_its_latest_step(tmp_path: Path):
    run = build_finished_run(tmp_path / "run")
    with RunStore(run) as s:  # this process plays the trainer: the run is live
        s.set_state("running")
        s.log_metrics(41, "train", {"loss": 1.0, "eta_s": 3725.0})
    shown = runner.invoke(app, ["status", str(run)], terminal_width=200)
    assert shown.exit_code == 0 and shown.output.rstrip().splitlines()[2].endswith(" · time left 1h 02m 05s")
    assert json.loads(runner.invoke(app, ["status", str(run), "--json"]).stdout)["eta_s"] == 3725.0


def test_status_json_of_a_paused_or_ended_run_has_no_time_left(tmp_path: Path):
    """The last logged estimate (`eta_s` of step 41) is no time left once the run is paused,
    stopped or finished: `status --json` said 26 s left for a stopped run."""
    run = build_finished_run(tmp_path / "run")
    for state in ("paused", "stopped", "finished"):
        with RunStore(run) as s:  # this process plays the trainer: a paused run is live
            s.set_state(state)
            s.log_metrics(41, "train", {"loss": 1.0, "eta_s": 3725.0})
        got = json.loads(runner.invoke(app, ["status", str(run), "--json"]).stdout)
        assert (got["state"], got["eta_s"], got["times"]["eta_s"]) == (state, None, None)


def test_status_of_a_paused_run_says_the_step_it_paused_at_and_no_pause_as_training(tmp_path: Path, utc):
    """Paused at step 22 (logs every 10 steps: the last at 20), 100 s after the process started, and
    held paused for 300 s since: status says step 22 and training time 1m 40s, not 6m 40s."""
    run = build_finished_run(tmp_path / "run", steps=20)  # logged up to step 20
    with RunStore(run) as s:  # this process plays the trainer: the run is live
        s.set_meta(max_steps=40, started=1000.0, first_started=1000.0, earlier_processes=[], ended=None,
                   trainer_pid=None)
        s.set_state("paused", paused_at_step=22, paused_since=1100.0)
        s.set_meta(heartbeat=1400.0)
    as_json = json.loads(runner.invoke(app, ["status", str(run), "--json"]).stdout)
    assert as_json["state"] == "paused" and as_json["step"] == 22
    assert as_json["times"]["train_s"] == 100.0
    shown = runner.invoke(app, ["status", str(run)], terminal_width=200).output.splitlines()
    assert " · training time 1m 40s" in shown[2] and "step 22/40" in shown[0]
    # continued: the pause joins the ended ones, and the training time counts on from 1100 s
    meta = {"started": 1000.0, "heartbeat": 1500.0, "paused_s": 300.0, "state": "running"}
    assert run_clock(run_times(meta), "running", None, now=1500.0).train_s == 200.0
    # a process killed while paused: the resume keeps its pause out of the training time
    with RunStore(run) as s:
        s.start_process()
        assert s.get_meta("paused_s") == 300.0 and s.get_meta("paused_since") is None
