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

from .runs import build_collapse, build_healthy, tiny_config


def verdict_of(run_dir: Path):
    return compute_verdict(load_run(run_dir))


def test_healthy_run_rows(healthy_run: Path) -> None:
    v = verdict_of(healthy_run)
    assert v.rows() == [
        (LOSS_GRADUAL, "pass"), (VAL_TRACKED, "pass"), (EARLY_STOP_OK, "pass"), (COHERENT, "pass"),
        (TEST_WITHIN, "unknown"),
    ]
    # data.test_file is not set: the test criterion is not checked, and does not make the verdict
    # inconclusive (every preset leaves it unset); the four that were checked passed.
    assert [c.checked for c in v.criteria] == [True, True, True, True, False]
    assert v.overall == "pass"
    assert v.headline() == "Verdict: PASS (4 pass, 0 fail, 0 unknown, 1 not checked)"
    assert v.headline("th") == "ผลสรุป: ผ่าน (ผ่าน 4, ไม่ผ่าน 0, ไม่ทราบ 0, ไม่ได้ตรวจ 1)"
    assert v.get(LOSS_GRADUAL).codes == []
    assert "no collapse" in v.get(LOSS_GRADUAL).evidence
    test = v.get(TEST_WITHIN)
    assert test.evidence == ("not checked (set data.test_file, a held-out split, to check the test loss against the "
                             "validation loss)")
    assert (test.status_in("en"), test.status_in("th")) == ("not checked", "ไม่ได้ตรวจ")
    # The JSON keeps the three statuses it had and says which criteria were not checked.
    assert v.to_dict()["overall"] == "pass"
    assert [(c["status"], c["checked"]) for c in v.to_dict()["criteria"]][3:] == [("pass", True), ("unknown", False)]
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
    assert v.headline() == "Verdict: PASS (5 pass, 0 fail, 0 unknown)"
    assert "test loss 1.7 (perplexity 5.474) vs validation" in v.get(TEST_WITHIN).evidence


def test_test_loss_margin_has_an_absolute_floor_for_tiny_losses(tmp_path: Path) -> None:
    """A validation loss of 0.025 on 6 rows: 10% is 0.0025 nats, less than two small splits of the
    same data differ by; the limit is val + report.test_margin_abs (0.05) when that allows more."""
    def run(test: float, name: str) -> Path:
        d = tmp_path / name
        with RunStore(d, create=True) as s:
            s.init_run(config=tiny_config(), max_steps=20, run_id=name)
            s.set_meta(best_step=20)
            s.log_metrics(20, "eval", {"eval_loss": 0.025, "epoch": 1.0})
            s.log_metrics(20, "test", {"eval_loss": test})
        return d

    ok = verdict_of(run(0.06, "ok")).get(TEST_WITHIN)
    assert (ok.status, ok.evidence) == ("pass", "test loss 0.06 vs validation 0.025 at step 20; limit 0.075 (+10%, "
                                        "report.test_margin, or +0.05, report.test_margin_abs, whichever is larger)")
    assert ok.evidence_in("th").endswith("เกณฑ์ 0.075 (+10% ตาม report.test_margin หรือ +0.05 ตาม "
                                         "report.test_margin_abs แล้วแต่ค่าใดมากกว่า)")
    assert verdict_of(run(0.08, "bad")).get(TEST_WITHIN).status == "fail"


def test_test_loss_beyond_margin_fails(tmp_path: Path) -> None:
    # validation at best step 60 is ~1.66 + 0.12; the limit is +10 %
    v = verdict_of(build_healthy(tmp_path / "r", test=2.5))
    assert v.get(TEST_WITHIN).status == "fail"


def test_gap_criterion_uses_configured_threshold(tmp_path: Path) -> None:
    wide = verdict_of(build_healthy(tmp_path / "wide", gap=0.7, stalled=True))
    assert wide.get(VAL_TRACKED).status == "fail"
    assert wide.get(VAL_TRACKED).evidence.endswith("gap 1.06 >= 0.5 (report.max_final_gap)")  # eval stalled at 2.72
    relaxed = verdict_of(build_healthy(tmp_path / "relaxed", gap=0.7, config={"report.max_final_gap": 1.0}))
    assert relaxed.get(VAL_TRACKED).status == "pass"
    assert "gap 0.7 < 1 (report.max_final_gap)" in relaxed.get(VAL_TRACKED).evidence


def test_a_gap_while_the_eval_loss_still_falls_passes_and_says_why(tmp_path: Path) -> None:
    """A first run on clean data: gap at or above the limit, but the best eval was the last one.
    The diagnosis calls it healthy; the verdict does not fail it on the gap, and says why."""
    v = verdict_of(build_healthy(tmp_path / "r", gap=0.7))
    row = v.get(VAL_TRACKED)
    assert row.status == "pass"
    assert row.evidence.startswith("final eval loss 2.358 at step 60, train loss")
    assert row.evidence.endswith(">= 0.5 (report.max_final_gap), but the eval loss reached a new best at the last "
                                 "evaluation (from 2.72): the model was still generalising better, "
                                 "not memorising")
    assert "แต่ eval loss ดีที่สุดในการประเมินครั้งสุดท้าย (จาก 2.72)" in row.evidence_in("th")


def test_gap_criterion_names_overfitting_findings(tmp_path: Path) -> None:
    f = Finding("OVERFITTING", "warning", "Eval loss rose 3 evaluations in a row.", {"gap": 0.7}, "", 60, "guard")
    v = verdict_of(build_healthy(tmp_path / "r", gap=0.7, findings=[f]))
    assert v.get(VAL_TRACKED).codes == ["OVERFITTING"]
    assert "OVERFITTING at step 60" in v.get(VAL_TRACKED).evidence


def test_gap_criterion_cites_the_latest_warnings_not_an_earlier_info(tmp_path: Path) -> None:
    """The memorised run: an info at step 16 said the gap was "not memorising yet"; warnings at 20,
    28 and 36 (the rising eval loss that halted it). The failed row cites 36 and 28."""
    found = [Finding("OVERFITTING", "info", "The gap is growing; not memorising yet.", {}, "", 16, "guard"),
             Finding("EVAL_DIVERGENCE", "warning", "Eval loss 1.81x the training loss.", {}, "", 20, "guard"),
             Finding("OVERFITTING", "warning", "Overfitting at step 28: gap.", {}, "", 28, "guard"),
             Finding("OVERFITTING", "warning", "Overfitting at step 36: eval loss rose.", {}, "", 36, "guard")]
    row = verdict_of(build_healthy(tmp_path / "r", gap=0.7, findings=found, stalled=True)).get(VAL_TRACKED)
    assert row.status == "fail" and row.codes == ["EVAL_DIVERGENCE", "OVERFITTING"]
    assert "OVERFITTING at step 36: Overfitting at step 36: eval loss rose." in row.evidence
    assert "OVERFITTING at step 28" in row.evidence and "not memorising yet" not in row.evidence


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
    # Not configured (no eval.qa_probes, no data.test_file): not checked; the three that were
    # could not be measured, and they keep the verdict inconclusive.
    assert [c.shown for c in v.criteria] == ["unknown"] * 3 + ["not_checked"] * 2
    assert v.overall == "inconclusive"
    assert v.headline() == "Verdict: INCONCLUSIVE (0 pass, 0 fail, 3 unknown, 2 not checked)"


def test_no_qa_probes_is_not_checked_and_the_rest_decide(tmp_path: Path) -> None:
    """The smollm2-135m preset (and others) set no eval.qa_probes and no data.test_file: the two
    criteria are not checked, and the run passes on the three it was checked on."""
    v = verdict_of(build_healthy(tmp_path / "r", qa=False))
    c = v.get(COHERENT)
    assert (c.status, c.checked, c.evidence) == (
        "unknown", False, "not checked (set eval.qa_probes, prompts with their expected answers, to check that the "
        "model answers them coherently and right)")
    assert c.evidence_in("th").startswith("ไม่ได้ตรวจ (ตั้ง eval.qa_probes")
    assert v.overall == "pass"
    assert v.summary_line() == "Verdict: PASS (3 pass, 0 fail, 0 unknown, 2 not checked)"


def test_a_fail_still_fails_beside_criteria_not_checked(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "r", qa=False, test=9.0)  # test loss far above validation
    v = verdict_of(run)
    assert [c.shown for c in v.criteria] == ["pass", "pass", "pass", "not_checked", "fail"]
    assert v.overall == "fail"


def test_qa_judged_at_best_step(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "r")
    with RunStore(run) as s:
        s.set_meta(best_step=20)  # the step-20 answers are the repetitive ones
    c = verdict_of(run).get(COHERENT)
    assert c.status == "fail"
    assert c.evidence.startswith("2 QA sample(s) at step 20: keyword score 0 < 0.5, EOS emitted 0 < 0.5, "
                                 "distinct-2 0.3 < 0.5")


def _answers(run: Path, tuned: list[str], base: list[str] | None) -> Path:
    """Three probes with expected answers, answered at the best step (60) and, if given, by the base."""
    from tuneguard.guard.qa import answer_correct

    probes = [("Sort 9, 2, 5", "2, 5, 9"), ("Write 27 in words.", "twenty-seven"), ("What is 12 plus 30?", "42")]
    with RunStore(run) as s:
        for (prompt, want), out in zip(probes, tuned, strict=True):
            s.add_qa_sample(60, prompt, out, [], None, True, 1.0, expected=[want], correct=answer_correct(out, [want]))
        for (prompt, want), out in zip(probes, base or [], strict=False):
            s.add_qa_sample(60, prompt, out, [], None, True, 1.0, expected=[want], correct=answer_correct(out, [want]),
                            base=True)
    return run


def test_answers_criterion_cannot_pass_when_most_expected_answers_are_wrong(tmp_path: Path) -> None:
    # The demo answers: two wrong, one right only as a piece of a longer list: 0 of 3.
    run = _answers(build_healthy(tmp_path / "r", qa=False), ["9, 2, 5, 9, 2, 5", "27 in words.", "The sum is 42."],
                   ["9, 2, 5", "27", "I think 142."])
    c = verdict_of(run).get(COHERENT)
    assert c.status == "fail"
    assert c.evidence == ("3 QA sample(s) at step 60: 1 of 3 expected answers right (33.3% < 50%, "
                          "report.min_answer_accuracy), better than the base model (1 of 3 right after fine-tuning, "
                          "0 of 3 before), EOS emitted 1 >= 0.5, distinct-2 1 >= 0.5; failed: expected answers")


def test_answers_criterion_says_better_same_or_worse_than_the_base(tmp_path: Path) -> None:
    right = ["In order: 2, 5, 9.", "twenty-seven", "42"]
    better = verdict_of(_answers(build_healthy(tmp_path / "a", qa=False), right, ["9, 2, 5", "27", "142"]))
    assert better.get(COHERENT).status == "pass"
    assert "3 of 3 expected answers right (100% >= 50%" in better.get(COHERENT).evidence
    assert "better than the base model (3 of 3 right after fine-tuning, 0 of 3 before)" in better.get(COHERENT).evidence
    same = verdict_of(_answers(build_healthy(tmp_path / "b", qa=False), right, right)).get(COHERENT)
    assert same.status == "pass" and "the same as the base model (3 of 3" in same.evidence
    worse = ["In order: 2, 5, 9.", "twenty-seven", "43"]
    w = verdict_of(_answers(build_healthy(tmp_path / "c", qa=False), worse, right)).get(COHERENT)
    assert w.status == "fail"
    assert "worse than the base model (2 of 3 right after fine-tuning, 3 of 3 before)" in w.evidence
    assert w.evidence.endswith("failed: worse than the base model")
    alone = verdict_of(_answers(build_healthy(tmp_path / "d", qa=False), right, None)).get(COHERENT)
    assert alone.status == "pass" and "base model" not in alone.evidence


def test_an_easy_task_judged_by_the_guard_is_not_a_collapse(tmp_path: Path) -> None:
    # A pretrained model on an easy task: the loss falls below 5% of its first value, and the
    # guard judged it (info: eval loss as low); the loss criterion passes and says so.
    easy = Finding("LOSS_COLLAPSE", "info", "The task is easy for this model.", {"loss": 0.04, "eval_loss": 0.047},
                   "", 32, "guard")
    run = build_healthy(tmp_path / "easy", decay=0.2, findings=[easy])
    with RunStore(run) as s:
        s.log_metrics(60, "train", {"loss": 0.04})
    c = verdict_of(run).get(LOSS_GRADUAL)
    assert (c.status, c.codes) == ("pass", ["LOSS_COLLAPSE"])
    assert c.evidence.endswith("no collapse, spike or non-finite finding of severity warning or error; "
                               "LOSS_COLLAPSE at step 32: The task is easy for this model. (loss=0.04, eval_loss=0.047)")
    unjudged = build_healthy(tmp_path / "unjudged", decay=0.2)
    with RunStore(unjudged) as s:
        s.log_metrics(60, "train", {"loss": 0.04})
    assert verdict_of(unjudged).get(LOSS_GRADUAL).status == "fail"  # no guard judged it: a collapse


def test_gap_criterion_uses_the_training_loss_since_the_previous_evaluation(tmp_path: Path) -> None:
    """The diagnosis compares the final evaluation with the training loss averaged since the
    previous one (stored with the evaluation); the verdict must judge the same number, or a run
    the diagnosis calls healthy fails "validation tracked training" on one noisy logging window."""
    run = build_healthy(tmp_path / "r", gap=0.7)  # 0.7 above the last logged window's loss
    with RunStore(run) as s:
        last = [r for r in s.metrics("train") if r["step"] == 60][0]["loss"]
        s.log_metrics(60, "eval", {"eval_loss": last + 0.7, "train_loss_since_eval": last + 0.3,
                                   "train_steps_since_eval": 20})
    c = verdict_of(run).get(VAL_TRACKED)
    assert c.status == "pass"
    assert c.evidence == (f"final eval loss {last + 0.7:.4g} at step 60, train loss {last + 0.3:.4g} (mean since the "
                          "previous evaluation): gap 0.4 < 0.5 (report.max_final_gap)")


def test_loss_trend_compares_the_mean_of_each_end_not_one_noisy_step(tmp_path: Path) -> None:
    """40 logged steps of a small batch: the first drew an easy batch (0.86), the last a hard one
    (1.02), and the curve in between fell from ~1.35 to ~0.9. One step at each end said "the loss
    did not decrease"; the means of the first and last tenth (4 logs each) say it fell."""
    from tuneguard.report.verdict import fmt

    losses = [0.86, 1.40, 1.35, 1.30] + [1.3 - 0.012 * i for i in range(32)] + [0.92, 0.90, 0.88, 1.02]
    run_dir = tmp_path / "noisy"
    with RunStore(run_dir, create=True) as s:
        s.init_run(config=tiny_config(), max_steps=40, run_id="noisy01")
        for step, loss in enumerate(losses, start=1):
            s.log_metrics(step, "train", {"loss": loss, "learning_rate": 1e-3, "epoch": step / 40})
    loss = verdict_of(run_dir).get(LOSS_GRADUAL)
    head, tail = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert loss.status == "pass"
    assert loss.evidence.startswith(
        f"mean loss {fmt(head)} over steps 1-4 -> {fmt(tail)} over steps 37-40 ({fmt(100 * (head - tail) / head, 3)}% lower)")
    assert loss.evidence_in("th").startswith(f"ค่า loss เฉลี่ย {fmt(head)} ช่วง step 1-4 -> {fmt(tail)} ช่วง step 37-40")
    # Fewer than 20 logs: the first and last log themselves, as before.
    short = tmp_path / "short"
    with RunStore(short, create=True) as s:
        s.init_run(config=tiny_config(), max_steps=3, run_id="short01")
        for step, v in ((1, 0.86), (2, 1.3), (3, 1.02)):
            s.log_metrics(step, "train", {"loss": v, "learning_rate": 1e-3, "epoch": step / 3})
    short_loss = verdict_of(short).get(LOSS_GRADUAL)
    assert (short_loss.status, short_loss.evidence) == (
        "fail", "loss 0.86 at step 1 -> 1.02 at step 3: the loss did not decrease")


def test_the_diagnosis_and_the_verdict_say_the_same_ends_of_a_noisy_curve(tmp_path: Path) -> None:
    """The noisy curve above with evaluations: the first logged step was easy (0.86), the last
    hard (1.02), so the single ends "rose" while the means fell. The diagnosis (healthy) and the
    verdict (pass) read the same rule and say the same numbers; the recommendations say nothing
    about a rising loss."""
    from tuneguard.report.recommend import diagnose_run
    from tuneguard.report.verdict import fmt

    losses = [0.86, 1.40, 1.35, 1.30] + [1.3 - 0.012 * i for i in range(32)] + [0.92, 0.90, 0.88, 1.02]
    run = load_run(_forty_steps(tmp_path / "noisy", "noisy02", losses))
    head, tail = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    d = diagnose_run(run)
    assert (d.kind, [e.key for e in d.evidence]) == ("healthy", ["fell_mean", "tracked"])
    said = f"mean training loss {fmt(head)} over steps 1-4 -> {fmt(tail)} over steps 37-40"
    assert d.because().startswith(f"Because: {said} ({fmt(100 * (head - tail) / head, 3)}% lower)")
    assert compute_verdict(run).get(LOSS_GRADUAL).evidence.startswith(
        f"mean loss {fmt(head)} over steps 1-4 -> {fmt(tail)} over steps 37-40")


def test_a_rising_loss_reads_as_rising_in_the_diagnosis_the_verdict_and_the_advice(tmp_path: Path) -> None:
    """A loss that rose gently (no spike, no NaN, not the 1.5x climb of an unstable run): the
    diagnosis is inconclusive, but says the loss rose with its numbers, not "too little was
    recorded", and the action is not "fix what ended it and run it again"."""
    from tuneguard.report.recommend import diagnose_run, recommend_for_run

    losses = [2.0 + 0.01 * i for i in range(40)]
    run = load_run(_forty_steps(tmp_path / "rising", "rising01", losses))
    d = diagnose_run(run)
    assert (d.kind, [e.key for e in d.evidence]) == ("inconclusive", ["rose_mean"])
    assert d.line() == ("Diagnosis: inconclusive: the training loss rose instead of falling, and no guard named why: "
                        "the model did not learn")
    assert d.because() == ("Because: the training loss rose: mean 2.015 over steps 1-4 -> 2.375 over steps 37-40, "
                           "and no guard named a cause")
    assert d.line("th").startswith("ผลวินิจฉัย: ยังสรุปไม่ได้ - ค่า loss การฝึกเพิ่มขึ้นแทนที่จะลดลง")
    assert compute_verdict(run).get(LOSS_GRADUAL).evidence == (
        "mean loss 2.015 over steps 1-4 -> 2.375 over steps 37-40: the loss did not decrease")
    rec = recommend_for_run(run)
    assert rec.changes == [] and [a.text for a in rec.actions] == [
        "The training loss rose with no spike, NaN or collapse to explain it: check the learning rate and its "
        "schedule (train.learning_rate, train.warmup_ratio, train.lr_scheduler) and that the rows' answers are what "
        "the task needs before training longer; nothing here names one config change."]


def _halted_before_eval(run_dir: Path, **config: object) -> Path:
    """SmolLM2 at a learning rate 50x too high, halted at step 3 by LOSS_SPIKE (policy halt),
    before its first evaluation at step 10; `config`: settings of the run (tiny_config)."""
    from tuneguard.catalog import T

    cfg = tiny_config(**{"train.logging_steps": 1, "eval.steps": 10, **config})
    spike = Finding.said("LOSS_SPIKE", "warning", T("LOSS_SPIKE.early", loss=8.457, step=3, ratio=4.76, top=1.776,
                                                     n=2, limit=4.0, initial=1.776, end=T("end.period")),
                         T("LOSS_SPIKE.found.rec"), {"loss": 8.457}, step=3, source="guard")
    with RunStore(run_dir, create=True) as s:
        s.init_run(config=cfg, max_steps=60, run_id="halted01")
        s.set_state("running")
        for step, loss in enumerate([1.776, 1.295, 8.457], start=1):
            s.log_metrics(step, "train", {"loss": loss, "learning_rate": 0.1})
        s.add_finding(spike)
        s.add_event("halted", {"code": "LOSS_SPIKE"}, step=3)
        s.set_state("halted", exit_reason=f"LOSS_SPIKE: {spike.message}")
    return run_dir


def test_a_run_halted_before_its_first_evaluation_says_so_instead_of_blaming_settings(tmp_path: Path) -> None:
    probes = [{"prompt": "2+2=", "expected": "4"}]
    v = verdict_of(_halted_before_eval(tmp_path / "set", **{"data.test_file": "/data/test.jsonl",
                                                             "eval.qa_probes": probes}))
    ended = ("the run halted at step 3, on LOSS_SPIKE at step 3: Training loss jumped to 8.457 at step 3, 4.8x the "
             "highest loss 1.776 of the 2 step(s) before it")
    val, qa, test = v.get(VAL_TRACKED), v.get(COHERENT), v.get(TEST_WITHIN)
    assert val.evidence.startswith("no evaluation was recorded: " + ended)
    assert val.evidence.endswith(", before its first evaluation")
    assert qa.evidence.startswith("no QA samples: eval.qa_probes is set, but the probes are answered at evaluations "
                                  "and " + ended)
    assert test.evidence.startswith("the test split was not evaluated: data.test_file is set, but " + ended)
    for c in (val, qa, test):
        assert c.status == "unknown" and c.checked and "not set" not in c.evidence and "(set " not in c.evidence
    assert "not_checked" not in [c.shown for c in v.criteria]  # configured: unknown, not "not checked"
    assert v.get(COHERENT).evidence_in("th").startswith("ไม่มีตัวอย่าง QA: ตั้ง eval.qa_probes ไว้แล้ว")
    # The report's QA section says the same.
    from tuneguard.report.html import write_report

    page = write_report(tmp_path / "set").read_text("utf-8")
    assert "No QA samples: eval.qa_probes is set, but the probes are answered at evaluations" in page


def test_a_run_halted_before_its_first_evaluation_without_the_settings_names_them(tmp_path: Path) -> None:
    v = verdict_of(_halted_before_eval(tmp_path / "unset", **{"eval.qa_probes": []}))
    assert v.get(COHERENT).evidence.startswith("not checked (set eval.qa_probes, ")
    assert v.get(TEST_WITHIN).evidence.startswith("not checked (set data.test_file, ")
    assert [c.checked for c in v.criteria] == [True, True, True, False, False]
    assert v.get(VAL_TRACKED).evidence.endswith(", before its first evaluation")


def test_the_thai_report_message_counts_criteria_not_checked() -> None:
    """The `report` event carries each criterion's `checked`: the Thai message (rebuilt from the
    criteria) counts the ones not configured as not checked; a payload from before the key
    counts them as unknown, as it did."""
    from tuneguard.notify.messages import render

    names = list(CRITERIA_NAMES)
    criteria = [{"name": n, "status": "pass", "checked": True} for n in names[:3]]
    criteria += [{"name": n, "status": "unknown", "checked": False} for n in names[3:]]
    body = render("report", {"verdict": "pass", "criteria": criteria}, language="th").body
    assert "ผลสรุป: ผ่าน (ผ่าน 3, ไม่ผ่าน 0, ไม่ทราบ 0, ไม่ได้ตรวจ 2)" in body.splitlines()
    old = [{"name": c["name"], "status": c["status"]} for c in criteria]
    body = render("report", {"verdict": "inconclusive", "criteria": old}, language="th").body
    assert "ผลสรุป: ยังสรุปไม่ได้ (ผ่าน 3, ไม่ผ่าน 0, ไม่ทราบ 2)" in body.splitlines()


def _forty_steps(run_dir: Path, run_id: str, losses: list[float]) -> Path:
    """A 40-step run store with these training losses and an eval every 20 steps (0.1 above)."""
    with RunStore(run_dir, create=True) as s:
        s.init_run(config=tiny_config(), max_steps=40, run_id=run_id)
        for step, loss in enumerate(losses, start=1):
            s.log_metrics(step, "train", {"loss": loss, "learning_rate": 1e-3, "epoch": step / 40})
            if step % 20 == 0:
                s.log_metrics(step, "eval", {"eval_loss": loss + 0.1, "epoch": step / 40})
    return run_dir
