"""The diagnosis on synthetic curves and findings: every branch of the decision, the
evidence that decided it, and its texts in English and Thai."""

from __future__ import annotations

import dataclasses
import math
import string

import pytest

from tuneguard.diagnosis import KINDS, TEXTS, Curves, Diagnosis, Evidence, diagnose
from tuneguard.findings import Finding


def guard(code: str, step: int, severity: str = "warning", **evidence) -> Finding:
    return Finding(code, severity, f"{code} at {step}.", evidence, "", step, "guard")


def audit(code: str, severity: str = "error", **evidence) -> Finding:
    return Finding(code, severity, f"{code}.", evidence, "", None, "audit")


def falling(n: int = 10, start: float = 3.0, end: float = 1.5, every: int = 10) -> list[tuple[int, float]]:
    return [(i * every, start + (end - start) * i / (n - 1)) for i in range(n)]


# Converged: the eval loss fell 0.88 in the first 30 steps and only 0.02 (1.2%, 2.3% of that pace) in the last 30.
HEALTHY = Curves(train=falling(), evals=[(30, 2.6, None), (60, 1.72, None), (90, 1.7, None)], planned_steps=90)
# The overfitting run: best eval at step 180, then rising while the training loss falls.
OVERFIT = Curves(train=[(s, 3.3 - s / 150) for s in range(0, 401, 20)],
                 evals=[(60, 3.9, None), (120, 3.83, None), (180, 3.7, None), (240, 3.8, None), (300, 3.95, None),
                        (360, 4.1, None), (400, 4.2, None)], planned_steps=400, best_step=180)


def test_healthy_names_its_evidence() -> None:
    d = diagnose([], HEALTHY, {})
    assert d.kind == "healthy" and d.codes == []
    assert [e.key for e in d.evidence] == ["fell", "tracked"]
    assert d.because() == ("Because: training loss 3 -> 1.5 (50% lower); best eval loss 1.7 at step 90; "
                           "final eval - train gap 0.2 (limit 0.5)")


def test_audit_error_of_a_forced_run_is_a_data_fault_before_anything_else() -> None:
    spike = guard("LOSS_SPIKE", 40, loss=9.0, ratio=3.0)
    d = diagnose([audit("DUPLICATE_EXACT"), audit("TRAIN_VAL_LEAKAGE", "warning"), spike], OVERFIT, {})
    assert d.kind == "data_fault" and d.codes == ["DUPLICATE_EXACT"]
    assert d.evidence[0].text() == "the audit found DUPLICATE_EXACT (severity error) and the run was forced past it"


def test_a_forced_run_past_leaked_validation_alone_says_the_eval_loss_is_what_is_wrong() -> None:
    """Validation rows copied from training (no collapse of the training loss): the diagnosis says
    the eval loss measured memory and to fix the split, and the report's action says the same,
    in both languages; with a collapse it explains, the general data-fault wording stays."""
    from tuneguard.report.recommend import recommend

    leak = audit("TRAIN_VAL_LEAKAGE", share=0.69)
    d = diagnose([leak, audit("DUPLICATE_NEAR", "info"), guard("LOSS_COLLAPSE", 7, "info")], HEALTHY, {})
    assert (d.kind, d.codes, d.eval_only()) == ("data_fault", ["TRAIN_VAL_LEAKAGE"], True)
    assert d.line() == ("Diagnosis: data fault: the validation rows repeat training rows, so the eval loss, the best "
                        "checkpoint and early stopping measured memory, not generalisation: fix the split first "
                        "(tuneguard fix), then judge the settings")
    assert "แก้การแบ่งข้อมูลก่อน (tuneguard fix)" in d.line("th")
    recs = recommend([leak], {}, diagnosis=d)
    assert [(str(a.text), a.codes) for a in recs.actions][0] == (
        "Fix the validation split before changing any hyperparameter: its rows repeat training rows "
        "(TRAIN_VAL_LEAKAGE), so this run's eval loss cannot tell whether the settings generalise.",
        ["TRAIN_VAL_LEAKAGE"])
    assert recs.changes == []
    collapse = guard("LOSS_COLLAPSE", 7, "error", initial_loss=0.69, loss=0.08, audit_findings=["TRAIN_VAL_LEAKAGE"])
    d = diagnose([leak, collapse], HEALTHY, {})
    assert (d.codes, d.eval_only()) == (["TRAIN_VAL_LEAKAGE", "LOSS_COLLAPSE"], False)
    assert d.line().startswith("Diagnosis: data fault: the data or its labels are faulty")


def test_collapse_with_a_linked_cause_is_a_data_fault() -> None:
    collapse = guard("LOSS_COLLAPSE", 12, "error", initial_loss=3.6, loss=0.005, audit_findings=["DUPLICATE_EXACT"])
    d = diagnose([audit("DUPLICATE_EXACT", "warning"), collapse], HEALTHY, {})
    assert (d.kind, d.codes) == ("data_fault", ["LOSS_COLLAPSE"])
    assert d.evidence[0].text() == ("LOSS_COLLAPSE at step 12: training loss 3.6 -> 0.005 in epoch 1, "
                                    "with DUPLICATE_EXACT in the audit")


def test_collapse_past_the_first_pass_says_what_the_model_had_seen_in_both_languages() -> None:
    collapse = guard("LOSS_COLLAPSE", 25, "error", initial_loss=6.688, loss=0.2624, audit_findings=["DUPLICATE_EXACT"],
                     examples_seen=164, passes=1.5185, exposures=54.67)
    d = diagnose([collapse], HEALTHY, {})
    assert d.evidence[0].text() == ("LOSS_COLLAPSE at step 25: training loss 6.688 -> 0.2624 after 164 examples "
                                    "(1.52 passes over the rows), with DUPLICATE_EXACT in the audit")
    assert d.evidence[0].text("th") == ("LOSS_COLLAPSE ที่ step 25: ค่า loss การฝึก 6.688 -> 0.2624 หลังจากโมเดลเห็นข้อมูล 164 "
                                        "ตัวอย่าง (1.52 รอบของข้อมูลทั้งชุด) และการตรวจข้อมูลพบ DUPLICATE_EXACT")


def test_a_collapse_judged_at_an_evaluation_is_told_at_the_step_it_was_first_seen() -> None:
    """The examples seen are counted at `at_step` (the low loss), not at the evaluation that judged it:
    the diagnosis names that step, as the finding's header does."""
    judged = guard("LOSS_COLLAPSE", 10, "error", initial_loss=1.776, loss=0.0927, at_step=7, examples_seen=28,
                   passes=0.0778, exposures=0.0778)
    assert diagnose([judged], HEALTHY, {}).evidence[0].text() == (
        "LOSS_COLLAPSE at step 7: training loss 1.776 -> 0.0927 after 28 examples (0.08 passes over the rows)")
    easy = guard("LOSS_COLLAPSE", 10, "info", initial_loss=1.776, loss=0.0927, at_step=7)
    assert diagnose([easy], HEALTHY, {}).notes[0].text().startswith("LOSS_COLLAPSE at step 7: a low loss")


def test_low_loss_without_a_fault_is_an_easy_task_not_a_data_fault() -> None:
    easy = guard("LOSS_COLLAPSE", 20, "warning", initial_loss=0.64, loss=0.097)
    d = diagnose([easy], HEALTHY, {})
    assert d.kind == "healthy"
    assert [n.key for n in d.notes] == ["easy_task"]


def test_the_easy_task_note_does_not_call_an_info_finding_a_warning() -> None:
    """The guard's default easy-task finding is info (a real SmolLM2 run's report said "as a warning")."""
    d = diagnose([guard("LOSS_COLLAPSE", 7, "info", initial_loss=1.776, loss=0.0927)], HEALTHY, {})
    (note,) = d.notes
    assert note.text() == "LOSS_COLLAPSE at step 7: a low loss without evidence of a fault (an easy task)"
    assert note.text("th") == "LOSS_COLLAPSE ที่ step 7: ค่า loss ต่ำโดยไม่มีหลักฐานว่าข้อมูลผิดพลาด (งานง่าย)"


def test_non_finite_loss_is_unstable_with_or_without_the_guard() -> None:
    d = diagnose([guard("NON_FINITE", 30, "error")], HEALTHY, {})
    assert (d.kind, d.codes, d.evidence[0].params) == ("unstable", ["NON_FINITE"], {"step": 30})
    curves = Curves(train=[(0, 3.0), (10, 2.5), (20, math.nan)], evals=[])
    assert diagnose([], curves, {}).evidence[0].params == {"step": 20}


def test_spikes_make_a_run_unstable_and_take_the_grad_norm_along() -> None:
    findings = [guard("LOSS_SPIKE", 50, loss=8.2, ratio=3.4), guard("LOSS_SPIKE", 70, loss=7.0, ratio=2.9),
                guard("GRAD_NORM_HIGH", 49, grad_norm=55.0, grad_norm_max=10.0)]
    d = diagnose(findings, OVERFIT, {})  # spikes first: the eval curve of an unstable run says little
    assert (d.kind, d.codes) == ("unstable", ["LOSS_SPIKE", "GRAD_NORM_HIGH"])
    assert d.evidence[0].text() == "2 loss spike(s), the first at step 50: 8.2, 3.4x the running median"
    assert d.facts["spike_step"] == 50


def test_eval_rising_while_train_falls_is_overfitting_even_with_a_plateau_at_the_end() -> None:
    findings = [guard("OVERFITTING", 120), guard("EVAL_DIVERGENCE", 300), guard("PLATEAU", 400, "info")]
    d = diagnose(findings, OVERFIT, {})
    assert d.kind == "overfitting"
    assert d.codes == ["OVERFITTING", "EVAL_DIVERGENCE"]
    assert d.evidence[0].text() == ("eval loss rose from its best 3.7 at step 180 to 4.2 at step 400 while the "
                                    "training loss fell from 2.1 to 0.6333")
    assert d.facts["best_step"] == 180 and d.facts["planned_steps"] == 400


def test_overfitting_from_the_curves_alone_and_from_a_growing_gap() -> None:
    assert diagnose([], OVERFIT, {}).kind == "overfitting"
    # The gap grew while the eval loss stalled (2.3 -> 2.31: no new best, not yet a rise): memorising.
    gap = Curves(train=falling(end=0.4), evals=[(30, 2.5, 2.4), (60, 2.3, 1.5), (90, 2.31, 0.9)])
    d = diagnose([], gap, {"report": {"max_final_gap": 0.5}})
    assert d.kind == "overfitting" and [e.key for e in d.evidence] == ["gap"]
    assert d.evidence[0].params["first_gap"] == pytest.approx(0.1)  # the stored train-loss average is used
    assert d.line().startswith("Diagnosis: overfitting: the model memorises the training rows: train for fewer steps")
    assert diagnose([], gap, {"report": {"max_final_gap": 2.0}}).kind == "healthy"


def test_a_gap_that_grows_while_the_eval_loss_still_falls_is_healthy_not_overfitting() -> None:
    """A first tiny run on clean data: the gap grew past the limit but the best eval was the last
    one. "Train for fewer steps" would be wrong advice; the diagnosis says why it is healthy."""
    from tuneguard.report.recommend import recommend

    gap = Curves(train=falling(end=0.4), evals=[(30, 2.5, 2.4), (60, 2.3, 1.5), (90, 2.25, 0.9)], planned_steps=90)
    d = diagnose([guard("OVERFITTING", 90, "info", triggers=["gap"])], gap, {"report": {"max_final_gap": 0.5}})
    assert (d.kind, [e.key for e in d.evidence]) == ("healthy", ["fell", "gap_falling", "eval_still_falling"])
    assert d.line() == ("Diagnosis: healthy: the losses fell and the eval loss reached a new best at the last "
                        "evaluation: the gap to the training loss grew, but the model was still learning what "
                        "generalises, not memorising; training fewer steps would keep a worse model")
    assert d.evidence[1].text() == ("the eval - train gap grew to the limit or above (0.1 at step 30, 1.35 at step 90; "
                                    "limit 0.5, report.max_final_gap) while the eval loss still fell to a new best "
                                    "2.25 at the last evaluation (step 90)")
    assert d.line("th").startswith("ผลวินิจฉัย: ปกติดี - ค่า loss ลดลง และ eval loss ดีที่สุดในการประเมินครั้งสุดท้าย")
    assert d.notes == []  # the guard's info ("not memorising yet") agrees: nothing to note
    recs = recommend([], {"train": {"max_steps": 90}}, diagnosis=d)
    assert {c.key: c.value for c in recs.changes} == {"train.max_steps": 180}  # longer, never fewer steps
    # A cosine schedule's last evaluation, still a new best by under 1%: not memorising either.
    slow = Curves(train=falling(end=0.4), evals=[(30, 4.66, 4.6), (60, 4.29, 3.7), (90, 4.22, 3.0), (120, 4.197, 2.6)])
    assert diagnose([], slow, {}).kind == "healthy"


def test_a_gap_that_stood_from_the_first_evaluation_is_no_growing_gap() -> None:
    """The eval loss 0.7 above the training loss at every evaluation: not "grew from 0.7 to 0.7"
    (overfitting), but healthy, saying the gap held, as the verdict's failed row does."""
    held = Curves(train=falling(), evals=[(30, 3.2, 2.5), (60, 2.7, 2.0), (90, 2.2000001, 1.5)], planned_steps=90)
    d = diagnose([], held, {})
    # (the eval loss also still fell clearly at the end: noted, the gap's wording leads)
    assert (d.kind, [e.key for e in d.evidence]) == ("healthy", ["fell", "gap_held", "eval_still_falling"])
    assert d.line().startswith("Diagnosis: healthy: the losses fell and the gap between the eval and the training "
                               "loss did not grow: the model is not memorising")
    assert d.evidence[1].text() == ("the eval - train gap stood at or above the limit from the first evaluation "
                                    "without growing (0.7 at step 30, 0.7 at step 90; limit 0.5, "
                                    "report.max_final_gap)")
    # 0.7 -> 0.8 (more than 0.05, a tenth of the limit) while the eval loss stalled at 2.7: memorising
    grew = Curves(train=falling(), evals=[(30, 3.2, 2.5), (60, 2.7, 2.0), (90, 2.7, 1.9)], planned_steps=90)
    assert diagnose([], grew, {}).kind == "overfitting"


def test_one_gap_or_divergence_the_curves_do_not_back_is_noted_not_decisive() -> None:
    d = diagnose([guard("EVAL_DIVERGENCE", 90), guard("OVERFITTING", 30, triggers=["gap"])], HEALTHY, {})
    assert d.kind == "healthy"
    # The gap at step 30 closed, and the eval loss reached its best at the last evaluation: recovered.
    assert [n.text() for n in d.notes] == [
        "OVERFITTING at step 30 (1 time(s)), recovered: the eval loss reached a new best 1.7 at step 90, the last "
        "evaluation", "EVAL_DIVERGENCE at step 90"]
    rising = diagnose([guard("OVERFITTING", 90, triggers=["rising"])], HEALTHY, {})
    assert (rising.kind, rising.codes) == ("overfitting", ["OVERFITTING"])


def test_high_flat_losses_are_underfitting_and_a_low_flat_loss_is_not() -> None:
    flat = Curves(train=falling(start=6.40, end=6.30), evals=[(30, 6.41, None), (60, 6.38, None), (90, 6.37, None)])
    d = diagnose([guard("PLATEAU", 90)], flat, {})
    assert (d.kind, d.codes) == ("underfitting", ["PLATEAU"])
    assert [e.key for e in d.evidence] == ["flat", "eval_flat", "plateau_early"]
    assert d.evidence[0].text() == "training loss only 6.4 -> 6.3 from step 0 to step 90 (1.56% lower)"
    low = Curves(train=falling(start=0.31, end=0.30), evals=[(30, 0.32, None), (60, 0.31, None), (90, 0.31, None)])
    assert diagnose([], low, {}).kind == "healthy"  # an easy task the model already knew


def test_underfitting_on_labels_the_audit_warned_of_is_a_fault_of_the_labels_fixed_first() -> None:
    """SmolLM2 with data.train_on_prompt: true on long prompts (81% of the supervised tokens): the
    answers stayed wrong. "Raise the learning rate" would tune around the fault; the diagnosis is
    the labels, and the recommendations change the data setting alone, the action saying why."""
    from tuneguard.report.recommend import recommend

    flat = Curves(train=falling(start=6.40, end=6.30), evals=[(30, 6.41, None), (60, 6.38, None), (90, 6.37, None)])
    prompt = audit("PROMPT_NOT_MASKED", "warning", prompt_share_of_supervised=0.81)
    d = diagnose([prompt, guard("PLATEAU", 90)], flat, {})
    assert (d.kind, d.codes, d.labels_only()) == ("data_fault", ["PROMPT_NOT_MASKED", "PLATEAU"], True)
    assert d.because().startswith("Because: the audit warned that the labels are built wrong (PROMPT_NOT_MASKED) "
                                  "and the model learned little on them; training loss only 6.4 -> 6.3")
    assert "audit_warnings" not in [n.key for n in d.notes]
    cfg = {"data": {"train_on_prompt": True, "collator": "tuneguard"}, "train": {"learning_rate": 2e-3, "max_steps": 12}}
    recs = recommend([prompt, guard("PLATEAU", 90)], cfg, diagnosis=d)
    assert {c.key: c.value for c in recs.changes} == {"data.train_on_prompt": False}
    assert str(recs.actions[0].text).startswith("Fix how the labels are built before changing any hyperparameter: "
                                                "the audit warned of PROMPT_NOT_MASKED")
    # A warning of another kind leaves the diagnosis as the curves say.
    assert diagnose([audit("DUPLICATE_NEAR", "warning"), guard("PLATEAU", 90)], flat, {}).kind == "underfitting"


def test_info_findings_do_not_decide() -> None:
    lowered = [guard("LOSS_SPIKE", 50, "info", loss=8.2, ratio=3.4), guard("OVERFITTING", 60, "info",
                                                                            triggers=["rising"])]
    assert diagnose(lowered, HEALTHY, {}).kind == "healthy"


def test_spikes_and_large_gradients_are_said_at_the_step_they_were_seen() -> None:
    """A spike seen at step 9 and judged at the log of step 10 is "at step 9" in the diagnosis, as in
    the finding's own message (tuneguard.findings.when_spec), not the log's step."""
    spike = guard("LOSS_SPIKE", 10, loss=25.43, ratio=2.116, at_step=9)
    grad = guard("GRAD_NORM_HIGH", 5, grad_norm=33.33, grad_norm_max=10.0, at_step=4)
    d = diagnose([spike, grad], HEALTHY, {})
    assert [e.text() for e in d.evidence] == ["1 loss spike(s), the first at step 9: 25.43, 2.116x the running median",
                                              "gradient norm 33.33 at step 4, above 10 (1 time(s))"]


def test_large_gradients_alone_are_instability_when_nothing_else_explains_the_run() -> None:
    d = diagnose([guard("GRAD_NORM_HIGH", 5, grad_norm=40.0, grad_norm_max=10.0)], HEALTHY, {})
    assert (d.kind, d.codes) == ("unstable", ["GRAD_NORM_HIGH"])
    assert d.evidence[0].text() == "gradient norm 40 at step 5, above 10 (1 time(s))"


@pytest.mark.parametrize(("curves", "key"), [
    (Curves(train=[(1, 3.0)], evals=[]), "few_losses"),
    (Curves(train=falling(), evals=[]), "no_evals"),
    # Stopped in its warmup at step 13 of 300 (the docs walk's run): high and flat, but no eval loss.
    (Curves(train=[(1, 6.498), (5, 6.613), (10, 6.154), (13, 6.2)], evals=[], planned_steps=300), "no_evals"),
    (Curves(train=falling(start=1.5, end=2.0), evals=[(90, 2.1, None)]), "rose"),
])
def test_inconclusive(curves: Curves, key: str) -> None:
    d = diagnose([], curves, {})
    assert (d.kind, [e.key for e in d.evidence]) == ("inconclusive", [key])


def test_every_text_has_english_and_thai_with_the_same_placeholders() -> None:
    def fields(s: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(s) if f}

    for key, entry in TEXTS.items():
        assert set(entry) == {"en", "th"}, key
        assert fields(entry["en"]) == fields(entry["th"]), key
        assert entry["th"] != entry["en"], key
    for kind in KINDS:
        assert kind in TEXTS and f"{kind}.means" in TEXTS


def test_thai_line_and_a_payload_round_trip() -> None:
    d = diagnose([guard("OVERFITTING", 120)], OVERFIT, {})
    back = Diagnosis.from_dict(d.to_dict())
    assert back.kind == d.kind and back.evidence == d.evidence and back.codes == d.codes
    assert back.line("th").startswith("ผลวินิจฉัย: โมเดลจำข้อมูลฝึก (overfitting) - ")
    assert back.because("th").startswith("หลักฐาน: eval loss เพิ่มจากค่าดีที่สุด 3.7 ที่ step 180")
    junk = Diagnosis.from_dict({"kind": "nonsense", "evidence": [{"key": "no-such-text"}, "x"]})
    assert (junk.kind, junk.evidence) == ("inconclusive", [])
    assert Evidence("few_losses", {"n": 1}).text("th") == "บันทึกค่า loss การฝึกไว้เพียง 1 ค่า"


def test_mostly_wrong_expected_answers_are_underfitting() -> None:
    def with_answers(answers):
        return Curves(train=HEALTHY.train, evals=HEALTHY.evals, planned_steps=90, answers=answers)

    d = diagnose([], with_answers((0, 4, 0)), {})
    assert d.kind == "underfitting"
    assert d.because() == ("Because: only 0 of 4 expected answers right at step 90 (the base model: 0 of 4): "
                           "the model has not learned the task yet")
    assert diagnose([], with_answers((1, 4, None)), {}).evidence[0].key == "answers_wrong"
    assert diagnose([], with_answers((2, 4, 0)), {}).kind == "healthy"
    assert diagnose([], with_answers((3, 4, 3)), {}).kind == "healthy"  # right, as the base already was
    assert diagnose([], with_answers((1, 4, 1)), {"report": {"min_answer_accuracy": 0.25}}).kind == "healthy"



# The demo's 4-step SmolLM2-135M run (`tuneguard demo --steps 4`): the training loss as it logged
# it, its one evaluation, and its 4 probes all wrong, as the base model's were.
SHORT = Curves(train=[(1, 4.505), (2, 4.306), (4, 1.743)], evals=[(4, 0.8887, 1.743)], planned_steps=4,
               answers=(0, 4, 0))


def test_a_run_too_short_to_judge_its_wrong_answers_is_inconclusive_not_underfitting() -> None:
    """4 steps whose loss fell 4.5 -> 1.7 and was still falling: "underfitting: the model learned
    little" was untrue; too few steps to tell, and the advice is more steps, not a higher rate."""
    d = diagnose([], SHORT, {})
    assert (d.kind, [e.key for e in d.evidence], d.too_short()) == (
        "inconclusive", ["too_short", "answers_wrong_base"], True)
    assert d.line() == ("Diagnosis: inconclusive: too short to judge: the run ended before it could show whether the "
                        "model learns the task: train longer before changing anything else (tuneguard next proposes "
                        "how long)")
    assert d.because() == ("Because: training loss 4.505 at step 1 -> 1.743 at step 4 (61.3% lower), still falling "
                           "when the run ended at step 4, after 1 evaluation(s); only 0 of 4 expected answers right "
                           "at step 4 (the base model: 0 of 4): the model has not learned the task yet")
    assert d.line("th").startswith("ผลวินิจฉัย: ยังสรุปไม่ได้ - การรันสั้นเกินกว่าจะตัดสินได้")
    back = Diagnosis.from_dict(d.to_dict())
    assert back.too_short() and back.line() == d.line()
    # 3 evaluations with the eval loss still falling clearly: still too short (mean over 2 logs at each end).
    curves = Curves(train=falling(n=20, start=4.0, end=1.0, every=2), evals=[(10, 2.0, None), (20, 1.5, None),
                    (38, 1.1, None)], planned_steps=38, answers=(1, 4, 0))
    d = diagnose([], curves, {"report": {"max_final_gap": 2.0}})
    assert (d.kind, [e.key for e in d.evidence]) == ("inconclusive", ["too_short_mean", "answers_wrong_base"])
    # 2 steps (the first at learning rate 0 in the warmup): flat, but too few steps to call it underfitting.
    two = Curves(train=[(1, 4.505), (2, 4.306)], evals=[(2, 4.2, 4.4)], planned_steps=2, answers=(0, 4, 0))
    d = diagnose([], two, {})
    assert (d.kind, [e.key for e in d.evidence]) == ("inconclusive", ["few_steps", "flat", "eval_flat",
                                                                      "answers_wrong_base"])
    assert d.evidence[0].text() == "only 2 optimizer step(s), fewer than the 10 it takes to judge whether the model learns"
    d = diagnose([], dataclasses.replace(two, answers=None), {})
    assert (d.kind, [e.key for e in d.evidence]) == ("inconclusive", ["few_steps", "flat", "eval_flat"])
    assert d.too_short()
    # 4 steps, loss barely falling: answers wrong, but too few steps.
    d = diagnose([], Curves(train=[(1, 3.0), (2, 2.9), (4, 2.55)], evals=[(4, 2.6, 2.55)], planned_steps=4,
                            answers=(0, 4, 0)), {})
    assert (d.kind, [e.key for e in d.evidence]) == ("inconclusive", ["few_steps", "answers_wrong_base"])
    # Large gradients still name an unstable run.
    d = diagnose([guard("GRAD_NORM_HIGH", 2, grad_norm=40.0, grad_norm_max=10.0)], SHORT, {})
    assert (d.kind, d.codes) == ("unstable", ["GRAD_NORM_HIGH"])


@pytest.mark.parametrize(("curves", "why"), [
    # 90 steps, the eval loss converged (2.6, 1.72, 1.7) while the answers stayed wrong.
    (Curves(train=HEALTHY.train, evals=HEALTHY.evals, planned_steps=90, answers=(0, 4, 0)), "eval loss flat"),
    # Fewer than 3 evaluations, but the training loss had stopped falling: mean of the last third not lower.
    (Curves(train=[(1, 4.5), (10, 2.0), (20, 1.5), (30, 1.2), (40, 1.2), (50, 1.25), (60, 1.2)],
            evals=[(30, 1.3, None), (60, 1.3, None)], planned_steps=60, answers=(0, 4, None)), "train loss flat"),
    # 12 steps, still falling, but only 15% lower: no strong fall to call too short.
    (Curves(train=[(1, 3.0), (6, 2.9), (12, 2.55)], evals=[(12, 2.6, 2.55)], planned_steps=12, answers=(0, 4, 0)),
     "fell 15%"),
])
def test_wrong_answers_after_the_loss_stopped_falling_or_barely_fell_stay_underfitting(curves, why) -> None:
    d = diagnose([], curves, {})
    assert (d.kind, d.too_short(), d.evidence[0].key.startswith("answers_wrong")) == ("underfitting", False, True), why


def test_a_long_run_whose_loss_barely_moved_is_underfitting_with_or_without_answers() -> None:
    flat = Curves(train=falling(n=30, start=3.0, end=2.85, every=10), evals=[(100, 2.95, None), (200, 2.93, None),
                  (290, 2.9, None)], planned_steps=290)
    for answers in (None, (0, 4, 0)):
        d = diagnose([], dataclasses.replace(flat, answers=answers), {})
        assert (d.kind, [e.key for e in d.evidence]) == ("underfitting", ["flat_mean", "eval_flat"])
        assert d.line() == ("Diagnosis: underfitting: the model learned little: raise the learning rate, or train "
                            "longer or with a larger LoRA rank")

# SmolLM2-135M at learning rate 0.025 (50x its preset's), 12 steps of 2 docstring rows: the
# training loss as the run logged it, and its two evaluations.
CLIMBED = [1.467, 2.625, 0.3289, 1.786, 7.303, 5.53, 5.633, 2.898, 4.194, 6.201, 5.095, 3.934]


def test_a_climbing_training_loss_is_unstable_even_when_no_guard_named_it() -> None:
    """Without GRAD_NORM_HIGH, LOSS_SPIKE or NON_FINITE (clipped gradients, a steady climb) the run
    was "inconclusive: too little was recorded", with no advice; the loss climbing to 3x its start
    is the too-high learning rate's own signature, and the advice is a tenth of the rate."""
    curves = Curves(train=list(enumerate(CLIMBED, 1)), evals=[(6, 4.715, 3.089), (12, 3.074, 4.777)],
                    planned_steps=12, steps_per_epoch=160)
    d = diagnose([], curves, {})
    assert (d.kind, d.codes, [e.key for e in d.evidence]) == ("unstable", [], ["diverged_mean"])
    assert d.facts["climbed"] is True
    # Said with the numbers the rule compared: the first loss, the mean of the last third.
    assert d.because() == ("Because: the training loss ended above where it started (1.467 at step 1 -> 4.856 on "
                           "average over steps 9-12): the model got worse than untrained")


def test_a_noisy_flat_or_falling_loss_did_not_climb() -> None:
    """A first batch that happened to be easy puts the end above the first value ("diverged"), but
    the loss did not climb against its first third: no unstable diagnosis from the curve alone."""
    noisy = [0.53, 1.1, 0.9, 1.2, 0.95, 1.05, 0.9, 1.1, 1.0, 0.95, 1.05, 1.0]
    d = diagnose([], Curves(train=list(enumerate(noisy, 1)), evals=[(6, 1.0, 1.0), (12, 0.98, 1.0)],
                           planned_steps=12), {})
    assert d.facts["diverged"] is True and d.facts["climbed"] is False and d.kind != "unstable"
    falling = [1.47, 2.6, 0.72, 0.67, 0.89, 0.56, 0.45, 0.42, 0.52, 0.37, 0.30, 1.0]  # the 1e-3 run after it
    d = diagnose([], Curves(train=list(enumerate(falling, 1)), evals=[(6, 0.55, 0.6), (12, 0.45, 0.55)],
                           planned_steps=12), {})
    assert d.kind == "healthy" and d.facts["climbed"] is False


# The new user's SmolLM2-135M runs (CPU, 30 steps, an evaluation every 10): healthy, but the eval
# loss still fell clearly at max_steps.
STILL = [((10, 3.41), (20, 3.07), (30, 3.00)), ((10, 2.36), (20, 2.01), (30, 1.94))]


@pytest.mark.parametrize("evals", STILL)
def test_a_run_that_ended_with_its_eval_loss_still_falling_is_healthy_and_still_improving(evals) -> None:
    curves = Curves(train=falling(n=10, start=3.6, end=2.2, every=3),
                    evals=[(s, e, None) for s, e in evals], planned_steps=30)
    d = diagnose([], curves, {"report": {"max_final_gap": 2.0}})
    assert (d.kind, [e.key for e in d.evidence], d.still_improving()) == (
        "healthy", ["fell", "tracked", "eval_still_falling"], True)
    assert d.facts["eval_still_falling"] is True
    assert d.line() == ("Diagnosis: healthy: the losses fell, the validation loss tracked the training loss, and the "
                        "eval loss was still falling when the run ended: not a fault, but the run stopped before the "
                        "model had learned what it could; train for longer (tuneguard next proposes it)")
    (s0, e0), (s1, e1), (s2, e2) = evals
    pace = ((e1 - e2) / 10) / ((e0 - e1) / 10)
    assert d.evidence[-1].text() == (
        f"the eval loss was still falling at the last evaluation: {e0:.4g} at step {s0}, {e1:.4g} at step {s1}, "
        f"{e2:.4g} at step {s2} ({100 * (e1 - e2) / e1:.3g}% lower, at {100 * pace:.3g}% of its earlier pace per step)")
    assert d.evidence[-1].text("th").startswith("eval loss ยังลดลงอยู่ในการประเมินครั้งสุดท้าย: ")


@pytest.mark.parametrize("evals, why", [
    (((10, 3.41), (20, 3.07), (30, 3.05)), "fell 0.65%: below the 1% noise floor"),
    (((10, 3.41), (20, 3.07), (30, 3.04)), "fell 1%, but at 8.8% of the earlier pace (under a tenth)"),
    (((10, 3.41), (30, 3.00)), "two evaluations: no earlier fall to compare the last one with"),
    (((10, 3.41), (20, 3.00), (30, 3.05)), "the last evaluation is not the best"),
])
def test_a_flat_end_of_the_eval_loss_keeps_no_change_needed(evals, why) -> None:
    curves = Curves(train=falling(n=10, start=3.6, end=2.2, every=3),
                    evals=[(s, e, None) for s, e in evals], planned_steps=30)
    d = diagnose([], curves, {"report": {"max_final_gap": 2.0}})
    assert (d.kind, [e.key for e in d.evidence], d.still_improving()) == ("healthy", ["fell", "tracked"], False), why
    assert d.line().endswith("the validation loss tracked the training loss: no change is needed")


def test_longer_doubles_the_steps_or_the_epochs_of_a_run_that_ran_its_planned_steps() -> None:
    from tuneguard.diagnosis import longer

    still = {"eval_still_falling": True, "planned_steps": 30, "last_step": 30}
    assert longer(still, 30, 3.0) == ("train.max_steps", 60)
    assert longer(still, -1, 3.0) == ("train.num_epochs", 6.0)  # no max_steps: the epochs
    assert longer({**still, "last_step": 12}, 30, 3.0) is None  # stopped at step 12 of 30
    assert longer({**still, "eval_still_falling": False}, 30, 3.0) is None
