"""TrackerCallback without a training run: what it sends, to whom, and that a broken
tracker never breaks training. (The real TensorBoard and MLflow files of a 2-process run
are read back in test_launch.py.)"""

from __future__ import annotations

import enum
import logging
import sys
import types
from types import SimpleNamespace

from tuneguard.findings import Finding
from tuneguard.store.run_store import RunStore
from tuneguard.trackers import TrackerCallback


class FakeWandb(types.ModuleType):
    class AlertLevel(enum.Enum):
        INFO = "INFO"
        WARN = "WARN"
        ERROR = "ERROR"

    def __init__(self) -> None:
        super().__init__("wandb")
        self.run = SimpleNamespace(summary={})
        self.alerts: list[tuple[str, str, str]] = []

    def alert(self, title: str, text: str, level: enum.Enum) -> None:
        self.alerts.append((title, text, level.value))


def _ctx(tmp_path, store):
    return SimpleNamespace(store=store, is_main=True, run_dir=tmp_path, world_size=1, halt_finding=None,
                           cfg=SimpleNamespace(model=SimpleNamespace(name="tiny")),
                           scrub=lambda text: text.replace("s3cret", "***"))


def _trainer(*names: str):
    return SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[type(n, (), {})() for n in names]))


def test_findings_and_events_reach_wandb_once_each(tmp_path, monkeypatch):
    wandb = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    store = RunStore(tmp_path, create=True)
    store.init_run(config={}, max_steps=10)
    store.add_event("old", {}, 0)  # before attach: an earlier process's event
    store.replace_audit_findings([Finding(code="DUPLICATE_EXACT", severity="error", message="dups")])
    cb = TrackerCallback(_ctx(tmp_path, store))
    assert cb.attach(_trainer("WandbCallback", "PrinterCallback")) == ["wandb"]
    state = SimpleNamespace(global_step=0, is_world_process_zero=True)
    cb.on_train_begin(None, state, None)
    assert wandb.run.summary["tuneguard/audit"] == ["error DUPLICATE_EXACT"]

    store.add_finding(Finding(code="LOSS_COLLAPSE", severity="error", step=4, source="guard",
                              message="loss fell to 0.01 (token s3cret)"))
    state.global_step = 4
    cb.on_log(None, state, None, logs={"loss": 0.01, "tokens_per_s": 10.0})
    cb.on_log(None, state, None, logs={"loss": 0.01})  # nothing new: nothing sent again
    assert wandb.alerts == [("tuneguard LOSS_COLLAPSE", "loss fell to 0.01 (token ***)", "ERROR")]
    assert wandb.run.summary["tuneguard/findings"] == ["error DUPLICATE_EXACT @ None", "error LOSS_COLLAPSE @ 4"]

    store.set_state("halted")
    cb.close()
    cb.close()  # idempotent
    assert wandb.run.summary["tuneguard/state"] == "halted"
    store.close()


def test_a_failing_tracker_is_logged_once_and_never_raises(tmp_path, caplog):
    store = RunStore(tmp_path, create=True)
    store.init_run(config={}, max_steps=10)
    tb = type("TensorBoardCallback", (), {"tb_writer": None, "logging_dir": None})()
    cb = TrackerCallback(_ctx(tmp_path, store))
    assert cb.attach(SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[tb]))) == ["tensorboard"]
    assert tb.logging_dir == str(tmp_path / "tensorboard")  # the run dir, not checkpoints/runs

    class Broken:
        def add_text(self, *a, **k):
            raise OSError("disk full")

        add_scalar = flush = close = add_text

    tb.tb_writer = Broken()
    state = SimpleNamespace(global_step=1, is_world_process_zero=True)
    with caplog.at_level(logging.WARNING, logger="tuneguard.trackers"):
        cb.on_train_begin(None, state, None)
        for step in range(2, 5):
            store.add_finding(Finding(code="LOSS_SPIKE", severity="warning", step=step, source="guard", message="x"))
            state.global_step = step
            cb.on_log(None, state, None, logs={"loss": 1.0})
        cb.close()
    warnings = [r for r in caplog.records if "tensorboard" in r.getMessage()]
    assert len(warnings) == 1 and "disk full" in warnings[0].getMessage()
    store.close()


def test_nothing_on_other_ranks(tmp_path, monkeypatch):
    wandb = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    written: list[str] = []

    class Writer:  # records every call a sink would make
        def __getattr__(self, name):
            return lambda *a, **k: written.append(name)

    tb = type("TensorBoardCallback", (), {"tb_writer": Writer(), "logging_dir": None})()
    ctx = _ctx(tmp_path, None)
    ctx.is_main = False
    cb = TrackerCallback(ctx)
    trainer = SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[tb, type("WandbCallback", (), {})()]))
    assert cb.attach(trainer) == []
    cb.on_train_begin(None, SimpleNamespace(global_step=0, is_world_process_zero=False), None)
    cb.on_log(None, SimpleNamespace(global_step=1), None, logs={"loss": 1.0})
    cb.close()
    assert written == [] and tb.logging_dir is None  # TensorBoard: not written, not redirected
    assert wandb.alerts == [] and wandb.run.summary == {}
