"""The guards on real tiny runs: a planted collapse halts; a healthy run has no error finding."""

import json

import pytest

from tests.conftest import cli, tiny_config
from tuneguard.store.run_store import RunStore
from tuneguard.train.resume import MARKER

pytestmark = pytest.mark.slow


def test_collapse_is_caught_early_and_halts_with_checkpoint(tmp_path):
    data = tmp_path / "dup.jsonl"
    data.write_text("".join(json.dumps({"instruction": "Say hello.", "output": "Hello there, friend."}) + "\n"
                            for _ in range(3000)))
    cfg = tiny_config(tmp_path, data, train={"max_steps": -1, "num_epochs": 1, "logging_steps": 2})
    run = tmp_path / "run"
    # Without --force the audit's errors refuse the run before a model loads.
    refused = cli("train", str(cfg), "--run-dir", str(run))
    assert refused.returncode == 2 and "DUPLICATE_EXACT" in refused.stderr

    r = cli("train", str(cfg), "--run-dir", str(run), "--overwrite", "--force")
    assert r.returncode == 1, r.stdout + r.stderr
    st = json.loads(cli("status", str(run), "--json").stdout)
    assert st["state"] == "halted"
    collapse = [f for f in st["findings"] if f["code"] == "LOSS_COLLAPSE"]
    assert len(collapse) == 1
    f = collapse[0]
    steps_per_epoch = 2700 // 8 + (2700 % 8 > 0)
    assert f["severity"] == "error" and f["step"] <= 0.1 * steps_per_epoch
    assert "DUPLICATE_EXACT" in f["evidence"]["audit_findings"]
    assert "see DUPLICATE_EXACT" in f["recommendation"]
    assert st["step"] == f["step"]  # halted at once
    ckpt = run / "checkpoints" / f"checkpoint-{f['step']}"
    assert (ckpt / MARKER).exists() and (ckpt / "adapter_model.safetensors").exists()


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
