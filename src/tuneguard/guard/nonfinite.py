"""NON_FINITE: a NaN/Inf loss or grad norm, or a logged training loss of exactly 0.0.

The Trainer's default `logging_nan_inf_filter=True` replaces NaN losses by the running
average and logs a window of only NaN losses as exactly 0.0; a real loss is never exactly
zero. tuneguard turns the filter off so the NaN shows, and still treats 0.0 as a fault in
case it is on (or every label of the window was masked).

fp16 runs scale the loss (torch's GradScaler): a step whose scaled gradients overflow is
skipped (no weight update) and the scale halved. The Trainer then logs an infinite gradient
norm with a finite loss. That is the scaler working, not a fault: it happens at the start of
most fp16 runs while the scale settles. Only a scaler that skips step after step (the
gradients overflow at every scale: nothing is learned) is NON_FINITE: 16 optimizer steps in a
row, counted in steps rather than examples because the scaler halves its scale once per
skipped step, and 16 halvings take torch's initial 65,536 to 1.

The advice depends on the precision the run computes in (`dtype`, set from the Trainer's
arguments and the model when training begins): only an fp16 run is told to change model.dtype;
a bf16 or fp32 run that turns non-finite has updates that grew too large or a bad row, and is
told so rather than sent after a precision it does not use.

Every optimizer step is looked at (tuneguard.train.steps), so a NaN is found at the step it
happened whatever `train.logging_steps` is; a caller that only has logged windows gets the
window (`window` in the evidence).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

from tuneguard.catalog import J, Spec, T, render
from tuneguard.findings import Finding
from tuneguard.guard.episode import Episode

log = logging.getLogger(__name__)

SCALER_SKIPS = 16  # consecutive skipped fp16 steps before it is a fault (65,536 halved to 1)
# Before the fault the loss had climbed: the median of the last RECENT finite training losses was
# over CLIMBED x the first one (a median of a few, since one batch's loss alone can be twice another's).
RECENT, CLIMBED = 3, 2.0


def _describe(v: float | None) -> str:
    return "missing" if v is None else repr(v) if not math.isfinite(v) else f"{v:.4g}"


def compute_dtype(args: Any, model: Any = None) -> str:
    """The precision a run computes in: fp16 or bf16 when the Trainer mixes it in (`args.fp16`,
    `args.bf16`), else the model's own dtype (an fp16 base on the CPU runs in fp16 with no
    mixed precision and no loss scaler), fp32 when neither says otherwise."""
    if getattr(args, "fp16", False):
        return "fp16"
    if getattr(args, "bf16", False):
        return "bf16"
    try:
        dtype = str(getattr(model, "dtype", ""))
    except (AttributeError, StopIteration):  # a model without floating parameters
        dtype = ""
    return {"torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(dtype, "fp32")


class NonFiniteDetector:
    """Feed every training log (`update`) and every evaluation (`update_eval`).

    One episode covers the whole fault: a NaN loss and the NaN eval loss that follows at the
    same step are one finding, and a new one is recorded only after a finite training log.
    `last_checkpoint(step)` (optional) names the newest checkpoint saved before `step`: the
    one to resume from, since the weights updated at the faulty step are probably NaN.
    """

    code = "NON_FINITE"

    def __init__(self, last_checkpoint: Callable[[int], str | None] | None = None, *, loss_scaling: bool = False,
                 max_scaler_skips: int = SCALER_SKIPS, dtype: str = "fp32") -> None:
        self.last_checkpoint = last_checkpoint
        self.dtype = dtype  # what the run computes in: fp16, bf16 or fp32
        self.episode = Episode()
        self.prev_step: int | None = None  # the previous training log
        self.first_loss: float | None = None  # the run's first finite training loss (the untrained model's)
        self.recent: list[float] = []  # the last finite training losses (RECENT of them)
        # fp16 with a loss scaler: a non-finite gradient norm with a finite loss is a skipped step.
        self.loss_scaling = loss_scaling
        self.max_scaler_skips = max_scaler_skips
        self.scaler_skips: list[int] = []  # consecutive skipped steps

    def update(self, step: int, loss: float | None, grad_norm: float | None = None) -> Finding | None:
        """One step's loss and gradient norm (or a logged window's: the mean loss over the steps
        since the previous update, the fault then lies somewhere in that window)."""
        first = (self.prev_step + 1) if self.prev_step is not None and self.prev_step < step else step
        self.prev_step = step
        if loss is not None and math.isfinite(loss) and loss > 0:
            self.first_loss = loss if self.first_loss is None else self.first_loss
            self.recent = (self.recent + [loss])[-RECENT:]
        bad_loss = loss is not None and (not math.isfinite(loss) or loss == 0.0)
        bad_norm = grad_norm is not None and not math.isfinite(grad_norm)
        where = T("NON_FINITE.where.step", step=step) if first == step else \
            T("NON_FINITE.where.window", step=step, first=first)
        if self.loss_scaling and bad_norm and not bad_loss:
            self.scaler_skips.append(step)
            if len(self.scaler_skips) < self.max_scaler_skips:
                log.info("fp16: the loss scaler skipped the step at %s (gradient overflow; the scale is lowered "
                         "and training goes on)", render(where))
                self.episode.update(False)
                return None
            if not self.episode.update(True):
                return None
            skips = list(self.scaler_skips)
            message = T("NON_FINITE.fp16", n=len(skips), first=skips[0], last=skips[-1])
            return self._finding(step, message, {"step": step, "window": [first, step], "loss": loss,
                                                 "grad_norm": grad_norm, "kind": "fp16_overflow",
                                                 "skipped_steps": skips})
        if not bad_norm:
            self.scaler_skips.clear()
        if not self.episode.update(bad_loss or bad_norm):
            return None
        if loss == 0.0 and not bad_norm:
            kind = "zero_loss"
            message = T("NON_FINITE.zero", where=where)
        else:
            kind = "nan" if any(v is not None and math.isnan(v) for v in (loss, grad_norm)) else "inf"
            what = J("join.and", ([T("NON_FINITE.what.loss", v=_describe(loss))] if bad_loss else [])
                     + ([T("NON_FINITE.what.norm", v=_describe(grad_norm))] if bad_norm else []))
            message = T("NON_FINITE.found", what=what, where=where)
        return self._finding(step, message, {"step": step, "window": [first, step], "loss": loss,
                                             "grad_norm": grad_norm, "kind": kind})

    def update_eval(self, step: int, eval_loss: float | None) -> Finding | None:
        """An evaluation does not end an episode: only a finite training log does."""
        if eval_loss is None or math.isfinite(eval_loss) or self.episode.active:
            return None
        self.episode.active = True
        message = T("NON_FINITE.eval", v=_describe(eval_loss), step=step)
        return self._finding(step, message, {"step": step, "eval_loss": eval_loss, "kind": "eval"})

    def _climbed(self) -> float | None:
        """The median of the last finite training losses when it had climbed to over CLIMBED x the
        first: the checkpoints before the fault then hold a model worse than untrained, and a new
        run with a lower learning rate, not a resume, is the way on."""
        if self.first_loss is None or len(self.recent) < RECENT:
            return None
        median = sorted(self.recent)[len(self.recent) // 2]
        return median if median > CLIMBED * self.first_loss else None

    def _finding(self, step: int, message: Spec, evidence: dict) -> Finding:
        ckpt = self.last_checkpoint(step) if self.last_checkpoint else None
        evidence["checkpoint_before"] = ckpt
        evidence["dtype"] = self.dtype
        precision = T("NON_FINITE.precision.fp16") if self.dtype == "fp16" else \
            T("NON_FINITE.precision.wide", dtype=self.dtype)
        climbed = self._climbed()
        if climbed is not None:
            evidence.update(first_loss=self.first_loss, loss_before=climbed)
            rec = T("NON_FINITE.rec_restart", precision=precision, first=self.first_loss, before=climbed)
        elif ckpt:
            rec = T("NON_FINITE.rec_resume", precision=precision, ckpt=ckpt, step=step)
        else:
            rec = T("NON_FINITE.rec", precision=precision)
        return Finding.said(self.code, "error", message, rec, evidence, step=step, source="guard")
