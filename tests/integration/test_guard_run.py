"""A healthy tiny run through the real entry point has no error finding (the planted faults of
every guard code: test_guards_end_to_end.py)."""

import pytest

from tests.conftest import cli, tiny_config
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
    # Each evaluation stores the training loss averaged over the steps since the previous one.
    prev = 0
    for e in evals:
        windows = [(t["step"], t["loss"]) for t in train if prev < t["step"] <= e["step"]]
        steps = [b - a for a, b in zip([prev] + [w[0] for w in windows], [w[0] for w in windows])]
        expected = sum(n * loss for n, (_, loss) in zip(steps, windows)) / sum(steps)
        assert e["train_loss_since_eval"] == pytest.approx(expected) and e["train_steps_since_eval"] == e["step"] - prev
        prev = e["step"]
