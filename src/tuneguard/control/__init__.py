"""Steering a live run: control requests from the run store, and SIGTERM/SIGINT.

`build_control_callbacks(ctx)` is what the training recipe adds to the Trainer. The CLI
side (`tuneguard stop|pause|continue|checkpoint|watch`) lives in tuneguard.cli.control_cmd.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tuneguard.catalog import T, render
from tuneguard.control.requests import ACTIONS, Action, ControlCallback
from tuneguard.control.signals import SignalWatcher
from tuneguard.context import RunContext
from tuneguard.events import Event

log = logging.getLogger(__name__)

__all__ = ["ACTIONS", "Action", "ControlCallback", "SignalWatcher", "build_control_callbacks"]


def build_control_callbacks(ctx: RunContext) -> list[Any]:
    """The control callback for this run, with graceful SIGTERM/SIGINT handling."""
    signals = SignalWatcher(on_abort=lambda name: _record_abort(ctx, name))
    return [ControlCallback(ctx, signals)]


def _record_abort(ctx: RunContext, signal_name: str) -> None:
    """Record a second-SIGINT abort as a failed run (called from the signal handler).

    A fresh connection is used: the handler may run while the training loop is between two
    statements on its own connection, and this is the last thing the process writes.
    """
    if not ctx.is_main or ctx.store is None:
        return
    from tuneguard.store.run_store import RunStore

    spec = T("control.aborted", signal=signal_name)
    reason = render(spec, ctx.cfg.report.language or ctx.cfg.notify.language)
    with RunStore(ctx.run_dir) as store:
        store.set_state("failed", exit_reason=reason, ended=time.time())
        store.add_event(Event.FAILED, {"error": reason, "text": spec}, store.get_meta("step"))
    if ctx.notifier is not None:
        ctx.notifier.notify(Event.FAILED, {"error": reason})
