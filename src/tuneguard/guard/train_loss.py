"""The training loss to hold against an evaluation: its average since the previous evaluation.

One logging window's loss comes from a handful of batches and swings with them (the demo's
windows ran from 0.83 to 1.57 between two evaluations), so comparing it with the eval loss
(EVAL_DIVERGENCE, OVERFITTING, the report's gap) measures that noise. The average over every
optimizer step since the previous evaluation is the number the Trainer itself would log with
logging_steps = eval.steps: each logged window's loss (already the mean of its steps) is
weighted by its number of steps, so every step counts once. A step holds about the same number
of tokens under token_budget batching and the same number of examples under padded batching,
so this is also the token- (or example-) weighted average to within a step's variation.

Pure: fed numbers, returns numbers; the MetricsCallback stores the result with the eval metrics
(`train_loss_since_eval`, `train_steps_since_eval`) and the GuardCallback feeds its detectors
with it, each from the same logs, so both hold the same value.
"""

from __future__ import annotations

import dataclasses

from tuneguard.guard.episode import as_float, is_finite


@dataclasses.dataclass(frozen=True)
class SinceEval:
    """The average training loss over `steps` optimizer steps (`windows` logs) after `from_step`."""

    loss: float
    steps: int
    windows: int
    from_step: int
    to_step: int


class TrainLossSinceEval:
    """Accumulates logged training losses between evaluations."""

    def __init__(self, start_step: int = 0) -> None:
        self.last_step = start_step  # the last logged (or evaluated) step
        self.from_step = start_step
        self._sum = 0.0
        self._steps = 0
        self._windows = 0

    @classmethod
    def from_history(cls, log_history: list[dict], up_to_step: int) -> "TrainLossSinceEval":
        """The accumulator a resumed run continues with: the Trainer's log history replayed up
        to the checkpoint's step (training logs added, each evaluation taking its average)."""
        acc = cls()
        for entry in log_history:
            step = int(entry.get("step", 0))
            if step > up_to_step:
                continue
            if "loss" in entry:
                acc.add(step, as_float(entry.get("loss")))
            elif "eval_loss" in entry:
                acc.take(step)
        return acc

    def add(self, step: int, loss: float | None) -> None:
        """One logged window ending at `step`; non-finite or non-positive losses are left out
        (NON_FINITE reports them) but their steps still end the window."""
        steps = step - self.last_step
        if steps <= 0:
            return
        self.last_step = step
        if not is_finite(loss) or loss <= 0:
            return
        self._sum += loss * steps
        self._steps += steps
        self._windows += 1

    def take(self, step: int) -> SinceEval | None:
        """The average since the previous evaluation (None when no loss was logged), then reset."""
        out = None
        if self._steps:
            out = SinceEval(self._sum / self._steps, self._steps, self._windows, self.from_step, step)
        self._sum, self._steps, self._windows = 0.0, 0, 0
        self.from_step = self.last_step = max(step, self.last_step)
        return out
