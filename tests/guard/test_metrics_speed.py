"""The progress line's tokens/s and ETA count training time only: the time an evaluation, the
callbacks after it (QA probes) and a checkpoint save take is left out (a fake clock)."""

from __future__ import annotations

from types import SimpleNamespace

from transformers import TrainerControl, TrainerState

from tuneguard.bench.long_run import SimClock, simulated_time
from tuneguard.train.metrics import MetricsCallback, TokenCounter


def _run(clock: SimClock) -> list[dict]:
    ctx = SimpleNamespace(paused_seconds=0.0, world_size=1, is_main=True, store=None, seen=None,
                          distinct_rows=None, run_dir=None, step_records=None)
    counter = TokenCounter()
    metrics = MetricsCallback(ctx, counter)  # type: ignore[arg-type]
    tail = metrics.tail()
    args = SimpleNamespace(output_dir="/nonexistent", eval_strategy="steps", eval_steps=4)
    state, control = TrainerState(), TrainerControl()
    state.max_steps = 12
    logs: list[dict] = []
    metrics.on_train_begin(args, state, control)
    for step in range(1, 9):
        clock.sleep(1.0)  # one training step: 100 tokens in 1 s
        counter.tokens += 100
        state.global_step = step
        metrics.on_step_end(args, state, control)
        if step % 2 == 0:  # logging_steps 2
            log = {"loss": 1.0}
            metrics.on_log(args, state, control, logs=log)
            logs.append(log)
        if step == 4:
            clock.sleep(30.0)  # the evaluation itself
            metrics.on_evaluate(args, state, control, metrics={"eval_loss": 1.0, "eval_runtime": 30.0})
            clock.sleep(50.0)  # QA probes in a later callback
            tail.on_evaluate(args, state, control)
            clock.sleep(20.0)  # the checkpoint save
            metrics.on_save(args, state, control)
            tail.on_save(args, state, control)
    return logs


def test_speed_and_eta_leave_out_evaluation_and_save_time() -> None:
    clock = SimClock()
    with simulated_time(clock):
        logs = _run(clock)
    assert [round(log["tokens_per_s"], 6) for log in logs] == [100.0] * 4
    assert [round(log["log_window_s"], 6) for log in logs] == [2.0] * 4
    # Steps left at 1 s each, plus the evaluations to come at the measured 100 s each (the
    # evaluation at step 4 with its QA probes and save; a step's evaluation comes after its log):
    # at step 4 none is known yet.
    assert [round(log["eta_s"], 6) for log in logs] == [10.0, 8.0, 6.0 + 200.0, 4.0 + 200.0]
