"""Large gradients inside the warmup are what warmup and clipping are for: one GRAD_NORM_HIGH
episode there, on a run whose loss fell, is noted, not "unstable". The replayed numbers are
the tiny preset's run on Thai instruction rows (docs/FINDINGS.md): a batch of long Thai answers at
step 5 of 60 (warmup 6 steps) had a gradient norm of 10.23, then 0.40 at step 10; the loss fell
from 6.81 to 2.08 and the eval loss from 2.53 to 2.23."""

from __future__ import annotations

from tests.report.test_diagnosis import HEALTHY, guard
from tuneguard.diagnosis import Curves, diagnose

THAI = Curves(train=[(1, 6.806), (5, 6.302), (10, 4.222), (15, 2.657), (20, 2.399), (25, 2.608), (30, 2.287),
                     (35, 2.071), (40, 2.488), (45, 2.602), (50, 2.81), (55, 2.159), (60, 2.082)],
              evals=[(20, 2.525, None), (40, 2.283, None), (60, 2.23, None)], planned_steps=60)
WARMUP = {"train": {"warmup_ratio": 0.1}}


def test_one_large_gradient_inside_the_warmup_of_a_falling_run_is_noted_not_unstable() -> None:
    d = diagnose([guard("GRAD_NORM_HIGH", 5, grad_norm=10.23, grad_norm_max=10.0)], THAI, WARMUP)
    assert d.kind == "healthy" and d.codes == []
    assert [n.text() for n in d.notes] == [
        "gradient norm 10.23 at step 5, above 10 once, inside the warmup (the first 6 steps, the learning rate "
        "still low, the update clipped); the loss fell after it"]
    assert "warmup" in d.notes[0].text("th")


def test_large_gradients_after_the_warmup_repeated_or_without_a_warmup_stay_unstable() -> None:
    after = diagnose([guard("GRAD_NORM_HIGH", 12, grad_norm=10.23, grad_norm_max=10.0)], THAI, WARMUP)
    assert (after.kind, after.codes) == ("unstable", ["GRAD_NORM_HIGH"])
    twice = [guard("GRAD_NORM_HIGH", 2, grad_norm=12.0, grad_norm_max=10.0),
             guard("GRAD_NORM_HIGH", 5, grad_norm=10.23, grad_norm_max=10.0)]
    assert diagnose(twice, THAI, WARMUP).kind == "unstable"
    no_warmup = diagnose([guard("GRAD_NORM_HIGH", 5, grad_norm=10.23, grad_norm_max=10.0)], THAI,
                         {"train": {"warmup_ratio": 0.0}})
    assert no_warmup.kind == "unstable"
    # A loss that did not fall: the large first updates may be why.
    rising = Curves(train=[(s, 2.0 + s / 100) for s in range(0, 61, 5)], evals=[(60, 2.7, None)], planned_steps=60)
    assert diagnose([guard("GRAD_NORM_HIGH", 5, grad_norm=10.23, grad_norm_max=10.0)], rising, WARMUP).kind != "healthy"
    # The unit test's own healthy curves without the run's config (warmup unknown): unstable, as before.
    assert diagnose([guard("GRAD_NORM_HIGH", 5, grad_norm=40.0, grad_norm_max=10.0)], HEALTHY, {}).kind == "unstable"
