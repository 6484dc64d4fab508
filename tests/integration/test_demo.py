"""`tuneguard demo`, the README's first command, end to end (tiny model, few steps)."""

import pytest

from tests.helpers.cli import cli
from tuneguard.data.synthetic import DEMO_PROBES
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow


def test_demo_runs_offline_and_tours_the_result(tmp_path):
    run = tmp_path / "demo"
    r = cli("demo", "--model", "tiny", "--steps", "40", "--run-dir", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "what happened" in r.stdout and "tuneguard generate" in r.stdout
    # before and after side by side, judged against the probes' expected answers
    tour = r.stdout.split("what happened", 1)[1]
    assert "answers before (base model) and after fine-tuning" in tour
    assert "  Write 38 in words. [expected thirty-eight]" in tour and "answers criterion: " in tour
    assert "Diagnosis: " in r.stdout.split("what happened", 1)[0]
    # how many each got right in one line, and the commands to go on with, `tuneguard next` among them
    assert "right: " in tour and " of 4 after fine-tuning, " in tour
    assert f"  tuneguard next {run} " in tour and f"  tuneguard report {run} " in tour
    assert (run / "report.html").exists() and (run / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "demo-data" / "train.jsonl").exists()
    with RunStore(run) as s:
        assert s.state() == "finished"
        assert s.qa_samples(), "the demo's QA probes ran"
        base = s.qa_samples(base=True)
        assert [q["expected"] for q in base] == [[p["expected"]] for p in DEMO_PROBES], "the base model answered too"
        assert s.metrics("test"), "the held-out test split was evaluated"
        assert not [f for f in s.findings() if f.severity == "error"]
    # What continues an interrupted demo: its run directory's config.yaml (the demo's config lives
    # in memory only), which loads back to the very config `--resume auto` compares with.
    from tuneguard.config.load import load_config, parse_yaml, redacted_dict
    from tuneguard.store.invocation import resume_command, stored_invocation

    started = stored_invocation(run)
    assert started is not None and started.config == str(run / "config.yaml")
    assert resume_command(started, run, here=str(tmp_path)) == \
        f"tuneguard train {run}/config.yaml --run-dir {run} --resume auto"
    assert redacted_dict(load_config(started.config)) == parse_yaml((run / "config.yaml").read_text(), "config.yaml")
