"""GuardCallback: feeds the detectors with what the Trainer already computed and acts on
their findings.

Every rule is counted in what the model has seen (tuneguard.guard.seen): examples, passes
over the rows, exposures of the distinct rows, supervised tokens. The detectors get every
optimizer step's loss and gradient norm (tuneguard.train.steps: the MetricsCallback hands the
steps since the previous log over as `ctx.step_records`), each with the examples seen after
it, so a run gives the same findings at the same point of training on 1 or N processes,
with any batch x accumulation split and any `train.logging_steps`. A finding is recorded at
the log (or evaluation) that judged it, its `step`; the step where the condition was first seen
is `at_step` in its evidence, with `examples_seen`, `tokens_seen`, `passes` and `exposures` at
that step (tuneguard.findings.when_spec shows both). Without step records (a Trainer without tuneguard's recorder) the logged window
stands for its steps.

Early in training (the first `guard.watch_steps` optimizer steps, where collapses and NaNs
happen) each step is judged at its end (on_step_end, from the step the metrics callback read:
`ctx.step_now`), so a halt comes at the step that found it (a collapse at step 11 halts at step
11, not at the log of step 15) and that step is logged with it; a step judged there is not judged
again at the log. Later, the steps are judged at each log.

Cost: past the watched steps, nothing per step. It runs in on_log (training logs: the per-step
records, the metrics callback's tokens/s and memory) and on_evaluate (eval_loss, held against the
training loss per token since the previous evaluation: tuneguard.guard.train_loss), and reads plain
Python floats; it never touches a tensor. Within them, one device read per step (the metrics
callback's; docs/BENCHMARKS.md, "Guard overhead"). It must come after the metrics callback in the
Trainer's callback list.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from tuneguard.checkpoints import checkpoint_before
from tuneguard.findings import Finding
from tuneguard.guard.actions import act, agree_on_halt, fault_consequence, record_only
from tuneguard.guard.collapse import LossCollapseDetector
from tuneguard.guard.episode import as_float
from tuneguard.guard.nonfinite import NonFiniteDetector, compute_dtype
from tuneguard.guard.overfit import EvalDivergenceDetector, OverfittingDetector, PlateauDetector
from tuneguard.guard.resources import MemoryDetector, ThroughputDetector, other_cpu_probe
from tuneguard.guard.seen import Seen, SeenHistory, SeenPlan, plan_from_trainer
from tuneguard.guard.spikes import GradNormDetector, LossSpikeDetector, RunLR, SpikeJudge
from tuneguard.guard.train_loss import SinceEval, TrainLossSinceEval
from tuneguard.guard.records import StepRecord, records_in, replay_history

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)

class GuardCallback(TrainerCallback):
    """The loss, gradient, evaluation-curve and resource guards of one run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._start()

    def _start(self) -> None:
        """The detectors and counters of a new timeline (a run, or the pass after a rollback)."""
        g, ctx = self.ctx.cfg.guard, self.ctx
        self.output_dir: str | None = None
        self.plan: SeenPlan | SeenHistory | None = None
        self.tokens_seen: int | None = None  # supervised tokens, summed from the step records
        self.nonfinite = NonFiniteDetector(last_checkpoint=self._checkpoint_before)
        self.collapse = LossCollapseDetector(g.collapse_floor, g.collapse_ratio, ctx.audit_findings,
                                             g.collapse_eval_ratio, g.collapse_eval_kept, g.collapse_exposures,
                                             g.collapse_passes, g.collapse_repeats,
                                             fault_consequence(ctx.cfg, "LOSS_COLLAPSE"))
        # The learning rate the spike advice names: the config's, and the one the Trainer logged (_note_lr).
        self.lr = RunLR(ctx.cfg.train.learning_rate)
        self.spike = LossSpikeDetector(g.spike_factor, g.spike_window_examples, g.spike_min_jump, g.spike_quantile,
                                       g.spike_spread, g.spike_early_factor, self.lr)
        self.grad = GradNormDetector(g.grad_norm_max, self.lr)
        self.spike_judge = SpikeJudge(g.spike_recovery_steps, g.spike_repeat_examples, g.grad_norm_max,
                                      g.spike_factor, g.spike_grad_ratio)
        self.overfit = OverfittingDetector(g.overfit_evals, g.overfit_gap)
        self.divergence = EvalDivergenceDetector(g.divergence_ratio, g.divergence_min_gap)
        self.plateau = PlateauDetector(g.plateau_evals, g.plateau_rel_change, g.plateau_min_share)
        self.memory = MemoryDetector(g.memory_fraction)
        self.throughput = ThroughputDetector(g.throughput_ratio, g.throughput_window_s, g.throughput_warmup_s,
                                             g.throughput_patience_s, g.throughput_min_window_s,
                                             g.throughput_sustained_s, other_cpu_probe())
        self.since_eval = TrainLossSinceEval()
        self.judged_through = -1  # the last step fed to the detectors (at its end or at a log)

    def reset_for_rollback(self) -> None:
        """After a rollback the guards start as new (on train begin they replay the
        checkpoint's log history, so the running medians and episodes are those of its step),
        except memory and throughput, which watch the machine, not the timeline: a MEMORY_HIGH
        already recorded is not recorded (and notified) again for the same episode."""
        memory, throughput = self.memory, self.throughput
        self._start()
        self.memory, self.throughput = memory, throughput

    def _checkpoint_before(self, step: int) -> str | None:
        """The checkpoint NON_FINITE names: the newest complete one before `step`, the one that
        `--resume auto` and a rollback would take."""
        found = checkpoint_before(self.output_dir, step) if self.output_dir else None
        return str(found) if found is not None else None

    # -- Trainer events ---------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer signature
        self.output_dir = args.output_dir
        # fp16 scales the loss: an overflowed step is skipped by the scaler, not a fault.
        self.nonfinite.loss_scaling = bool(getattr(args, "fp16", False))
        self.nonfinite.dtype = compute_dtype(args, kwargs.get("model"))
        # The audit may have run after the callbacks were built.
        self.collapse.audit_findings = list(self.ctx.audit_findings)
        # The run's history of layouts (tuneguard.train.metrics.MetricsCallback keeps it, exact
        # across resumes on other process counts); the Trainer's own plan without it.
        self.plan = getattr(self.ctx, "seen", None) or plan_from_trainer(
            args, kwargs.get("train_dataloader"), getattr(self.ctx, "distinct_rows", None))
        self.since_eval = TrainLossSinceEval(state.global_step)
        # The warmup as the diagnosis counts it (grad_norm_warmup): ceil(warmup_ratio x planned steps).
        self.grad.warmup_steps = math.ceil(self.ctx.cfg.train.warmup_ratio * (state.max_steps or 0))
        if state.global_step > 0:
            self._replay(state)

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        """A watched step (guard.watch_steps), judged as it ends; a finding that stops the run asks
        the Trainer to log this step too, so the store and the curves end where the run did."""
        record, self.ctx.step_now = getattr(self.ctx, "step_now", None), None
        if record is None:
            return
        # The rate the Trainer would log at this step (its scheduler's), for the spike advice, as at a log.
        last_lr = getattr(kwargs.get("lr_scheduler"), "get_last_lr", None)
        if callable(last_lr):
            rates = last_lr()
            self._note_lr(state.global_step, {"learning_rate": rates[0] if rates else None})
        stopped = self._steps(state.global_step, [record], control)
        # The Trainer's log gathers over the ranks: every rank must ask for it alike, so under several
        # processes only on the halt they agreed on (rank 0 alone may have decided it: its audit).
        agreed = agree_on_halt(self.ctx, args, control)
        if agreed or (stopped and getattr(self.ctx, "world_size", 1) <= 1):
            control.should_log = True

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if not logs or "loss" not in logs:  # eval logs go through on_evaluate; the final summary has train_loss
            return
        records = self._records(state.global_step, logs)
        self._note_lr(state.global_step, logs)
        self._train_log(state.global_step, records, logs, resources=self.ctx.is_main, control=control)
        agree_on_halt(self.ctx, args, control)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001
        step = state.global_step
        # The steps between the previous log and this evaluation (the metrics callback took them).
        records = self._take_ctx_records() or []
        if not self._steps(step, records, control):
            self._emit(self._eval(step, metrics or {}, state.max_steps), control)
        agree_on_halt(self.ctx, args, control)

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        """A spike still held when the run ends never came back: recorded as it was found (a
        warning), without acting (the run is over). Not when a rollback discards this pass."""
        policy = getattr(self.ctx, "policy", None)
        if policy is not None and getattr(policy, "pending", None) is not None:
            return
        held = self.spike_judge.take_held()
        if held is not None:
            record_only(self.ctx, self._placed(held, state.global_step, held.evidence.get("at_step", held.step)))

    def _note_lr(self, step: int, logs: dict[str, Any]) -> None:
        """The learning rate in use, for the spike advice: what the Trainer logged at this log (the
        schedule's point, times a policy's or set-lr's change) and that change's factor."""
        now = as_float(logs.get("learning_rate"))
        if now is not None:
            self.lr.now, self.lr.now_step = now, step
        scale = getattr(getattr(getattr(self.ctx, "policy", None), "lr", None), "factor", None)
        self.lr.scale = float(scale) if isinstance(scale, (int, float)) and scale > 0 else 1.0

    # -- what the model has seen ---------------------------------------------------------
    def seen(self, step: int) -> Seen | None:
        return self.plan.at(step, self.tokens_seen) if self.plan is not None else None

    def _take_ctx_records(self) -> list[StepRecord] | None:
        records = getattr(self.ctx, "step_records", None)
        if records is not None:
            self.ctx.step_records = None
        return records

    def _records(self, step: int, logs: dict[str, Any]) -> list[StepRecord]:
        """This log's steps: the recorder's, else the logged window as one record."""
        records = self._take_ctx_records()
        gn = as_float(logs.get("grad_norm"))
        if not records:
            return [StepRecord(step, as_float(logs.get("loss")), gn, None)]
        last = records[-1]
        if last.grad_norm is None and gn is not None and last.step == step:
            records = [*records[:-1], StepRecord(last.step, last.loss, gn, last.tokens)]  # the logged norm is the last step's
        return records

    # -- feeding the detectors ----------------------------------------------------------
    def _steps(self, log_step: int, records: list[StepRecord], control: Any = None) -> bool:
        """Every step of a log through the per-step detectors, in order. With `control` each
        step's findings act at once, and once one of them stops the run (a halt, a rollback)
        the later steps of the window are not judged: with one log per step the run would have
        stopped there, so the findings stay the same whatever the logging cadence. Without
        `control` (replay) nothing is recorded. Returns True when a finding stopped the run."""
        judging = True
        already = control is not None and self._stopping(control)  # e.g. max_steps reached: not ours
        for r in records:
            if r.step <= self.judged_through:
                continue  # judged at its end already (guard.watch_steps)
            self.judged_through = r.step
            if r.tokens is not None:
                self.tokens_seen = (self.tokens_seen or 0) + r.tokens
            self.since_eval.add(r.step, r.loss, r.tokens)
            if not judging:
                continue
            seen = self.seen(r.step)
            spe = getattr(self.ctx, "steps_per_epoch", 0)
            epoch = r.step / spe if seen is None and spe else None
            spike = self.spike_judge.update(r.step, r.loss, r.grad_norm, seen.examples if seen is not None else r.step,
                                            self.spike.update(r.step, r.loss, seen))
            found = [
                self.nonfinite.update(r.step, r.loss, r.grad_norm),
                self.collapse.update(r.step, r.loss, seen, epoch),
                spike,
                self.grad.update(r.step, r.grad_norm, r.loss, self.spike.initial),
            ]
            if control is not None:
                # A held spike is judged at a later step: it names the spike's as `at_step` (SpikeJudge).
                self._emit([self._placed(f, log_step, (f.evidence or {}).get("at_step", r.step) if f is spike
                                         else r.step) if f is not None else None for f in found], control)
                judging = already or not self._stopping(control)
        return not judging

    def _stopping(self, control: Any) -> bool:
        return bool(getattr(control, "should_training_stop", False)) or self.ctx.stop_reason is not None

    def _train_log(self, step: int, records: list[StepRecord], logs: dict[str, Any], resources: bool,
                   control: Any = None) -> None:
        if not records:
            return
        stopped = self._steps(step, records, control)
        self.since_eval.end_window()
        if resources and not stopped:
            found = [self._placed(f, step, step) for f in self.memory.update(
                step, mem_reserved_gb=as_float(logs.get("mem_reserved_gb")),
                mem_total_gb=as_float(logs.get("mem_total_gb")),
                mem_allocated_gb=as_float(logs.get("mem_allocated_gb")), rss_gb=as_float(logs.get("rss_gb")),
                machine_mem_gb=as_float(logs.get("machine_mem_gb")))]
            found.append(self._placed(self.throughput.update(
                step, as_float(logs.get("tokens_per_s")), step_time_s=as_float(logs.get("step_time_s")),
                window_s=as_float(logs.get("log_window_s"))),
                step, step))
            self._emit(found, control)

    def _eval(self, step: int, metrics: dict[str, Any], max_steps: int | None) -> list[Finding | None]:
        ev = as_float(metrics.get("eval_loss"))
        if ev is None:
            return []
        since: SinceEval | None = self.since_eval.take(step)
        train = since.loss if since is not None else None
        basis = since.basis() if since is not None else None
        seen = self.seen(step)
        epoch = as_float(metrics.get("epoch"))
        self.spike.update_eval(ev)
        first_pass = seen is not None and seen.exposures <= 1.0
        found = [
            self.nonfinite.update_eval(step, ev),
            self.collapse.update_eval(step, ev, train, seen, epoch),
            self.overfit.update(step, ev, train, basis, initial=self.collapse.initial, first_pass=first_pass),
            self.divergence.update(step, ev, train, basis, held_out=self._held_out(seen), first_pass=first_pass),
            self.plateau.update(step, ev, max_steps, initial=self.collapse.initial),
        ]
        return [self._placed(f, step, step) for f in found]

    def _held_out(self, seen: Seen | None) -> bool:
        """The training loss since the previous evaluation is a held-out loss of the validation
        rows' distribution: every row it averages was scored before the model trained on it (the
        average distinct row seen at most once) and the validation rows are a random split of the
        training file (no data.validation_file, which may come from elsewhere)."""
        return seen is not None and seen.exposures <= 1.0 and not self.ctx.cfg.data.validation_file

    def _placed(self, f: Finding | None, log_step: int, at_step: int) -> Finding | None:
        """A finding stamped with where it was judged (`step`: the log or evaluation that acts on
        it) and where it was first seen (`at_step`, and what the model had seen by then). A detector
        that judges earlier steps (LOSS_COLLAPSE at an evaluation) states its own `at_step` and
        units; tuneguard.findings.when_spec says both steps wherever the finding is shown."""
        if f is None:
            return None
        f.step = log_step
        ev = f.evidence if isinstance(f.evidence, dict) else {}
        at_step = ev.setdefault("at_step", at_step)
        seen = self.seen(at_step)
        if seen is not None:
            for k, v in seen.evidence().items():
                ev.setdefault(k, v)
        f.evidence = ev
        return f

    def _replay(self, state: Any) -> None:
        """On resume (and after a rollback), rebuild the detectors' history from the checkpoint's
        log history and every step's record in the run store (tuneguard.guard.records.replay_history),
        without recording anything
        again: the initial loss stays the run's first loss, running medians are warm, and a
        problem already recorded is not recorded twice."""
        self.since_eval = TrainLossSinceEval()
        history = replay_history(state.log_history, state.global_step, self.ctx.store,
                                 None if self.ctx.is_main else getattr(self.ctx, "run_dir", None))
        for entry in history:
            step = int(entry.get("step", 0))
            if step > state.global_step:
                continue
            records = records_in(entry)
            if records is None and "loss" in entry:
                records = [StepRecord(step, as_float(entry.get("loss")), as_float(entry.get("grad_norm")), None)]
            if records and "eval_loss" not in entry:
                self._note_lr(step, entry)
                self._train_log(step, records, entry, resources=False)
            elif records:
                self._steps(step, records)
            if "eval_loss" in entry:
                self._eval(step, entry, state.max_steps)
        log.info("guards resumed with %d logged entries", len(history))

    def _emit(self, found: list[Finding | None], control: Any) -> None:
        if control is None:
            return
        for f in found:
            if f is not None:
                act(self.ctx, control, f)
