"""guard.watch_steps: the loss guards judge each early step as it ends, so a collapse halts at
the step that found it, not at the next log; the step recorder reads that step once and the log
takes it as read (tuneguard.train.steps)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from rich.console import Console

from tuneguard.config.load import read_source, validate_config
from tuneguard.data.synthetic import write_jsonl
from tuneguard.guard.records import StepRecord
from tuneguard.store.run_store import RunStore
from tuneguard.train.steps import StepRecorder

pytestmark = pytest.mark.usefixtures("one_thread")


class Sums:
    """Two processes' collectives, the other rank's values equal to this one's: sums double."""

    world_size = 2

    def __init__(self) -> None:
        self.calls: list[list[float]] = []

    def all_sum_float(self, vec: list[float]) -> list[float]:
        self.calls.append(list(vec))
        return [2 * v for v in vec]


def test_a_peeked_step_is_read_once_and_taken_as_read() -> None:
    rec = StepRecorder()
    rec.attach(per_step_grad_norm=True)
    rec.reset()
    coll = Sums()
    for step, loss in ((1, 2.5), (2, 2.0), (3, 0.25)):
        rec.add_loss(torch.tensor(loss))
        rec.add_grad_norm(torch.tensor(10.0 * step))
        rec.end_step(step)
        if step >= 2:  # the watched steps
            assert rec.peek(coll) == StepRecord(step, loss, 10.0 * step, None)
    assert rec.peek(coll) is None  # read already
    assert rec.take(coll) == [StepRecord(1, 2.5, 10.0, None), StepRecord(2, 2.0, 20.0, None),
                              StepRecord(3, 0.25, 30.0, None)]
    # Steps 2 and 3 summed over the ranks once each, when peeked; step 1 at the take.
    assert coll.calls == [[2.0, 0.0], [0.25, 0.0], [2.5, 0.0]]
    assert rec.take(coll) == [] and rec.pending == 0


def _collapse_run(tmp_path: Path, *sets: tuple[str, object]) -> Path:
    """The README's collapse (the tiny preset on copies of one row, past the audit), logging every 5 steps."""
    raw, _ = read_source("tiny")
    rows = [{"instruction": "Say hello.", "output": "Hello there, friend."}] * 200
    raw["data"]["train_file"] = str(write_jsonl(rows, tmp_path / "dup.jsonl"))
    for key, value in sets:
        section, name = key.split(".")
        raw.setdefault(section, {})[name] = value
    from tuneguard.train.run import run_training

    run = tmp_path / "run"
    with open(os.devnull, "w") as null:
        code = run_training(validate_config(raw), run, force=True, console=Console(file=null)).exit_code
    assert code == 1
    return run


def test_a_collapse_halts_at_the_step_it_is_found_between_logs(tmp_path: Path) -> None:
    run = _collapse_run(tmp_path)
    with RunStore(run, readonly=True) as s:
        assert s.state() == "halted"
        (f,) = [x for x in s.findings() if x.code == "LOSS_COLLAPSE"]
        train_steps = [m["step"] for m in s.metrics("train")]
    assert f.severity == "error" and f.step == f.evidence["at_step"] == 11  # not the log of step 15
    assert train_steps == [1, 5, 10, 11]  # the halted step logged with it: the curve ends where the run did
    assert (run / "checkpoints" / "checkpoint-11").is_dir()


def test_a_step_judged_at_its_end_is_not_judged_or_counted_again_at_the_log(ctx) -> None:
    """A NaN at step 3 of a window logged every 5 steps: halted at step 3, which asks for a log;
    that log hands over steps 1-3 again, and none is judged or counted twice."""
    from guard_helpers import trainer_bits

    from tuneguard.guard import GuardCallback

    nan = float("nan")
    cb = GuardCallback(ctx)
    args, state, control = trainer_bits(0)
    cb.on_train_begin(args, state, control)
    window = [StepRecord(1, 3.0, 1.0, 100), StepRecord(2, 2.9, 1.0, 100), StepRecord(3, nan, nan, 100)]
    for record in window:
        args, state, control = trainer_bits(record.step)
        ctx.step_now = record
        cb.on_step_end(args, state, control)
        assert ctx.step_now is None
    assert control.should_training_stop and control.should_save and control.should_log
    assert ctx.halt_finding is not None and (ctx.halt_finding.code, ctx.halt_finding.step) == ("NON_FINITE", 3)
    ctx.step_records = window
    cb.on_log(args, state, control, logs={"loss": nan, "grad_norm": nan, "learning_rate": 1e-4, "epoch": 0.003})
    assert [(f.code, f.step) for f in ctx.store.findings()] == [("NON_FINITE", 3)]
    assert cb.tokens_seen == 300
    # No step read at its end (past guard.watch_steps): judged at the log, as before.
    args, state, control = trainer_bits(4)
    cb.on_step_end(args, state, control)
    assert not control.should_log and not control.should_training_stop
