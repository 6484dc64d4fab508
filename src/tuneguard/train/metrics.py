"""Measure the run (tokens/s, step time, memory, ETA) and persist every log to the store.

Cost: nothing per step but a counter the collator already updates on the CPU and a clock
read; memory is read only when the Trainer logs. No device synchronisation is added.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import psutil
import torch
from transformers import TrainerCallback

from tuneguard.fmt import fmt_duration  # noqa: F401 - re-exported for callers
from tuneguard.guard.episode import as_float
from tuneguard.guard.train_loss import TrainLossSinceEval
from tuneguard.context import RunContext
from tuneguard.guard.records import STEPS_KEY, replay_history
from tuneguard.guard.seen import SEEN_FILE, history_at_start, plan_from_trainer
from tuneguard.train.steps import StepRecorder
from tuneguard.events import Event

log = logging.getLogger(__name__)
GB = 1024**3


TOKENS_KEY = "tuneguard_real_tokens"  # the collator's count, carried in the batch to the model
SUPERVISED_KEY = "tuneguard_supervised_tokens"  # the tokens the loss is averaged over
# Training logs kept in the Trainer's log history (trainer_state.json) when the run store holds
# every step: enough to read the latest stretch of the curve there, and constant in run length.
KEEP_TRAIN_LOGS = 50


class TokenCounter:
    """Counts the real (non-pad) tokens of the training batches the model has been given, and
    the supervised ones among them (labels != -100 after the causal shift: what the loss is
    averaged over, the guards' tokens seen).

    The collator counts (it sees the unpadded rows, on the CPU, for free) and puts the
    count into the batch; a forward pre-hook on the model (`watch`) takes it out before the
    model sees the batch and adds it up. Counting at the model, not in the collator: with
    dataloader_num_workers > 0 the collator runs in worker processes (a count there never
    reaches the training process) and ahead of training (prefetching), so only the batches
    that reach the model count, each once, when they do. No tensor is read: no device sync.
    """

    def __init__(self) -> None:
        self.tokens = 0
        self.supervised = 0

    def watch(self, model: Any) -> Any:
        """Count the batches `model` is called with; returns the hook's handle."""

        # Outside torch.compile's graph: a Python counter, not a tensor computation.
        @torch.compiler.disable
        def take(module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            n = kwargs.pop(TOKENS_KEY, None)
            sup = kwargs.pop(SUPERVISED_KEY, None)
            if n is None and sup is None:
                return None
            self.tokens += int(n or 0)
            self.supervised += int(sup or 0)
            return args, kwargs

        return model.register_forward_pre_hook(take, with_kwargs=True)


class CountingCollator:
    """Wraps a collator: each training batch carries its real-token count to the model,
    where `TokenCounter.watch` adds it up (see TokenCounter)."""

    def __init__(self, inner: Any, counter: TokenCounter):
        self.inner = inner
        self.counter = counter

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        batch[TOKENS_KEY] = sum(len(f["input_ids"]) for f in features)
        labels = batch.get("labels") if hasattr(batch, "get") else None
        if isinstance(labels, torch.Tensor):
            # From the collated labels (every collator's own masking), on the CPU before the
            # batch moves to the device: no synchronisation.
            batch[SUPERVISED_KEY] = int(labels[..., 1:].ne(-100).sum())
        return batch


def memory_snapshot() -> dict[str, float]:
    snap: dict[str, float] = {"rss_gb": psutil.Process().memory_info().rss / GB,
                              "machine_mem_gb": psutil.virtual_memory().total / GB}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        dev = torch.cuda.current_device()
        snap["mem_allocated_gb"] = torch.cuda.memory_allocated(dev) / GB
        snap["mem_reserved_gb"] = torch.cuda.memory_reserved(dev) / GB
        snap["mem_peak_gb"] = torch.cuda.max_memory_allocated(dev) / GB
        snap["mem_total_gb"] = torch.cuda.get_device_properties(dev).total_memory / GB
    return snap


class MetricsCallback(TrainerCallback):
    """Adds throughput/memory/ETA to every training log and writes all logs to the store.

    Every evaluation row also gets `train_loss_since_eval` (and `train_steps_since_eval`,
    `train_tokens_since_eval`): the training loss per supervised token since the previous
    evaluation (tuneguard.guard.train_loss), the number the guards and the report hold against
    the eval loss. It goes into the eval logs too, so trackers and `on_evaluate` see it.

    With a StepRecorder (tuneguard.train.steps) it also hands the steps since the previous log
    to the guards (`ctx.step_records`, every rank) and keeps them in the run store (without a
    store, in the Trainer's log history: `tuneguard_steps`), so a resumed or rolled-back run
    replays the same per-step series (tuneguard.guard.records.replay_history). With a store the
    log history is trimmed to its evaluations and latest training logs (`_trim_history`).

    It keeps the run's layouts (tuneguard.guard.seen.SeenHistory) in `ctx.seen`: read from the
    checkpoint a resume or rollback starts from, saved into every checkpoint before its
    completion marker, and stated as `examples_seen` in every training log. It must be the
    first callback: the guards read what it adds."""

    def __init__(self, ctx: RunContext, counter: TokenCounter, recorder: StepRecorder | None = None):
        self.ctx = ctx
        self.counter = counter
        self.recorder = recorder
        self._t_last: float | None = None
        self._tok_last = 0
        self._step_last = 0
        self._t_start: float | None = None
        self._step_start = 0
        self._last_train: dict[str, Any] = {}
        self._paused_last = 0.0
        self._outside = OutsideTraining()
        self._best_eval: float | None = None
        self.since_eval = TrainLossSinceEval()
        self._train_logs = 0  # training logs in the log history since it was last trimmed (about)

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer signature
        # A resumed run: the training logs since the last evaluation before the checkpoint.
        history = replay_history(state.log_history, state.global_step, self.ctx.store,
                                 None if self.ctx.is_main else self.ctx.run_dir) if state.global_step else []
        self.since_eval = TrainLossSinceEval.from_history(history, state.global_step)
        # Examples seen per step, exact across resumes with another layout (tuneguard.guard.seen):
        # the checkpoint resumed from holds the layouts before it; every rank reads it.
        plan = plan_from_trainer(args, kwargs.get("train_dataloader"), self.ctx.distinct_rows)
        self.ctx.seen = history_at_start(args.output_dir, state.global_step, plan) if plan is not None else None
        if self.recorder is not None:
            self.recorder.reset()
        now = time.perf_counter()
        self._t_last = self._t_start = now
        self._tok_last = self.counter.tokens
        self._step_last = self._step_start = state.global_step
        self._outside = OutsideTraining(_eval_every(args, state))

    def tail(self) -> TrainerCallback:
        """A callback to put last in the list: it ends the time outside training (evaluation,
        QA probes, checkpoint saving) after every other callback's `on_evaluate`/`on_save`."""
        return _OutsideEnd(self)

    def end_outside(self, step: int, evaluated: bool) -> None:
        """The evaluation or checkpoint save of `step` (and the callbacks after it) ended now."""
        self._outside.end(time.perf_counter(), self.ctx.paused_seconds, step, evaluated)

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
        # Before the checkpoint's completion marker (the next callback), so its manifest lists it.
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if self.ctx.is_main and self.ctx.seen is not None and ckpt.is_dir():
            self.ctx.seen.save(ckpt)
            log.debug("%s written in %s", SEEN_FILE, ckpt)
        self.end_outside(state.global_step, evaluated=False)

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        self._outside.step_end(time.perf_counter(), self.ctx.paused_seconds)
        if self.recorder is not None:
            self.recorder.end_step(state.global_step)
            guard = self.ctx.cfg.guard
            if guard.enabled and state.global_step <= guard.watch_steps:
                # The guards judge this step now (tuneguard.guard.callbacks.GuardCallback.on_step_end).
                self.ctx.step_now = self.recorder.peek(self.ctx.collectives if self.ctx.world_size > 1 else None)

    def _take_steps(self, state: Any, at_eval: bool) -> list | None:
        """The steps since the previous hand-over (a collective under several processes: every
        rank calls this at each training log and each evaluation), for the guards and for a
        resume to replay: into the run store (rank 0), or without a store into the log history
        (tuneguard.guard.records); None without a recorder (the guards then read the logged
        window)."""
        if self.recorder is None or not self.recorder.installed:
            self.ctx.step_records = None
            return None
        records = self.recorder.take(self.ctx.collectives if self.ctx.world_size > 1 else None)
        if records and self.ctx.is_main and self.ctx.store is not None:
            self.ctx.store.log_steps(state.global_step, [r.as_list() for r in records], at_eval=at_eval)
        elif (records and self.ctx.is_main and state.log_history
              and state.log_history[-1].get("step") == state.global_step):
            state.log_history[-1][STEPS_KEY] = [r.as_list() for r in records]
        self.ctx.step_records = records
        return records

    def _trim_history(self, state: Any) -> None:
        """Keep the Trainer's log history to its evaluations, its other entries and the latest
        KEEP_TRAIN_LOGS training logs (whose steps the store holds: `_take_steps`). The Trainer
        rewrites the whole history into every checkpoint's trainer_state.json and needs none of
        it to resume; every log is in the store. Trimmed once the oldest are KEEP_TRAIN_LOGS
        over, so a log costs O(1) on average. Entries that carry their own steps stay."""
        if not (self.ctx.store is not None or (not self.ctx.is_main and self.ctx.run_dir is not None)):
            return
        self._train_logs += 1
        if self._train_logs < 2 * KEEP_TRAIN_LOGS:
            return
        hist = state.log_history
        train = [i for i, e in enumerate(hist) if "loss" in e and "eval_loss" not in e and STEPS_KEY not in e]
        drop = set(train[:-KEEP_TRAIN_LOGS])
        hist[:] = [e for i, e in enumerate(hist) if i not in drop]
        self._train_logs = KEEP_TRAIN_LOGS

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if logs is None:
            return
        if "loss" in logs and self._t_last is not None:
            self._add_speed(logs, state)
        if "loss" in logs and self.ctx.seen is not None:
            logs["examples_seen"] = self.ctx.seen.examples(state.global_step)
            if len(getattr(self.ctx.seen, "segments", ())) > 1:
                # Resumed with another layout: the Trainer's epoch counts the steps before the resume
                # at the new width; the passes over the rows count what each step took.
                logs["epoch"] = round(self.ctx.seen.at(state.global_step).passes, 4)
        if "loss" in logs or "eval_loss" in logs:
            self._add_since_eval(logs, state)
        if self.ctx.is_main and self.ctx.store is not None:
            self._record(logs, state)

    def _add_speed(self, logs: dict[str, Any], state: Any) -> None:
        """Tokens/s, step time, ETA and memory, into a training log. Time paused and time outside
        training (evaluations, QA probes, checkpoint saves: `OutsideTraining`) is not training
        time; the ETA adds the evaluations still to come at the mean measured length of one."""
        step, now = state.global_step, time.perf_counter()
        paused = self.ctx.paused_seconds - self._paused_last
        self._paused_last = self.ctx.paused_seconds
        outside = self._outside.take()
        if self._t_start is not None:
            self._t_start += paused + outside
        assert self._t_last is not None  # set on train begin
        dt = max(now - self._t_last - paused - outside, 1e-9)
        steps = max(step - self._step_last, 1)
        tokens = (self.counter.tokens - self._tok_last) * self.ctx.world_size
        logs["tokens_per_s"] = tokens / dt
        logs["step_time_s"] = dt / steps
        logs["log_window_s"] = dt
        elapsed = max(now - (self._t_start or now), 0.0)
        done = max(step - self._step_start, 1)
        logs["eta_s"] = max(state.max_steps - step, 0) * elapsed / done + self._outside.evals_left_s(step, state.max_steps)
        logs.update(memory_snapshot())
        self._t_last, self._tok_last, self._step_last = now, self.counter.tokens, step

    def _add_since_eval(self, logs: dict[str, Any], state: Any) -> None:
        """Feed the steps since the last log to the since-evaluation loss; at an evaluation, add
        the training loss since the previous one (the number evaluations are compared with)."""
        step, records = state.global_step, self._take_steps(state, at_eval="loss" not in logs)
        if records and "loss" in logs:
            self._trim_history(state)
        if records is not None:
            for r in records:
                self.since_eval.add(r.step, r.loss, r.tokens)
            if records and "loss" in logs:
                self.since_eval.end_window()
        elif "loss" in logs:
            self.since_eval.add(step, as_float(logs.get("loss")))
            self.since_eval.end_window()
        if "eval_loss" in logs:
            since = self.since_eval.take(step)
            if since is not None:
                logs["train_loss_since_eval"] = since.loss
                logs["train_steps_since_eval"] = since.steps
                if since.tokens is not None:
                    logs["train_tokens_since_eval"] = since.tokens

    def _record(self, logs: dict[str, Any], state: Any) -> None:
        """The log as a metrics row in the store; progress and evaluation messages."""
        assert self.ctx.store is not None
        step = state.global_step
        row = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        row.setdefault("epoch", state.epoch)
        if "loss" in logs:
            self.ctx.store.log_metrics(step, "train", row)
            self._last_train = row
            if self.ctx.notifier is not None:
                self.ctx.notifier.maybe_progress({**row, "step": step, "max_steps": state.max_steps}, step=step)
        elif "eval_loss" in logs:
            self.ctx.store.log_metrics(step, "eval", row)
            ev = logs["eval_loss"]
            payload = {"step": step, "max_steps": state.max_steps, "epoch": state.epoch, "eval_loss": ev,
                       "train_loss": logs.get("train_loss_since_eval", self._last_train.get("loss")),
                       "best_eval_loss": self._best_eval}
            if "train_loss_since_eval" in logs:  # a mean over the window, not the last logged loss: say so
                payload["train_steps_since_eval"] = logs.get("train_steps_since_eval")
            if isinstance(ev, float) and math.isfinite(ev):
                self._best_eval = ev if self._best_eval is None else min(self._best_eval, ev)
            self.ctx.event(Event.EVALUATION, payload, step=step, notify=False)
            if self.ctx.notifier is not None:
                self.ctx.notifier.maybe_evaluation(payload, step=step)
        elif "train_runtime" in logs:
            self.ctx.store.set_meta(train_summary=row)
        self.ctx.store.heartbeat(step)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001
        # Evaluation time is not training time (tokens/s, ETA); `tail` extends this to the
        # callbacks after this one (QA probes).
        self.end_outside(state.global_step, evaluated=True)


def _eval_every(args: Any, state: Any) -> int | None:
    """Steps between evaluations, None unless the run evaluates every so many steps."""
    every = getattr(args, "eval_steps", None)
    if str(getattr(args, "eval_strategy", "")).lower().rsplit(".", 1)[-1] != "steps" or not every:
        return None
    if every < 1:  # a ratio of the run's steps (the Trainer's convention)
        every = math.ceil(every * (state.max_steps or 0))
    return int(every) or None


class OutsideTraining:
    """The wall time between the end of a training step and the end of the evaluation or
    checkpoint save that follows it (with every callback's work at that point: QA probes,
    guards), less any pause in it. Not training time: counted into tokens/s and the ETA, a log
    right after an evaluation showed a fraction of the real speed and an ETA that jumped.

    The Trainer's `eval_runtime` is not enough: it leaves out the callbacks' work and the save.
    The evaluations' own mean length estimates the ones still to come (`evals_left_s`)."""

    def __init__(self, eval_every: int | None = None) -> None:
        self.eval_every = eval_every
        self.pending = 0.0  # seconds outside training not yet taken by a training log
        self.eval_s = 0.0  # seconds of the evaluations so far (with a save at the same step)
        self.evals = 0
        self._mark: float | None = None  # the end of the last step or of the last outside work
        self._paused = 0.0
        self._eval_step: int | None = None

    def step_end(self, now: float, paused: float) -> None:
        self._mark, self._paused = now, paused

    def end(self, now: float, paused: float, step: int, evaluated: bool) -> None:
        if self._mark is None:
            return
        seconds = max(now - self._mark - (paused - self._paused), 0.0)
        self._mark, self._paused = now, paused
        self.pending += seconds
        if evaluated and step != self._eval_step:
            self.evals, self._eval_step = self.evals + 1, step
        if step == self._eval_step:
            self.eval_s += seconds

    def take(self) -> float:
        seconds, self.pending = self.pending, 0.0
        return seconds

    def evals_left_s(self, step: int, max_steps: int) -> float:
        """The expected seconds of the evaluations after `step` (0 before the first one)."""
        if not self.eval_every or not self.evals or not max_steps:
            return 0.0
        left = max_steps // self.eval_every - step // self.eval_every
        if step % self.eval_every == 0 and step != self._eval_step:
            left += 1  # this step's evaluation comes after its training log
        return max(left, 0) * self.eval_s / self.evals


class _OutsideEnd(TrainerCallback):
    """MetricsCallback.tail: the last callback, so the time outside training ends after every
    other callback's evaluation and save work."""

    def __init__(self, metrics: MetricsCallback) -> None:
        self.metrics = metrics

    def on_evaluate(self, args, state, control, **kwargs):  # noqa: ANN001
        self.metrics.end_outside(state.global_step, evaluated=True)

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
        self.metrics.end_outside(state.global_step, evaluated=False)
