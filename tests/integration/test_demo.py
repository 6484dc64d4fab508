"""`tuneguard demo`, the README's first command, end to end (tiny model, few steps)."""

import pytest

from tests.conftest import cli
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow


def test_demo_runs_offline_and_tours_the_result(tmp_path):
    run = tmp_path / "demo"
    r = cli("demo", "--model", "tiny", "--steps", "40", "--run-dir", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "what happened" in r.stdout and "tuneguard generate" in r.stdout
    assert (run / "report.html").exists() and (run / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "demo-data" / "train.jsonl").exists()
    with RunStore(run) as s:
        assert s.state() == "finished"
        assert s.qa_samples(), "the demo's QA probes ran"
        assert s.metrics("test"), "the held-out test split was evaluated"
        assert not [f for f in s.findings() if f.severity == "error"]
