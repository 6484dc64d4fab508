"""An OVERFITTING finding raised mid-run, then a new best eval loss at the last evaluation: the
finding, the diagnosis, the verdict and `next` tell one story (recovered), on a recorded run."""

from __future__ import annotations

import math
from pathlib import Path

from tuneguard.findings import Finding
from tuneguard.nextrun import plan_next
from tuneguard.report.markdown import render_markdown
from tuneguard.report.recommend import diagnose_run, recommend_for_run
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import VAL_TRACKED, compute_verdict
from tuneguard.store.run_store import RunStore

from tests.report.runs import ENV, tiny_config

# The eval loss rose at steps 30 and 45 (the guard's OVERFITTING at 45, "rising"), then fell to
# its best at step 60, the last evaluation.
EVALS = {15: 2.4, 30: 2.5, 45: 2.6, 60: 2.3}


def build_recovered(run_dir: Path) -> Path:
    cfg = tiny_config(**{"train.max_steps": 60})
    with RunStore(run_dir, create=True) as s:
        s.init_run(config=cfg, max_steps=60, run_id="recovered01")
        s.set_meta(environment=ENV, started=1_700_000_000.0, ended=1_700_000_090.0, best_step=60,
                   exit_reason="finished")
        s.set_state("running")
        s.add_event("started", {"max_steps": 60}, step=0)
        for step in range(5, 61, 5):
            s.log_metrics(step, "train", {"loss": 1.9 + 1.5 * math.exp(-step / 20), "learning_rate": 3e-3,
                                          "epoch": step / 60})
            if step in EVALS:
                s.log_metrics(step, "eval", {"eval_loss": EVALS[step], "epoch": step / 60})
        s.add_finding(Finding("OVERFITTING", "warning", "Eval loss rose for 2 evaluations in a row.",
                              {"triggers": ["rising"], "best_eval_loss": 2.4, "best_step": 15}, "Lower the learning "
                              "rate, train fewer epochs, add dropout or weight decay.", 45, "guard"))
        s.add_event("finished", {"reason": "max_steps"}, step=60)
        s.set_state("finished")
    return run_dir


def test_an_overfitting_finding_answered_by_a_new_best_at_the_last_evaluation_is_recovered(tmp_path: Path) -> None:
    run = load_run(build_recovered(tmp_path / "run"))
    d = diagnose_run(run)
    assert (d.kind, d.codes) == ("healthy", [])
    assert [n.text() for n in d.notes] == [
        "OVERFITTING at step 45 (1 time(s)), recovered: the eval loss reached a new best 2.3 at step 60, the last "
        "evaluation"]
    assert d.notes[0].text("th").startswith("OVERFITTING ที่ step 45 (1 ครั้ง) แล้วกลับมาดีขึ้น")
    (f,) = run.findings
    assert d.recovered_at(f) == 60
    verdict = compute_verdict(run)
    row = verdict.get(VAL_TRACKED)
    assert row.status == "pass" and row.evidence.endswith(
        "recovered: a new best eval loss 2.3 at step 60, the last evaluation")
    recs = recommend_for_run(run)
    md = render_markdown(run, verdict, recs)
    assert ("Recovered at step 60: the eval loss reached a new best (2.3) at the last evaluation, so the run's "
            "diagnosis (healthy) does not follow this advice.") in md
    assert "Diagnosis: healthy" in md and "Diagnosis: overfitting" not in md
    plan = plan_next(run.run_dir)
    assert plan.recs.changes == [] and plan.recs.diagnosis.kind == "healthy"  # no fewer steps, no regularising


def test_a_finding_at_the_last_evaluation_itself_is_not_answered_by_it() -> None:
    """The eval loss rose at the last evaluation: no new best answered the finding; overfitting stands."""
    from tuneguard.diagnosis import Curves, diagnose

    f = Finding("OVERFITTING", "warning", "rose", {"triggers": ["rising"]}, "", 60, "guard")
    rising = Curves(train=[(s, 3.0 - s / 40) for s in range(5, 61, 5)],
                    evals=[(15, 2.4, None), (30, 2.5, None), (45, 2.3, None), (60, 2.6, None)], planned_steps=60)
    d = diagnose([f], rising, {})
    assert (d.kind, d.recovered_at(f)) == ("overfitting", None)
