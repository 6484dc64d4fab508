"""A guard's advice and the audit's findings tell one story (tuneguard.guard.advice): a symptom the
audit's data fault explains is answered with "fix the data first", in the stored finding, the
notification, `status`, the report and `tuneguard next`, never with a learning rate alone."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from transformers import TrainerControl
from typer.testing import CliRunner

from tests.report.runs import build_healthy
from tuneguard.catalog import T
from tuneguard.cli.main import app
from tuneguard.config.load import load_config
from tuneguard.context import RunContext
from tuneguard.findings import Finding, when_text
from tuneguard.guard.actions import act
from tuneguard.guard.advice import data_first, explaining_audit_codes
from tuneguard.guard.overfit import OverfittingDetector
from tuneguard.nextrun import plan_next
from tuneguard.notify.messages.render import render as render_message
from tuneguard.report.next_steps import next_steps
from tuneguard.report.rundata import load_run
from tuneguard.store.run_store import RunStore

NEAR = Finding.said("DUPLICATE_NEAR", "warning", T("DUPLICATE_NEAR.copies", extra=60, share=0.25, ngram=5,
                                                   threshold=0.8, clusters=6, biggest=12, big_share=0.05),
                    T("DUPLICATE_NEAR.copies.rec"), {"count": 60, "share": 0.25})
PAD = Finding.said("PAD_IN_LABELS", "error", T("PAD_IN_LABELS.supervised", positions=900, share=0.3, rows=40,
                                               checked=64), T("PAD_IN_LABELS.supervised.rec"), {"share": 0.3})


def guard_finding(code: str, rec: str) -> Finding:
    return Finding.said(code, "warning", T("PLATEAU.found", rel=0.001, n=3, first_step=10, step=30, low=1.0,
                                           high=1.001), T(rec), {}, step=30, source="guard")


def test_which_audit_findings_explain_which_symptom():
    assert explaining_audit_codes("OVERFITTING", [NEAR, PAD]) == ["DUPLICATE_NEAR"]  # repeating rows, even a warning
    assert explaining_audit_codes("LOSS_SPIKE", [NEAR]) == []  # a warning does not explain the curve
    assert explaining_audit_codes("PLATEAU", [NEAR, PAD]) == ["PAD_IN_LABELS"]  # an error that explains a collapse
    for code in ("LOSS_COLLAPSE", "MEMORY_HIGH", "THROUGHPUT_DROP", "NON_FINITE"):
        assert explaining_audit_codes(code, [NEAR, PAD]) == []
    plateau = data_first(guard_finding("PLATEAU", "PLATEAU.early.rec"), [PAD])
    assert plateau.recommendation.startswith("Fix the data first: the audit found PAD_IN_LABELS in the training "
                                             "data, which explains this")
    assert plateau.recommendation.endswith("On clean data, if it persists: Learning stalled in the first half of the "
                                           "run: check that the learning rate is not too low or already decayed, that "
                                           "the LoRA parameters are trainable and that the labels are not all masked; "
                                           "then raise train.learning_rate.")
    assert plateau.recommendation_in("th").startswith("แก้ข้อมูลก่อน: การตรวจข้อมูลพบ PAD_IN_LABELS")
    assert plateau.evidence["data_first"] == ["PAD_IN_LABELS"]
    untouched = guard_finding("MEMORY_HIGH", "MEMORY_HIGH.device.rec")
    assert data_first(untouched, [PAD]).recommendation == untouched.recommendation


@pytest.fixture
def overfit_on_copies(tmp_path: Path) -> Path:
    """A run whose eval loss rose for three evaluations while the training loss fell, on data with 25%
    near duplicates (an audit warning): OVERFITTING found by the real detector and acted on through
    the real RunContext and store."""
    run = build_healthy(tmp_path / "run", config={"eval.strategy": "steps", "eval.steps": 20})
    cfg = load_config("tiny", [])
    with RunStore(run) as store:
        store.replace_audit_findings([NEAR])
        for step, ev in ((80, 2.0), (100, 2.3), (120, 2.6), (140, 2.9)):
            store.log_metrics(step, "train", {"loss": 1.3 - step / 1000, "examples_seen": step * 4})
            store.log_metrics(step, "eval", {"eval_loss": ev, "train_loss_since_eval": 1.3 - step / 1000})
        ctx = RunContext(cfg=cfg, run_dir=run, store=store, audit_findings=[NEAR])
        det = OverfittingDetector(3, 5.0)  # the rule that fires: three evaluations rising
        found = [det.update(s, ev, 1.3 - s / 1000) for s, ev in ((60, 1.8), (80, 2.0), (100, 2.3), (120, 2.6))]
        (f,) = [x for x in found if x is not None]
        assert act(ctx, TrainerControl(), f) == "warn"
        store.set_meta(max_steps=140, data_sizes={"train": 600, "validation": 60})
    return run


def test_overfitting_on_duplicated_rows_says_fix_the_data_first_everywhere(overfit_on_copies: Path):
    run = overfit_on_copies
    with RunStore(run, readonly=True) as s:
        (f,) = s.findings("guard")
    assert (f.code, f.step, f.evidence["data_first"]) == ("OVERFITTING", 120, ["DUPLICATE_NEAR"])
    first = "Fix the data first: the audit found DUPLICATE_NEAR in the training data"
    assert f.recommendation.startswith(first) and "a lower train.learning_rate" in f.recommendation
    # The notification, in both languages.
    payload = {**f.to_dict(), "action": "warn"}
    assert f"Recommendation: {first}" in render_message("finding", payload).body
    assert "คำแนะนำ: แก้ข้อมูลก่อน: การตรวจข้อมูลพบ DUPLICATE_NEAR" in render_message("finding", payload, language="th").body
    # status: the same advice and the same "when".
    out = CliRunner().invoke(app, ["status", str(run)])
    assert out.exit_code == 0, out.output
    assert f"WARNING OVERFITTING ({when_text(f)})" in out.output and first in out.output
    # The report: the finding's advice, and recommendations that raise no learning rate.
    rep = CliRunner().invoke(app, ["report", str(run)])
    assert rep.exit_code == 0, rep.output
    md = (run / "report.md").read_text("utf-8")
    assert first in md
    data = load_run(run)
    plan = plan_next(run)
    assert plan.recs.diagnosis is not None and plan.recs.diagnosis.kind == "overfitting"
    assert all(c.key != "train.learning_rate" for c in plan.recs.changes)
    # next: the data is fixed first (the finding said tuning would only hide it), then the next run.
    assert plan.blocked == ["DUPLICATE_NEAR"]
    assert [s["kind"] for s in next_steps(data)] == ["fix", "then"]
    nxt = CliRunner().invoke(app, ["next", str(run)])
    assert nxt.exit_code == 0, nxt.output
    assert "tuneguard fix" in nxt.output
    assert math.isclose(data.epoch_at(120), 120 * 4 / 600)


@pytest.mark.parametrize(("settings", "then"), [
    ([], "one far above the training loss means a fault, and the run halts."),
    (["guard.actions.LOSS_COLLAPSE=warn"], "one far above the training loss means a fault, recorded as an error "
                                           "while the run goes on (guard.actions.LOSS_COLLAPSE: warn)."),
    (["guard.severity.LOSS_COLLAPSE=warning"], "means a fault, recorded at the severity "
                                               "guard.severity.LOSS_COLLAPSE sets (warning), which never halts the run."),
    (["policy.rules.LOSS_COLLAPSE.action=checkpoint"], "means a fault, and the policy acts on it "
                                                     "(policy.rules.LOSS_COLLAPSE: checkpoint)."),
])
def test_the_pending_collapse_promises_only_what_the_config_will_do(tmp_path, settings, then):
    """LOSS_COLLAPSE's "the next evaluation tells" says what a fault there will make the run do, as
    the config has it: it never promises a halt that guard.actions, policy.rules or guard.severity
    will not make."""
    from guard_helpers import trainer_bits

    from tuneguard.guard import GuardCallback
    from tuneguard.guard.records import StepRecord

    cfg = load_config("tiny", settings)
    with RunStore(tmp_path, create=True) as store:
        ctx = RunContext(cfg=cfg, run_dir=tmp_path, store=store)
        cb = GuardCallback(ctx)
        for step, loss in ((1, 3.0), (2, 0.01)):
            ctx.step_records = [StepRecord(step, loss, 1.0, 50)]
            args, state, control = trainer_bits(step)
            cb.on_log(args, state, control, logs={"loss": loss, "grad_norm": 1.0})
        (f,) = store.findings("guard")
    assert f.evidence["verdict"] == "pending evaluation" and f.message.endswith(then)
