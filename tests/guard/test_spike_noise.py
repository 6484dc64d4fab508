"""LOSS_SPIKE on a real run's steps: the noise of ordinary steps at a small batch size against a
garbled batch.

The steps are those of bench/diagnosis.py's SmolLM2-135M run on manual-page extraction
(`python bench/diagnosis.py --runs smollm2`: 540 training rows, 4 rows per step, length
buckets, learning rate 1e-3, an evaluation every 5 steps), recorded on the 2-core CPU machine
from the run's checkpoint (`tuneguard_steps` in checkpoint-30's trainer_state.json: loss and
supervised tokens of every step) with LOSS_SPIKE set to warn, so that no rollback changed the
course of the run. Its eval loss fell from 0.476 to 0.227; steps 7 and 23 each drew hard rows
(1.24 and 1.72 among steps at 0.01-0.6), which the floor rule alone (2x the median and 0.25
above the 95% quantile) called spikes. GARBLED is the loss of the batch whose answers the
bench's garbled run swapped for random tokens at step 18 (`garbling_collator`).
"""

from __future__ import annotations

import pytest
from guard_helpers import replay_run


# (step, loss, supervised tokens) of every step, and the eval loss every 5 steps.
STEPS = [(1, 1.3091, 184), (2, 0.84698, 71), (3, 0.52933, 122), (4, 0.70119, 80), (5, 0.59158, 68), (6, 0.4263, 157),
         (7, 1.24, 191), (8, 0.18089, 62), (9, 0.60798, 182), (10, 0.22664, 62), (11, 0.37543, 172),
         (12, 0.041643, 93), (13, 0.13822, 136), (14, 0.037722, 100), (15, 0.053992, 115), (16, 0.096551, 113),
         (17, 0.01242, 117), (18, 0.011746, 122), (19, 0.039624, 148), (20, 0.027197, 126), (21, 0.0097649, 119),
         (22, 0.052363, 67), (23, 1.7181, 175), (24, 0.017759, 84), (25, 0.042343, 61), (26, 0.018865, 114),
         (27, 0.0079638, 84), (28, 0.016467, 130), (29, 0.0086173, 85), (30, 0.0068319, 109)]
EVALS = {5: 0.4757, 10: 0.2682, 15: 0.2447, 20: 0.2382, 25: 0.2289, 30: 0.2273}
ROWS, BATCH = 540, 4
GARBLED = 14.827  # the garbled batch's loss in that run (its LOSS_SPIKE finding's evidence)


def spikes(tmp_path, steps, evals, **guard) -> list:
    """The LOSS_SPIKE findings of the run replayed through the guards (guard_helpers.replay_run).
    LOSS_SPIKE only warns here (no rollback), so the steps are the run's as recorded."""
    found = replay_run(tmp_path, steps, evals, ROWS, BATCH, grad_norm=0.5,
                       guard={"actions": {"LOSS_SPIKE": "warn"}, **guard})
    return [f for f in found if f.code == "LOSS_SPIKE"]


def test_hard_batches_of_a_healthy_run_are_within_its_noise(tmp_path):
    assert spikes(tmp_path / "now", STEPS, EVALS) == []
    # The floor rule alone (the ratio and the quantile) called both hard batches spikes.
    assert [f.evidence["at_step"] for f in spikes(tmp_path / "floor", STEPS, EVALS, spike_spread=0)] == [7, 23]


def test_a_garbled_batch_in_the_same_run_is_a_spike(tmp_path):
    garbled = [(s, GARBLED if s == 18 else loss, tok) for s, loss, tok in STEPS]
    [f] = spikes(tmp_path, garbled, EVALS)
    ev = f.evidence
    assert (f.step, f.severity, ev["loss"]) == (18, "warning", GARBLED)
    # Steps 10-17 still swing by factors of ten while the loss falls (0.012 to 0.375): counted
    # from the latest eval loss (0.2447 at step 15), the garbled batch, 150x the median step, is
    # within 4.5 spreads of it; but it costs 11x what the data cost before any training.
    assert ev["spread_centre"] == pytest.approx(0.2447) and ev["running_median"] < 0.2447
    assert ev["spreads_above"] < ev["spike_spread"] == 4.5 and ev["initial_loss"] == 1.3091
    assert f"{GARBLED / 1.3091:.1f}x the first step's loss 1.309" in f.message


def test_without_evaluations_the_median_is_the_only_centre(tmp_path):
    """No eval loss to say what fresh rows cost on average: step 23 at 43x the median of the
    steps before it is 6.8 spreads above them, and a spike. Give a run evaluations (the default)
    to tell a hard batch from a garbled one."""
    [f] = spikes(tmp_path, STEPS, {})
    # At step 23, back at the next step with an ordinary gradient norm: info (guard.spike_recovery_steps).
    assert (f.evidence["at_step"], f.step, f.severity) == (23, 24, "info")
    assert f.evidence["spreads_above"] == pytest.approx(6.76, abs=0.01)
    assert f.evidence["eval_loss"] is None and "above their median" in f.message


def test_spread_zero_is_the_floor_rules_alone():
    """guard.spike_spread 0: the ratio and quantile rules decide, wherever the eval loss is."""
    from tuneguard.guard.spikes import LossSpikeDetector

    det = LossSpikeDetector(factor=2.0, window_examples=1000, min_jump=0.25, quantile=0.95, spread=0.0)
    det.update_eval(9.0)  # far above the spike: counted from it, the step would be below the centre
    # (A first step at 3.0: the spike is below 2x the first step's loss, so only the floor can find it.)
    found = [det.update(s, x) for s, x in [(1, 3.0), (2, 1.1), (3, 0.9), (4, 1.0), (5, 1.05), (6, 1.0), (7, 2.5)]]
    assert [f.step for f in found if f is not None] == [7]
