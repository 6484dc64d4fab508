"""SIGTERM / SIGINT during training: a graceful stop, not a lost run.

Preemptible VMs send SIGTERM and then SIGKILL after a grace period; Colab's "interrupt"
button and Ctrl-C send SIGINT. Both are turned into the same thing as `tuneguard stop`:
the control callback sees the signal at the next optimizer step, writes a checkpoint and
ends the run with state `stopped` (exit 0), so `train --resume auto` can continue it.

The handler itself only records the signal (plus a log line so the user sees that it was
heard); the store, the checkpoint and the Trainer are touched later from the training loop,
never from inside the handler. The one exception is a second SIGINT: the user wants out
now, so the handler records the failure (through `on_abort`) and raises KeyboardInterrupt.
A third SIGINT ends the process at once with `os._exit(130)`, in case something swallowed
the KeyboardInterrupt.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalWatcher:
    """Installs handlers for SIGTERM and SIGINT for the duration of training.

    `install()` (from on_train_begin) replaces the handlers and remembers the previous ones;
    `uninstall()` (from on_train_end) puts them back. Handlers can only be installed from
    the main thread: from any other thread (a notebook that trains in a thread) `install`
    logs that graceful signal handling is off and returns False.

    `take()` hands each received stop signal to the training loop exactly once.
    """

    def __init__(self, on_abort: Callable[[str], None] | None = None,
                 signals: tuple[signal.Signals, ...] = HANDLED_SIGNALS):
        self._on_abort = on_abort
        self._signals = signals
        self._previous: dict[int, Any] = {}
        self._received: list[str] = []
        self._taken = 0
        self._sigint_count = 0
        self.installed = False

    # -- lifecycle ------------------------------------------------------------------
    def install(self) -> bool:
        if self.installed:
            return True
        if threading.current_thread() is not threading.main_thread():
            log.info("training runs outside the main thread: SIGTERM/SIGINT keep their usual effect "
                     "(no checkpoint on interrupt); use `tuneguard stop` instead")
            return False
        for sig in self._signals:
            try:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
            except (ValueError, OSError) as exc:  # e.g. an embedding interpreter forbids it
                log.info("cannot handle %s: %s", signal.Signals(sig).name, exc)
                self._previous.pop(sig, None)
        self.installed = bool(self._previous)
        return self.installed

    def uninstall(self) -> None:
        """Put the previous handlers back (only where ours is still the one installed)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, prev in self._previous.items():
            try:
                if signal.getsignal(sig) == self._handle:
                    signal.signal(sig, prev if prev is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        self._previous.clear()
        self.installed = False

    # -- state for the training loop ------------------------------------------------
    def take(self) -> str | None:
        """The name of a stop signal not yet acted on ("SIGTERM", "SIGINT"), else None."""
        if self._taken < len(self._received):
            name = self._received[self._taken]
            self._taken = len(self._received)  # several signals before one step: one stop
            return name
        return None

    @property
    def pending(self) -> bool:
        """Cheap check (an attribute read) done at every step before any store access."""
        return self._taken < len(self._received)

    # -- the handler ----------------------------------------------------------------
    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.installed:
            self._delegate(signum, frame)
            return
        if signum == signal.SIGINT:
            self._sigint_count += 1
            if self._sigint_count >= 3:
                os._exit(130)
            if self._sigint_count == 2:
                log.warning("second SIGINT: aborting now without a checkpoint")
                if self._on_abort is not None:
                    try:
                        self._on_abort(name)
                    except Exception:
                        log.debug("recording the abort failed", exc_info=True)
                raise KeyboardInterrupt
        self._received.append(name)
        hint = "; press Ctrl-C again to abort without a checkpoint" if signum == signal.SIGINT else ""
        log.warning("%s received: stopping after the current step with a checkpoint%s", name, hint)

    def _delegate(self, signum: int, frame: FrameType | None) -> None:
        """Behave as the handler we replaced (used if training ended without uninstall)."""
        prev = self._previous.get(signum, signal.SIG_DFL)
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_IGN:
            return
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
