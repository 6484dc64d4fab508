"""Learning-rate scaling composed with the schedule: `lr(step) = schedule(step) x factor`.

Why not just write `param_group["lr"]`: the Trainer's scheduler rewrites it at every step
(transformers' schedules are all `LambdaLR`: lr = base_lr x lambda(step)), so a one-off
change would last one step. `LRScaler` wraps the scheduler's lambdas instead, so the
scheduler itself computes the scaled value at every step, `get_last_lr()` (what the Trainer
logs as `learning_rate`) reports it, and the warmup/decay shape continues from the new
scale. The wrappers are plain closures: `LambdaLR.state_dict` does not save functions, so a
checkpoint's scheduler.pt stays loadable with `weights_only=True` and holds the schedule's
position only; the factor travels in the policy's own checkpoint file (callback.py).

Other schedulers (chainable ones compute from the current lr) get the ratio applied to the
param groups once, which they then carry forward themselves.

Bounds: the factor is kept so that the peak learning rate times the factor stays within
[min_lr, max_lr] (policy.min_lr / policy.max_lr), whatever asks for the change.

No torch import at module level: the CLI parses `set-lr` values with this module.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_FACTOR = re.compile(r"^\s*[x×*]\s*([0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class LRRequest:
    """A `set-lr` value: an absolute learning rate or a factor of the current one."""

    value: float
    relative: bool

    def __str__(self) -> str:
        return f"x{self.value:g}" if self.relative else f"{self.value:g}"


def parse_lr_request(text: str) -> LRRequest:
    """`1e-5` (absolute) or `x0.1` / `×0.1` / `*0.1` (factor). Raises ValueError with a sentence."""
    m = _FACTOR.match(text or "")
    raw = m.group(1) if m else (text or "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a learning rate (1e-5) or a factor (x0.1)") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r}: the {'factor' if m else 'learning rate'} must be a positive number")
    return LRRequest(value, relative=bool(m))


@dataclass
class LRChange:
    """What a change did: optimizer lr and factor before and after; `clamped` names the bound hit."""

    lr_from: float
    lr_to: float
    factor_from: float
    factor_to: float
    clamped: str | None = None

    @property
    def changed(self) -> bool:
        return not math.isclose(self.factor_from, self.factor_to, rel_tol=1e-12)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.lr_from, "to": self.lr_to, "lr_from": self.lr_from, "lr_to": self.lr_to,
                "lr_scale_from": self.factor_from, "lr_scale_to": self.factor_to, "clamped": self.clamped}


class LRScaler:
    """One run's learning-rate factor, applied to whichever scheduler the Trainer has now.

    `bind` is called at every train begin (the Trainer builds a new scheduler after a
    rollback); the factor survives it.
    """

    def __init__(self, peak_lr: float, min_lr: float | None = None, max_lr: float | None = None):
        self.peak_lr = float(peak_lr)
        self.min_lr = float(min_lr) if min_lr is not None else self.peak_lr / 100
        self.max_lr = float(max_lr) if max_lr is not None else self.peak_lr
        self.factor = 1.0
        self._sched: Any = None
        self._opt: Any = None
        self._inner: list[Callable[[int], float]] | None = None  # the schedule's own lambdas

    @classmethod
    def for_config(cls, cfg: Any) -> LRScaler:
        return cls(cfg.train.learning_rate, cfg.policy.min_lr, cfg.policy.max_lr)

    @property
    def bound(self) -> bool:
        return self._opt is not None

    # -- binding ---------------------------------------------------------------------
    def bind(self, scheduler: Any, optimizer: Any = None) -> None:
        """Take over `scheduler` (and its optimizer): wrap its lambdas, apply the factor now."""
        from torch.optim.lr_scheduler import LambdaLR

        sched = getattr(scheduler, "scheduler", scheduler)  # accelerate's AcceleratedScheduler
        opt = optimizer if optimizer is not None else getattr(sched, "optimizer", None)
        if sched is None or opt is None:
            return
        if sched is self._sched:
            self._refresh()
            return
        self._sched, self._opt, self._inner = sched, opt, None
        if isinstance(sched, LambdaLR):
            self._inner = list(sched.lr_lambdas)
            sched.lr_lambdas = [self._scaled(fn) for fn in self._inner]
            self._refresh()
        elif self.factor != 1.0:
            self._multiply_groups(self.factor)  # a fresh non-lambda scheduler starts unscaled
        log.debug("learning-rate factor %.4g bound to %s", self.factor, type(sched).__name__)

    def _scaled(self, fn: Callable[[int], float]) -> Callable[[int], float]:
        def scaled(step: int) -> float:  # a closure, so LambdaLR.state_dict leaves it out
            return fn(step) * self.factor
        return scaled

    def _refresh(self) -> None:
        """Recompute the current lr from the schedule and the factor (LambdaLR)."""
        sched = self._sched
        if self._inner is None or sched is None:
            return
        for group, base, fn in zip(self._opt.param_groups, sched.base_lrs, sched.lr_lambdas, strict=False):
            group["lr"] = base * fn(sched.last_epoch)
        sched._last_lr = [g["lr"] for g in self._opt.param_groups]

    def _multiply_groups(self, ratio: float) -> None:
        for group in self._opt.param_groups:
            group["lr"] = group["lr"] * ratio
        if self._sched is not None and hasattr(self._sched, "_last_lr"):
            self._sched._last_lr = [g["lr"] for g in self._opt.param_groups]

    # -- reading ---------------------------------------------------------------------
    def current_lr(self) -> float:
        """The optimizer's learning rate for the next step (first param group)."""
        return float(self._opt.param_groups[0]["lr"]) if self._opt is not None else self.peak_lr * self.factor

    def scheduled_lr(self) -> float:
        """What the schedule alone would give now (no factor)."""
        if self._inner is not None:
            return float(self._sched.base_lrs[0] * self._inner[0](self._sched.last_epoch))
        return self.current_lr() / self.factor

    # -- changing --------------------------------------------------------------------
    def clamp(self, factor: float) -> tuple[float, str | None]:
        """The factor within the bounds, and which bound it hit (None if none)."""
        lo, hi = self.min_lr / self.peak_lr, self.max_lr / self.peak_lr
        if factor < lo * (1 - 1e-9):
            return lo, f"policy.min_lr {self.min_lr:g}"
        if factor > hi * (1 + 1e-9):
            return hi, f"policy.max_lr {self.max_lr:g}"
        return factor, None

    def set_factor(self, factor: float) -> LRChange:
        """Make the factor `factor` (bounded) from now on; the optimizer changes at once."""
        new, clamped = self.clamp(factor)
        before_lr, before = self.current_lr(), self.factor
        self.factor = new
        if self._opt is not None:
            if self._inner is not None:
                self._refresh()
            elif before > 0:
                self._multiply_groups(new / before)
        change = LRChange(before_lr, self.current_lr(), before, new, clamped)
        log.info("learning-rate factor %.4g -> %.4g (lr %.3g -> %.3g)%s", before, new, change.lr_from,
                 change.lr_to, f", clamped to {clamped}" if clamped else "")
        return change

    def multiply(self, ratio: float) -> LRChange:
        return self.set_factor(self.factor * ratio)

    def apply(self, request: LRRequest) -> LRChange:
        """A `set-lr` request: a factor of the current lr, or an absolute lr for this step
        (the factor becomes value / schedule, so the schedule goes on from there)."""
        if request.relative:
            return self.multiply(request.value)
        sched = self.scheduled_lr()
        if sched <= 0:
            raise ValueError("the schedule is at 0 at this step (warmup start or end of decay): "
                             "use a factor (x0.5) instead")
        return self.set_factor(request.value / sched)
