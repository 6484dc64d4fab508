"""Wrong answers after too few evaluations to show the eval loss's trend, and after a flat eval
loss over enough of them, on recorded runs: the diagnosis, the verdict and `next` say the same."""

from __future__ import annotations

from pathlib import Path

from tuneguard.nextrun import plan_next
from tuneguard.report.recommend import diagnose_run
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import COHERENT, VAL_TRACKED, compute_verdict
from tuneguard.store.run_store import RunStore

from tests.report.runs import ENV, tiny_config

PROBES = [(f"What is {a} plus {b}?", [str(a + b)]) for a, b in ((2, 3), (4, 4), (1, 6), (5, 2), (3, 6), (7, 1))]


def build(run_dir: Path, steps: int, evals: dict[int, float], config: dict | None = None, end: float = 1.5) -> Path:
    """A finished tiny run of `steps` steps, its training loss 3.0 falling to `end`, eval losses
    `evals`, and 0 of the 6 probes answered right at every evaluation (nor by the base model)."""
    cfg = tiny_config(**{"train.max_steps": steps, "eval.qa_probes": [{"prompt": p, "expected": e} for p, e in PROBES],
                         **(config or {})})
    with RunStore(run_dir, create=True) as s:
        s.init_run(config=cfg, max_steps=steps, run_id="fewevals1")
        s.set_meta(environment=ENV, started=1_700_000_000.0, ended=1_700_000_060.0, exit_reason="finished")
        s.set_state("running")
        for step in range(5, steps + 1, 5):
            s.log_metrics(step, "train", {"loss": 3.0 - (3.0 - end) * step / steps, "learning_rate": 3e-3, "epoch": step / 100})
            if step in evals:
                s.log_metrics(step, "eval", {"eval_loss": evals[step], "epoch": step / 100})
                for prompt, expected in PROBES:
                    s.add_qa_sample(step, prompt, "The answer is twelve.", [], None, True, 0.9, expected=expected,
                                    correct=False)
        for prompt, expected in PROBES:
            s.add_qa_sample(steps, prompt, "I am a model.", [], None, True, 0.9, expected=expected, correct=False,
                            base=True)
        s.add_event("finished", {"reason": "max_steps"}, step=steps)
        s.set_state("finished")
    return run_dir


def test_two_evaluations_leave_the_trend_unjudged_and_next_evaluates_often_enough(tmp_path: Path) -> None:
    """40 steps evaluated at 20 and 40 (2.61, 2.60: flat between the two), 0 of 6 right: not
    "too short, train longer" but "the trend cannot be judged", with the numbers; next evaluates
    about 5 times over a run twice as long (the training loss still fell)."""
    run = load_run(build(tmp_path / "run", 40, {20: 2.61, 40: 2.60}))
    d = diagnose_run(run)
    assert (d.kind, [e.key for e in d.evidence], d.few_evals()) == (
        "inconclusive", ["few_evals", "too_short", "answers_wrong_base"], True)
    assert d.evidence[0].text() == ("only 2 evaluation(s) (eval loss 2.61 at step 20, 2.6 at step 40): fewer than the "
                                    "3 it takes to tell whether the eval loss is still falling, flat or rising: its "
                                    "trend cannot be judged")
    assert d.evidence[0].text("th").startswith("ประเมินเพียง 2 ครั้ง (eval loss 2.61 ที่ step 20, 2.6 ที่ step 40)")
    assert d.line().startswith("Diagnosis: inconclusive: the eval loss was measured too few times to show whether "
                               "the model learns the task")
    verdict = compute_verdict(run)
    assert verdict.get(VAL_TRACKED).evidence.endswith(
        "only 2 evaluation(s): the final gap is measured, but whether the eval loss was still falling, flat or rising "
        "cannot be judged from fewer than 3")
    assert verdict.get(COHERENT).status == "fail"  # 0 of 6 right is measured, not guessed
    plan = plan_next(run.run_dir)
    # Twice as long at the same cadence: 4 evaluations (20, 40, 60, 80).
    assert {c.key: c.value for c in plan.recs.changes} == {"train.max_steps": 80}
    # One evaluation every 40 steps: twice as long still gives 2, so about 5 (every 16, checkpoints with them).
    once = load_run(build(tmp_path / "once", 40, {40: 2.6}, {"eval.steps": 40, "train.save_steps": 40}))
    assert diagnose_run(once).few_evals()
    plan = plan_next(once.run_dir)
    assert {c.key: c.value for c in plan.recs.changes} == {"train.max_steps": 80, "eval.steps": 16,
                                                            "train.save_steps": 16}
    assert [c.reason for c in plan.recs.changes][1] == (
        "the eval loss shows a trend only over 3 or more evaluations, and this cadence gives 2 in 80 steps: about 5")


def test_a_flat_eval_loss_over_three_evaluations_with_wrong_answers_is_not_learning(tmp_path: Path) -> None:
    """60 steps, 3 evaluations 2.61, 2.60, 2.60, 0 of 6 right while the training loss fell 3.0 ->
    2.2 (the gap within the limit: no memorising): underfitting (not learning the task), with the flat eval loss as evidence; the rate moved
    the training loss, so next does not raise it but says what to check."""
    run = load_run(build(tmp_path / "run", 60, {20: 2.61, 40: 2.6, 60: 2.6}, {"lora.r": 4, "lora.alpha": 8}, end=2.2))
    d = diagnose_run(run)
    assert (d.kind, [e.key for e in d.evidence]) == ("underfitting", ["answers_wrong_base", "eval_flat"])
    assert d.evidence[1].text() == "eval loss 2.61 at the first evaluation, best 2.6 (0.383% lower)"
    plan = plan_next(run.run_dir)
    assert {c.key: c.value for c in plan.recs.changes} == {"lora.r": 8, "lora.alpha": 16}
    (action,) = [a for a in plan.recs.actions if a.text.startswith("The training loss fell")]
    assert action.text.startswith("The training loss fell (2.933 -> 2.2) but the eval loss stayed flat over 3 "
                                  "evaluations (2.61, best 2.6) and the expected answers stayed wrong")
    assert action.text_in("th").startswith("loss การฝึกลดลง (2.933 -> 2.2)")
