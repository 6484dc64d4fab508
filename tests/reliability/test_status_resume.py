"""`tuneguard status` of a run that trained and then ended without finishing (stopped, killed
by SIGKILL or a preempted machine, crashed) names the exact command that continues it: the
user who comes back to a dead run asks status first, not the README."""

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
