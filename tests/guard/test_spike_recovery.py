"""SpikeJudge: which LOSS_SPIKE findings wait to show whether they recover (tuneguard.guard.spikes).

A first step at 2.0, steps of a flat loss at 1.0 (+-5%, gradient norm 1.0), then one step at 2.5: the detector finds the
spike at its step; the judge decides whether it is acted on now, becomes info once the loss is
back (at that step, `at_step` the spike's), or becomes the warning when the loss stays up or the run ends first."""

from __future__ import annotations

from tuneguard.guard.spikes import LossSpikeDetector, SpikeJudge

FLAT = [1.0, 1.05, 0.95, 1.02, 0.98, 1.03, 0.97, 1.01, 0.99, 1.04]


def run(tail: list[tuple[float, float]], recovery: int = 5, repeat: int = 8192, first: float = 2.0):
    """Feed FLAT (after a first step at `first`) then `tail` ([(loss, grad norm)]), one example a
    step; returns [(step, severity, at_step, spike_acted)] of what the judge hands over, and it."""
    det = LossSpikeDetector(factor=2.0, window_examples=1000, min_jump=0.25, quantile=0.95, spread=4.5)
    judge = SpikeJudge(recovery, repeat, grad_norm_max=10.0, factor=2.0, grad_ratio=3.0)
    out = []
    for step, (loss, grad) in enumerate([(first, 1.0)] + [(x, 1.0) for x in FLAT] + tail, start=1):
        f = judge.update(step, loss, grad, step, det.update(step, loss))
        if f is not None:
            out.append((f.step, f.severity, f.evidence.get("at_step", f.step), f.evidence.get("spike_acted")))
    return out, judge


def test_an_isolated_spike_back_at_the_next_step_is_info_at_its_step():
    found, _ = run([(2.5, 1.5), (1.0, 1.0), (1.0, 1.0)])
    assert found == [(13, "info", 12, None)]


def test_spikes_that_stay_up_grow_repeat_or_move_the_weights_warn():
    assert run([(2.5, 1.5)] + [(2.5, 1.0)] * 5)[0] == [(17, "warning", 12, "not_recovered")]
    assert run([(2.5, 1.5), (2.7, 1.0)])[0] == [(13, "warning", 12, "grew")]
    assert run([(2.5, 3.5)])[0] == [(12, "warning", 12, "grad_norm")]  # 3.5x the median norm
    assert run([(2.5, None)])[0] == [(12, "warning", 12, "grad_norm")]  # no norm: no proof it was ordinary
    assert run([(2.5, 1.5)], recovery=0)[0] == [(12, "warning", 12, "no_wait")]
    assert run([(2.5, 1.5)], first=1.2)[0] == [(12, "warning", 12, "above_initial")]  # 2.5 > 2 x 1.2
    assert run([(2.5, 1.5), (1.0, 1.0), (1.0, 1.0), (2.5, 1.5)])[0] == \
        [(13, "info", 12, None), (15, "warning", 15, "repeat")]
    assert run([(2.5, 1.5), (1.0, 1.0), (1.0, 1.0), (2.5, 1.5), (1.0, 1.0)], repeat=2)[0] == \
        [(13, "info", 12, None), (16, "info", 15, None)]


def test_a_spike_still_waiting_when_the_run_ends_is_a_warning():
    found, judge = run([(2.5, 1.5), (2.4, 1.0)])
    assert found == []
    f = judge.take_held()
    assert (f.severity, f.step, f.evidence["spike_acted"]) == ("warning", 12, "run_ended")
    assert judge.take_held() is None
