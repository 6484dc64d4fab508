"""Control requests and signals against live tiny runs in a subprocess (issue 5, items 5-7).

Each test starts `python -m tuneguard train tiny` in its own process group (killed at the
end whatever happens), waits on the run store, and asserts states, checkpoints, exit codes
and the store's record. Requests go through the real CLI (CliRunner, in this process).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

import pytest
from control_helpers import BASE_SETTINGS, checkpoint_steps, poll, read_store
from typer.testing import CliRunner

from tests.httpserver import http_server  # noqa: F401 - fixture
from tuneguard.cli.main import app
from tuneguard.checkpoints import MARKER

pytestmark = pytest.mark.slow
runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def requests(run_dir) -> list[dict]:
    return read_store(run_dir, lambda s: s.control_requests())


def events(run_dir, type_: str) -> list[dict]:
    return read_store(run_dir, lambda s: s.events(type_))


def test_stop_and_watch_ends_with_the_run(live_run, tmp_path):
    run = live_run(max_steps=400)
    run.wait_running(min_step=3)
    watch_log = tmp_path / "watch.log"
    with open(watch_log, "wb") as fh:
        watch = subprocess.Popen([sys.executable, "-m", "tuneguard", "watch", str(run.run_dir), "--interval", "0.2"],
                                 stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
                                 start_new_session=True)
    try:
        # The dashboard is up and shows the live run (a non-terminal: compact lines).
        poll(lambda: "running step" in watch_log.read_text("utf-8", "replace"), 120, "watch to show the run",
             alive=lambda: None if watch.poll() is None else pytest.fail(watch_log.read_text()))
        asked_at = run.step()
        assert "stop requested" in cli("stop", str(run.run_dir))
        assert run.wait() == 0, run.output()[-3000:]
        assert run.state() == "stopped"
        (req,) = requests(run.run_dir)
        assert req["action"] == "stop" and req["status"] == "done"
        stop_step = req["handled_step"]
        assert asked_at <= stop_step < 400
        ckpt = run.run_dir / "checkpoints" / f"checkpoint-{stop_step}"
        assert (ckpt / MARKER).exists()
        assert max(checkpoint_steps(run.run_dir)) == stop_step
        assert [e["step"] for e in events(run.run_dir, "control_stop")] == [stop_step]
        assert read_store(run.run_dir, lambda s: s.get_meta("exit_reason")) == \
            f"stop requested by {req['requested_by']}"
        # watch leaves by itself once the run is final, with exit 0 and the final state.
        assert watch.wait(60) == 0
        last = watch_log.read_text("utf-8").strip().splitlines()[-1]
        assert last.startswith(f"run stopped at step {stop_step}/400"), last
    finally:
        if watch.poll() is None:
            os.killpg(watch.pid, signal.SIGKILL)
            watch.wait(30)


def test_pause_then_continue(live_run, http_server):  # noqa: F811
    ep = http_server()
    run = live_run(max_steps=60, settings=[f'notify.urls=["json://127.0.0.1:{ep.port}/hook"]',
                                           'notify.events=["paused", "stopped", "finished"]'])
    run.wait_running(min_step=3)
    cli("pause", str(run.run_dir))
    run.wait_state("paused")
    paused_at = run.step()
    # The phone hears of the pause while the run waits (a rented GPU idles): once, with the commands.
    ep.wait_for(1, timeout=60)
    (body,) = ep.bodies
    assert body["title"] == f"Training paused · {run.run_dir.name}"
    assert body["message"].splitlines()[-2:] == [f"Continue: tuneguard continue {run.run_dir}",
                                                 f"End it (checkpoint kept): tuneguard stop {run.run_dir}"]
    assert f"Paused at step {paused_at}: the model stays loaded" in body["message"]
    (req,) = requests(run.run_dir)
    assert (req["action"], req["status"], req["handled_step"]) == ("pause", "done", paused_at)
    assert (run.run_dir / "checkpoints" / f"checkpoint-{paused_at}" / MARKER).exists()
    # The pause loop is alive and answers requests, and the run does not advance: a
    # checkpoint asked now is handled at the paused step (events, not a timed wait).
    cli("checkpoint", str(run.run_dir))
    ckpt = poll(lambda: next((r for r in requests(run.run_dir) if r["action"] == "checkpoint"
                              and r["status"] != "pending"), None), 60, "the checkpoint request to be handled",
                alive=run.check_alive)
    assert (ckpt["status"], ckpt["handled_step"]) == ("done", paused_at)
    assert f"checkpoint-{paused_at} was written" in ckpt["note"]
    assert run.step() == paused_at and run.state() == "paused"
    # Still live while paused: a request is accepted.
    cli("continue", str(run.run_dir))
    assert run.wait() == 0, run.output()[-3000:]
    assert run.state() == "finished"
    assert read_store(run.run_dir, lambda s: max(r["step"] for r in s.metrics("train"))) == 60
    _, _, cont_req = requests(run.run_dir)
    assert cont_req["action"] == "continue" and cont_req["status"] == "done" and cont_req["handled_step"] == paused_at
    assert [b["title"].split(" · ")[0] for b in ep.bodies] == ["Training paused", "Training finished"]
    assert [e["step"] for e in events(run.run_dir, "control_pause")] == [paused_at]
    assert [e["step"] for e in events(run.run_dir, "control_continue")] == [paused_at]
    assert paused_at in checkpoint_steps(run.run_dir)


def test_checkpoint_while_running(live_run):
    run = live_run(max_steps=80, settings=["train.save_steps=1000"])
    run.wait_running(min_step=3)
    cli("checkpoint", str(run.run_dir))
    req = poll(lambda: next((r for r in requests(run.run_dir) if r["status"] != "pending"), None), 60,
               "the checkpoint request to be handled")
    assert req["status"] == "done"
    step = req["handled_step"]
    assert step % 1000 != 0 and step < 80  # not a periodic save, not the final one
    assert (run.run_dir / "checkpoints" / f"checkpoint-{step}" / MARKER).exists()
    assert [e["step"] for e in events(run.run_dir, "control_checkpoint")] == [step]
    assert run.wait() == 0, run.output()[-3000:]  # training went on to the end
    assert run.state() == "finished"
    assert read_store(run.run_dir, lambda s: max(r["step"] for r in s.metrics("train"))) == 80
    assert checkpoint_steps(run.run_dir) == [step, 80]


def test_sigterm_stops_with_a_checkpoint_and_resume_continues(live_run):
    run = live_run(max_steps=50)
    run.wait_running(min_step=4)
    os.kill(run.pid, signal.SIGTERM)
    assert run.wait() == 0, run.output()[-3000:]
    assert run.state() == "stopped"
    (req,) = requests(run.run_dir)
    assert (req["action"], req["arg"], req["status"]) == ("stop", "SIGTERM", "done")
    stop_step = req["handled_step"]
    assert 4 <= stop_step < 50
    assert (run.run_dir / "checkpoints" / f"checkpoint-{stop_step}" / MARKER).exists()
    # The terminal says how to go on: the command as it was given, every --set included (none holds a secret).
    sets = [f"data.train_file={run.data}", "train.max_steps=50", *BASE_SETTINGS]
    command = shlex.join(["tuneguard", "train", "tiny", "--run-dir", str(run.run_dir),
                          *[w for s in sets for w in ("--set", s)], "--force", "--resume", "auto"])
    assert f"continue it with `{command}`" in run.output().splitlines()

    resumed = live_run(max_steps=50, resume=True)
    assert resumed.wait() == 0, resumed.output()[-3000:]
    assert resumed.state() == "finished"
    (ev,) = events(run.run_dir, "resumed")
    assert {k: ev["payload"][k] for k in ("from_step", "previous_state", "previous_step", "killed")} == {
        "from_step": stop_step, "previous_state": "stopped", "previous_step": stop_step, "killed": False}
    steps = read_store(run.run_dir, lambda s: [r["step"] for r in s.metrics("train")])
    assert steps == list(range(1, 51))  # one row per logged step: none lost, none twice
