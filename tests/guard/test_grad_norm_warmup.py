"""GRAD_NORM_HIGH inside the warmup: the run's first episode of large gradients there, at a loss not
above the first step's, is an info finding whose advice says nothing is to change (the diagnosis
notes it, tests/report/test_diagnosis_warmup.py, and `tuneguard next` then proposes no lower rate).
Again, after the warmup, or at a loss above the first step's, it warns and names a lower rate.
The numbers are the tiny preset's run on Thai instruction rows (docs/FINDINGS.md): 60 steps,
warmup 6, a gradient norm of 10.23 at step 5 while the loss fell from 6.81 to 6.30."""

from __future__ import annotations

from guard_helpers import replay_run

from tuneguard.guard.spikes import GradNormDetector, RunLR

WARMUP_EN = ("Gradient norm 10.23 at step 5 is above 10, inside the warmup (the first 6 steps, the learning rate "
             "still near 0), and the loss 6.302 is not above the first step's 6.806: the first large updates of a "
             "fresh adapter, which the warmup is there for.")
WARMUP_REC = ("Nothing to change: one episode of large gradients is expected in the warmup. tuneguard warns (and "
              "names a lower learning rate) if large gradients come again or after the warmup, or with a loss above "
              "the first step's.")


def test_one_episode_inside_the_warmup_at_a_falling_loss_is_info_with_nothing_to_change():
    det = GradNormDetector(10.0, RunLR(2e-3), warmup_steps=6)
    f = det.update(5, 10.23, loss=6.302, initial=6.806)
    assert (f.code, f.severity, f.step) == ("GRAD_NORM_HIGH", "info", 5)
    assert f.message == WARMUP_EN and f.recommendation == WARMUP_REC
    assert "learning_rate to" not in f.recommendation and "`tuneguard next`" not in f.recommendation
    assert f.evidence["in_warmup"] is True and f.evidence["warmup_steps"] == 6
    assert f.message_in("th").startswith("gradient norm 10.23 ที่ step 5 เกิน 10 แต่อยู่ในช่วง warmup (6 step แรก")
    assert f.recommendation_in("th").startswith("ไม่ต้องเปลี่ยนอะไร gradient ขนาดใหญ่หนึ่งช่วงเป็นเรื่องปกติในช่วง warmup")


def test_repeated_after_the_warmup_or_above_the_first_loss_still_warns_with_a_lower_rate():
    half = ("Set train.learning_rate to 0.001 (--set train.learning_rate=0.001): half of 0.002, the rate "
            "`tuneguard next` proposes for a run whose loss spiked.")
    det = GradNormDetector(10.0, RunLR(2e-3), warmup_steps=6)
    found = [det.update(s, g, loss=6.0, initial=6.806) for s, g in [(2, 12.0), (3, 1.0), (5, 11.0), (20, 1.0)]]
    assert [(f.step, f.severity) for f in found if f] == [(2, "info"), (5, "warning")]  # the second episode warns
    assert found[2].message == "Gradient norm 11 at step 5 is above 10: updates this large usually precede loss spikes and NaN."
    assert found[2].recommendation.startswith(half)
    after = GradNormDetector(10.0, RunLR(2e-3), warmup_steps=6).update(7, 10.23, loss=2.1, initial=6.806)
    assert after.severity == "warning" and after.recommendation.startswith(half)
    worse = GradNormDetector(10.0, RunLR(2e-3), warmup_steps=6).update(3, 40.0, loss=8.0, initial=6.806)
    assert worse.severity == "warning" and worse.recommendation.startswith("Set train.learning_rate to 0.0002")
    # No warmup (train.warmup_ratio 0): a warning, as before.
    assert GradNormDetector(10.0, RunLR(2e-3)).update(1, 12.0, loss=6.8, initial=6.806).severity == "warning"


def test_the_guard_counts_the_warmup_from_the_config_and_the_planned_steps(tmp_path):
    """The GuardCallback sets the warmup at train begin: 0.1 x 1,000 planned steps = 100."""
    steps = [(s, 6.8 - s / 100, 100) for s in range(1, 161)]
    found = replay_run(tmp_path, steps, {}, rows=4000, batch=4, grad_norms={5: 10.23, 150: 12.0},
                       train={"learning_rate": 2e-3, "warmup_ratio": 0.1})
    grads = [(f.step, f.severity, f.evidence.get("warmup_steps")) for f in found if f.code == "GRAD_NORM_HIGH"]
    assert grads == [(5, "info", 100), (150, "warning", None)]
