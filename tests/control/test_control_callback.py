"""The control callback's decisions and the signal handling, without training (fast).

A real run store in a temporary folder; the Trainer's `control` object is the real
TrainerControl; time is a fake clock so the polling throttle is exact.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from transformers import TrainerControl

from tuneguard.config.load import read_source, validate_config
from tuneguard.control import (
    Action,
    ControlCallback,
    SignalWatcher,
    _record_abort,
    build_control_callbacks,
)
from tuneguard.store.run_store import RunStore
from tuneguard.context import RunContext


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path: Path):
    s = RunStore(tmp_path, create=True)
    s.init_run(config={}, max_steps=100)
    s.set_state("running")
    yield s
    s.close()


@pytest.fixture
def ctx(tmp_path: Path, store: RunStore) -> RunContext:
    raw, _ = read_source("tiny")
    return RunContext(cfg=validate_config(raw), run_dir=tmp_path, store=store, max_steps=100)


def make_cb(ctx: RunContext, signals: SignalWatcher | None = None, sleep: Any = None) -> tuple[ControlCallback, Clock]:
    clock = Clock()
    cb = ControlCallback(ctx, signals, clock=clock, sleep=sleep or (lambda s: None))
    cb.on_train_begin(SimpleNamespace(output_dir=str(ctx.run_dir / "checkpoints")), None, TrainerControl())
    return cb, clock


def step_end(cb: ControlCallback, step: int, control: TrainerControl | None = None) -> TrainerControl:
    control = control or TrainerControl()
    cb.on_step_end(None, SimpleNamespace(global_step=step), control)
    return control


def save(cb: ControlCallback, step: int, control: TrainerControl) -> None:
    cb.on_save(None, SimpleNamespace(global_step=step), control)


def request(store: RunStore, action: str) -> int:
    return store.request_control(action, requested_by="tester@host pid 1")


def req(store: RunStore, rid: int) -> dict[str, Any]:
    return next(r for r in store.control_requests() if r["id"] == rid)


def test_stop_saves_and_stops_and_is_acknowledged_after_the_save(ctx, store):
    cb, _ = make_cb(ctx)
    rid = request(store, "stop")
    control = step_end(cb, 7)
    assert control.should_save and control.should_training_stop
    assert ctx.stop_reason == "stopped"
    assert req(store, rid)["status"] == "pending"  # not before the checkpoint is on disk
    save(cb, 7, control)
    r = req(store, rid)
    assert (r["status"], r["handled_step"], r["note"]) == ("done", 7, "checkpoint-7 written; stopping")
    ev = store.events("control_stop")
    assert len(ev) == 1 and ev[0]["step"] == 7 and ev[0]["payload"]["checkpoint"] == "checkpoint-7"
    assert ev[0]["payload"]["requested_by"] == "tester@host pid 1"


def test_checkpoint_saves_without_stopping(ctx, store):
    cb, _ = make_cb(ctx)
    rid = request(store, "checkpoint")
    control = step_end(cb, 3)
    assert control.should_save and not control.should_training_stop and ctx.stop_reason is None
    save(cb, 3, control)
    assert req(store, rid)["status"] == "done" and req(store, rid)["handled_step"] == 3
    assert [e["type"] for e in store.events()] == ["control_checkpoint"]


def test_polling_is_throttled_by_wall_time(ctx, store):
    cb, clock = make_cb(ctx)
    assert cb.decide(1) == Action.NONE  # first poll
    rid = request(store, "checkpoint")
    clock.t += 0.1
    assert cb.decide(2) == Action.NONE  # within 0.2 s: the store is not read
    assert req(store, rid)["status"] == "pending"
    clock.t += 0.15
    assert cb.decide(3) == Action.SAVE


def test_continue_when_not_paused_and_unknown_actions_are_rejected(ctx, store):
    cb, _ = make_cb(ctx)
    r1, r2 = request(store, "continue"), request(store, "reboot")
    assert cb.decide(5) == Action.NONE
    assert (req(store, r1)["status"], req(store, r1)["note"]) == ("rejected", "the run is not paused")
    assert req(store, r2)["status"] == "rejected" and "unknown action 'reboot'" in req(store, r2)["note"]
    assert [e["payload"]["status"] for e in store.events("control_continue")] == ["rejected"]


def test_pause_waits_after_the_checkpoint_until_continue(ctx, store):
    seen: list[tuple[str | None, list[str]]] = []

    def sleep(_: float) -> None:  # the pause loop's wait: look at the store, then continue
        seen.append((store.state(), [r["action"] for r in store.pending_control()]))
        assert isinstance(store.get_meta("paused_since"), float)  # the pause's start: not training time
        if len(seen) == 3:
            request(store, "continue")

    cb, _ = make_cb(ctx, sleep=sleep)
    rid = request(store, "pause")
    control = step_end(cb, 9)
    assert control.should_save and not control.should_training_stop
    assert store.state() == "running"
    save(cb, 9, control)
    assert [s for s, _ in seen] == ["paused"] * 3
    r = req(store, rid)
    assert (r["status"], r["handled_step"], r["note"]) == ("done", 9, "paused at step 9; checkpoint-9 written")
    assert store.state() == "running" and not control.should_training_stop
    assert [e["type"] for e in store.events()] == ["control_pause", "paused", "control_continue"]
    (paused,) = store.events("paused")  # the one request event that is notified (a GPU idles)
    assert paused["payload"] == {"step": 9, "requested_by": "tester@host pid 1", "run_dir": str(ctx.run_dir),
                                 "checkpoint": str(ctx.run_dir / "checkpoints" / "checkpoint-9")}
    assert store.get_meta("heartbeat") is not None and store.get_meta("step") == 9
    # the pause ended: its seconds join the ended pauses, which the training time leaves out
    assert store.get_meta("paused_since") is None and store.get_meta("paused_s") >= 0.0


def test_pause_then_queued_continue_is_read_by_the_pause_loop(ctx, store):
    cb, _ = make_cb(ctx)
    p, c = request(store, "pause"), request(store, "continue")
    control = step_end(cb, 4)
    assert req(store, c)["status"] == "pending"  # left for the pause loop
    save(cb, 4, control)
    assert req(store, p)["status"] == "done" and req(store, c)["status"] == "done"
    assert store.state() == "running"


def test_requests_while_paused_and_stop_ends_the_pause(ctx, store):
    calls = []

    def sleep(_: float) -> None:
        calls.append(1)
        if len(calls) == 1:
            request(store, "checkpoint")
            request(store, "pause")
        elif len(calls) == 2:
            request(store, "stop")

    cb, _ = make_cb(ctx, sleep=sleep)
    request(store, "pause")
    control = step_end(cb, 11)
    save(cb, 11, control)
    assert control.should_training_stop and ctx.stop_reason == "stopped"
    by_action = {r["action"]: r for r in store.control_requests()[1:]}
    assert by_action["checkpoint"]["status"] == "done" and "checkpoint-11 was written" in by_action["checkpoint"]["note"]
    assert by_action["pause"]["status"] == "rejected" and by_action["pause"]["note"] == "the run is already paused"
    assert by_action["stop"]["status"] == "done" and by_action["stop"]["handled_step"] == 11


def test_pause_at_the_last_step_is_rejected_and_stop_keeps_a_finished_run(ctx, store):
    cb, _ = make_cb(ctx)
    p = request(store, "pause")
    control = TrainerControl()
    control.should_training_stop = True  # the Trainer ends at this step anyway (max_steps)
    step_end(cb, 100, control)
    assert req(store, p)["status"] == "rejected" and req(store, p)["note"] == "the run ends at this step"
    cb2, _ = make_cb(ctx)
    request(store, "stop")
    step_end(cb2, 100, control)
    assert ctx.stop_reason is None  # finished, not stopped


def test_stop_does_not_override_a_guard_halt(ctx, store):
    cb, _ = make_cb(ctx)
    ctx.stop_reason = "halted"
    request(store, "stop")
    control = step_end(cb, 5)
    assert control.should_training_stop and ctx.stop_reason == "halted"


def test_requests_older_than_the_process_are_rejected(ctx, store):
    rid = store.request_control("stop", requested_by="old")
    with store._conn:
        store._conn.execute("UPDATE control SET time = time - 1e6 WHERE id=?", (rid,))
    cb, _ = make_cb(ctx)
    assert cb.decide(2) == Action.NONE
    assert req(store, rid)["status"] == "rejected"
    assert store.events() == []


def test_a_request_left_unhandled_at_train_end_is_closed(ctx, store):
    cb, _ = make_cb(ctx)
    rid = request(store, "checkpoint")
    step_end(cb, 5)
    cb.on_train_end(None, SimpleNamespace(global_step=5), TrainerControl())  # no on_save came
    assert req(store, rid)["status"] == "rejected"


def test_non_main_rank_never_reads_the_store(ctx, store):
    ctx.is_main = False
    cb, _ = make_cb(ctx)
    rid = request(store, "stop")
    assert cb.decide(1) == Action.NONE
    assert req(store, rid)["status"] == "pending"


# --- signals -------------------------------------------------------------------------

def test_sigterm_becomes_a_recorded_stop_and_handlers_are_restored(ctx, store):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    cb, _ = make_cb(ctx, SignalWatcher())
    assert signal.getsignal(signal.SIGTERM) == cb.signals._handle
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.01)  # the handler runs at the next bytecode boundary of the main thread
    control = step_end(cb, 6)
    assert control.should_save and control.should_training_stop and ctx.stop_reason == "stopped"
    save(cb, 6, control)
    (r,) = store.control_requests()
    assert (r["action"], r["arg"], r["status"], r["handled_step"]) == ("stop", "SIGTERM", "done", 6)
    assert r["requested_by"].startswith("signal SIGTERM")
    assert store.events("control_stop")[0]["payload"]["signal"] == "SIGTERM"
    cb.on_train_end(None, SimpleNamespace(global_step=6), control)
    assert {s: signal.getsignal(s) for s in before} == before


def test_second_sigint_aborts_and_records_failure(ctx, store):
    aborted: list[str] = []
    watcher = SignalWatcher(on_abort=aborted.append)
    cb, _ = make_cb(ctx, watcher)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        assert watcher.pending
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        assert aborted == ["SIGINT"]
    finally:
        cb.close()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_record_abort_marks_the_run_failed(ctx, store):
    store.heartbeat(12)
    _record_abort(ctx, "SIGINT")
    assert store.state() == "failed"
    assert "second SIGINT" in store.get_meta("exit_reason")
    assert store.events("failed")[0]["step"] == 12


def test_build_control_callbacks():
    cbs = build_control_callbacks(RunContext(cfg=None, run_dir=Path(".")))  # type: ignore[arg-type]
    assert len(cbs) == 1 and isinstance(cbs[0], ControlCallback) and isinstance(cbs[0].signals, SignalWatcher)


def test_a_thai_run_records_its_control_notes_in_thai_with_the_spec(tmp_path: Path, store):
    raw, _ = read_source("tiny")
    raw.setdefault("notify", {})["language"] = "th"
    ctx = RunContext(cfg=validate_config(raw), run_dir=tmp_path, store=store, max_steps=100)
    cb, _ = make_cb(ctx)
    r1, r2 = request(store, "continue"), request(store, "stop")
    control = step_end(cb, 7)
    save(cb, 7, control)
    assert (req(store, r1)["status"], req(store, r1)["note"]) == ("rejected", "การรันไม่ได้พักอยู่")
    assert req(store, r2)["note"] == "บันทึก checkpoint-7 แล้ว และกำลังหยุด"
    payload = store.events("control_stop")[0]["payload"]
    assert payload["note"] == "บันทึก checkpoint-7 แล้ว และกำลังหยุด"
    assert payload["text"] == {"key": "control.note.written_stopping", "params": {"ckpt": "checkpoint-7"}}


def test_a_stop_between_two_logs_is_the_step_status_and_the_report_show(ctx, store, tmp_path: Path):
    """A run logged every 5 steps was stopped at step 51 (its terminal, its message and its
    checkpoint-51 say so): `status` and the report said step 50, the last logged row. A
    resume from an earlier checkpoint takes the step back with the rows it drops."""
    from tuneguard.cli.status_cmd import read_status
    from tuneguard.report.rundata import load_run
    from tuneguard.train.finish import record_end

    store.log_metrics(50, "train", {"loss": 1.02, "epoch": 0.66})
    store.heartbeat(50)
    state = SimpleNamespace(global_step=51, max_steps=300)
    assert record_end(ctx, store, state, {"step": 51, "max_steps": 300}, "stopped") == 0
    store.close()
    assert (read_status(tmp_path)["state"], read_status(tmp_path)["step"]) == ("stopped", 51)
    assert load_run(tmp_path).last_step == 51
    with RunStore(tmp_path) as again:
        again.truncate_after(40)
        assert again.summary()["step"] == 40
