"""Guards: health monitors that watch every logged step and every evaluation, name what is
going wrong with evidence and a recommendation, and act (record, notify, halt).

Detectors (one module per concern) are small pure classes fed with numbers, so each rule is
unit-testable; the TrainerCallbacks in callbacks.py, qa.py and early_stop.py feed them from
the Trainer's own logs and act through `control` and the RunContext.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tuneguard.guard.callbacks import GuardCallback
from tuneguard.guard.collapse import LossCollapseDetector
from tuneguard.guard.early_stop import GuardedEarlyStopping
from tuneguard.guard.nonfinite import NonFiniteDetector
from tuneguard.guard.overfit import EvalDivergenceDetector, OverfittingDetector, PlateauDetector
from tuneguard.guard.qa import QADegradedDetector, QAProbeCallback
from tuneguard.guard.resources import MemoryDetector, ThroughputDetector
from tuneguard.guard.spikes import GradNormDetector, LossSpikeDetector

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)

__all__ = [
    "build_guard_callbacks", "GuardCallback", "GuardedEarlyStopping", "QAProbeCallback",
    "LossCollapseDetector", "NonFiniteDetector", "OverfittingDetector", "EvalDivergenceDetector",
    "PlateauDetector", "LossSpikeDetector", "GradNormDetector", "MemoryDetector", "ThroughputDetector",
    "QADegradedDetector",
]


def build_guard_callbacks(ctx: RunContext, tokenizer: Any) -> list[Any]:
    """The run's guard callbacks, in the order they must run (after the metrics callback):

    1. early stopping (when eval.early_stopping_patience is set): records EARLY_STOP;
    2. QA probes (when eval.qa_probes is non-empty and evaluations happen): samples + QA_DEGRADED;
    3. the loss/gradient/eval/resource guards, which also spread a halt to every rank, so
       they come after the callbacks that can decide one during an evaluation.

    With guard.enabled false only early stopping and the QA samples remain (no findings
    other than EARLY_STOP).
    """
    cfg = ctx.cfg
    callbacks: list[Any] = []
    if cfg.eval.early_stopping_patience:
        callbacks.append(GuardedEarlyStopping.for_run(ctx, cfg.eval.early_stopping_patience,
                                                      cfg.eval.early_stopping_threshold))
    if cfg.eval.qa_probes and cfg.eval.strategy != "no":
        detector = QADegradedDetector(cfg.guard.qa_drop) if cfg.guard.enabled else None
        callbacks.append(QAProbeCallback(ctx, tokenizer, detector))
    if cfg.guard.enabled:
        callbacks.append(GuardCallback(ctx))
    return callbacks
