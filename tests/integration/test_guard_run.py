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
    assert [f for f in findings if f.severity == "error"] == []
