"""The training loss to hold against an evaluation: its average since the previous evaluation,
per supervised token.

One logging window's loss comes from a handful of batches and swings with them (the demo's
windows ran from 0.83 to 1.57 between two evaluations), so comparing it with the eval loss
(EVAL_DIVERGENCE, OVERFITTING, LOSS_COLLAPSE, the report's gap) measures that noise. The
average over every optimizer step since the previous evaluation is used instead, each step
weighted by its supervised tokens: the loss per token over everything the model was trained
on since then, the same quantity the eval loss is (a mean over the eval rows' tokens), and the
same number whatever `train.logging_steps` is or how the global batch is split.

Why tokens, not steps: with length-bucketed batches (data.batching token_budget, the default)
a step holds rows of one length, often one task of a mixed dataset; a step of 8 short answers
and a step of 8 long ones then count the same by steps while the long one holds ten times the
tokens. Averaged by steps, a run of short easy steps drags the "training loss" far below what
the model does on the mix the eval rows hold (the SmolLM2 demo: 0.094 against an eval loss of
0.20 at a healthy step 10); by tokens, every token counts once, as in the eval loss.

Steps without a token count (a resumed run's history from before the counts were kept, a
caller that has none) fall back to weighting by steps, and the basis says which was used.

Pure: fed numbers, returns numbers; the MetricsCallback stores the result with the eval metrics
(`train_loss_since_eval`, `train_steps_since_eval`, `train_tokens_since_eval`) and the
GuardCallback feeds its detectors with it, each from the same per-step records, so both hold
the same value.
"""

from __future__ import annotations

import dataclasses

from tuneguard.guard.episode import as_float, is_finite
from tuneguard.guard.records import records_in


@dataclasses.dataclass(frozen=True)
class SinceEval:
    """The average training loss over `steps` optimizer steps (`windows` logs) after `from_step`,
    weighted by `tokens` supervised tokens (`weighting` "tokens") or by steps."""

    loss: float
    steps: int
    windows: int
    from_step: int
    to_step: int
    tokens: int | None = None
    weighting: str = "steps"

    def basis(self) -> dict:
        """How the average was made, for a finding's evidence."""
        return {"train_loss_since_eval": self.loss, "train_steps_since_eval": self.steps,
                "train_logs_since_eval": self.windows, "train_tokens_since_eval": self.tokens,
                "since_eval_weighting": self.weighting, "since_step": self.from_step}


class TrainLossSinceEval:
    """Accumulates training losses (one per step, or one per logged window) between evaluations."""

    def __init__(self, start_step: int = 0) -> None:
        self.last_step = start_step  # the last logged (or evaluated) step
        self.from_step = start_step
        self._reset()

    def _reset(self) -> None:
        self._sum = 0.0  # loss x steps
        self._steps = 0
        self._tok_sum = 0.0  # loss x tokens
        self._tokens = 0
        self._untokened = 0  # steps added without a token count
        self._windows = 0

    @classmethod
    def from_history(cls, log_history: list[dict], up_to_step: int) -> "TrainLossSinceEval":
        """The accumulator a resumed run continues with: the Trainer's log history replayed up
        to the checkpoint's step (per-step records where the entries carry them)."""
        acc = cls()
        for entry in log_history:
            step = int(entry.get("step", 0))
            if step > up_to_step:
                continue
            records = records_in(entry)
            if records:
                for r in records:
                    acc.add(r.step, r.loss, r.tokens)
                acc.end_window()
            elif "loss" in entry:
                acc.add(step, as_float(entry.get("loss")))
                acc.end_window()
            if "eval_loss" in entry:
                acc.take(step)
        return acc

    def add(self, step: int, loss: float | None, tokens: int | None = None) -> None:
        """The steps after the previous one up to `step` (one step, or a logged window) with this
        mean loss and, when known, these supervised tokens. Non-finite or non-positive losses are
        left out (NON_FINITE reports them) but their steps still end the window."""
        steps = step - self.last_step
        if steps <= 0:
            return
        self.last_step = step
        if not is_finite(loss) or loss <= 0:
            return
        self._sum += loss * steps
        self._steps += steps
        if tokens is not None and tokens > 0:
            self._tok_sum += loss * tokens
            self._tokens += tokens
        else:
            self._untokened += steps

    def end_window(self) -> None:
        """One logged window ended (counted in the basis: how many logs the average spans)."""
        self._windows += 1

    def take(self, step: int) -> SinceEval | None:
        """The average since the previous evaluation (None when no loss was logged), then reset."""
        out = None
        if self._steps:
            by_tokens = self._tokens > 0 and self._untokened == 0
            loss = self._tok_sum / self._tokens if by_tokens else self._sum / self._steps
            out = SinceEval(loss, self._steps, self._windows, self.from_step, step,
                            self._tokens if by_tokens else None, "tokens" if by_tokens else "steps")
        self._reset()
        self.from_step = self.last_step = max(step, self.last_step)
        return out
