"""Every optimizer step's loss, gradient norm and supervised tokens, handed over at each log.

Why: the Trainer logs one number per logging window, the mean of `train.logging_steps`
steps, and the gradient norm of the window's last step only. A guard fed those sees a
one-step spike diluted five times with logging_steps 5, never sees a large gradient of a
step that is not the last of its window, and finds a collapse one window later: the same run
gives other findings with another logging cadence. Fed every step, each rule sees the same
series whatever `logging_steps` is, and the since-evaluation training loss can weight each
step by its supervised tokens (tuneguard.guard.train_loss).

Cost: nothing per step on the device. Each micro-batch's loss (the detached tensor the
Trainer's `training_step` returns) is added to a device accumulator, the step's gradient norm
is kept as the tensor the Trainer computed, and the supervised tokens come from the collator's
CPU count (tuneguard.train.metrics.TokenCounter). At a log, one `tolist()` reads the window's
values (right after the Trainer's own `.item()` on its loss, so nothing is still queued), and
under several processes one small CPU all-reduce (tuneguard's gloo group) sums the per-rank
losses and tokens, as the Trainer's gather does for its window loss: every rank gets the same
global per-step series, so every rank's guards decide alike.

Early in training (`guard.watch_steps`) `peek` reads each step's values as the step ends, so the
loss guards judge a collapse or a NaN at the step it happens rather than at the next log. That
read is one device synchronisation per optimizer step: what the Trainer's own default
(`logging_nan_inf_filter`, which tuneguard turns off) pays per micro-batch. A value peeked is
kept as a number: the log's `take` neither reads nor sums it again.

Per rank, a step's loss is the sum of what `training_step` returned for its micro-batches:
normalised by the global number of supervised tokens and scaled by the world size
(`average_tokens_across_devices`), so the mean over ranks is the step's token-averaged loss
over the whole global batch, the same number whatever the processes x micro-batches split.
"""

from __future__ import annotations

import logging
from typing import Any

from tuneguard.guard.records import StepRecord

log = logging.getLogger(__name__)


class StepRecorder:
    """Collects per-step losses and gradient norms from a Trainer (`install`), closes each step
    at `end_step` (the step's supervised tokens from `counter`), and hands the steps since the
    previous hand-over to `take` as StepRecords."""

    def __init__(self, counter: Any = None) -> None:
        self.counter = counter
        self._loss: Any = None  # device tensor: this step's micro-batch losses so far
        self._grad: Any = None
        self._supervised_last = 0
        # (step, loss, gradient norm, tokens, read): `read` once `peek` made loss and norm global numbers.
        self._pending: list[tuple[int, Any, Any, int | None, bool]] = []
        self.installed = False
        self.per_step_grad_norm = False

    def attach(self, per_step_grad_norm: bool) -> None:
        """Called by the Trainer that feeds this recorder (tuneguard.train.trainer.RunTrainer):
        every micro-batch's loss from `training_step`, and, where this transformers computes it
        in `_get_grad_norm`, every optimizer step's gradient norm (without it the guards fall
        back to the logged norm, the window's last step)."""
        self.installed = True
        self.per_step_grad_norm = per_step_grad_norm

    def add_loss(self, loss: Any) -> None:
        """A micro-batch's loss (the detached tensor `training_step` returned)."""
        self._loss = loss if self._loss is None else self._loss + loss

    def add_grad_norm(self, norm: Any) -> None:
        """The gradient norm of the optimizer step being taken."""
        self._grad = norm

    def reset(self) -> None:
        """A new training pass (start, resume, rollback): nothing pending."""
        self._loss, self._grad, self._pending = None, None, []
        self._supervised_last = self.counter.supervised if self.counter is not None else 0

    def end_step(self, step: int) -> None:
        """Close optimizer step `step` (called at on_step_end, after the optimizer step)."""
        if not self.installed:
            return
        tokens = None
        if self.counter is not None:
            tokens = self.counter.supervised - self._supervised_last
            self._supervised_last = self.counter.supervised
        self._pending.append((int(step), self._loss, self._grad, tokens, False))
        self._loss, self._grad = None, None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def peek(self, collectives: Any = None) -> StepRecord | None:
        """The step `end_step` closed last, read now (a device synchronisation; under several
        processes a collective, which every rank calls at the same steps) and kept pending for
        `take`; None when nothing is pending or it was read already."""
        if not self._pending or self._pending[-1][4]:
            return None
        (rec,) = self._read([self._pending[-1]], collectives)
        self._pending[-1] = (rec.step, rec.loss, rec.grad_norm, rec.tokens, True)
        return rec

    def take(self, collectives: Any = None) -> list[StepRecord]:
        """The steps closed since the previous call, as plain numbers; under several processes
        a collective (every rank calls it at the same points: each training log and each
        evaluation, which every rank reaches at the same step)."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        fresh = iter(self._read([p for p in pending if not p[4]], collectives))
        return [StepRecord(p[0], p[1], p[2], p[3]) if p[4] else next(fresh) for p in pending]

    @staticmethod
    def _read(pending: list[tuple[int, Any, Any, int | None, bool]], collectives: Any) -> list[StepRecord]:
        """Entries not read yet as StepRecords: one device read, and under several processes one
        all-reduce that makes the losses and tokens global (every rank calls it alike)."""
        if not pending:
            return []
        losses = _floats([p[1] for p in pending])
        grads = _floats([p[2] for p in pending])
        tokens = [p[3] for p in pending]
        world = getattr(collectives, "world_size", 1) if collectives is not None else 1
        if world > 1:
            n = len(pending)
            vec = [0.0 if x is None else x for x in losses] + [float(t or 0) for t in tokens]
            summed = collectives.all_sum_float(vec)
            losses = [None if losses[i] is None else summed[i] / world for i in range(n)]
            tokens = [None if tokens[i] is None else int(round(summed[n + i])) for i in range(n)]
        return [StepRecord(step, loss, grad, tok) for (step, *_), loss, grad, tok in zip(pending, losses, grads, tokens, strict=False)]


def _floats(values: list[Any]) -> list[float | None]:
    """Tensors and numbers as floats, with one device read for all the tensors."""
    import torch

    tensors = [(i, v) for i, v in enumerate(values) if isinstance(v, torch.Tensor)]
    out: list[float | None] = [None if v is None or isinstance(v, torch.Tensor) else float(v) for v in values]
    if tensors:
        stacked = torch.stack([v.detach().reshape(()).float() for _, v in tensors]).tolist()
        for (i, _), x in zip(tensors, stacked, strict=False):
            out[i] = float(x)
    return out
