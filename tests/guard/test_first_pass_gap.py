"""A real healthy run, replayed: SmolLM2-135M learning to quote the first sentence of standard
library docstring paragraphs (tests/integration/test_real_model.py), 4 rows per step, a log
every step, an evaluation of 24 validation rows every 5 steps; every step's loss and supervised
tokens as the run recorded them (`tuneguard_steps` in its checkpoint). Measured on this
repository's CPU machine.

At step 20 the eval loss (0.445) was 3.2x the loss per token of the 20 training rows since step
15 (0.137), 0.31 apart, and EVAL_DIVERGENCE warned "the model does much better on training rows
than on validation rows". But those 20 rows were new to the model when the Trainer scored them
(80 of 360 rows seen, each once), and the validation rows were a random split of the same file:
two held-out samples of one skewed per-row loss, while the eval loss fell at every evaluation.
The rule now waits until the training loss can be a loss on rows the model has trained on, or
the validation rows come from another file.
"""

from __future__ import annotations

import pytest
from guard_helpers import replay_run

# (step, loss, supervised tokens) of every step, and the eval loss every 5 steps.
STEPS = [(1, 1.77558, 111), (2, 1.29495, 47), (3, 1.38016, 136), (4, 0.54862, 55), (5, 1.57975, 130),
         (6, 0.16468, 90), (7, 0.09274, 76), (8, 1.4575, 114), (9, 0.04751, 69), (10, 0.14007, 53),
         (11, 0.69791, 111), (12, 0.02648, 65), (13, 0.05039, 62), (14, 0.52024, 106), (15, 0.03574, 71),
         (16, 0.26633, 107), (17, 0.01362, 72), (18, 0.0184, 55), (19, 0.06184, 87), (20, 0.25613, 69)]
EVALS = {5: 0.5563, 10: 0.48673, 15: 0.44903, 20: 0.4452}
BATCH = 4


def replay(tmp_path, rows: int, **overrides):
    """The run's steps and evaluations through the guards, over `rows` training rows."""
    return replay_run(tmp_path, STEPS, EVALS, rows, BATCH, **overrides)


def test_a_gap_between_two_held_out_samples_in_the_first_pass_is_no_divergence(tmp_path):
    found = replay(tmp_path, rows=360)
    assert [(f.code, f.severity, f.evidence["verdict"]) for f in found] == [
        ("LOSS_COLLAPSE", "info", "pending evaluation"), ("LOSS_COLLAPSE", "info", "easy task")]


def test_the_same_gap_warns_once_the_rows_were_trained_on(tmp_path):
    """60 rows: by step 20 each has been seen 1.3 times, so the training loss is partly on rows
    the model trained on, and the gap is what the rule is for."""
    found = replay(tmp_path, rows=60)
    (div,) = [f for f in found if f.code == "EVAL_DIVERGENCE"]
    assert (div.severity, div.step) == ("warning", 20)
    assert div.evidence["ratio"] == pytest.approx(0.4452 / div.evidence["train_loss"])
    assert div.evidence["train_loss"] == pytest.approx(
        sum(loss * t for s, loss, t in STEPS if s > 15) / sum(t for s, _, t in STEPS if s > 15))
    assert div.evidence["exposures"] == pytest.approx(80 / 60, abs=1e-3)
    assert "first_pass" not in div.evidence and "the model memorises: Keep the best checkpoint" in div.recommendation


def test_the_same_healthy_run_against_a_validation_file_of_its_own_stays_quiet(tmp_path):
    """A validation file of its own (it may come from elsewhere, so a first-pass gap can be
    news), but this gap is one window of 20 easy rows at step 20 (1.3x at step 15): noise of an
    ordinary healthy run whose eval loss fell at every evaluation. Nothing is said."""
    found = replay(tmp_path / "run", rows=360, data={"validation_file": str(tmp_path / "val.jsonl")})
    assert [f.code for f in found if f.code in ("EVAL_DIVERGENCE", "OVERFITTING")] == []


# A validation set unlike the training rows: its loss stays above 1 while the training loss per
# token falls to 0.49 and 0.34 over the windows since steps 5 and 10 (below LOSS_COLLAPSE's 4x).
UNLIKE = {5: 1.2, 10: 1.1, 15: 1.05, 20: 0.52}


def test_a_first_pass_gap_that_holds_at_two_evaluations_warns_against_a_validation_file_of_its_own(tmp_path):
    found = replay_run(tmp_path / "run", STEPS, UNLIKE, 360, BATCH, data={"validation_file": str(tmp_path / "v.jsonl")})
    (div,) = [f for f in found if f.code == "EVAL_DIVERGENCE"]
    # Over the limits at step 10 (2.2x) and again at step 15: said at 15, naming both.
    assert (div.severity, div.step, div.evidence["exposures"]) == ("warning", 15, pytest.approx(60 / 360, abs=1e-3))
    assert set(div.evidence) >= {"step", "eval_loss", "train_loss", "ratio", "divergence_ratio", "divergence_min_gap",
                                 "first_pass", "at_step", "examples_seen"}
    assert div.evidence["ratio"] == pytest.approx(1.05 / div.evidence["train_loss"])
    assert "It held at the previous evaluation too (step 10: eval loss 1.1 against 0.49" in div.message
    assert "ช่องว่างนี้มีอยู่ตั้งแต่การประเมินครั้งก่อนด้วย (step 10" in div.message_in("th")
    # No row seen twice: a validation set unlike the training rows, not memorising; no regularising advice.
    assert div.evidence["first_pass"] is True
    assert div.recommendation.startswith("No training row had been seen twice yet (the first pass), so this is not memorising")
    assert "lora.dropout" not in div.recommendation and "ยังไม่มีแถวข้อมูลฝึกแถวไหนถูกเห็นซ้ำ" in div.recommendation_in("th")


def test_past_the_first_pass_one_evaluation_is_enough(tmp_path):
    """Rows trained on: a gap at one evaluation is the memorising the rule is for (said at once)."""
    found = replay_run(tmp_path / "run", STEPS, UNLIKE, 30, BATCH, data={"validation_file": str(tmp_path / "v.jsonl")})
    (div,) = [f for f in found if f.code == "EVAL_DIVERGENCE"]
    assert div.step == 10 and "first_pass" not in div.evidence and "It held" not in div.message


# SmolLM2-135M defining WordNet words (Alpaca rows, 4 a step, 800 training rows, a validation
# file of its own), as its run store recorded the steps: the eval loss at step 6 was 0.556 above
# the training loss since step 0, and OVERFITTING said "the model is memorising the training
# rows" of a model that had seen 24 of them, each once.
DEFS = [(1, 4.33505, 29), (2, 3.91423, 35), (3, 3.68615, 41), (4, 4.15368, 45), (5, 3.85159, 51), (6, 3.67051, 79)]


def test_a_gap_at_the_first_evaluation_of_a_first_pass_is_not_memorising(tmp_path):
    data = {"validation_file": str(tmp_path / "val.jsonl")}
    found = replay_run(tmp_path / "run", DEFS, {6: 4.43859}, 800, BATCH, data=data)
    assert [f.code for f in found if f.code in ("OVERFITTING", "EVAL_DIVERGENCE")] == []
    # The same losses once every row has been seen twice (12 rows): the gap is memorising.
    (over,) = [f for f in replay_run(tmp_path / "run2", DEFS, {6: 4.43859}, 12, BATCH, data=data)
               if f.code == "OVERFITTING"]
    assert (over.severity, over.step, over.evidence["triggers"]) == ("warning", 6, ["gap"])
    assert over.evidence["gap"] == pytest.approx(4.43859 - over.evidence["train_loss"])
