"""One optimizer step as the guards read it, and how steps are kept in the Trainer's log history.

The recorder that produces these is tuneguard.train.steps; the guards and the since-evaluation
loss read them (tuneguard.guard.callbacks, tuneguard.guard.train_loss), also from a resumed
run's log history, where each log entry carries the steps it covers under `tuneguard_steps`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

STEPS_KEY = "tuneguard_steps"  # per-step records kept in the Trainer's log history (resume, rollback)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """One optimizer step: its loss (token average over the global batch), the gradient norm
    before clipping, and the supervised tokens of the global batch (None when not counted)."""

    step: int
    loss: float | None
    grad_norm: float | None = None
    tokens: int | None = None

    def as_list(self) -> list[Any]:
        return [self.step, self.loss, self.grad_norm, self.tokens]

    @classmethod
    def from_list(cls, v: list[Any]) -> "StepRecord":
        step, loss, grad, tokens = (list(v) + [None] * 4)[:4]
        return cls(int(step), None if loss is None else float(loss), None if grad is None else float(grad),
                   None if tokens is None else int(tokens))


def records_in(entry: dict[str, Any]) -> list[StepRecord] | None:
    """The per-step records a log-history entry carries (None when it has none)."""
    raw = entry.get(STEPS_KEY)
    if not isinstance(raw, list):
        return None
    try:
        return [StepRecord.from_list(v) for v in raw]
    except (TypeError, ValueError):
        return None
