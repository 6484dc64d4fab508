"""Every command that takes a run directory, against run directories in every state:
missing, a file, empty, run.db a directory, a damaged or empty run.db, a run refused by the
audit, a run whose trainer was killed, a finished run, and a finished run under a name full
of Rich markup and emoji codes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.helpers.hostile import ODD, Result, World, check_failure, check_success, json_out

BROKEN = {  # state -> a phrase of the one error line
    "missing": "does not exist",
    "a-file": "is a file, not a run directory",
    "empty": "no run store at",
    "dbdir": "is not a file",
    "junk": "is not a tuneguard run store",
    "zero": "holds no tuneguard run",
}
READABLE = ("killed", "refused", "finished", ODD)


@pytest.mark.parametrize("state", list(BROKEN))
@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["watch"], ["report"]],
                         ids=["status", "status-json", "watch", "report"])
def test_readers_refuse_what_is_not_a_run(world: World, tg, unchanged, state: str, args: list[str]) -> None:
    r = tg(*args, world.run(state))
    check_failure(r, 2, BROKEN[state])
    if "--json" in args:  # a program that asked for JSON gets JSON
        assert json_out(r) == {"error": r.error_lines[0].removeprefix("error: ")}


@pytest.mark.parametrize("state", list(BROKEN) + list(READABLE))
@pytest.mark.parametrize("args", [["stop"], ["pause"], ["continue"], ["checkpoint"], ["set-lr", "{run}", "x0.5"],
                                  ["rollback", "{run}", "--to", "3"]],
                         ids=["stop", "pause", "continue", "checkpoint", "set-lr", "rollback"])
def test_control_commands_need_a_live_run(world: World, tg, unchanged, state: str, args: list[str]) -> None:
    run = world.run(state)
    full = [a.replace("{run}", str(run)) for a in args] if "{run}" in args else [*args, run]
    r = tg(*full)
    check_failure(r, 1, "no live run in")
    if state == "killed":  # the state the run was left in, and the way on
        assert "state running, but its process" in r.error_lines[0] and "--resume auto" in r.error_lines[0]


@pytest.mark.parametrize("state", READABLE)
def test_status_reads_every_run_the_same_way(world: World, tg, unchanged, state: str) -> None:
    human, js = tg("status", world.run(state)), tg("status", "--json", world.run(state))
    check_success(human)
    check_success(js)
    want = {"killed": "failed", "refused": "failed"}.get(state, "finished")
    assert json_out(js)["state"] == want
    assert f"{world.run(state)}  state {want}" in human.stdout  # the path verbatim, markup and all
    if state == "killed":
        assert "killed or crashed" in human.stdout and "killed or crashed" in json_out(js)["exit_reason"]


@pytest.mark.parametrize("state", READABLE)
def test_watch_ends_at_once_on_a_run_that_ended(world: World, tg, unchanged, state: str) -> None:
    r = tg("watch", world.run(state))
    check_success(r)
    want = {"killed": "failed", "refused": "failed"}.get(state, "finished")
    assert r.stdout.splitlines()[-1].startswith(f"run {want} at step")
    assert str(world.run(state)) in r.stdout.splitlines()[-1]


@pytest.mark.parametrize("state", READABLE)
def test_report_says_the_state_status_says(world: World, tg, unchanged, state: str) -> None:
    run = world.run(state)
    unchanged(run / "report.html", run / "report.md")
    r = tg("report", run)
    check_success(r)
    want = {"killed": "failed", "refused": "failed"}.get(state, "finished")
    md = (run / "report.md").read_text("utf-8")
    assert f"state {want}" in md
    assert f"report: {run / 'report.html'}" in r.stdout
    if state in ("killed", "refused"):
        # A run that never finished cannot pass "early stopping did not trigger prematurely".
        assert "| Early stopping did not trigger prematurely | PASS |" not in md


def test_rollback_to_a_step_without_a_checkpoint_is_refused_at_once(world: World, tg, unchanged) -> None:
    """Against a live run: its store says running, and its pid is this (live) process."""
    import shutil

    from tuneguard.store.run_store import RunStore

    live = world.out / "live-for-rollback"
    unchanged(live)
    shutil.copytree(world.run("finished"), live)
    with RunStore(live) as s:
        s.set_state("running")  # this process: alive
    r = tg("rollback", live, "--to", "99999")
    check_failure(r, 2, "has no complete checkpoint at step 99999")
    assert "complete checkpoints are at steps: 3, 6" in r.error_lines[0]
    with RunStore(live, readonly=True) as s:
        assert s.control_requests() == []  # nothing was queued
    r = tg("rollback", live, "--to", "3")
    check_success(r)
    with RunStore(live, readonly=True) as s:
        assert [(q["action"], q["status"]) for q in s.control_requests()] == [("rollback", "pending")]


@pytest.mark.parametrize("args, code, phrase", [
    (["generate", "{missing}", "hi"], 2, "does not exist"),
    (["generate", "{empty}", "hi"], 2, "has no config.yaml"),
    (["generate", "{refused}", "hi"], 2, None),
    (["generate", "{finished}", "hi", "--checkpoint", "nope"], 2, "--checkpoint"),
    (["generate", "{finished}", "hi", "--checkpoint", "999"], 2, "999"),
    (["export", "{missing}", "--out", "{tmp}/e"], 2, "does not exist"),
    (["export", "{refused}", "--out", "{tmp}/e"], 2, None),
    (["export", "{finished}", "--out", "{good}"], 2, None),
    (["evaluate", "{finished}", "--data", "{missing}"], 2, "does not exist"),
    (["set-lr", "{finished}", "abc"], 2, None),
    (["set-lr", "{finished}", "-1"], 2, None),
    (["set-lr", "{finished}", "x0"], 2, None),
    (["rollback", "{finished}", "--to", "-3"], 2, None),
    (["stop", "{finished}", "--wait", "--timeout", "-1"], 2, "--timeout"),
    (["watch", "{finished}", "--interval", "0"], 2, "--interval"),
], ids=lambda v: str(v) if not isinstance(v, list) else " ".join(v))
def test_run_tools_refuse_bad_arguments(world: World, tg, unchanged, tmp_path: Path, args: list[str], code: int,
                                        phrase: str | None) -> None:
    fill = {"{missing}": str(world.run("missing")), "{empty}": str(world.run("empty")),
            "{refused}": str(world.run("refused")), "{finished}": str(world.run("finished")),
            "{good}": str(world.good), "{tmp}": str(tmp_path)}
    full = []
    for a in args:
        for k, v in fill.items():
            a = a.replace(k, v)
        full.append(a)
    r: Result = tg(*full)
    check_failure(r, code, phrase)


DAMAGE = {  # a store edited by hand or cut by a disk fault: one cell each, the rest of the run intact
    "event_not_json": "UPDATE events SET payload='garbage{' WHERE id = (SELECT MAX(id) FROM events WHERE type='evaluation')",
    "event_not_a_mapping": "INSERT INTO events(time, step, type, payload) VALUES (1, 3, 'evaluation', '[1, 2]')",
    "meta_not_json": "UPDATE meta SET value='{\"model\": ' WHERE key='config'",
    "meta_wrong_kind": "UPDATE meta SET value='\"many\"' WHERE key='max_steps'",
    "config_a_list": "UPDATE meta SET value='[1]' WHERE key='config'",
    "evidence_not_json": "UPDATE findings SET evidence='{' WHERE code='PLATEAU'",
    "metrics_extra_not_json": "UPDATE metrics SET extra='{' WHERE step = (SELECT MIN(step) FROM metrics)",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_cell_in_run_db_leaves_the_rest_readable(world: World, tg, unchanged, tmp_path: Path,
                                                           damage: str) -> None:
    """Every reader shows the run without the damaged value (was: an internal error, exit 1)."""
    import shutil
    import sqlite3

    run = tmp_path / "run"
    shutil.copytree(world.run("finished"), run)
    con = sqlite3.connect(run / "run.db")
    with con:
        assert con.execute(DAMAGE[damage]).rowcount == 1
    con.close()
    js = tg("status", "--json", run)
    check_success(js)
    assert json_out(js)["state"] == "finished"
    for args in (["status"], ["watch"], ["report"], ["next"]):
        r = tg(*args, run)
        check_success(r)
    assert "run finished at step 6" in tg("watch", run).stdout
    check_success(tg("compare", world.run("finished"), run, "--out", tmp_path / "c.html"))


LOST = {  # what a damaged or hand-edited run.db may lack: the pid, the host, the state itself
    "no_pid": ("killed", "DELETE FROM meta WHERE key IN ('pid', 'host')"),
    "pid_null": ("killed", "UPDATE meta SET value='null' WHERE key IN ('pid', 'host')"),
    "no_host": ("killed", "DELETE FROM meta WHERE key='host'"),
    "no_state": ("finished", "DELETE FROM meta WHERE key='state'"),
    "nothing": ("killed", "DELETE FROM meta"),
}


@pytest.mark.parametrize("lost", list(LOST))
def test_a_run_that_lost_its_process_or_state_is_said_as_it_is(world: World, tg, unchanged, tmp_path: Path,
                                                                lost: str) -> None:
    """Was: "the training process (pid None on None) ended ..." in status, watch and stop, and
    `watch` waiting for ever on a run without a state. Every view says what run.db lacks."""
    import shutil
    import sqlite3

    src, sql = LOST[lost]
    run = tmp_path / "run"
    shutil.copytree(world.run(src), run)
    con = sqlite3.connect(run / "run.db")
    with con:
        con.execute(sql)
    con.close()
    os.utime(run / "run.db", (1_600_000_000, 1_600_000_000))  # long past any trainer start
    status, watch, stop = tg("status", run), tg("watch", run), tg("stop", run)
    check_success(status)
    check_success(watch)  # it ends, as on any run that cannot change
    check_failure(stop, 1, "no live run in")
    for r in (status, watch, stop):
        assert "None" not in r.text and "nan" not in r.text, r.text
    said = {"no_pid": "records no training process (pid) to check: it was killed or crashed, or run.db was damaged",
            "no_host": "the training process (pid ",
            "no_state": "run.db records no state for this run (damaged, or written by another program)"}
    said["pid_null"], said["nothing"] = said["no_pid"], said["no_state"]
    assert said[lost] in status.stdout and said[lost] in watch.stdout.splitlines()[-1]
    if lost == "no_host":
        assert re.search(r"\(pid \d+\) ended without recording an end state while running", status.stdout)
    if lost in ("no_pid", "pid_null"):
        assert "state running, but run.db records no process (pid) for it, so none can be running it; continue it " \
               "with" in stop.error_lines[0]
    if LOST[lost][0] == "finished" or lost == "nothing":
        assert watch.stdout.splitlines()[-1].startswith("run state unknown at step 6/")
    if lost == "no_state":  # what it did record stays said
        assert "; the exit reason it records: completed" in status.stdout


def test_a_lost_process_is_said_in_the_runs_language(world: World, tg, unchanged, tmp_path: Path) -> None:
    import shutil

    from tuneguard.store.run_store import RunStore

    run = tmp_path / "run"
    shutil.copytree(world.run("killed"), run)
    with RunStore(run) as s:
        config = s.get_meta("config")
        s.set_meta(config={**config, "report": {**config["report"], "language": "th"}}, pid=None, host=None)
    status = tg("status", run)
    check_success(status)
    assert "แต่ไม่ได้บันทึกโปรเซสที่ฝึกอยู่ (pid) ไว้ให้ตรวจ" in status.stdout
    assert "killed or crashed" in json_out(tg("status", "--json", run))["exit_reason"]  # --json: as stored, English
