"""Each detector with a synthetic metric sequence that must trigger it and one that must not,
and once-per-episode behaviour."""

from __future__ import annotations

import math

import pytest

from tuneguard.findings import Finding
from tuneguard.guard import (
    EvalDivergenceDetector, GradNormDetector, LossCollapseDetector, LossSpikeDetector, MemoryDetector,
    NonFiniteDetector, OverfittingDetector, PlateauDetector, QADegradedDetector, ThroughputDetector,
)
from tuneguard.guard.qa import distinct2, keyword_score

NAN, INF = float("nan"), float("inf")
STEPS_PER_EPOCH = 5625  # the motivating run: step 225 is 4% of epoch 1


def feed(det, seq):
    """(step, *values) tuples through det.update; the non-None findings."""
    return [f for f in (det.update(*item) for item in seq) if f is not None]


# -- LOSS_COLLAPSE -----------------------------------------------------------------------

DUP = Finding("DUPLICATE_EXACT", "error", "38% of the rows are exact duplicates", {"fraction": 0.38})


def test_collapse_motivating_case_with_its_audit_cause_halts_at_once():
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[DUP])
    seq = [(1, 1 / STEPS_PER_EPOCH, 3.64), (100, 100 / STEPS_PER_EPOCH, 1.9), (200, 200 / STEPS_PER_EPOCH, 0.4),
           (225, 225 / STEPS_PER_EPOCH, 0.005)]
    [f] = feed(det, seq)
    assert (f.code, f.severity, f.step, f.source) == ("LOSS_COLLAPSE", "error", 225, "guard")
    ev = f.evidence
    assert ev["initial_loss"] == 3.64 and ev["initial_step"] == 1 and ev["loss"] == 0.005
    assert ev["step"] == 225 and ev["epoch"] == pytest.approx(0.04) and ev["epoch1_share"] == pytest.approx(0.04)
    assert ev["perplexity"] == pytest.approx(math.exp(0.005))
    assert ev["audit_findings"] == ev["audit_causes"] == ["DUPLICATE_EXACT"] and ev["verdict"] == "fault: audit"
    assert "not ordinary overfitting" in f.message and "seen at most once" in f.message
    assert "4.0% into epoch 1" in f.message and "the audit found the cause (DUPLICATE_EXACT)" in f.message
    for cause in ("duplicate", "templated", "leaked", "pad == eos", "prompt tokens", "see DUPLICATE_EXACT"):
        assert cause in f.recommendation


def test_collapse_without_audit_cause_waits_for_the_evaluation_then_halts_on_a_gap():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    seq = [(1, 1 / STEPS_PER_EPOCH, 3.64), (200, 200 / STEPS_PER_EPOCH, 0.4), (225, 225 / STEPS_PER_EPOCH, 0.005),
           (250, 250 / STEPS_PER_EPOCH, 0.007)]
    [f] = feed(det, seq)
    assert (f.severity, f.step, f.evidence["verdict"]) == ("info", 225, "pending evaluation")
    assert "the audit found no cause" in f.message and "The next evaluation tells" in f.message
    # The eval loss against the training loss averaged since the previous evaluation (the caller's).
    g = det.update_eval(250, 1.9, 0.006, 250 / STEPS_PER_EPOCH)
    assert (g.code, g.severity, g.step, g.evidence["verdict"]) == ("LOSS_COLLAPSE", "error", 250, "fault: eval far above")
    assert g.evidence["train_loss_since_eval"] == 0.006 and g.evidence["eval_to_train"] == pytest.approx(1.9 / 0.006)
    assert "not seen in training" in g.message and "limit 4x" in g.message
    assert det.update_eval(300, 2.0, 0.005) is None  # reported once


def test_collapse_needs_a_large_gap_not_the_noise_of_small_samples():
    """SmolLM2 on extraction (bench/diagnosis.py): 0.129 over a few batches against 0.317 on
    16 eval rows is 2.5x, the noise of two small samples; a fault is far larger."""
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    feed(det, [(1, 0.0, 1.31), (10, 0.07, 0.23), (12, 0.09, 0.042), (14, 0.1, 0.038), (15, 0.11, 0.054)])
    f = det.update_eval(15, 0.317, 0.129, 0.11)
    assert (f.severity, f.evidence["verdict"]) == ("info", "easy task")
    # Five steps later 0.038 against 0.306 is 8x, but the eval loss fell from the initial 1.31
    # to less than half of it: the model learns the task on unseen rows (a few hard eval rows).
    feed(det, [(18, 0.13, 0.012), (20, 0.15, 0.027)])
    assert det.update_eval(20, 0.306, 0.0375, 0.15) is None
    det = LossCollapseDetector(floor=0.1, ratio=0.05, eval_ratio=2.0, eval_kept=0.2)  # a stricter user
    feed(det, [(1, 0.0, 1.31), (12, 0.09, 0.042)])
    assert det.update_eval(15, 0.317, 0.129, 0.11).severity == "error"


def test_easy_task_learned_well_is_info_saying_so_and_never_an_error():
    """The reported SmolLM2 extraction run: pretrained start 0.64, eval 0.40 at step 10 and
    0.097 at step 20; the loss passes below the floor at step 18."""
    det = LossCollapseDetector(floor=0.1, ratio=0.05, steps_per_epoch=300,
                               audit_findings=[Finding("TRAIN_VAL_LEAKAGE", "warning", "2% leaked", {"share": 0.02})])
    out = feed(det, [(1, None, 0.64), (2, None, 0.61), (4, None, 0.52), (6, None, 0.47), (8, None, 0.44),
                     (10, None, 0.41)])
    out.append(det.update_eval(10, 0.40, 0.5, 10 / 300))
    out += feed(det, [(12, None, 0.31), (14, None, 0.2), (16, None, 0.13), (18, None, 0.094), (20, None, 0.088)])
    out.append(det.update_eval(20, 0.097, 0.165, 20 / 300))
    out += feed(det, [(22, None, 0.08), (24, None, 0.07), (30, None, 0.075)])
    out.append(det.update_eval(30, 0.085, 0.074, 0.1))
    found = [f for f in out if f is not None]
    assert [(f.severity, f.step, f.evidence["verdict"]) for f in found] == \
        [("info", 18, "pending evaluation"), ("info", 20, "easy task")]
    easy = found[1]
    assert (easy.evidence["loss"], easy.evidence["train_loss_since_eval"], easy.evidence["eval_loss"]) == \
        (0.094, 0.165, 0.097)
    assert easy.evidence["audit_findings"] == ["TRAIN_VAL_LEAKAGE"]  # a warning: named, not a cause
    assert "The task looks easy for this model, not broken" in easy.message
    assert "of the same order (0.097 at step 20 against 0.165" in easy.message
    assert "only non-error audit findings (TRAIN_VAL_LEAKAGE)" in easy.message


def test_collapse_ratio_rule_above_floor():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    [f] = feed(det, [(1, 0.01, 10.0), (20, 0.2, 0.4)])  # 0.4 < 5% of 10 although above the floor
    assert f.severity == "info"
    assert f.step == 20 and f.evidence["loss_ratio"] == pytest.approx(0.04)
    assert "below 5% of the initial loss" in f.message and "floor" not in f.message


def test_collapse_floor_applies_to_the_first_logged_loss():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    [f] = feed(det, [(1, 0.0002, 0.05), (2, 0.0004, 0.04)])
    assert f.step == 1 and f.evidence["initial_loss"] == 0.05
    assert "is already 0.05 at the first logged step (below the floor 0.1)" in f.message


def test_collapse_not_after_epoch1_nor_gradual():
    late = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert feed(late, [(1, 0.001, 3.6), (6000, 1.07, 0.05), (9000, 1.6, 0.01)]) == []
    healthy = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert feed(healthy, [(s, s / 1000, 3.6 - 2.4 * s / 1000) for s in range(1, 1000, 10)]) == []


def test_collapse_once_per_episode_and_rearmed():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    seq = [(1, 0.01, 3.6), (10, 0.1, 0.05), (11, 0.11, 0.04), (12, 0.12, 0.03),  # one episode
           (13, 0.13, 0.5),  # cleared: above the floor and 14% of the initial loss
           (14, 0.14, 0.02), (15, 0.15, 0.01)]  # a second episode
    assert [f.step for f in feed(det, seq)] == [10]  # still waiting for an evaluation: one fact
    det.update_eval(16, 0.02, 0.02)
    assert [f.step for f in feed(det, [(17, 0.17, 0.5), (18, 0.18, 0.02)])] == [18]  # re-armed after it


def test_collapse_ignores_nan_and_exact_zero():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert feed(det, [(1, 0.01, NAN), (2, 0.02, 3.0), (3, 0.03, 0.0), (4, 0.04, NAN)]) == []
    assert det.initial == 3.0


def test_collapse_links_audit_findings():
    audit = [
        Finding("DUPLICATE_EXACT", "error", "38% of the rows are exact duplicates", {"fraction": 0.38}),
        Finding("MALFORMED_ROWS", "warning", "2 rows are malformed", {"rows": [3, 9]}),
        Finding("PAD_IS_EOS", "error", "pad == eos", {"pad_id": 0, "eos_id": 0}),
    ]
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=audit)
    [f] = feed(det, [(1, 0.0, 3.6), (50, 0.05, 0.01)])
    assert f.severity == "error" and f.evidence["audit_causes"] == ["DUPLICATE_EXACT", "PAD_IS_EOS"]
    assert f.evidence["audit_findings"] == ["DUPLICATE_EXACT", "PAD_IS_EOS"]
    assert "the audit found 38% exact duplicates: see DUPLICATE_EXACT" in f.recommendation
    assert "see PAD_IS_EOS" in f.recommendation
    assert "MALFORMED_ROWS" not in f.recommendation


# -- the training loss since the previous evaluation -----------------------------------------

def test_train_loss_since_eval_weights_windows_by_steps_and_resets():
    from tuneguard.guard.train_loss import TrainLossSinceEval

    acc = TrainLossSinceEval()
    assert acc.take(0) is None
    for step, loss in [(1, 3.0), (10, 2.0), (20, NAN), (30, 1.0), (30, 9.0)]:  # NaN window and a repeat left out
        acc.add(step, loss)
    s = acc.take(30)
    assert (s.loss, s.steps, s.windows, s.from_step, s.to_step) == (pytest.approx((3.0 + 9 * 2.0 + 10 * 1.0) / 20),
                                                                     20, 3, 0, 30)
    acc.add(35, 0.5)
    s = acc.take(40)
    assert (s.loss, s.steps, s.from_step) == (0.5, 5, 30)
    assert acc.take(50) is None


# -- OVERFITTING, EVAL_DIVERGENCE, PLATEAU ------------------------------------------------

def test_overfitting_rising_eval_falling_train():
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    seq = [(100, 1.0, 1.2), (200, 1.05, 1.0), (300, 1.1, 0.9), (400, 1.2, 0.8), (500, 1.25, 0.8)]
    [f] = feed(det, seq)  # k = 3 rises need 4 evaluations; step 500 continues the episode
    assert (f.code, f.severity, f.step) == ("OVERFITTING", "warning", 400)
    assert f.evidence["triggers"] == ["rising"]
    assert [e["step"] for e in f.evidence["evaluations"]] == [100, 200, 300, 400]
    assert f.evidence["best_eval_step"] == 100 and f.evidence["best_eval_loss"] == 1.0
    assert f.evidence["gap"] == pytest.approx(0.4)


def test_overfitting_gap():
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    [f] = feed(det, [(100, 1.3, 1.0), (200, 1.6, 1.0)])
    assert f.step == 200 and f.evidence["triggers"] == ["gap"] and f.evidence["gap"] == pytest.approx(0.6)


def test_overfitting_not_when_train_rises_too_or_eval_falls():
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    assert feed(det, [(100, 1.0, 0.9), (200, 1.05, 0.95), (300, 1.1, 1.0), (400, 1.2, 1.1)]) == []
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    assert feed(det, [(100, 1.2, 1.0), (200, 1.1, 0.9), (300, 1.0, 0.8), (400, 0.9, 0.7)]) == []


def test_eval_divergence():
    det = EvalDivergenceDetector(ratio=1.5)
    [f] = feed(det, [(100, 1.4, 1.0), (200, 1.6, 1.0), (300, 1.7, 1.0)])
    assert (f.code, f.severity, f.step) == ("EVAL_DIVERGENCE", "warning", 200)
    assert f.evidence["ratio"] == pytest.approx(1.6) and f.evidence["train_loss"] == 1.0
    assert feed(EvalDivergenceDetector(ratio=1.5), [(100, 1.4, 1.0), (200, 1.5, 1.0), (300, 1.2, None)]) == []


def test_plateau_early_is_warning_late_is_info():
    det = PlateauDetector(evals=3, rel_change=0.001)
    [f] = feed(det, [(100, 2.0, 1000), (200, 2.0005, 1000), (300, 2.001, 1000)])
    assert (f.code, f.severity, f.step) == ("PLATEAU", "warning", 300)
    assert f.evidence["rel_change"] == pytest.approx(0.0005)
    late = PlateauDetector(evals=3, rel_change=0.001)
    [g] = feed(late, [(100, 2.0, 400), (200, 2.0005, 400), (300, 2.001, 400)])
    assert g.severity == "info"


def test_plateau_not_while_improving():
    det = PlateauDetector(evals=3, rel_change=0.001)
    assert feed(det, [(100, 2.0, 1000), (200, 1.9, 1000), (300, 1.8, 1000), (400, 1.7, 1000)]) == []


# -- LOSS_SPIKE, GRAD_NORM_HIGH -----------------------------------------------------------

def test_loss_spike():
    det = LossSpikeDetector(factor=2.0, window=20)
    [f] = feed(det, [(1, 2.0), (2, 1.9), (3, 1.8), (4, 1.85), (5, 4.0), (6, 4.1), (7, 1.8)])
    assert (f.code, f.severity, f.step) == ("LOSS_SPIKE", "warning", 5)
    assert f.evidence["running_median"] == pytest.approx(1.875) and f.evidence["loss"] == 4.0
    assert f.evidence["previous_losses"] == [2.0, 1.9, 1.8, 1.85]


def test_loss_spike_needs_three_prior_points_and_factor():
    assert feed(LossSpikeDetector(2.0, 20), [(1, 2.0), (2, 1.9), (3, 5.0)]) == []
    assert feed(LossSpikeDetector(2.0, 20), [(1, 2.0), (2, 1.9), (3, 1.8), (4, 1.85), (5, 3.0)]) == []


def test_grad_norm_high_once_per_episode():
    det = GradNormDetector(max_norm=10.0)
    found = feed(det, [(1, 1.0), (2, 12.0), (3, 15.0), (4, 3.0), (5, 11.0)])
    assert [(f.code, f.step, f.evidence["grad_norm"]) for f in found] == [("GRAD_NORM_HIGH", 2, 12.0),
                                                                         ("GRAD_NORM_HIGH", 5, 11.0)]
    assert feed(GradNormDetector(10.0), [(1, 9.9), (2, 10.0), (3, NAN)]) == []


# -- NON_FINITE ---------------------------------------------------------------------------

def test_non_finite_nan_loss():
    det = NonFiniteDetector(last_checkpoint=lambda step: "ckpt/checkpoint-5" if step > 5 else None)
    [f] = feed(det, [(5, 2.0, 1.0), (6, 1.9, 1.0), (7, NAN, NAN), (8, NAN, NAN)])
    assert (f.code, f.severity, f.step) == ("NON_FINITE", "error", 7)
    assert f.evidence["kind"] == "nan" and math.isnan(f.evidence["loss"]) and math.isnan(f.evidence["grad_norm"])
    assert f.evidence["checkpoint_before"] == "ckpt/checkpoint-5"
    assert "Resume from ckpt/checkpoint-5" in f.recommendation
    assert f.evidence["window"] == [7, 7] and "at step 7:" in f.message


def test_non_finite_names_the_logging_window():
    det = NonFiniteDetector()
    [f] = feed(det, [(5, 2.0, 1.0), (10, 1.9, 1.0), (15, NAN, 1.0)])  # logging_steps 5
    assert f.step == 15 and f.evidence["window"] == [11, 15] and "(logged over steps 11-15)" in f.message


def test_non_finite_inf_grad_norm_and_zero_loss():
    [f] = feed(NonFiniteDetector(), [(3, 2.0, INF)])
    assert f.evidence["kind"] == "inf" and "gradient norm inf" in f.message
    [g] = feed(NonFiniteDetector(), [(1, 2.0, 1.0), (20, 0.0, 0.5)])
    assert g.step == 20 and g.evidence["kind"] == "zero_loss" and "exactly 0.0" in g.message


def test_non_finite_episode_spans_eval_and_rearms():
    det = NonFiniteDetector()
    assert det.update(7, NAN, NAN) is not None
    assert det.update_eval(7, NAN) is None  # same fault
    assert det.update(8, 1.0, 0.5) is None  # cleared
    again = det.update(9, INF, 1.0)
    assert again is not None and again.step == 9
    eval_only = NonFiniteDetector()
    f = eval_only.update_eval(12, NAN)
    assert f is not None and f.evidence["kind"] == "eval" and f.step == 12


def test_fp16_skipped_step_with_finite_loss_is_not_a_fault():
    """Loss scaling: an overflowed step is skipped by the scaler and logged with an infinite
    (or NaN) gradient norm and a finite loss; the run goes on. Without loss scaling the same
    log is NON_FINITE, and a NaN loss is NON_FINITE with it."""
    seq = [(1, 5.1, INF), (2, 5.0, INF), (3, 4.9, NAN), (4, 4.8, 1.2), (5, 4.7, INF), (6, 4.6, 1.1)]
    assert feed(NonFiniteDetector(loss_scaling=True), seq) == []
    plain = feed(NonFiniteDetector(), seq)
    assert [(f.step, f.evidence["kind"]) for f in plain] == [(1, "inf"), (5, "inf")]
    [nan_loss] = feed(NonFiniteDetector(loss_scaling=True), [(1, 5.1, INF), (2, NAN, INF)])
    assert nan_loss.step == 2 and nan_loss.evidence["kind"] == "nan"


def test_fp16_scaler_skipping_every_step_is_non_finite():
    """A scaler that skips the step at every log for `max_scaler_skips` logs in a row never
    updates the weights: one finding, naming the skipped steps; a finite norm resets the count."""
    det = NonFiniteDetector(loss_scaling=True, max_scaler_skips=4)
    assert feed(det, [(1, 5.0, INF), (2, 5.0, INF), (3, 5.0, INF), (4, 5.0, 0.9)]) == []
    [f] = feed(det, [(s, 5.0, INF) for s in range(5, 10)])
    assert (f.code, f.step, f.evidence["kind"]) == ("NON_FINITE", 8, "fp16_overflow")
    assert f.evidence["skipped_log_steps"] == [5, 6, 7, 8]
    assert "skipped the step at each of the last 4 training logs (steps 5-8)" in f.message


def test_non_finite_not_on_finite_values():
    assert feed(NonFiniteDetector(), [(1, 3.0, 1.0), (2, 1e-6, 100.0), (3, 2.0, None), (4, None, None)]) == []


# -- MEMORY_HIGH, THROUGHPUT_DROP ---------------------------------------------------------

def test_memory_high_device():
    det = MemoryDetector(fraction=0.9)
    assert det.update(1, mem_reserved_gb=70.0, mem_total_gb=80.0, rss_gb=4.0, machine_mem_gb=128.0) == []
    [f] = det.update(2, mem_reserved_gb=75.0, mem_total_gb=80.0, mem_allocated_gb=60.0, rss_gb=4.0,
                     machine_mem_gb=128.0)
    assert (f.code, f.severity, f.step) == ("MEMORY_HIGH", "warning", 2)
    assert f.evidence["memory"] == "device" and f.evidence["share"] == pytest.approx(0.9375)
    assert det.update(3, mem_reserved_gb=76.0, mem_total_gb=80.0) == []  # same episode


def test_memory_high_host():
    det = MemoryDetector(fraction=0.9)
    assert det.update(1, rss_gb=20.0, machine_mem_gb=32.0) == []
    [f] = det.update(2, rss_gb=29.0, machine_mem_gb=32.0)
    assert f.evidence["memory"] == "host" and f.evidence["rss_gb"] == 29.0 and f.evidence["machine_mem_gb"] == 32.0


def test_memory_host_falls_back_to_psutil():
    det = MemoryDetector(fraction=0.9)
    assert det.update(1, rss_gb=0.001) == []
    assert det.machine_mem_gb is not None and det.machine_mem_gb > 0


def test_throughput_drop():
    det = ThroughputDetector(ratio=0.5, window=20)
    seq = [(1, 100.0), (2, 50.0), (3, 50.0),  # warm-up, ignored
           (4, 1000.0), (5, 1000.0), (6, 1000.0), (7, 1000.0), (8, 400.0), (9, 300.0)]
    [f] = feed(det, seq)
    assert (f.code, f.severity, f.step) == ("THROUGHPUT_DROP", "warning", 8)
    assert f.evidence["running_median"] == 1000.0 and f.evidence["tokens_per_s"] == 400.0


def test_throughput_no_drop_and_skip():
    det = ThroughputDetector(ratio=0.5, window=20)
    assert feed(det, [(1, 10.0), (2, 10.0), (3, 10.0), (4, 1000.0), (5, 1000.0), (6, 1000.0), (7, 600.0)]) == []
    assert det.update(8, 100.0, skip=True) is None  # the log after an evaluation
    assert list(det.median.values) == [1000.0, 1000.0, 1000.0, 600.0]


def test_throughput_patience_and_short_windows():
    det = ThroughputDetector(ratio=0.5, window=20, warmup_logs=0, patience=2, min_window_s=0.5)
    for step in range(1, 6):
        assert det.update(step, 1000.0, window_s=1.0) is None
    assert det.update(6, 100.0, window_s=0.1) is None  # too short to time: ignored
    assert det.update(7, 100.0, window_s=1.0) is None  # first slow window
    assert det.update(8, 1000.0, window_s=1.0) is None  # recovered: streak reset
    assert det.update(9, 100.0, window_s=1.0) is None
    f = det.update(10, 100.0, window_s=1.0)
    assert f is not None and f.code == "THROUGHPUT_DROP" and f.step == 10
    assert det.update(11, 100.0, window_s=1.0) is None  # same episode


# -- QA ------------------------------------------------------------------------------------

def test_qa_scores():
    assert keyword_score("The CAPITAL is Paris.", ["paris", "france"]) == 0.5
    assert keyword_score("anything", []) is None
    assert distinct2([1, 2, 1, 2, 1, 2]) == pytest.approx(2 / 5)
    assert distinct2([7]) is None


def test_qa_degraded_keyword_drop():
    det = QADegradedDetector(drop=0.25)
    found = feed(det, [(100, 0.5, 1.0), (200, 0.75, 1.0), (300, 0.5, 1.0), (400, 0.4, 1.0)])
    [f] = found
    assert (f.code, f.severity, f.step) == ("QA_DEGRADED", "warning", 300)
    assert f.evidence["triggers"] == ["keyword_score"]
    assert f.evidence["best_keyword_score"] == 0.75 and f.evidence["best_keyword_step"] == 200
    assert "step 200" in f.recommendation


def test_qa_degraded_eos_share():
    det = QADegradedDetector(drop=0.25)
    [f] = feed(det, [(100, None, 1.0), (200, None, 0.4)])
    assert f.step == 200 and f.evidence["triggers"] == ["eos"] and f.evidence["best_eos_share"] == 1.0


def test_qa_not_degraded():
    assert feed(QADegradedDetector(0.25), [(100, 0.75, 1.0), (200, 0.6, 0.5), (300, 0.8, 0.6)]) == []


def test_eval_divergence_needs_an_absolute_gap_too():
    det = EvalDivergenceDetector(ratio=1.5, min_gap=0.25)
    assert feed(det, [(15, 0.317, 0.129)]) == []  # 2.5x, but 0.19 nats: two small samples
    [f] = feed(det, [(20, 1.6, 1.0)])
    assert f.evidence["divergence_min_gap"] == 0.25 and f.step == 20


def test_train_loss_since_eval_replays_a_resumed_runs_history():
    from tuneguard.guard.train_loss import TrainLossSinceEval

    history = [{"step": 1, "loss": 3.0}, {"step": 10, "loss": 2.0}, {"step": 10, "eval_loss": 2.1},
               {"step": 15, "loss": 1.0}, {"step": 20, "loss": 0.5}, {"step": 25, "loss": 9.9}]
    acc = TrainLossSinceEval.from_history(history, up_to_step=20)  # the checkpoint was at step 20
    acc.add(22, 1.5)
    s = acc.take(22)
    assert (s.loss, s.steps, s.from_step) == (pytest.approx((5 * 1.0 + 5 * 0.5 + 2 * 1.5) / 12), 12, 10)


def test_loss_spike_needs_an_absolute_jump_too():
    """A healthy SmolLM2 run near zero: 0.07 after windows of 0.01-0.03 is 3.5x, 0.05 nats."""
    det = LossSpikeDetector(factor=2.0, window=20, min_jump=0.25)
    seq = [(s, x) for s, x in zip(range(21, 31), (0.0098, 0.0555, 0.0197, 0.0669, 0.0195, 0.0083, 0.0174, 0.0102,
                                                   0.0089, 0.0705))]
    assert feed(det, seq) == []
    [f] = feed(det, [(31, 0.9)])
    assert f.step == 31 and f.evidence["spike_min_jump"] == 0.25
