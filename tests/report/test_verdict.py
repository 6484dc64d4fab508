"""The verdict rows of hand-built runs, asserted exactly."""

from __future__ import annotations

import math
from pathlib import Path

from tuneguard.findings import Finding
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import (
    COHERENT,
    CRITERIA_NAMES,
    EARLY_STOP_OK,
    LOSS_GRADUAL,
    TEST_WITHIN,
    VAL_TRACKED,
    compute_verdict,
)
from tuneguard.store.run_store import RunStore

from .runs import build_collapse, build_healthy


def verdict_of(run_dir: Path):
    return compute_verdict(load_run(run_dir))


def test_healthy_run_rows(healthy_run: Path) -> None:
    v = verdict_of(healthy_run)
    assert v.rows() == [
        (LOSS_GRADUAL, "pass"), (VAL_TRACKED, "pass"), (EARLY_STOP_OK, "pass"), (COHERENT, "pass"),
        (TEST_WITHIN, "unknown"),
    ]
    assert v.overall == "inconclusive"
    assert v.get(LOSS_GRADUAL).codes == []
    assert "no collapse" in v.get(LOSS_GRADUAL).evidence
    assert v.get(TEST_WITHIN).evidence == "no test split was evaluated (data.test_file not set)"
    assert "gap 0.12 < 0.5 (report.max_final_gap)" in v.get(VAL_TRACKED).evidence
    assert v.get(COHERENT).evidence.startswith("2 QA sample(s) at step 60: keyword score 1 >= 0.5")


def test_collapse_run_rows(collapse_run: Path) -> None:
    v = verdict_of(collapse_run)
    assert v.rows() == [
        (LOSS_GRADUAL, "fail"), (VAL_TRACKED, "fail"), (EARLY_STOP_OK, "pass"), (COHERENT, "fail"),
        (TEST_WITHIN, "unknown"),
    ]
    loss = v.get(LOSS_GRADUAL)
    assert loss.codes == ["LOSS_COLLAPSE"]
    assert loss.evidence.startswith("LOSS_COLLAPSE at step 12: Training loss fell from 3.6 to 0.005")
    assert "loss=0.005" in loss.evidence
    assert v.overall == "fail"
    assert "failed Training loss decreased gradually" in v.summary_line()
    assert v.get(EARLY_STOP_OK).evidence == "early stopping did not trigger (run halted at step 12)"


def test_all_pass_with_test_loss(tmp_path: Path) -> None:
    v = verdict_of(build_healthy(tmp_path / "r", test=1.7))
    assert [s for _, s in v.rows()] == ["pass"] * 5
    assert v.overall == "pass"
    assert "test loss 1.7 (perplexity 5.474) vs validation" in v.get(TEST_WITHIN).evidence


def test_test_loss_beyond_margin_fails(tmp_path: Path) -> None:
    # validation at best step 60 is ~1.66 + 0.12; the limit is +10 %
    v = verdict_of(build_healthy(tmp_path / "r", test=2.5))
    assert v.get(TEST_WITHIN).status == "fail"


def test_gap_criterion_uses_configured_threshold(tmp_path: Path) -> None:
    wide = verdict_of(build_healthy(tmp_path / "wide", gap=0.7))
    assert wide.get(VAL_TRACKED).status == "fail"
    assert "gap 0.7 >= 0.5 (report.max_final_gap)" in wide.get(VAL_TRACKED).evidence
    relaxed = verdict_of(build_healthy(tmp_path / "relaxed", gap=0.7, config={"report.max_final_gap": 1.0}))
    assert relaxed.get(VAL_TRACKED).status == "pass"
    assert "gap 0.7 < 1 (report.max_final_gap)" in relaxed.get(VAL_TRACKED).evidence


def test_gap_criterion_names_overfitting_findings(tmp_path: Path) -> None:
    f = Finding("OVERFITTING", "warning", "Eval loss rose 3 evaluations in a row.", {"gap": 0.7}, "", 60, "guard")
    v = verdict_of(build_healthy(tmp_path / "r", gap=0.7, findings=[f]))
    assert v.get(VAL_TRACKED).codes == ["OVERFITTING"]
    assert "OVERFITTING at step 60" in v.get(VAL_TRACKED).evidence


def test_premature_early_stop_fails_and_late_one_passes(tmp_path: Path) -> None:
    early = Finding("EARLY_STOP", "info", "Early stopping triggered.", {}, "", 10, "guard")
    v = verdict_of(build_healthy(tmp_path / "early", findings=[early]))
    assert v.get(EARLY_STOP_OK).status == "fail"
    assert v.get(EARLY_STOP_OK).evidence.startswith("early stopping triggered at step 10 of 60 planned (16.7%)")
    late = Finding("EARLY_STOP", "info", "Early stopping triggered.", {}, "", 40, "guard")
    assert verdict_of(build_healthy(tmp_path / "late", findings=[late])).get(EARLY_STOP_OK).status == "pass"
    relaxed = verdict_of(build_healthy(tmp_path / "relaxed", findings=[early],
                                       config={"report.min_early_stop_share": 0.1}))
    assert relaxed.get(EARLY_STOP_OK).status == "pass"


def test_early_stop_event_counts_too(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "r")
    with RunStore(run) as s:
        s.add_event("early_stop", {"step": 12}, step=12)
    assert verdict_of(run).get(EARLY_STOP_OK).status == "fail"


def test_spike_and_nonfinite_findings_fail_the_loss_criterion(tmp_path: Path) -> None:
    spike = Finding("LOSS_SPIKE", "warning", "Loss jumped to 3x its running median.", {"loss": 5.1}, "", 25, "guard")
    v = verdict_of(build_healthy(tmp_path / "spike", findings=[spike]))
    assert v.get(LOSS_GRADUAL).status == "fail"
    assert v.get(LOSS_GRADUAL).codes == ["LOSS_SPIKE"]
    nan = Finding("NON_FINITE", "error", "Loss is nan.", {"loss": "nan"}, "", 30, "guard")
    v = verdict_of(build_healthy(tmp_path / "nan", findings=[spike, nan]))
    assert v.get(LOSS_GRADUAL).codes == ["LOSS_SPIKE", "NON_FINITE"]
    assert v.get(LOSS_GRADUAL).evidence.startswith("LOSS_SPIKE at step 25")


def test_nonfinite_loss_without_finding_fails(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "r")
    with RunStore(run) as s:
        s.log_metrics(30, "train", {"loss": math.nan})
    c = verdict_of(run).get(LOSS_GRADUAL)
    assert (c.status, c.codes) == ("fail", ["NON_FINITE"])
    assert c.evidence == "non-finite training loss nan at step 30"


def test_collapse_without_guard_finding_is_still_caught(tmp_path: Path) -> None:
    run = build_collapse(tmp_path / "r")
    with RunStore(run) as s:
        s._exec("DELETE FROM findings WHERE source='guard'")  # as if the guards were off
    c = verdict_of(run).get(LOSS_GRADUAL)
    assert (c.status, c.codes) == ("fail", ["LOSS_COLLAPSE"])
    assert "below 0.05 x the first loss (guard.collapse_ratio)" in c.evidence


def test_unknown_without_data(tmp_path: Path) -> None:
    run = tmp_path / "empty"
    with RunStore(run, create=True) as s:
        s.init_run(config={}, max_steps=None)
    v = verdict_of(run)
    # A run that never logged a step cannot pass "early stopping did not trigger prematurely".
    assert v.rows() == [(LOSS_GRADUAL, "unknown"), (VAL_TRACKED, "unknown"), (EARLY_STOP_OK, "unknown"),
                        (COHERENT, "unknown"), (TEST_WITHIN, "unknown")]
    assert v.get(EARLY_STOP_OK).evidence == "the run logged no training step (run unknown)"
    assert [c.name for c in v.criteria] == list(CRITERIA_NAMES)


def test_no_qa_samples_is_unknown(tmp_path: Path) -> None:
    c = verdict_of(build_healthy(tmp_path / "r", qa=False)).get(COHERENT)
    assert (c.status, c.evidence) == ("unknown", "no QA samples were recorded (set eval.qa_probes)")


def test_qa_judged_at_best_step(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "r")
    with RunStore(run) as s:
        s.set_meta(best_step=20)  # the step-20 answers are the repetitive ones
    c = verdict_of(run).get(COHERENT)
    assert c.status == "fail"
    assert c.evidence.startswith("2 QA sample(s) at step 20: keyword score 0 < 0.5, EOS emitted 0 < 0.5, "
                                 "distinct-2 0.3 < 0.5")
