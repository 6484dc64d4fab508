"""GuardCallback: feeds the detectors with what the Trainer already logs and acts on their
findings.

Cost: nothing per step. It runs only in on_log (training logs: loss, grad_norm, epoch and
the metrics callback's tokens/s and memory) and on_evaluate (eval_loss, held against the
training loss averaged since the previous evaluation: tuneguard.guard.train_loss), and reads plain
Python floats the Trainer has already synchronised; it never touches a tensor. It must come
after the metrics callback in the Trainer's callback list, which adds the resource numbers
to the same `logs` dict.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from transformers import TrainerCallback

from tuneguard.findings import Finding
from tuneguard.guard.actions import act, agree_on_halt
from tuneguard.guard.collapse import LossCollapseDetector
from tuneguard.guard.episode import as_float
from tuneguard.guard.nonfinite import NonFiniteDetector
from tuneguard.guard.overfit import EvalDivergenceDetector, OverfittingDetector, PlateauDetector
from tuneguard.guard.resources import MemoryDetector, ThroughputDetector
from tuneguard.guard.spikes import GradNormDetector, LossSpikeDetector
from tuneguard.guard.train_loss import SinceEval, TrainLossSinceEval

log = logging.getLogger(__name__)

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_before(output_dir: str | None, step: int) -> str | None:
    """The newest `checkpoint-N` folder in `output_dir` with N < step (None if none)."""
    if not output_dir or not os.path.isdir(output_dir):
        return None
    best: tuple[int, str] | None = None
    for name in os.listdir(output_dir):
        m = _CKPT.match(name)
        if m and int(m.group(1)) < step and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), os.path.join(output_dir, name))
    return best[1] if best else None


class GuardCallback(TrainerCallback):
    """The loss, gradient, evaluation-curve and resource guards of one run."""

    def __init__(self, ctx: Any) -> None:
        g = ctx.cfg.guard
        self.ctx = ctx
        self.output_dir: str | None = None
        self.nonfinite = NonFiniteDetector(last_checkpoint=lambda step: checkpoint_before(self.output_dir, step))
        self.collapse = LossCollapseDetector(g.collapse_floor, g.collapse_ratio, ctx.audit_findings,
                                             ctx.steps_per_epoch, g.collapse_eval_ratio, g.collapse_eval_kept)
        self.spike = LossSpikeDetector(g.spike_factor, g.spike_window, g.spike_min_jump)
        self.grad = GradNormDetector(g.grad_norm_max)
        self.overfit = OverfittingDetector(g.overfit_evals, g.overfit_gap)
        self.divergence = EvalDivergenceDetector(g.divergence_ratio, g.divergence_min_gap)
        self.plateau = PlateauDetector(g.plateau_evals, g.plateau_rel_change)
        self.memory = MemoryDetector(g.memory_fraction)
        self.throughput = ThroughputDetector(g.throughput_ratio, g.throughput_window, g.throughput_warmup_logs,
                                             g.throughput_patience, g.throughput_min_window_s)
        self.since_eval = TrainLossSinceEval()
        self._skip_throughput = False

    # -- Trainer events ---------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer signature
        self.output_dir = args.output_dir
        # fp16 scales the loss: an overflowed step is skipped by the scaler, not a fault.
        self.nonfinite.loss_scaling = bool(getattr(args, "fp16", False))
        # The audit may have run after the callbacks were built.
        self.collapse.audit_findings = list(self.ctx.audit_findings)
        self.collapse.steps_per_epoch = self.ctx.steps_per_epoch
        self.since_eval = TrainLossSinceEval(state.global_step)
        if state.global_step > 0:
            self._replay(state)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if not logs or "loss" not in logs:  # eval logs go through on_evaluate; the final summary has train_loss
            return
        self._emit(self._train_log(state.global_step, logs, resources=self.ctx.is_main), control)
        agree_on_halt(self.ctx, args, control)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001
        self._emit(self._eval(state.global_step, metrics or {}, state.max_steps), control)
        self._skip_throughput = True  # the next log's wall time includes the evaluation
        agree_on_halt(self.ctx, args, control)

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
        self._skip_throughput = True

    # -- feeding the detectors ----------------------------------------------------------
    def _train_log(self, step: int, logs: dict[str, Any], resources: bool) -> list[Finding | None]:
        loss, gn = as_float(logs.get("loss")), as_float(logs.get("grad_norm"))
        found = [
            self.nonfinite.update(step, loss, gn),
            self.collapse.update(step, as_float(logs.get("epoch")), loss),
            self.spike.update(step, loss),
            self.grad.update(step, gn, loss),
        ]
        self.since_eval.add(step, loss)
        if resources:
            found += self.memory.update(
                step, mem_reserved_gb=as_float(logs.get("mem_reserved_gb")),
                mem_total_gb=as_float(logs.get("mem_total_gb")),
                mem_allocated_gb=as_float(logs.get("mem_allocated_gb")), rss_gb=as_float(logs.get("rss_gb")),
                machine_mem_gb=as_float(logs.get("machine_mem_gb")))
            found.append(self.throughput.update(step, as_float(logs.get("tokens_per_s")),
                                                skip=self._skip_throughput,
                                                step_time_s=as_float(logs.get("step_time_s")),
                                                window_s=as_float(logs.get("log_window_s"))))
            self._skip_throughput = False
        return found

    def _eval(self, step: int, metrics: dict[str, Any], max_steps: int | None) -> list[Finding | None]:
        ev = as_float(metrics.get("eval_loss"))
        if ev is None:
            return []
        since: SinceEval | None = self.since_eval.take(step)
        train = since.loss if since is not None else None
        basis = None if since is None else {"train_loss_since_eval": since.loss, "train_steps_since_eval": since.steps,
                                            "train_logs_since_eval": since.windows, "since_step": since.from_step}
        return [
            self.nonfinite.update_eval(step, ev),
            self.collapse.update_eval(step, ev, train, as_float(metrics.get("epoch"))),
            self.overfit.update(step, ev, train, basis),
            self.divergence.update(step, ev, train, basis),
            self.plateau.update(step, ev, max_steps),
        ]

    def _replay(self, state: Any) -> None:
        """On resume, rebuild the detectors' history from the checkpoint's log history, without
        recording anything again: the initial loss stays the run's first loss, running medians
        are warm, and a problem already recorded is not recorded twice."""
        self.since_eval = TrainLossSinceEval()
        for entry in state.log_history:
            step = int(entry.get("step", 0))
            if step > state.global_step:
                continue
            if "loss" in entry:
                self._train_log(step, entry, resources=False)
            elif "eval_loss" in entry:
                self._eval(step, entry, state.max_steps)
        log.info("guards resumed with %d logged entries", len(state.log_history))

    def _emit(self, found: list[Finding | None], control: Any) -> None:
        for f in found:
            if f is not None:
                act(self.ctx, control, f)
