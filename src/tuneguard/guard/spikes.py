"""LOSS_SPIKE and GRAD_NORM_HIGH: sudden jumps of the training loss and large gradients.

Both look only at the loss and grad norm the Trainer already logs (the grad norm it logs is
the one of the last step of the logging window, before clipping).
"""

from __future__ import annotations

import logging

from tuneguard.findings import Finding
from tuneguard.guard.episode import Episode, RunningMedian, is_finite

log = logging.getLogger(__name__)

MIN_PRIOR_POINTS = 3  # a median of fewer points is not a baseline


class LossSpikeDetector:
    """LOSS_SPIKE (warning): loss > `factor` x the running median of the previous `window`
    logged losses (at least 3 of them) and above it by more than `min_jump`: near zero a ratio
    alone is noise (a healthy SmolLM2 run at 0.02 logged windows of 0.07, 3.5x)."""

    code = "LOSS_SPIKE"

    def __init__(self, factor: float, window: int, min_jump: float = 0.0) -> None:
        self.factor = factor
        self.window = window
        self.min_jump = min_jump
        self.median = RunningMedian(window)
        self.episode = Episode()

    def update(self, step: int, loss: float | None) -> Finding | None:
        if not is_finite(loss) or loss <= 0.0:  # NaN, Inf and 0.0 belong to NON_FINITE
            return None
        med = self.median.median() if len(self.median) >= MIN_PRIOR_POINTS else None
        prior = list(self.median.values)
        self.median.add(loss)
        spike = med is not None and med > 0 and loss > self.factor * med and loss - med > self.min_jump
        if not self.episode.update(spike):
            return None
        message = (f"Training loss jumped to {loss:.4g} at step {step}, {loss / med:.1f}x the running median "
                   f"{med:.4g} of the last {len(prior)} logged losses (limit {self.factor:g}x).")
        recommendation = ("Lower train.learning_rate, keep a warmup (train.warmup_ratio 0.03-0.1) and gradient "
                          "clipping (train.max_grad_norm 1.0); with fp16 switch to bf16; look for outlier rows "
                          "(very long, garbled or mislabelled) in the batches around this step.")
        evidence = {"step": step, "loss": loss, "running_median": med, "ratio": loss / med,
                    "spike_factor": self.factor, "spike_window": self.window, "spike_min_jump": self.min_jump,
                    "previous_losses": prior}
        return Finding(code=self.code, severity="warning", message=message, evidence=evidence,
                       recommendation=recommendation, step=step, source="guard")


class GradNormDetector:
    """GRAD_NORM_HIGH (warning): the logged gradient norm > `max_norm`."""

    code = "GRAD_NORM_HIGH"

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm
        self.episode = Episode()

    def update(self, step: int, grad_norm: float | None, loss: float | None = None) -> Finding | None:
        if not is_finite(grad_norm):  # non-finite norms belong to NON_FINITE
            return None
        if not self.episode.update(grad_norm > self.max_norm):
            return None
        message = (f"Gradient norm {grad_norm:.4g} at step {step} is above {self.max_norm:g}: updates this large "
                   f"usually precede loss spikes and NaN.")
        recommendation = ("Lower train.learning_rate or lengthen the warmup (train.warmup_ratio); keep clipping "
                          "(train.max_grad_norm 1.0: the logged norm is measured before clipping); with fp16 "
                          "switch to bf16; check the batch for outlier rows.")
        evidence = {"step": step, "grad_norm": grad_norm, "grad_norm_max": self.max_norm, "loss": loss}
        return Finding(code=self.code, severity="warning", message=message, evidence=evidence,
                       recommendation=recommendation, step=step, source="guard")
