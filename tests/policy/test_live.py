"""`tuneguard set-lr` and `tuneguard rollback` against a live tiny run in a subprocess, and
their exit codes against runs that are not live."""

from __future__ import annotations

import json
import shlex
import time

import pytest
from policy_helpers import read_store, schedule
from typer.testing import CliRunner

from tuneguard.cli.main import app
from tuneguard.store.run_store import RunStore

runner = CliRunner()
MAX_STEPS = 400


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def request(run_dir, action: str) -> dict:
    return read_store(run_dir, lambda s: [r for r in s.control_requests() if r["action"] == action][-1])


def logged_lr(run_dir) -> dict[int, float]:
    return read_store(run_dir, lambda s: {r["step"]: r["learning_rate"] for r in s.metrics("train")})


@pytest.mark.slow
def test_set_lr_then_rollback_on_a_live_run(live_run):
    run = live_run(MAX_STEPS, ["train.save_steps=10"])
    run.wait_step(12)
    sched = schedule(MAX_STEPS)

    # set-lr x0.1: carried out at the end of step h, the optimizer uses it from step h+1.
    out = cli("set-lr", str(run.run_dir), "x0.1", "--wait", "--timeout", "120")
    assert "set_lr done at step" in out
    req = request(run.run_dir, "set_lr")
    h = req["handled_step"]
    assert req["status"] == "done" and req["arg"] == "x0.1"
    (ev,) = read_store(run.run_dir, lambda s: s.events("action"))
    p = ev["payload"]
    assert (ev["step"], p["code"], p["action"], p["lr_scale_to"]) == (h, "MANUAL", "set_lr", pytest.approx(0.1))
    assert p["to"] == pytest.approx(0.1 * sched[h + 1])  # the optimizer's lr for the next step
    run.wait_step(h + 3)
    lr = logged_lr(run.run_dir)
    assert lr[h] == pytest.approx(sched[h])  # the step that read the request ran at the old rate
    for s in range(h + 1, h + 4):  # then the schedule, scaled
        assert lr[s] == pytest.approx(0.1 * sched[s]), s

    # rollback --to 10: model, optimizer, scheduler and data position of step 10; the scale stays.
    out = cli("rollback", str(run.run_dir), "--to", "10", "--wait", "--timeout", "120")
    assert "rollback done at step" in out
    r = request(run.run_dir, "rollback")["handled_step"]
    assert r > h
    acts = read_store(run.run_dir, lambda s: [(e["step"], e["payload"]["action"], e["payload"].get("to"))
                                              for e in s.events("action")])
    assert acts[-1] == (r, "rollback", 10)
    run.wait_step(r + 2)  # the heartbeat went back to 10 and has caught up again

    stopped = runner.invoke(app, ["stop", str(run.run_dir), "--wait", "--timeout", "120"], env={"COLUMNS": "1000"})
    assert stopped.exit_code == 0, stopped.output
    # The last line is the command that continues the run: as it was started, with --resume auto.
    command = shlex.join(["tuneguard", "train", "tiny", "--run-dir", str(run.run_dir),
                          *[w for s in run.sets for w in ("--set", s)], "--force", "--resume", "auto"])
    assert stopped.output.splitlines()[-1] == f"run stopped: continue it with `{command}`"
    assert run.wait() == 0, run.output()[-3000:]
    rows = read_store(run.run_dir, lambda s: s.metrics("train"))
    steps = [x["step"] for x in rows]
    assert steps == list(range(1, steps[-1] + 1)) and steps[-1] >= r + 2  # one row per step
    lr = {x["step"]: x["learning_rate"] for x in rows}
    assert all(lr[s] == pytest.approx(sched[s]) for s in range(2, 11))
    # Steps after 10 were trained again from the checkpoint's schedule position, at 0.1x.
    assert all(lr[s] == pytest.approx(0.1 * sched[s]) for s in range(11, steps[-1] + 1))

    st = json.loads(cli("status", str(run.run_dir), "--json"))
    assert [(a["step"], a["action"]) for a in st["actions"]] == [(h, "set_lr"), (r, "rollback")]
    assert st["state"] == "stopped"
    policy_state = json.loads((run.run_dir / "checkpoints" / f"checkpoint-{steps[-1]}" /
                               "tuneguard_policy.json").read_text())
    assert policy_state["lr_scale"] == pytest.approx(0.1)
    assert policy_state["history"] == []  # manual actions do not count against max_actions


def _finished_run(run_dir):
    with RunStore(run_dir, create=True) as s:
        s.init_run(config={}, max_steps=10, run_id="r")
        s.set_state("finished", exit_reason="completed", ended=time.time())
    return run_dir


@pytest.mark.parametrize("args", [["set-lr", "{run}", "x0.5"], ["set-lr", "{run}", "1e-5"],
                                  ["rollback", "{run}"], ["rollback", "{run}", "--to", "10"]])
def test_requests_to_a_run_that_is_not_live_exit_1(tmp_path, args):
    run = _finished_run(tmp_path / "run")
    result = runner.invoke(app, [a.format(run=run) for a in args])
    assert result.exit_code == 1
    assert f"no live run in {run}" in " ".join(result.output.split())
    assert read_store(run, lambda s: s.control_requests()) == []


@pytest.mark.parametrize("value", ["abc", "x0", "0", "x-2", "-"])
def test_set_lr_refuses_what_is_not_a_rate_or_factor(tmp_path, value):
    run = _finished_run(tmp_path / "run")
    result = runner.invoke(app, ["set-lr", str(run), value])
    assert result.exit_code == 2, result.output
    assert read_store(run, lambda s: s.control_requests()) == []



@pytest.mark.parametrize(("args", "en", "th"), [
    (["set-lr", "{run}", "x0.5"], "the learning rate is multiplied by 0.5 from the next optimizer step; the schedule "
     "continues from there (within policy.min_lr/max_lr)", "learning rate จะถูกคูณด้วย 0.5 ตั้งแต่ optimizer step ถัดไป"),
    (["set-lr", "{run}", "1e-5"], "the learning rate becomes 1e-05 at the next optimizer step; the schedule continues "
     "from there (within policy.min_lr/max_lr)", "learning rate จะเป็น 1e-05 ที่ optimizer step ถัดไป"),
    (["rollback", "{run}", "--skip-steps", "2"], "the trainer reloads the newest checkpoint before the current step at "
     "the next optimizer step and continues from it, skipping the batches of the last 2 step(s)",
     "การฝึกจะโหลด checkpoint ล่าสุดก่อน step ปัจจุบันที่ optimizer step ถัดไป แล้วฝึกต่อจากจุดนั้น โดยข้าม batch ของ 2 step สุดท้าย"),
])
def test_set_lr_and_rollback_say_what_they_do_in_the_runs_language(tmp_path, monkeypatch, args, en, th):
    """What the request does was English only: it is a catalog text, said in the run's language
    (after_request renders it with the live run's notify.language)."""
    from tuneguard.catalog import render
    from tuneguard.cli import policy_cmd

    sent = []
    monkeypatch.setattr(policy_cmd, "_send", lambda run_dir, action, arg, what, wait, timeout: sent.append(what) or 0)
    result = runner.invoke(app, [a.format(run=tmp_path) for a in args])
    assert result.exit_code == 0, result.output
    (what,) = sent
    assert render(what, "en") == en
    assert render(what, "th").startswith(th)
