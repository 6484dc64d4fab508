"""A long run without a model: tens of thousands of optimizer steps of a realistic healthy loss
curve driven through the callbacks `tuneguard train` uses (MetricsCallback, which writes every
log to the run store, and the GuardCallback) exactly as the Trainer calls them.

Why: real GPT-J-6B runs last 10,000-100,000 optimizer steps over days, with a log every step, an
evaluation every few hundred, checkpoints, pauses and resumes. A model-free simulation reaches
that length in minutes on a CPU, so what grows with the run (per-step guard cost, the store's
rows and size, what status/watch/report/compare read) and what a healthy long curve must not
trip (a false alarm) can be checked at full length.

The curve (`Curve`): a noisy, slowly falling loss per token (log-normal batch noise), LR warmup
then cosine decay to 0, a long plateau, short spikes that recover, throughput dips while a
checkpoint is written. The timeline (`simulate`): an evaluation every `eval_steps`, a checkpoint
every `save_steps`, resumes from the last checkpoint (one with another batch size), a pause of
hours. Wall time is simulated (`SimClock`): the store's timestamps and the metrics callback's
clock advance by the simulated step time, so the run spans days in its own records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator
from unittest import mock

from transformers import TrainerControl, TrainerState

from tuneguard.config.load import read_source, validate_config
from tuneguard.context import RunContext
from tuneguard.guard import GuardCallback
from tuneguard.store import run_store
from tuneguard.store.run_store import RunStore
from tuneguard.train import metrics as metrics_mod
from tuneguard.train.metrics import MetricsCallback, TokenCounter
from tuneguard.train.steps import StepRecorder


class SimClock:
    """Simulated wall and monotonic time (both advance together; a pause advances them too)."""

    def __init__(self, start: float = 1.75e9) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


@contextlib.contextmanager
def simulated_time(clock: SimClock) -> Iterator[None]:
    """The store's timestamps and the metrics callback's clock read `clock`."""
    with mock.patch.object(run_store, "time", clock), mock.patch.object(metrics_mod, "time", clock):
        yield


@dataclasses.dataclass
class Curve:
    """A healthy fine-tuning run's numbers at each optimizer step (deterministic per seed)."""

    steps: int
    seed: int = 0
    initial: float = 2.2  # nats per token before training
    final: float = 1.15
    noise: float = 0.12  # sd of the log of a batch's loss (varied rows, batch 8-16)
    warmup: float = 0.03  # share of the steps
    lr: float = 2e-4
    step_time_s: float = 1.6
    tokens_per_step: int = 8 * 400
    plateau: tuple[float, float] = (0.3, 0.5)  # share of the run where the loss stays flat
    spike_every: int = 9000  # a short spike (x`spike` to x`spike`+0.1 for 3 steps, then back) this often
    spike: float = 1.5
    # Extra single-step spikes: {step: factor} (a hard batch late in the run, bench and tests).
    single_spikes: dict[int, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        p0, p1 = (int(self.steps * x) for x in self.plateau)
        self._p0, self._p1 = p0, p1

    def mean(self, step: int) -> float:
        """The expected loss per token at `step`: a fast early fall, a slow fall after it, flat
        through the plateau."""
        s = min(step, self._p0) + max(0, step - self._p1)
        span = self.steps - (self._p1 - self._p0)
        fast = (self.initial - self.final) * 0.7 * math.exp(-s / (0.02 * self.steps))
        slow = (self.initial - self.final) * 0.3 * (1 - s / span)
        return self.final + fast + slow

    def learning_rate(self, step: int) -> float:
        w = max(1, int(self.warmup * self.steps))
        if step < w:
            return self.lr * step / w
        return self.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - w) / max(1, self.steps - w))))

    def loss(self, step: int) -> float:
        x = self.mean(step) * math.exp(self._rng.gauss(0, self.noise))
        if self.spike_every and step > 200 and step % self.spike_every < 3:
            x *= self.spike + 0.05 * (step % self.spike_every)
        return x * self.single_spikes.get(step, 1.0)

    def grad_norm(self, step: int, loss: float) -> float:
        return 0.3 + 0.5 * loss / self.mean(step) * self._rng.uniform(0.8, 1.2)

    def eval_loss(self, step: int) -> float:
        return self.mean(step) * 1.04 * (1 + self._rng.gauss(0, 0.002))


@dataclasses.dataclass
class Timeline:
    """The run's events: evaluations, checkpoints, resumes (from the last checkpoint before the
    step; `batch_change`: the resume at that step doubles the batch), a pause (`pause_at`,
    `pause_s` of wall time)."""

    steps: int
    eval_steps: int = 500
    save_steps: int = 1000
    resumes: tuple[int, ...] = ()
    batch_change: int | None = None
    pause_at: int | None = None
    pause_s: float = 5 * 3600.0
    rows: int = 400_000
    batch: int = 8

    @classmethod
    def realistic(cls, steps: int) -> Timeline:
        """Three resumes (the second with twice the batch: half the steps' time per example), a
        pause of five hours halfway."""
        r = (int(steps * 0.23) + 137, int(steps * 0.61) + 411, int(steps * 0.87) + 59)
        return cls(steps=steps, resumes=r, batch_change=r[1], pause_at=int(steps * 0.45) + 7)


@dataclasses.dataclass
class SimResult:
    ctx_findings: list[Any]
    store_path: Path
    log_history: list[dict[str, Any]]
    segment_cost: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    # Each checkpoint's trainer_state.json as the Trainer writes it: (step, bytes, real seconds).
    saves: list[tuple[int, int, float]] = dataclasses.field(default_factory=list)


class Loader:
    """What the callbacks read of the Trainer's training dataloader: rows and batches."""

    def __init__(self, rows: int, batch: int) -> None:
        self.dataset = range(rows)
        self._batches = -(-rows // batch)

    def __len__(self) -> int:
        return self._batches


def make_context(run_dir: Path, steps: int, timeline: Timeline, **overrides: Any) -> RunContext:
    """A RunContext on the tiny preset with the long run's steps, evaluation and save cadence."""
    raw = read_source("tiny")[0]
    raw.setdefault("train", {}).update(max_steps=steps, logging_steps=1, save_steps=timeline.save_steps)
    raw.setdefault("eval", {}).update(steps=timeline.eval_steps)
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return RunContext(cfg=validate_config(raw), run_dir=run_dir, store=RunStore(run_dir, create=True),
                      max_steps=steps)


class Process:
    """One `tuneguard train` process's callbacks, fed the way the Trainer feeds them."""

    def __init__(self, ctx: RunContext, state: TrainerState, batch: int, rows: int, output_dir: Path,
                 saves: list[tuple[int, int, float]] | None = None) -> None:
        self.ctx, self.state = ctx, state
        self.output_dir = output_dir
        self.saves = saves if saves is not None else []
        self.counter = TokenCounter()
        self.recorder = StepRecorder(self.counter)
        self.recorder.attach(per_step_grad_norm=True)
        self.metrics = MetricsCallback(ctx, self.counter, self.recorder)
        self.guard = GuardCallback(ctx)
        self.args = SimpleNamespace(output_dir=str(output_dir), device="cpu", per_device_train_batch_size=batch,
                                    gradient_accumulation_steps=1, world_size=1, fp16=False,
                                    metric_for_best_model="eval_loss", greater_is_better=False,
                                    load_best_model_at_end=True, eval_strategy="steps", fsdp="")
        self.control = TrainerControl()
        loader = Loader(rows, batch)
        self.steps_per_epoch = len(loader)
        for cb in (self.metrics, self.guard):
            cb.on_train_begin(self.args, state, self.control, train_dataloader=loader)

    def step(self, step: int, loss: float, grad_norm: float, tokens: int, lr: float) -> None:
        self.state.global_step = step
        self.counter.tokens += tokens
        self.counter.supervised += tokens
        self.recorder.add_loss(loss)
        self.recorder.add_grad_norm(grad_norm)
        self.metrics.on_step_end(self.args, self.state, self.control)
        self.state.epoch = step / self.steps_per_epoch
        self._log({"loss": round(loss, 4), "grad_norm": grad_norm, "learning_rate": lr, "epoch": self.state.epoch})

    def _log(self, logs: dict[str, Any]) -> None:
        self.state.log_history.append({**logs, "step": self.state.global_step})
        for cb in (self.metrics, self.guard):
            cb.on_log(self.args, self.state, self.control, logs=logs)
        if self.control.should_training_stop:
            raise RuntimeError(f"a guard stopped the healthy run at step {self.state.global_step}")

    def evaluate(self, eval_loss: float, runtime_s: float) -> None:
        metrics = {"eval_loss": eval_loss, "eval_runtime": runtime_s, "epoch": self.state.epoch}
        self._log(dict(metrics))
        for cb in (self.metrics, self.guard):
            cb.on_evaluate(self.args, self.state, self.control, metrics=metrics)

    def save(self) -> None:
        """A checkpoint: the Trainer's state written as `_save_checkpoint` writes it (one file,
        rewritten at each save: its size and the real seconds it took), then the callbacks."""
        import time as real_time

        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / "trainer_state.json"
        t0 = real_time.perf_counter()
        self.state.save_to_json(str(path))
        self.saves.append((self.state.global_step, path.stat().st_size, real_time.perf_counter() - t0))
        for cb in (self.metrics, self.guard):
            cb.on_save(self.args, self.state, self.control)


def resume(proc: Process, step: int, batch: int, rows: int) -> Process:
    """A new process resumed from the checkpoint at `step`: what `tuneguard train --resume auto`
    does to the store (rows after the checkpoint dropped) and the Trainer's state it restores."""
    store = proc.ctx.store
    assert store is not None
    store.truncate_after(step, findings=True)
    store.start_process()
    saved = proc.output_dir / "trainer_state.json"  # the checkpoint's (the last save, at `step`)
    state = TrainerState.load_from_json(str(saved)) if step and saved.exists() else TrainerState()
    assert state.global_step == step, (state.global_step, step)
    state.max_steps = proc.state.max_steps
    return Process(proc.ctx, state, batch, rows, Path(proc.args.output_dir), proc.saves)


def simulate(run_dir: Path, steps: int, timeline: Timeline | None = None, curve: Curve | None = None,
             clock: SimClock | None = None, **overrides: Any) -> SimResult:
    """Drive `steps` optimizer steps of `curve` along `timeline` into RUN_DIR/run.db (the real
    store, the real callbacks). Raises if a guard stops the run. Returns the findings, the
    Trainer's log history as a checkpoint would hold it, and the real seconds spent in the
    callbacks per 1,000 steps (`segment_cost`: (last step, seconds))."""
    import time as real_time

    timeline = timeline or Timeline.realistic(steps)
    curve = curve or Curve(steps)
    clock = clock or SimClock()
    run_dir.mkdir(parents=True, exist_ok=True)
    with simulated_time(clock):
        ctx = make_context(run_dir, steps, timeline, **overrides)
        store = ctx.store
        assert store is not None
        store.init_run(config={}, max_steps=steps)
        store.start_process()
        state = TrainerState()
        state.max_steps = steps
        batch = timeline.batch
        proc = Process(ctx, state, batch, timeline.rows, run_dir / "checkpoints")
        last_ckpt, slow_steps, step = 0, 0, 0
        resumes = list(timeline.resumes)
        cost: list[tuple[int, float]] = []
        t0 = real_time.perf_counter()
        while step < steps:
            step += 1
            if resumes and step == resumes[0]:
                resumes.pop(0)
                if step == timeline.batch_change:
                    batch *= 2
                clock.sleep(1200.0)  # the time to notice, get a machine, load the model
                proc = resume(proc, last_ckpt, batch, timeline.rows)
                step = last_ckpt + 1
            if step == timeline.pause_at:
                ctx.paused_seconds += timeline.pause_s
                clock.sleep(timeline.pause_s)
            scale = batch / timeline.batch
            dt = curve.step_time_s * scale * (1.7 if slow_steps else 1.0) * random.Random(step).uniform(0.95, 1.05)
            slow_steps = max(0, slow_steps - 1)
            clock.sleep(dt)
            loss = curve.loss(step)
            proc.step(step, loss, curve.grad_norm(step, loss), int(curve.tokens_per_step * scale),
                      curve.learning_rate(step))
            if step % timeline.eval_steps == 0:
                clock.sleep(90.0)
                proc.evaluate(curve.eval_loss(step), 90.0)
            if step % timeline.save_steps == 0:
                clock.sleep(25.0)  # writing the checkpoint; the next steps share the disk with its upload
                proc.save()
                last_ckpt, slow_steps = step, 20
            if step % 1000 == 0:
                now = real_time.perf_counter()
                cost.append((step, now - t0))
                t0 = now
        store.set_state("finished", ended=clock.time())
        found = store.findings()
        store.close()
    return SimResult(found, run_dir / run_store.DB_NAME, proc.state.log_history, cost, proc.saves)
