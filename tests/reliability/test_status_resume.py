"""`tuneguard status` of a run that trained and then ended without finishing (stopped, killed
by SIGKILL or a preempted machine, crashed) names the exact command that continues it, and of
a halted run the commands its halted message ended with: the user who comes back to a run
asks status first, not the README or the phone."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers.cli import invoke
from tuneguard.store.invocation import Invocation
from tuneguard.store.run_store import RunStore


def _run(tmp_path, state: str, *, started: bool = True):
    run = tmp_path / "run"
    run.mkdir()
    with RunStore(run, create=True) as store:
        store.set_meta(invocation=Invocation("my.yaml", cwd=str(tmp_path), sets=("train.max_steps=400",)).to_dict(),
                       config={})
        if started:
            store.start_process()
        store.set_state(state)
        if state == "running":  # its process is gone: SIGKILL left the live state behind
            dead = subprocess.Popen([sys.executable, "-c", "pass"])
            dead.wait()
            store.set_meta(pid=dead.pid)
    return run


def _halted(tmp_path):
    """A halted run whose halt event names its next commands: (run, fix command, next command)."""
    from tuneguard.events import Event

    run = _run(tmp_path, "halted")
    fix, then = f"tuneguard fix {run}/config.yaml --out {run}-fixed-data", f"tuneguard next {run} --train"
    with RunStore(run) as store:
        store.add_event(Event.HALTED, {"code": "LOSS_COLLAPSE", "next_steps": [{"kind": "fix", "command": fix},
                                                                               {"kind": "then", "command": then}]})
    return run, fix, then


def test_status_of_a_killed_run_says_how_to_continue_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = _run(tmp_path, "running")
    command = f"tuneguard train my.yaml --run-dir {run} --set train.max_steps=400 --resume auto"
    r = invoke("status", str(run))
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "state failed" in text and "it was killed or crashed" in text
    assert f"continue it with `{command}`" in text
    assert json.loads(invoke("status", str(run), "--json").stdout)["resume"] == command


def test_status_says_it_for_a_stopped_run_and_not_for_a_finished_or_never_started_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for state, started, said in (("stopped", True, True), ("finished", True, False), ("failed", False, False)):
        run = _run(tmp_path, state, started=started)
        s = json.loads(invoke("status", str(run), "--json").stdout)
        assert (s["resume"] is not None) is said, (state, s["resume"])
        assert ("continue it with" in invoke("status", str(run)).stdout) is said, state
        (run / "run.db").unlink()
        for p in run.iterdir():
            p.unlink()
        run.rmdir()


def test_status_of_a_halted_run_ends_with_its_next_commands(tmp_path, monkeypatch):

    monkeypatch.chdir(tmp_path)
    run, fix, then = _halted(tmp_path)
    r = invoke("status", str(run), env={"COLUMNS": "400"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index(f"Fix the data: {fix}")
    assert lines[i + 1] == f"Then the next run: {then}" and "continue it with" not in r.stdout
    s = json.loads(invoke("status", str(run), "--json").stdout)
    assert [x["kind"] for x in s["next_steps"]] == ["fix", "then"] and s["resume"] is None


def test_status_of_a_halted_run_whose_data_was_fixed_since_names_the_next_run(tmp_path, monkeypatch):
    """After `tuneguard fix RUN/config.yaml --out OUT` (recorded in the run's store), status no
    longer says "Fix the data": it says where the fix is and the next run, on the fixed config."""
    from tuneguard.nextrun import DATA_FIXED_EVENT

    monkeypatch.chdir(tmp_path)
    run, _, _ = _halted(tmp_path)
    out = tmp_path / "run-fixed-data"
    out.mkdir()
    (out / "config.yaml").write_text("model: {}\n", "utf-8")
    with RunStore(run) as store:
        store.add_event(DATA_FIXED_EVENT, {"config": str(out / "config.yaml"), "out": str(out), "resolved": []})
    r = invoke("status", str(run), env={"COLUMNS": "400"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index(f"The data was fixed since (tuneguard fix): cleaned copies in {out}, config {out}/config.yaml")
    assert lines[i + 1] == f"Next run: tuneguard next {run.absolute()} --train" and "Fix the data" not in r.stdout
    s = json.loads(invoke("status", str(run), "--json").stdout)
    assert s["next_steps"] == [{"kind": "next", "command": f"tuneguard next {run.absolute()} --train"}]
    assert s["data_fixed"] == {"out": str(out), "config": str(out / "config.yaml")}
    # the fixed config deleted since: back to the halted message's commands
    (out / "config.yaml").unlink()
    s = json.loads(invoke("status", str(run), "--json").stdout)
    assert [x["kind"] for x in s["next_steps"]] == ["fix", "then"] and s["data_fixed"] is None
