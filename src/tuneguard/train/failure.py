"""A run that failed: its state and `failed` event in the store (the phone hears of it even
when the store cannot be written), the one line the CLI shows the user, the exit code of the
contract, and how long this rank waits for the others before it leaves."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from tuneguard.config.load import dump_yaml
from tuneguard.config.schema import Config
from tuneguard.context import RunContext, scrub_secrets
from tuneguard.data.load import DataError
from tuneguard.dist import PeerRefused, StartGate
from tuneguard.errors import EXIT_FAIL, EXIT_USAGE, UsageError
from tuneguard.events import Event
from tuneguard.fmt import shorten
from tuneguard.model.load import ModelError
from tuneguard.store.invocation import META_KEY as INVOCATION
from tuneguard.store.invocation import Invocation
from tuneguard.store.run_store import RunStore
from tuneguard.train.diskfull import handle_disk_full
from tuneguard.train.preflight import Preflight

log = logging.getLogger(__name__)

REASON_CHARS = 500  # the longest exit reason kept in the store (status, report, the failed event)


def exit_reason(text: str) -> str:
    """`text` as a run's exit reason: one line of at most REASON_CHARS characters, cut between
    words with an ellipsis, so that its head (the exception's type and message, which say what
    went wrong) survives whole. Scrub before: a secret cut in half no longer matches."""
    return shorten(text, REASON_CHARS)


def worth_recording(exc: BaseException) -> bool:
    """Whether a failure before the run store existed gets a record: what failed while preparing
    the run (the model, the tokenizer, the data, a crash) does; a refusal of the command as given
    on this machine (the hardware check: a model that will not fit the GPU, one process for
    several GPUs) is said at once and leaves nothing, like a config error."""
    return isinstance(exc, (DataError, ModelError)) or not isinstance(exc, UsageError)


def record_unstored_failure(run_dir: Path, record: dict[str, Any], invocation: Invocation | None, reason: str,
                            code: int) -> None:
    """A run that failed before its store existed (a model or tokenizer that would not load,
    data that failed to prepare, a crash): its config.yaml and a run store that says
    so (state failed, exit reason and code, the command), so that `status` and `report` name
    what failed and how to fix it. Such a run never trained: the next `train` in the same
    directory replaces it (tuneguard.train.rundir.never_trained). `reason` is scrubbed."""
    (run_dir / "config.yaml").write_text(dump_yaml(record), "utf-8")
    with RunStore(run_dir, create=True) as store:
        store.init_run(config=record, max_steps=None)
        if invocation is not None:
            store.set_meta(**{INVOCATION: invocation.to_dict()})
        store.set_state("failed", exit_reason=exit_reason(reason), exit_code=code, ended=time.time())
        store.add_event(Event.FAILED, {"error": exit_reason(reason), "before_training": True}, step=0)


def failure_leave_timeout(cfg: Config) -> float:
    """How long a failed rank waits for the others before it exits: long enough for rank 0
    to record the failure and flush its notifications when every rank failed at the same
    point (the usual case: same code, same shapes), short when only this rank failed."""
    return float(min(cfg.train.ddp_timeout, cfg.notify.flush_timeout_s + 30))


class RunFailure:
    """Turns an exception that ended a run into its record, its line and its exit code."""

    def __init__(self, cfg: Config, run_dir: Path, is_main: bool, gate: StartGate,
                 invocation: Invocation | None = None, secrets: list[str] | None = None) -> None:
        self.cfg, self.run_dir, self.is_main, self.gate = cfg, run_dir, is_main, gate
        self.invocation = invocation  # the command that started the run: the disk-full message's resume
        self.secrets = secrets or []  # resolved secret values: never in a line, a record or a log

    def handle(self, exc: BaseException, ctx: RunContext | None, store: RunStore | None, trainer: Any,
               hw: Preflight | None) -> tuple[int, float | None, str | None]:
        """(exit code, seconds to wait for the other ranks or None, the line for the user or
        None when this rank has nothing to say)."""
        if isinstance(exc, PeerRefused):  # another rank could not start, or the ranks disagree
            if store is not None:
                store.set_state("failed", exit_reason=exit_reason(exc.message or "another process could not start"),
                                exit_code=exc.code)
            return exc.code, self.cfg.train.ddp_timeout, exc.message if exc.message and self.is_main else None
        if isinstance(exc, (DataError, ModelError)):
            leave = self._leave_after_failure(EXIT_USAGE)
            # Before training: the data or the model is the user's to fix (2); during it, a failure (1).
            code = EXIT_USAGE if ctx is None or store is None or store.state() != "running" else EXIT_FAIL
            line = scrub_secrets(str(exc), self.secrets)
            if store is not None:
                store.set_state("failed", exit_reason=exit_reason(line), exit_code=code)
            return code, leave, line
        if isinstance(exc, UsageError):  # PreflightRefusal among them
            return EXIT_USAGE, self._leave_after_failure(EXIT_USAGE), scrub_secrets(exc.line(), self.secrets)
        return self._crash(exc, ctx, store, trainer, hw)

    def _crash(self, exc: BaseException, ctx: RunContext | None, store: RunStore | None, trainer: Any,
               hw: Preflight | None) -> tuple[int, float | None, str]:
        """Any other exception: a failed run, recorded with the end of its traceback."""
        leave = self._leave_after_failure(EXIT_FAIL)
        tb = traceback.format_exc()
        full = handle_disk_full(exc, self.run_dir, self.invocation) if self.is_main else None
        if isinstance(exc, torch.OutOfMemoryError):
            from tuneguard.train.memfit import oom_message

            step = trainer.state.global_step if trainer is not None else None
            full = oom_message(hw.fit if hw else None, self.cfg, step)
        text = full or f"{type(exc).__name__}: {exc}"
        text = scrub_secrets(text, self.secrets)
        log.debug("training failed:\n%s", tb)
        # Best effort: on a full disk these writes fail too, and must not hide the message.
        with contextlib.suppress(Exception):
            if store is not None:
                store.set_state("failed", exit_reason=exit_reason(text), exit_code=EXIT_FAIL, ended=time.time())
        if ctx:
            payload = {"error": text, "traceback": ctx.scrub("".join(tb.splitlines(True)[-12:]))}
            try:
                ctx.event(Event.FAILED, payload)
            except Exception:  # noqa: BLE001 - the store cannot be written: the phone still hears of it
                if ctx.notifier is not None:
                    ctx.notifier.notify(Event.FAILED, payload)
        return EXIT_FAIL, leave, f"training failed: {text}"

    def _leave_after_failure(self, code: int) -> float | None:
        """How long this failed rank waits for the others at the end (None: not at all).

        Before the start gate the failure travels through the gate itself (every rank exits with
        this code, together). After it, the other ranks may have failed at the same point (a
        crash in the same step) or be training on: wait a bounded time, so that in the first
        case rank 0 records the failure and sends its notifications before the launcher ends
        the others, and in the second the launcher still learns of the failure soon."""
        if self.gate.refuse(code):
            return self.cfg.train.ddp_timeout
        return failure_leave_timeout(self.cfg) if self.gate.coll is not None else None
