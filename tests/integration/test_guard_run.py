"""A healthy tiny run through the real entry point has no error finding (the planted faults of
every guard code: test_guards_end_to_end.py)."""

import json

import pytest

from tests.helpers.cli import cli, tiny_config
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow


def test_healthy_run_has_no_error_finding(tmp_path, train_file):
    cfg = tiny_config(tmp_path, train_file)
    run = tmp_path / "run"
    r = cli("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    with RunStore(run) as s:
        findings = s.findings()
        assert s.state() == "finished"
        task = s.get_meta("task")
        started = s.events("started")[0]["payload"]
        train, evals = s.metrics("train"), s.metrics("eval")
    assert [f for f in findings if f.severity == "error"] == []
    assert (task["shape"], task["source"]) == ("open", "inferred")
    assert (started["task"], started["task_source"]) == ("open", "inferred")
    # Every step's loss, gradient norm and supervised tokens are kept in the run store (its
    # steps table, what a resume replays): each logged window's loss is the mean of its steps'
    # losses, so the per-step series the guards judge is the Trainer's own. The checkpoint's
    # log history does not carry them (it would grow with every step).
    with RunStore(run, readonly=True) as s:
        records = [r for _, _, r in s.step_records()]
    history = json.loads((run / "checkpoints" / "checkpoint-60" / "trainer_state.json").read_text())["log_history"]
    assert not any("tuneguard_steps" in entry for entry in history)
    assert [r[0] for r in records] == list(range(1, 61))
    assert all(r[3] > 0 and r[2] > 0 for r in records)  # supervised tokens and a gradient norm per step
    by_step = {r[0]: r for r in records}
    prev = 0
    for t in train:
        window = [by_step[k][1] for k in range(prev + 1, t["step"] + 1)]
        assert t["loss"] == pytest.approx(sum(window) / len(window), rel=1e-5)
        prev = t["step"]
    # Each evaluation stores the training loss per supervised token since the previous one.
    prev = 0
    for e in evals:
        steps = [by_step[k] for k in range(prev + 1, e["step"] + 1)]
        tokens = sum(r[3] for r in steps)
        assert e["train_loss_since_eval"] == pytest.approx(sum(r[1] * r[3] for r in steps) / tokens)
        assert (e["train_steps_since_eval"], e["train_tokens_since_eval"]) == (e["step"] - prev, tokens)
        prev = e["step"]
