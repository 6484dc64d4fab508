"""Each detector with a synthetic metric sequence that must trigger it and one that must not,
and once-per-episode behaviour."""

from __future__ import annotations

import math

import pytest

from tuneguard.catalog import render
from tuneguard.findings import Finding, when_text
from tuneguard.guard import (
    EvalDivergenceDetector, GradNormDetector, LossCollapseDetector, LossSpikeDetector, MemoryDetector,
    NonFiniteDetector, OverfittingDetector, PlateauDetector, QADegradedDetector, ThroughputDetector,
)
from tuneguard.guard.qa import distinct2, keyword_score
from tuneguard.guard.seen import SeenPlan

NAN, INF = float("nan"), float("inf")
STEPS_PER_EPOCH = 5625  # the motivating run: step 225 is 4% of epoch 1


def feed(det, seq):
    """(step, *values) tuples through det.update; the non-None findings."""
    return [f for f in (det.update(*item) for item in seq) if f is not None]


# -- LOSS_COLLAPSE -----------------------------------------------------------------------

DUP = Finding("DUPLICATE_EXACT", "error", "38% of the rows are exact duplicates", {"fraction": 0.38})
MOTIVATING = SeenPlan(rows=STEPS_PER_EPOCH * 8, examples_per_step=8, steps_per_epoch=STEPS_PER_EPOCH)


def collapse_feed(det, plan, seq):
    """(step, loss) pairs through det.update with what `plan` says the model has seen."""
    return [f for f in (det.update(step, loss, plan.at(step)) for step, loss in seq) if f is not None]


def test_collapse_motivating_case_with_its_audit_cause_halts_at_once():
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[DUP])
    [f] = collapse_feed(det, MOTIVATING, [(1, 3.64), (100, 1.9), (200, 0.4), (225, 0.005)])
    assert (f.code, f.severity, f.step, f.source) == ("LOSS_COLLAPSE", "error", 225, "guard")
    ev = f.evidence
    assert ev["initial_loss"] == 3.64 and ev["initial_step"] == 1 and ev["loss"] == 0.005
    assert (ev["at_step"], ev["examples_seen"], ev["rows"], ev["distinct_rows"]) == (225, 1800, 45000, 45000)
    assert ev["passes"] == ev["exposures"] == ev["epoch"] == pytest.approx(0.04)
    assert ev["perplexity"] == pytest.approx(math.exp(0.005))
    assert ev["audit_findings"] == ev["audit_causes"] == ["DUPLICATE_EXACT"] and ev["verdict"] == "fault: audit"
    assert ev["window"] == "exposures"
    assert "not ordinary overfitting" in f.message and "each distinct row has been seen at most once" in f.message
    assert "at step 225, after 1,800 examples (0.04 passes over the 45,000 rows)" in f.message
    assert "the audit found the cause (DUPLICATE_EXACT)" in f.message
    # The audit named the cause: the advice is about it alone, not a list of causes the data does not have.
    assert f.recommendation == ("Fix the data, not the learning rate (a lower one only slows the collapse): "
                                "the audit found 38% exact duplicates: see DUPLICATE_EXACT.")


def test_collapse_on_labels_built_wrong_says_the_rows_need_no_edit():
    pad = Finding("PAD_IS_EOS", "error", "pad is eos", {})
    prompt = Finding("PROMPT_NOT_MASKED", "error", "prompt in labels", {})
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[pad, prompt])
    [f] = collapse_feed(det, MOTIVATING, [(1, 3.64), (100, 1.9), (225, 0.005)])
    assert f.evidence["audit_causes"] == ["PAD_IS_EOS", "PROMPT_NOT_MASKED"]
    assert f.recommendation == (
        "Fix how the labels are built, not the learning rate (a lower one only slows the collapse): the audit found "
        "pad == eos (EOS masked out of the labels): see PAD_IS_EOS; the audit found prompt tokens in the labels: see "
        "PROMPT_NOT_MASKED; the rows themselves need no edit: the data settings those findings name fix it "
        "(`tuneguard next` proposes them).")
    assert render(f.text["recommendation"], "th").startswith("แก้วิธีสร้าง labels ไม่ใช่ learning rate")


def test_collapse_of_repeated_rows_is_named_past_the_first_pass():
    """The issue's run: three texts repeated 900 times. On two processes each step sees 16
    examples, and the loss crosses the threshold at 1.12 passes: the repetition the audit
    found is the cause however the steps fall, so it is named there too, in the units that
    explain it (3 distinct rows, each seen about 1,000 times)."""
    plan = SeenPlan(rows=2700, examples_per_step=16, steps_per_epoch=169, distinct_rows=3)
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[DUP])
    assert collapse_feed(det, plan, [(1, 6.8), (100, 2.0), (169, 0.64)]) == []
    [f] = collapse_feed(det, plan, [(190, 0.33)])
    ev = f.evidence
    assert (f.severity, ev["window"], ev["examples_seen"]) == ("error", "repeats", 2700 + 21 * 16)
    assert ev["passes"] == pytest.approx(3036 / 2700, abs=1e-4) and ev["exposures"] == pytest.approx(1012)
    assert "which hold 3 distinct rows: each seen 1,012 times on average" in f.message
    assert "the rows repeat, so the model has memorised the copies" in f.message
    # The copies are memorised at any point (how fast depends on the updates, not the examples).
    late = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[DUP])
    assert [g.evidence["window"] for g in collapse_feed(late, plan, [(1, 6.8), (1000, 0.05)])] == ["repeats"]
    # Without an audit cause the rows are judged only while each distinct row was seen at most once.
    clean = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert collapse_feed(clean, plan, [(1, 6.8), (190, 0.05)]) == []


def test_collapse_window_counts_distinct_rows_not_epochs():
    """Without a cause: judged while the average distinct row was seen at most
    `collapse_exposures` times; with 25% of the rows copies, that is 0.75 passes, not 1. With a
    cause: up to `collapse_passes` passes, and at any point when the audit found duplicates and
    at least `collapse_repeats` rows per distinct row."""
    plan = SeenPlan(rows=1000, examples_per_step=10, steps_per_epoch=100, distinct_rows=750)
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert det.window(plan.at(75), None) == "exposures"
    assert det.window(plan.at(76), None) is None
    assert det.window(plan.at(76), None, ["PAD_IN_LABELS"]) == "cause"
    assert det.window(plan.at(200), None, ["DUPLICATE_EXACT"]) == "cause"  # 1.33 rows per distinct row
    assert det.window(plan.at(201), None, ["DUPLICATE_EXACT"]) is None
    wider = LossCollapseDetector(floor=0.1, ratio=0.05, exposures=2.0)
    assert wider.window(plan.at(150), None) == "exposures"
    halved = SeenPlan(rows=1000, examples_per_step=10, steps_per_epoch=100, distinct_rows=500)
    assert det.window(halved.at(5000), None, ["DUPLICATE_NEAR"]) == "repeats"
    assert det.window(halved.at(5000), None, ["PAD_IN_LABELS"]) is None  # not a repetition cause
    assert det.window(None, 1.5, ["DUPLICATE_EXACT"]) == "cause"  # no plan: the epoch stands for the passes


def test_collapse_without_audit_cause_waits_for_the_evaluation_then_halts_on_a_gap():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    [f] = collapse_feed(det, MOTIVATING, [(1, 3.64), (200, 0.4), (225, 0.005), (250, 0.007)])
    assert (f.severity, f.step, f.evidence["verdict"]) == ("info", 225, "pending evaluation")
    assert "the audit found no cause" in f.message and "The next evaluation tells" in f.message
    assert "while each distinct row has been seen at most 1 time(s)" in f.message
    # The eval loss against the training loss per token since the previous evaluation (the caller's).
    g = det.update_eval(250, 1.9, 0.006, MOTIVATING.at(250))
    assert (g.code, g.severity, g.step, g.evidence["verdict"]) == ("LOSS_COLLAPSE", "error", 250, "fault: eval far above")
    assert g.evidence["train_loss_since_eval"] == 0.006 and g.evidence["eval_to_train"] == pytest.approx(1.9 / 0.006)
    # Placed where the loss was first low (step 225), judged at the evaluation (step 250): one wording everywhere.
    assert (g.evidence["at_step"], g.evidence["examples_seen"], g.evidence["eval_step"]) == (225, 1800, 250)
    assert when_text(g) == "first seen at step 225, after 1,800 examples (0.04 passes over the rows); judged at step 250"
    assert when_text(g, "th") == ("พบครั้งแรกที่ step 225 หลังจากโมเดลเห็นข้อมูล 1,800 ตัวอย่าง (0.04 รอบของข้อมูลทั้งชุด) "
                                  "และตัดสินที่ step 250")
    assert "not seen in training" in g.message and "limit 4x" in g.message
    assert det.update_eval(300, 2.0, 0.005) is None  # reported once


def test_collapse_needs_a_large_gap_not_the_noise_of_small_samples():
    """SmolLM2 on extraction (bench/diagnosis.py): 0.129 over a few batches against 0.317 on
    16 eval rows is 2.5x, the noise of two small samples; a fault is far larger."""
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    plan = SeenPlan(rows=1600, examples_per_step=8, steps_per_epoch=200)
    collapse_feed(det, plan, [(1, 1.31), (10, 0.23), (12, 0.042), (14, 0.038), (15, 0.054)])
    f = det.update_eval(15, 0.317, 0.129)
    assert (f.severity, f.evidence["verdict"]) == ("info", "easy task")
    # The header names the step the low loss was first seen at and what the model had seen then,
    # and the evaluation that judged it (the real SmolLM2 run: step 7 after 28 examples, judged at 10).
    assert when_text(f) == "first seen at step 12, after 96 examples (0.06 passes over the rows); judged at step 15"
    # Five steps later 0.038 against 0.306 is 8x, but the eval loss fell from the initial 1.31
    # to less than half of it: the model learns the task on unseen rows (a few hard eval rows).
    collapse_feed(det, plan, [(18, 0.012), (20, 0.027)])
    assert det.update_eval(20, 0.306, 0.0375) is None
    det = LossCollapseDetector(floor=0.1, ratio=0.05, eval_ratio=2.0, eval_kept=0.2)  # a stricter user
    collapse_feed(det, plan, [(1, 1.31), (12, 0.042)])
    assert det.update_eval(15, 0.317, 0.129).severity == "error"


def test_easy_task_learned_well_is_info_saying_so_and_never_an_error():
    """The reported SmolLM2 extraction run: pretrained start 0.64, eval 0.40 at step 10 and
    0.097 at step 20; the loss passes below the floor at step 18."""
    plan = SeenPlan(rows=2400, examples_per_step=8, steps_per_epoch=300)
    det = LossCollapseDetector(floor=0.1, ratio=0.05,
                               audit_findings=[Finding("TRAIN_VAL_LEAKAGE", "warning", "2% leaked", {"share": 0.02})])
    out = collapse_feed(det, plan, [(1, 0.64), (2, 0.61), (4, 0.52), (6, 0.47), (8, 0.44), (10, 0.41)])
    out.append(det.update_eval(10, 0.40, 0.5))
    out += collapse_feed(det, plan, [(12, 0.31), (14, 0.2), (16, 0.13), (18, 0.094), (20, 0.088)])
    out.append(det.update_eval(20, 0.097, 0.165))
    out += collapse_feed(det, plan, [(22, 0.08), (24, 0.07), (30, 0.075)])
    out.append(det.update_eval(30, 0.085, 0.074))
    found = [f for f in out if f is not None]
    assert [(f.severity, f.step, f.evidence["verdict"]) for f in found] == \
        [("info", 18, "pending evaluation"), ("info", 20, "easy task")]
    easy = found[1]
    assert (easy.evidence["loss"], easy.evidence["train_loss_since_eval"], easy.evidence["eval_loss"]) == \
        (0.094, 0.165, 0.097)
    assert easy.evidence["examples_seen"] == 144  # where the low loss was seen
    assert easy.evidence["audit_findings"] == ["TRAIN_VAL_LEAKAGE"]  # a warning: named, not a cause
    assert "The task looks easy for this model, not broken" in easy.message
    assert "of the same order (0.097 at step 20 against 0.165" in easy.message
    assert "only non-error audit findings (TRAIN_VAL_LEAKAGE)" in easy.message


def _leak(from_train: bool) -> Finding:
    return Finding("TRAIN_VAL_LEAKAGE", "error", "22 of 24 validation rows leaked",
                   {"share": 0.69, "validation_from_train": from_train,
                    "splits": {"validation": {"leaked": 22, "share": 22 / 24}}})


def test_validation_leaked_from_a_separate_file_is_no_cause_of_a_low_training_loss():
    """SmolLM2 on the stdlib extraction rows with a validation file whose rows mostly copy training
    rows: the training rows are those of the healthy run, so a low training loss is judged at the
    next evaluation as there (not halted as a fault), and every message says the leak makes the
    eval loss unfair, not the training rows predictable."""
    plan = SeenPlan(rows=400, examples_per_step=4, steps_per_epoch=100)
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[_leak(False)])
    [pending] = collapse_feed(det, plan, [(1, 0.6884), (2, 1.194), (6, 0.1287), (7, 0.07739)])
    assert (pending.severity, pending.step, pending.evidence["verdict"]) == ("info", 7, "pending evaluation")
    assert ("and the audit's TRAIN_VAL_LEAKAGE concerns the evaluation rows (validation or test rows that repeat "
            "training rows), which makes the eval loss unfair but cannot make the training rows predictable:"
            ) in pending.message
    assert "are not errors" not in pending.message
    easy = det.update_eval(10, 0.21, 0.15)
    assert (easy.severity, easy.evidence["verdict"]) == ("info", "easy task")
    assert easy.message.endswith("with the audit's TRAIN_VAL_LEAKAGE: eval rows that repeat training rows flatter the "
                                 "eval loss, so fix that (tuneguard fix) before trusting this verdict.")
    assert render(easy.text["message"], "th").endswith("ให้แก้ก่อน (tuneguard fix) แล้วจึงเชื่อผลนี้")
    # A split drawn from the training file leaks copies inside it: a cause, as before.
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[_leak(True)])
    [f] = collapse_feed(det, plan, [(1, 0.6884), (7, 0.07739)])
    assert (f.severity, f.evidence["audit_causes"]) == ("error", ["TRAIN_VAL_LEAKAGE"])
    # The share of the split, as the audit said it (22 of 24), not of validation and test together.
    assert "the audit found 92% validation rows leaked from training: see TRAIN_VAL_LEAKAGE" in f.recommendation


def test_easy_task_is_said_once_per_run_and_a_later_gap_is_still_an_error():
    """The healthy SmolLM2 extraction run of bench/diagnosis.py as it ran (eval 0.476, 0.296,
    0.259, 0.249 every 5 steps): its step losses dip below the floor, rise above it and dip
    again between every two evaluations. The first dip and the first verdict are facts worth
    recording; the same "pending" and "easy task" at every later evaluation are not news. A gap
    at a later evaluation is judged as ever: an error."""
    plan = SeenPlan(rows=540, examples_per_step=4, steps_per_epoch=135)
    steps = [(1, 1.309), (2, 0.847), (3, 0.529), (4, 0.701), (5, 0.592), (6, 0.426), (7, 0.351), (8, 0.637),
             (9, 0.375), (10, 0.404), (11, 0.082), (12, 0.198), (13, 0.093), (14, 0.126), (15, 0.157), (16, 0.036),
             (17, 0.028), (18, 0.086), (19, 0.052), (20, 0.018), (21, 0.073), (22, 0.32), (23, 0.032), (24, 0.11),
             (25, 0.037)]
    evals = {5: (0.476, 0.88), 10: (0.296, 0.47), 15: (0.259, 0.137), 20: (0.249, 0.046), 25: (0.24, 0.06)}

    def run(det, evals):
        out = []
        for step, loss in steps:
            out.append(det.update(step, loss, plan.at(step)))
            if step in evals:
                out.append(det.update_eval(step, *evals[step], plan.at(step)))
        return [(f.severity, f.step, f.evidence["verdict"]) for f in out if f is not None]

    assert run(LossCollapseDetector(floor=0.1, ratio=0.05), evals) == \
        [("info", 11, "pending evaluation"), ("info", 15, "easy task")]
    # The same run where, by step 25, unseen rows stayed as hard as at the start while the
    # training rows became predictable: the error at that evaluation, after the one easy verdict.
    gap = {**evals, 25: (0.9, 0.06)}
    assert run(LossCollapseDetector(floor=0.1, ratio=0.05), gap) == \
        [("info", 11, "pending evaluation"), ("info", 15, "easy task"), ("error", 25, "fault: eval far above")]


def test_collapse_ratio_rule_above_floor():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    [f] = collapse_feed(det, MOTIVATING, [(1, 10.0), (20, 0.4)])  # 0.4 < 5% of 10 although above the floor
    assert f.severity == "info"
    assert f.step == 20 and f.evidence["loss_ratio"] == pytest.approx(0.04)
    assert "below 5% of the initial loss" in f.message and "floor" not in f.message


def test_collapse_floor_applies_to_the_first_loss():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    [f] = collapse_feed(det, MOTIVATING, [(1, 0.05), (2, 0.04)])
    assert f.step == 1 and f.evidence["initial_loss"] == 0.05
    assert "is already 0.05 at the first step (below the floor 0.1)" in f.message


def test_collapse_not_after_the_rows_were_seen_nor_gradual():
    late = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert collapse_feed(late, MOTIVATING, [(1, 3.6), (6000, 0.05), (9000, 0.01)]) == []
    healthy = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert collapse_feed(healthy, MOTIVATING, [(s, 3.6 - 2.4 * s / 5625) for s in range(1, 5625, 50)]) == []
    # A caller without a plan: the logged epoch stands for passes and exposures.
    by_epoch = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert by_epoch.update(1, 3.6, epoch=0.001) is None and by_epoch.update(6000, 0.05, epoch=1.07) is None


def test_collapse_once_per_episode_and_rearmed():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    seq = [(1, 3.6), (10, 0.05), (11, 0.04), (12, 0.03),  # one episode
           (13, 0.5),  # cleared: above the floor and 14% of the initial loss
           (14, 0.02), (15, 0.01)]  # a second episode
    assert [f.step for f in collapse_feed(det, MOTIVATING, seq)] == [10]  # still waiting for an evaluation: one fact
    assert det.update_eval(16, 0.02, 0.02).evidence["verdict"] == "easy task"
    # Re-armed after it: the episode at step 18 is judged at the next evaluation, but after the
    # run's easy verdict a new "pending evaluation" says nothing new.
    assert collapse_feed(det, MOTIVATING, [(17, 0.5), (18, 0.02)]) == [] and det.pending["step"] == 18
    assert det.update_eval(20, 0.02, 0.02) is None


def test_collapse_ignores_nan_and_exact_zero():
    det = LossCollapseDetector(floor=0.1, ratio=0.05)
    assert collapse_feed(det, MOTIVATING, [(1, NAN), (2, 3.0), (3, 0.0), (4, NAN)]) == []
    assert det.initial == 3.0


def test_collapse_links_audit_findings():
    audit = [
        Finding("DUPLICATE_EXACT", "error", "38% of the rows are exact duplicates", {"fraction": 0.38}),
        Finding("MALFORMED_ROWS", "warning", "2 rows are malformed", {"rows": [3, 9]}),
        Finding("PAD_IS_EOS", "error", "pad == eos", {"pad_id": 0, "eos_id": 0}),
    ]
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=audit)
    [f] = collapse_feed(det, MOTIVATING, [(1, 3.6), (50, 0.01)])
    assert f.severity == "error" and f.evidence["audit_causes"] == ["DUPLICATE_EXACT", "PAD_IS_EOS"]
    assert f.evidence["audit_findings"] == ["DUPLICATE_EXACT", "PAD_IS_EOS"]
    assert "the audit found 38% exact duplicates: see DUPLICATE_EXACT" in f.recommendation
    assert "see PAD_IS_EOS" in f.recommendation
    assert "MALFORMED_ROWS" not in f.recommendation


# -- what the model has seen ---------------------------------------------------------------

def test_seen_plan_counts_examples_per_epoch_and_exposures():
    """108 rows, 8 examples per step: 14 steps per epoch, the 14th holds the last 4 rows."""
    plan = SeenPlan(rows=108, examples_per_step=8, steps_per_epoch=14, distinct_rows=3)
    assert [plan.examples(s) for s in (0, 1, 13, 14, 15, 28, 29)] == [0, 8, 104, 108, 116, 216, 224]
    seen = plan.at(14, tokens=4000)
    assert (seen.passes, seen.exposures, seen.repeats) == (1.0, 36.0, 36.0)
    assert seen.evidence() == {"examples_seen": 108, "tokens_seen": 4000, "passes": 1.0, "exposures": 36.0,
                               "rows": 108, "distinct_rows": 3}
    assert seen.describe() == ("after 108 examples (1 passes over the 108 rows, which hold 3 distinct rows: "
                               "each seen 36 times on average)")
    assert SeenPlan(rows=100, examples_per_step=8, steps_per_epoch=13).at(5).describe() == \
        "after 40 examples (0.4 passes over the 100 rows)"
    # The same examples whatever the split of the global batch: 8 x 1, 4 x 2, 2 processes x 4.
    assert plan.examples(20) == SeenPlan(108, 4 * 2, 14).examples(20) == SeenPlan(108, 2 * 4, 14).examples(20)


def test_distinct_rows_from_the_audit_groups():
    from tuneguard.guard.seen import distinct_rows

    stats = {"duplicates_exact": {"rows": 1000, "distinct": 800}, "duplicates_near": {"extra_rows": 50}}
    assert distinct_rows(1000, stats) == 750  # 200 exact copies, 50 more near copies of distinct texts
    assert distinct_rows(4000, stats) == 3000  # the audit looked at a 1,000-row sample
    assert distinct_rows(1000, {}) == 1000 and distinct_rows(1000, None) == 1000
    assert distinct_rows(2700, {"duplicates_exact": {"rows": 2700, "distinct": 3}}) == 3


# -- the training loss since the previous evaluation -----------------------------------------

def test_train_loss_since_eval_weights_windows_by_steps_and_resets():
    from tuneguard.guard.train_loss import TrainLossSinceEval

    acc = TrainLossSinceEval()
    assert acc.take(0) is None
    for step, loss in [(1, 3.0), (10, 2.0), (20, NAN), (30, 1.0), (30, 9.0)]:  # NaN window and a repeat left out
        acc.add(step, loss)
        acc.end_window()
    s = acc.take(30)
    assert (s.loss, s.steps, s.windows, s.from_step, s.to_step) == (pytest.approx((3.0 + 9 * 2.0 + 10 * 1.0) / 20),
                                                                     20, 5, 0, 30)
    assert (s.weighting, s.tokens) == ("steps", None)
    acc.add(35, 0.5)
    s = acc.take(40)
    assert (s.loss, s.steps, s.from_step) == (0.5, 5, 30)
    assert acc.take(50) is None


def test_train_loss_since_eval_weights_steps_by_their_supervised_tokens():
    """Length-bucketed steps of a mixed dataset (the SmolLM2 demo's shape): eight steps of a
    short easy task (80 supervised tokens each, loss 0.05) and two of a long hard one (640
    tokens, loss 0.3). By steps the training loss is 0.1, half of the per-token loss over what
    the model was trained on (0.2), the quantity the eval loss measures on the mixed eval rows."""
    from tuneguard.guard.train_loss import TrainLossSinceEval

    steps = [(s, 0.05, 80) for s in range(1, 9)] + [(9, 0.3, 640), (10, 0.3, 640)]
    by_tokens, by_steps = TrainLossSinceEval(), TrainLossSinceEval()
    for step, loss, tokens in steps:
        by_tokens.add(step, loss, tokens)
        by_steps.add(step, loss)
    t, s = by_tokens.take(10), by_steps.take(10)
    assert t.loss == pytest.approx((8 * 80 * 0.05 + 2 * 640 * 0.3) / (8 * 80 + 2 * 640)) == pytest.approx(0.21667, abs=1e-4)
    assert (t.weighting, t.tokens, t.steps) == ("tokens", 1920, 10)
    assert s.loss == pytest.approx(0.1) and s.weighting == "steps"
    assert t.basis()["since_eval_weighting"] == "tokens" and t.basis()["train_tokens_since_eval"] == 1920
    # One step without a count (an old log history): the average falls back to steps, and says so.
    mixed = TrainLossSinceEval()
    mixed.add(1, 0.05, 80)
    mixed.add(2, 0.3)
    assert mixed.take(2).weighting == "steps"


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


def test_a_gap_while_the_eval_loss_falls_is_info_in_words_that_claim_no_memorising():
    """The healthy tiny run's curve (tuneguard train tiny, 40 steps, eval every 5): the eval loss
    falls at every evaluation while the training loss falls faster. Said once per gap, at info."""
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    seq = [(5, 5.054, 5.9), (10, 3.759, 3.9), (15, 3.4, 3.1), (20, 3.32, 2.804), (25, 3.171, 2.75),
           (30, 3.045, 2.7), (35, 2.983, 2.421), (40, 2.977, 2.45)]
    first, second = feed(det, seq)
    assert (first.severity, first.step, second.step) == ("info", 20, 35)  # re-armed once the gap closed at 30
    assert first.message == ("The gap between the eval and the training loss is growing at step 20: eval loss 3.32 "
                             "exceeds the training loss 2.804 by 0.516 (more than 0.5); but the eval loss still falls "
                             "(from 3.4 at step 15 to 3.32), so the model is not memorising yet.")
    assert first.recommendation == ("Nothing to do yet: watch the eval loss. If it stops falling while the gap stays, "
                                    "the model starts memorising the training rows and a warning says so; "
                                    "eval.load_best_model_at_end: true keeps the best checkpoint either way.")
    assert first.message_in("th") == (
        "ช่องว่างระหว่าง eval loss กับ loss การฝึกกว้างขึ้นที่ step 20: eval loss 3.32 สูงกว่า loss การฝึก 2.804 อยู่ "
        "0.516 (เกิน 0.5) แต่ eval loss ยังลดลงอยู่ (จาก 3.4 ที่ step 15 เป็น 3.32) โมเดลจึงยังไม่ได้จำแถวข้อมูลฝึก")
    assert first.evidence["eval_falling"] is True and first.evidence["triggers"] == ["gap"]
    # At the first evaluation the eval loss is held against the run's first training loss.
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    (f,) = feed(det, [(5, 5.054, 4.4, None, 6.498)])
    assert f.severity == "info" and "(from the first training loss 6.498 to 5.054)" in f.message
    # With nothing to hold it against, a gap is the warning it always was.
    (f,) = feed(OverfittingDetector(rising_evals=3, gap=0.5), [(5, 5.054, 4.4)])
    assert f.severity == "warning"


def test_the_warning_follows_when_the_eval_loss_stops_falling_with_the_gap_open():
    """The memorised run's curve (16 training rows, 40 unseen validation rows): the gap opens
    while the eval loss falls (info), then the eval loss turns up (the warning, once)."""
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    seq = [(12, 3.068, 2.9), (16, 2.867, 2.008), (20, 2.803, 1.545), (24, 2.789, 1.3), (28, 2.808, 1.087),
           (32, 2.814, 0.9), (36, 2.817, 0.8), (40, 2.819, 0.75)]
    watch, over, rising = feed(det, seq)
    assert (watch.severity, watch.step) == ("info", 16)
    assert (over.severity, over.step) == ("warning", 28)
    assert over.message == ("Overfitting at step 28: eval loss 2.808 exceeds the training loss 1.087 by 1.72 (more "
                            "than 0.5); the model is memorising the training rows.")
    assert over.evidence["eval_falling"] is False and over.evidence["best_eval_step"] == 24
    # Inside the open gap the eval loss then rose at 3 evaluations in a row: said once, as `rising`.
    assert (rising.severity, rising.step, rising.evidence["triggers"]) == ("warning", 36, ["rising", "gap"])
    assert [e["step"] for e in rising.evidence["evaluations"]] == [24, 28, 32, 36]


def test_rising_inside_an_open_gap_is_said_once_and_only_when_it_starts():
    """A gap warning, then the eval loss rising at 3 evaluations in a row: one more finding at the
    third rise, none while it keeps rising, none for a gap that stays without a rise."""
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    gap_only = [(10, 2.0, 1.2), (20, 2.1, 1.1), (30, 2.05, 1.0), (40, 2.04, 0.9)]
    (first,) = feed(det, gap_only)
    assert (first.step, first.severity, first.evidence["triggers"]) == (10, "warning", ["gap"])
    (rising,) = feed(det, [(50, 2.1, 0.8), (60, 2.2, 0.7), (70, 2.3, 0.6), (80, 2.4, 0.5)])
    assert (rising.step, rising.evidence["triggers"]) == (70, ["rising", "gap"])


def test_no_overfitting_while_the_eval_loss_is_above_the_untrained_loss():
    """The tiny preset at learning rate 0.5: first training loss 6.498, eval loss 28 then 12.1 then
    7.64 while the training loss since each evaluation was 18.8, 6.9: worse than untrained, not
    memorising (it was "Overfitting at step 20 ... the model is memorising the training rows")."""
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    seq = [(20, 28.0, 18.79, None, 6.498), (40, 12.1, 11.0, None, 6.498), (60, 7.642, 6.896, None, 6.498)]
    assert feed(det, seq) == []
    # Below the untrained loss the same gap is said as before.
    watch, f = feed(OverfittingDetector(rising_evals=3, gap=0.5),
                    [(20, 5.0, 4.0, None, 6.498), (40, 5.2, 3.5, None, 6.498)])
    assert (watch.step, watch.severity) == (20, "info")
    assert (f.step, f.severity, f.evidence["triggers"]) == (40, "warning", ["gap"])
    # An easy first batch (1.27) below an ordinary eval loss: the training loss fell below it, so
    # the model is not worse than untrained, and a gap is judged as ever.
    (f,) = feed(OverfittingDetector(rising_evals=3, gap=0.5), [(20, 3.0, 1.1, None, 1.27)])
    assert (f.step, f.severity, f.evidence["triggers"]) == (20, "warning", ["gap"])


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
    det = LossSpikeDetector(factor=2.0, window_examples=1000)
    [f] = feed(det, [(1, 2.0), (2, 1.9), (3, 1.8), (4, 1.85), (5, 1.95), (6, 4.0), (7, 4.1), (8, 1.8)])
    assert (f.code, f.severity, f.step) == ("LOSS_SPIKE", "warning", 6)
    assert f.evidence["running_median"] == pytest.approx(1.9) and f.evidence["loss"] == 4.0
    assert f.evidence["previous_losses"] == [2.0, 1.9, 1.8, 1.85, 1.95] and f.evidence["previous_steps"] == 5


def test_loss_spike_needs_five_prior_steps_and_factor():
    assert feed(LossSpikeDetector(2.0, 1000), [(1, 2.0), (2, 1.9), (3, 1.8), (4, 1.85), (5, 5.0)]) == []
    assert feed(LossSpikeDetector(2.0, 1000), [(1, 2.0), (2, 1.9), (3, 1.8), (4, 1.85), (5, 1.9), (6, 3.0)]) == []


def test_loss_spike_baseline_is_the_last_examples_seen():
    """The window is counted in examples: 40 examples at 8 per step is the last 5 steps,
    whatever the logging cadence or the split of the batch."""
    plan = SeenPlan(rows=10_000, examples_per_step=8, steps_per_epoch=1250)
    det = LossSpikeDetector(factor=2.0, window_examples=40)
    losses = [(1, 9.0), (2, 9.0), (3, 1.0), (4, 1.1), (5, 1.0), (6, 0.9), (7, 1.0), (8, 2.5)]
    found = [det.update(step, x, plan.at(step)) for step, x in losses]
    [f] = [x for x in found if x is not None]  # the early 9.0 steps left the window
    assert f.step == 8 and f.evidence["previous_losses"] == [1.0, 1.1, 1.0, 0.9, 1.0]
    assert (f.evidence["examples_seen"], f.evidence["spike_window_examples"]) == (64, 40)
    assert "after 64 examples" in f.message


def test_loss_spike_baseline_follows_a_falling_loss():
    """Early in a run the loss falls fast: the steps since the start sit far above the current
    loss, so the baseline is the later half of the examples seen. A batch of garbled rows at step
    24 (the tiny model on 300 instructions and 24 rows of random characters, every step as it
    ran) is 1.9x the median of all steps before it, and 2.2x that of steps 12-23."""
    run = [6.64, 6.72, 6.49, 6.42, 6.06, 5.52, 4.97, 4.44, 3.91, 3.74, 3.33, 3.64, 3.24, 2.92, 3.05, 4.0, 3.36, 3.07,
           2.58, 2.73, 3.61, 2.84, 2.82, 6.74]
    plan = SeenPlan(rows=324, examples_per_step=8, steps_per_epoch=41)
    det = LossSpikeDetector(factor=2.0, window_examples=1024, min_jump=0.25, quantile=0.95, spread=4.5)
    found = [det.update(step, x, plan.at(step)) for step, x in enumerate(run, start=1)]
    [f] = [x for x in found if x is not None]
    assert f.step == 24 and f.evidence["previous_steps"] == 12
    # Outside the steady steps' swing: 6.1 robust standard deviations (of the logs) above their median.
    assert f.evidence["spreads_above"] == pytest.approx(6.08, abs=0.01)
    assert f.evidence["running_median"] == pytest.approx(3.06) and f.evidence["ratio"] == pytest.approx(2.203, abs=1e-3)


def test_loss_spike_keeps_earlier_spikes_out_of_its_baseline():
    """Three garbled batches at steps 20, 27 and 34 (the tiny model's losses as they ran in
    tests/policy): each is found. Were a spike part of the baseline, the 95% quantile of the
    steps before step 34 would hold the two earlier ones and hide it. A loss that stays up is a
    new level: after 5 steps in a row it joins the baseline and is reported once."""
    run = [6.50, 6.72, 6.43, 6.17, 5.59, 5.29, 4.76, 3.95, 3.85, 3.86, 3.78, 3.40, 3.38, 3.06, 3.20, 3.01, 2.45,
           3.11, 2.70, 9.25, 2.90, 2.45, 3.64, 2.36, 2.52, 2.88, 8.43, 2.97, 2.70, 3.31, 2.57, 2.72, 2.92, 8.28,
           2.39, 2.46]
    plan = SeenPlan(rows=360, examples_per_step=8, steps_per_epoch=45)
    det = LossSpikeDetector(factor=2.0, window_examples=1024, min_jump=0.25, quantile=0.95, spread=4.5)
    found = [det.update(step, x, plan.at(step)) for step, x in enumerate(run, start=1)]
    assert [f.step for f in found if f is not None] == [20, 27, 34]
    assert [round(f.evidence["spreads_above"], 1) for f in found if f is not None] == [10.1, 8.2, 9.8]
    later = [f for f in found if f is not None][1:]
    assert all(9.25 not in f.evidence["previous_losses"] and 8.43 not in f.evidence["previous_losses"] for f in later)
    level = LossSpikeDetector(factor=2.0, window_examples=1024, min_jump=0.25, quantile=0.95)
    shifted = [*run[:19], *[9.0] * 12, 9.1, 2.5, 2.6]
    found = [level.update(step, x, plan.at(step)) for step, x in enumerate(shifted, start=1)]
    assert [f.step for f in found if f is not None] == [20]
    assert any(x == 9.0 for _, x in level.points)  # the new level is in the baseline


def test_loss_spike_stands_out_of_the_swing_of_bucketed_tasks():
    """Length-bucketed steps of a mixed dataset: most steps hold an easy task at about 0.1, one
    in five a hard task at 0.6. A hard step is 6x the median, the old rule's spike, but within
    what the recent steps do (their 95% quantile); a step at 1.72 (an outlier batch) is above
    anything they did."""
    swing = [(s, 0.6 if s % 5 == 0 else 0.1 + 0.001 * (s % 3)) for s in range(1, 21)]
    det = LossSpikeDetector(factor=2.0, window_examples=1000, min_jump=0.25, quantile=0.95)
    assert feed(det, [*swing, (21, 0.1), (22, 0.7)]) == []
    [f] = feed(det, [(23, 1.72)])
    # Against the steps of the later half of the examples seen (steps 12-22: the hard step 22 at 0.7 among them).
    assert f.step == 23 and f.evidence["running_high"] == pytest.approx(0.65)
    assert f.evidence["running_median"] == pytest.approx(0.101) and f.evidence["previous_steps"] == 11
    assert "above the highest of their usual range (0.65, the 95% quantile)" in f.message
    old_rule = LossSpikeDetector(factor=2.0, window_examples=1000, min_jump=0.25)  # quantile 0.5: the median
    assert [x.step for x in feed(old_rule, swing)] == [10, 15, 20]  # every hard step after the first 5


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
    """A scaler that skips `max_scaler_skips` optimizer steps in a row never updates the
    weights: one finding, naming the skipped steps; a finite norm resets the count."""
    det = NonFiniteDetector(loss_scaling=True, max_scaler_skips=4)
    assert feed(det, [(1, 5.0, INF), (2, 5.0, INF), (3, 5.0, INF), (4, 5.0, 0.9)]) == []
    [f] = feed(det, [(s, 5.0, INF) for s in range(5, 10)])
    assert (f.code, f.step, f.evidence["kind"]) == ("NON_FINITE", 8, "fp16_overflow")
    assert f.evidence["skipped_steps"] == [5, 6, 7, 8]
    assert "skipped each of the last 4 optimizer steps (steps 5-8)" in f.message
    assert NonFiniteDetector().max_scaler_skips == 16  # 65,536 halved to 1


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


def throughput_feed(det, seq, window_s=1.0):
    return [f for f in (det.update(step, x, window_s=window_s) for step, x in seq) if f is not None]


def test_throughput_drop():
    det = ThroughputDetector(ratio=0.5, window_s=600, warmup_s=3.0)
    seq = [(1, 100.0), (2, 50.0), (3, 50.0),  # the first 3 seconds: warm-up, ignored
           (4, 1000.0), (5, 1000.0), (6, 1000.0), (7, 1000.0), (8, 400.0), (9, 300.0)]
    [f] = throughput_feed(det, seq)
    assert (f.code, f.severity, f.step) == ("THROUGHPUT_DROP", "warning", 8)
    assert f.evidence["running_median"] == 1000.0 and f.evidence["tokens_per_s"] == 400.0
    assert f.evidence["training_s"] == 8.0


def test_throughput_no_drop():
    det = ThroughputDetector(ratio=0.5, window_s=600, warmup_s=3.0)
    assert throughput_feed(det, [(1, 10.0), (2, 10.0), (3, 10.0), (4, 1000.0), (5, 1000.0), (6, 1000.0),
                                 (7, 600.0)]) == []
    assert [x for _, x in det.points] == [1000.0, 1000.0, 1000.0, 600.0]


def test_throughput_patience_and_short_windows_in_seconds():
    """Patience is seconds of training, not a number of logs: 2 s of slow logs, whether they
    are two logs of 1 s or four of 0.5 s."""
    for window in (1.0, 0.5):
        det = ThroughputDetector(ratio=0.5, window_s=600, patience_s=2.0, min_window_s=0.2)
        n = int(5 / window)
        steps = iter(range(1, 100))
        assert throughput_feed(det, [(next(steps), 1000.0) for _ in range(n)], window) == []
        assert det.update(next(steps), 100.0, window_s=0.1) is None  # too short to time: ignored
        assert throughput_feed(det, [(next(steps), 100.0)], window) == []  # the first slow window
        assert throughput_feed(det, [(next(steps), 1000.0)], window) == []  # recovered: reset
        slow = throughput_feed(det, [(next(steps), 100.0) for _ in range(int(2 / window))], window)
        assert [f.evidence["slow_for_s"] for f in slow] == [2.0], window
        assert throughput_feed(det, [(next(steps), 100.0)], window) == []  # same episode


def test_throughput_median_is_over_the_last_seconds():
    det = ThroughputDetector(ratio=0.5, window_s=5.0)
    throughput_feed(det, [(s, 4000.0) for s in range(1, 6)] + [(s, 1000.0) for s in range(6, 12)])
    assert [x for _, x in det.points] == [1000.0] * 6  # the 4,000 tokens/s logs left the window
    assert throughput_feed(det, [(12, 600.0)]) == []  # 60% of the median of the last 5 s


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
    # A history with the per-step records tuneguard keeps (tuneguard_steps): every step, its tokens.
    history = [{"step": 10, "eval_loss": 2.1},
               {"step": 12, "loss": 0.75, "tuneguard_steps": [[11, 1.0, 0.5, 100], [12, 0.5, 0.5, 300]]}]
    s = TrainLossSinceEval.from_history(history, up_to_step=12).take(12)
    assert (s.loss, s.tokens, s.weighting) == (pytest.approx((100 * 1.0 + 300 * 0.5) / 400), 400, "tokens")


def test_loss_spike_needs_an_absolute_jump_too():
    """A healthy SmolLM2 run near zero: 0.07 after windows of 0.01-0.03 is 3.5x, 0.05 nats."""
    det = LossSpikeDetector(factor=2.0, window_examples=1000, min_jump=0.25)
    seq = [(s, x) for s, x in zip(range(21, 31), (0.0098, 0.0555, 0.0197, 0.0669, 0.0195, 0.0083, 0.0174, 0.0102,
                                                   0.0089, 0.0705), strict=False)]
    assert feed(det, seq) == []
    [f] = feed(det, [(31, 0.9)])
    assert f.step == 31 and f.evidence["spike_min_jump"] == 0.25


def test_plateau_window_spans_a_share_of_a_long_run():
    """An evaluation every 500 steps of 100,000: a healthy loss falling 0.25% per 1,000 steps, in
    stairs of 1,500 steps, is flat over three evaluations (the old window) but not over 5% of the
    run (5,000 steps)."""
    evals = [(s, 1.5 * (1 - 0.00375 * (s // 1500)), 100_000, 2.2) for s in range(500, 20001, 500)]
    assert feed(PlateauDetector(evals=3, rel_change=0.001, min_share=0.05), evals) == []
    old = [f.step for f in feed(PlateauDetector(evals=3, rel_change=0.001), evals)]
    assert old[:3] == [2500, 4000, 5500] and len(old) == 12


def test_plateau_after_learning_is_info_stalled_is_warning():
    flat = [(s, 1.4 + 1e-5 * (s % 1000 == 0), 100_000) for s in range(30_000, 36_001, 500)]
    learned = PlateauDetector(evals=3, rel_change=0.001, min_share=0.05)
    [f] = feed(learned, [(*x, 2.2) for x in flat])
    assert (f.severity, f.step, len(f.evidence["evaluations"])) == ("info", 35_000, 11)
    assert f.text["recommendation"]["key"] == "PLATEAU.learned.rec"
    stalled = PlateauDetector(evals=3, rel_change=0.001, min_share=0.05)
    [g] = feed(stalled, [(*x, 1.45) for x in flat])  # 1.4 is only 3% below the first training loss
    assert (g.severity, g.step) == ("warning", 35_000)
    assert g.text["recommendation"]["key"] == "PLATEAU.early.rec"


def test_non_finite_advice_follows_the_precision_the_run_computes_in():
    """Only an fp16 run is sent to bf16/fp32; a bf16 or fp32 run that turns non-finite is told that
    its precision is not the cause (a CPU run is fp32: "use bf16 instead of fp16" would send its
    user after a setting it does not have)."""
    [fp16] = feed(NonFiniteDetector(dtype="fp16"), [(3, NAN, NAN)])
    assert "The run computes in fp16" in fp16.recommendation and "--set model.dtype=fp32" in fp16.recommendation
    assert fp16.evidence["dtype"] == "fp16"
    for dtype in ("fp32", "bf16"):
        [f] = feed(NonFiniteDetector(dtype=dtype), [(3, NAN, NAN)])
        assert f.recommendation.startswith(f"The run computes in {dtype}, not fp16, so this is no fp16 overflow")
        assert "Lower train.learning_rate" in f.recommendation and "bf16 where" not in f.recommendation
        assert "GPT-J" not in f.recommendation and f.evidence["dtype"] == dtype


def test_compute_dtype_from_the_trainer_arguments_and_the_model():
    """Mixed precision names itself; without it the model's weights do (an fp16 base on the CPU)."""
    from types import SimpleNamespace

    import torch

    from tuneguard.guard.nonfinite import compute_dtype

    plain = SimpleNamespace(fp16=False, bf16=False)
    assert compute_dtype(SimpleNamespace(fp16=True, bf16=False), SimpleNamespace(dtype=torch.float32)) == "fp16"
    assert compute_dtype(SimpleNamespace(fp16=False, bf16=True), None) == "bf16"
    assert compute_dtype(plain, SimpleNamespace(dtype=torch.float16)) == "fp16"
    assert compute_dtype(plain, torch.nn.Linear(2, 2)) == "fp32"  # no dtype attribute: fp32
    assert compute_dtype(plain, SimpleNamespace(dtype=torch.float32)) == "fp32"


def test_non_finite_after_the_loss_climbed_says_start_again_not_resume():
    """SmolLM2 at learning rate 0.25 in fp16 on the CPU: training losses 1.471, 2.624, 15.38, 25.92,
    then a NaN eval loss at step 4. The checkpoint of step 2 holds a model already worse than
    untrained: resuming from it is no way on. A NaN out of a falling loss keeps the resume advice."""
    ckpt = lambda step: "ckpt/checkpoint-2"  # noqa: E731
    det = NonFiniteDetector(last_checkpoint=ckpt, dtype="fp16")
    assert feed(det, [(1, 1.471, 1.0), (2, 2.624, 3.0), (3, 15.38, 135.5), (4, 25.92, 40.0)]) == []
    f = det.update_eval(4, NAN)
    assert f is not None and f.evidence["kind"] == "eval" and f.evidence["checkpoint_before"] == "ckpt/checkpoint-2"
    assert (f.evidence["first_loss"], f.evidence["loss_before"]) == (1.471, 15.38)
    assert "Resume from" not in f.recommendation
    assert f.recommendation.endswith("Start a new run rather than resuming: the training loss had already climbed "
                                     "from 1.471 to 15.38 before the fault, so the checkpoints saved before it hold a "
                                     "model worse than untrained.")
    falling = NonFiniteDetector(last_checkpoint=ckpt)
    [g] = feed(falling, [(1, 1.471, 1.0), (2, 2.624, 1.0), (3, 1.2, 1.0), (4, 0.9, 1.0), (5, NAN, NAN)])
    assert "Resume from ckpt/checkpoint-2" in g.recommendation and "loss_before" not in g.evidence


def test_collapse_on_rows_that_repeat_names_the_copies_not_rows_seen_once():
    """One row copied 361 times among 123 distinct ones (the tiny preset on manual-page rows):
    at step 13 the average distinct row was seen 0.85 times, but the copied one about 78 times;
    the message says the copies were memorised, not that every row was seen at most once."""
    det = LossCollapseDetector(floor=0.1, ratio=0.05, audit_findings=[DUP])
    plan = SeenPlan(rows=484, examples_per_step=8, steps_per_epoch=61, distinct_rows=123)
    [f] = collapse_feed(det, plan, [(1, 6.788), (5, 6.464), (10, 2.95), (13, 0.2813)])
    assert f.severity == "error" and f.evidence["window"] == "exposures"
    assert "the model has memorised the copies" in f.message
    assert "seen at most once" not in f.message
