"""EARLY_STOP: transformers' EarlyStoppingCallback, plus a finding that names the best step
and loss when patience runs out (so the report and the phone say which checkpoint to keep).

The counter and the stop decision are the Trainer's own (subclass, unchanged logic), so
behaviour matches plain transformers. The class is bound to the run's context by
`for_run`, which creates a per-run subclass holding the context: when the Trainer restores
callback states on resume (`restore_callback_states_from_checkpoint`) it rebuilds the
callback as `type(cb)(**args)`, and the bound subclass keeps its context through that.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from transformers import EarlyStoppingCallback

from tuneguard.catalog import T
from tuneguard.findings import Finding
from tuneguard.guard.actions import act

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)


class GuardedEarlyStopping(EarlyStoppingCallback):
    """Early stopping on `args.metric_for_best_model` that records EARLY_STOP (info)."""

    ctx: RunContext | None = None  # bound per run by for_run()

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float | None = 0.0):
        super().__init__(early_stopping_patience, early_stopping_threshold)
        self.best: tuple[int | None, float] | None = None  # (step, value) of the best evaluation seen

    @classmethod
    def for_run(cls, ctx: RunContext, patience: int, threshold: float) -> "GuardedEarlyStopping":
        bound = type(cls.__name__, (cls,), {"ctx": ctx, "__module__": cls.__module__,
                                            "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})
        return bound(early_stopping_patience=patience, early_stopping_threshold=threshold)

    def reset_for_rollback(self) -> None:
        """After a rollback: patience starts again, the best metric is re-read from the
        restored state."""
        self.early_stopping_patience_counter = 0
        if hasattr(self, "best"):
            self.best = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer signature
        if args.metric_for_best_model is None:
            raise ValueError("early stopping needs TrainingArguments(metric_for_best_model='eval_loss', "
                             "greater_is_better=False)")
        return super().on_train_begin(args, state, control, **kwargs)

    def _better(self, args: Any, a: float, b: float) -> bool:
        return a > b if args.greater_is_better else a < b

    def on_evaluate(self, args, state, control, metrics, **kwargs):  # noqa: ANN001
        name = args.metric_for_best_model or "eval_loss"
        name = name if name.startswith("eval_") else f"eval_{name}"
        value = (metrics or {}).get(name)
        if self.best is None and state.best_metric is not None:
            self.best = (state.best_global_step, float(state.best_metric))  # resumed run
        already = control.should_training_stop
        super().on_evaluate(args, state, control, metrics, **kwargs)
        if value is not None and (self.best is None or self._better(args, float(value), self.best[1])):
            # Same rule as Trainer._determine_best_metric, which runs right after this call.
            self.best = (state.global_step, float(value))
        if already or not control.should_training_stop or value is None:
            return
        f = self._finding(args, state, control, name, float(value))
        ctx = type(self).ctx
        if ctx is None:
            log.info("%s", f.message)
            return
        action = act(ctx, control, f)
        if action != "halt" and ctx.stop_reason is None:
            ctx.stop_reason = "early_stop"

    def _finding(self, args: Any, state: Any, control: Any, name: str, value: float) -> Finding:
        step = state.global_step
        best_step, best = self.best if self.best is not None else (None, value)
        ckpt = state.best_model_checkpoint
        if best_step == step and control.should_save:
            ckpt = os.path.join(args.output_dir, f"checkpoint-{step}")
        elif ckpt is not None and best_step is not None and not ckpt.rstrip("/\\").endswith(f"checkpoint-{best_step}"):
            ckpt = None
        max_steps = state.max_steps or None
        message = T("EARLY_STOP.found", step=step, metric=name, threshold=self.early_stopping_threshold or 0,
                    patience=self.early_stopping_patience, best=best, best_step=best_step)
        recommendation = T("EARLY_STOP.found.rec", ckpt=ckpt or T("EARLY_STOP.at_step", step=best_step))
        evidence = {"step": step, "metric": name, "value": value, "best_metric": best, "best_step": best_step,
                    "best_model_checkpoint": ckpt, "patience": self.early_stopping_patience,
                    "threshold": self.early_stopping_threshold, "max_steps": max_steps,
                    "share_of_planned_steps": step / max_steps if max_steps else None}
        return Finding.said("EARLY_STOP", "info", message, recommendation, evidence, step=step, source="guard")
