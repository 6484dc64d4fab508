"""A run the user stopped before its planned steps, before enough was recorded to judge it: the
verdict cannot say early stopping was right (it had no chance to trigger), and `next` says to
continue it with the command `status` gives, with no config change (its length did not end it)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from transformers import TrainerCallback

from tests.helpers.cli import tiny_config
from tests.helpers.reliability import train_inproc
from tests.helpers.tools import invoke
from tuneguard.report.recommend import recommend_for_run
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import EARLY_STOP_OK, compute_verdict
from tuneguard.store.invocation import Invocation, resume_command

pytestmark = pytest.mark.slow


class StopAt(TrainerCallback):
    """SIGTERM to this process at the end of `step` (what `tuneguard stop` and a preemption send)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_run_stopped_before_its_first_evaluation_is_continued_not_reconfigured(tmp_path: Path, train_file: Path):
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 30, "logging_steps": 1}, eval={"steps": 10})
    run_dir = tmp_path / "run"
    assert train_inproc(cfg, run_dir, extra_callbacks=[StopAt(4)]) == 0
    run = load_run(run_dir)
    assert (run.state, run.max_steps) == ("stopped", 30)
    step = run.last_step
    assert 4 <= step < 10 and not run.evals

    early = compute_verdict(run).get(EARLY_STOP_OK)
    assert (early.status, early.evidence) == (
        "unknown", f"not known: the run was stopped at step {step} of its 30 planned steps, before early stopping "
                   "could judge it")

    command = resume_command(Invocation.from_meta(run.meta), run_dir)
    assert command.endswith("--resume auto")
    recs = recommend_for_run(run)
    assert recs.diagnosis.kind == "inconclusive"
    assert recs.changes == []
    assert [str(a.text) for a in recs.actions] == [
        f"It ended at step {step} of its 30 planned steps, before enough was recorded to judge it: continue it to "
        f"its planned steps with `{command}` before changing anything."]

    r = invoke("next", str(run_dir), env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.stdout
    assert f"continue it to its planned steps with `{command}`" in r.stdout
    assert "eval.steps" not in r.stdout  # no new cadence for a run that never reached its first evaluation
