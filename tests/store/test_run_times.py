"""A run's times over its processes: the first start, the wall time and the training time
summed over the first `tuneguard train` and each resume, also from stores written before the
store kept them. Timestamps are the tests' own (meta written with set_meta), never the clock's."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path


from tuneguard.notify.messages import render
from tuneguard.report import write_report
from tuneguard.store.run_store import RunStore, run_times

from tests.report.runs import build_healthy


def test_a_resume_keeps_the_first_start_and_the_killed_process_time(tmp_path: Path) -> None:
    with RunStore(tmp_path, create=True) as s:
        s.set_meta(started=1000.0, heartbeat=1100.0, state="running")  # killed: no end recorded
        s.add_event("started", {}, step=0)
        s.start_process()  # the resume
        m = s.meta()
        assert m["earlier_processes"] == [[1000.0, 1100.0]]
        assert m["first_started"] == 1000.0 and m["ended"] is None and m["state"] == "running"
        assert (m["trainer_pid"], m["trainer_host"]) == (os.getpid(), socket.gethostname())
        s.add_event("resumed", {}, step=10)
        s.set_meta(started=1200.0, heartbeat=1250.0, ended=1260.0)  # the resumed process, as it finished
        t = s.times()
    assert (t.first_started, t.last_seen, t.wall_s, t.train_s, t.processes) == (1000.0, 1260.0, 260.0, 160.0, 2)


def test_stores_from_before_the_process_times() -> None:
    one = run_times({"started": 1000.0, "ended": 1095.0}, [{"type": "started", "time": 1000.5}])
    assert (one.first_started, one.wall_s, one.train_s, one.processes) == (1000.0, 95.0, 95.0, 1)
    # resumed by an older tuneguard: `started` is the last process's; the first start is its event's
    old = run_times({"started": 1200.0, "ended": 1260.0},
                    [{"type": "started", "time": 1000.0}, {"type": "resumed", "time": 1200.0}])
    assert (old.first_started, old.wall_s, old.train_s, old.processes) == (1000.0, 260.0, None, 2)
    assert run_times({}, []).wall_s is None


def test_an_end_written_by_a_later_process_that_never_trained_is_not_the_trainer_s() -> None:
    meta = {"started": 1000.0, "heartbeat": 1100.0, "ended": 5000.0, "trainer_pid": 11, "trainer_host": "h",
            "pid": 12, "host": "h"}  # a resume that failed loading the model recorded the end
    assert run_times(meta).train_s == 100.0
    assert run_times({**meta, "pid": 11}).train_s == 4000.0


def test_the_report_says_the_first_start_wall_time_and_training_time(tmp_path: Path, utc) -> None:
    run = build_healthy(tmp_path / "resumed")
    with RunStore(run) as s:  # 1,700,000,000 is 2023-11-14 22:13:20 UTC
        s.set_meta(first_started=1_700_000_000.0, earlier_processes=[[1_700_000_000.0, 1_700_000_400.0]],
                   started=1_700_000_800.0, heartbeat=1_700_001_000.0, ended=1_700_001_010.0)
        s.add_event("resumed", {}, step=30)
    html = write_report(run).read_text("utf-8")
    assert ("<tr><td>first started</td><td>2023-11-14 22:13:20</td></tr>"
            "<tr><td>ended</td><td>2023-11-14 22:30:10</td></tr>"
            "<tr><td>wall time since the start</td><td>16m 50s</td></tr>"
            "<tr><td>training time</td><td>10m 10s over 2 sessions (resumed)</td></tr>") in html
    md = (run / "report.md").read_text("utf-8").splitlines()
    assert ("- first started: 2023-11-14 22:13:20; wall time since the start: 16m 50s; "
            "training time: 10m 10s over 2 sessions (resumed)") in md


def test_an_old_resumed_store_still_reports(tmp_path: Path, utc) -> None:
    run = build_healthy(tmp_path / "old")  # started 1,700,000,000, ended 95 s later, one started event
    with RunStore(run) as s:
        s.set_meta(started=1_700_000_050.0)  # an older tuneguard overwrote it on resume
        s.add_event("resumed", {}, step=30)
    with sqlite3.connect(run / "run.db") as db:  # the events' times as that run wrote them
        db.execute("UPDATE events SET time = 1700000000.0 WHERE type = 'started'")
        db.execute("UPDATE events SET time = 1700000050.5 WHERE type = 'resumed'")
    write_report(run)
    md = (run / "report.md").read_text("utf-8").splitlines()
    assert "- first started: 2023-11-14 22:13:20; wall time since the start: 1m 35s; training time: n/a" in md


def test_the_finished_message_after_a_resume(utc) -> None:
    p = {"steps": 60, "started": 1_700_000_000.0, "duration_s": 1010.0, "train_s": 610.0, "processes": 2}
    en = render("finished", p, language="en").body.splitlines()
    assert en[-2:] == ["Started: 2023-11-14 22:13:20",
                       "Duration: 0:17 (h:mm) since then, 0:10 of it training over 2 sessions (resumed 1x)"]
    th = render("finished", p, language="th").body.splitlines()
    assert th[-2:] == ["เริ่มเมื่อ: 2023-11-14 22:13:20",
                       "เวลาที่ใช้: 0:17 (ชม.:นาที) นับจากนั้น เป็นเวลาฝึกจริง 0:10 รวม 2 ช่วง (ฝึกต่อ 1 ครั้ง)"]
    single = render("finished", {**p, "processes": 1, "duration_s": 190.0}, language="en").body.splitlines()
    assert single[-2:] == ["Started: 2023-11-14 22:13:20", "Duration: 0:03 (h:mm)"]


def test_the_model_card_counts_the_training_time_of_every_process(tmp_path: Path) -> None:
    from tuneguard.tools.export import _metrics

    with RunStore(tmp_path, create=True) as s:
        s.set_meta(first_started=1000.0, earlier_processes=[[1000.0, 1300.0]], started=1400.0, ended=1700.0,
                   train_seconds=290.0)  # train_seconds: the last process's alone
        meta = s.meta()
    assert dict(_metrics(tmp_path, meta))["training time"] == "10.0 min"


def test_a_bool_is_no_time_and_no_metric(tmp_path: Path) -> None:
    """The store reads numbers as the views format them (fmt.as_float): a bool where a time or
    a metric belongs (a hand-edited store, a library's flag in the logs) reads as absent, not
    as 1.0 (1 second after the epoch, a loss of 1)."""
    t = run_times({"started": 1000.0, "ended": 1095.0, "earlier_processes": [[True, 900.0]], "created": False})
    assert (t.first_started, t.wall_s, t.train_s, t.processes) == (1000.0, 95.0, 95.0, 1)
    assert run_times({"started": True, "created": True}).first_started is None
    with RunStore(tmp_path, create=True) as s:
        s.log_metrics(1, "train", {"loss": True, "grad_norm": 2, "epoch": "0.5"})
        row = s.metrics("train")[0]
    assert (row["loss"], row["grad_norm"], row["epoch"]) == (None, 2.0, 0.5)
