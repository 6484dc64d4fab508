"""RunContext: what the callbacks of one run share (config, store, notifier, decisions).

Callbacks never talk to each other directly; they record findings and events here, and
the context stores them (rank 0 only), notifies, and remembers a halt decision that the
training loop turns into a checkpoint and a stop.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tuneguard.catalog import T, config_language
from tuneguard.config.schema import Config
from tuneguard.findings import Finding, brief_line, overridden_below_error
from tuneguard.events import Event

if TYPE_CHECKING:  # annotations only: importing the context stays cheap
    from tuneguard.dist import Collectives
    from tuneguard.store.run_store import RunStore

log = logging.getLogger(__name__)

# A finding's severity as the level it is logged at.
SEVERITY_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def scrub_secrets(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by *** and, when the run has secrets, every
    URL's body too (a library may quote a notification URL in a form of its own)."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return re.sub(r"([a-z][a-z0-9+.-]*://)[^\s'\"]+", r"\1***", text) if secrets else text


class RunNotifier(Protocol):
    """What the run asks of its notifier (tuneguard.notify.notifier.Notifier, timed by the recipe)."""

    def notify(self, event: str, payload: Mapping[str, Any] | None = None, step: int | None = None) -> None: ...

    def maybe_progress(self, payload: Mapping[str, Any], step: int | None = None) -> bool: ...

    def maybe_evaluation(self, payload: Mapping[str, Any], step: int | None = None) -> bool: ...

    def ending(self) -> None: ...

    def close(self, timeout: float | None = None) -> bool: ...


class RunPolicy(Protocol):
    """What the guards and the control callback ask of the run's policy engine
    (tuneguard.policy.policy.PolicyEngine)."""

    def on_finding(self, f: Finding, control: Any) -> str: ...

    def handle_request(self, kind: str, arg: str | None, step: int, requested_by: str) -> tuple[str, str]: ...


@dataclasses.dataclass
class RunContext:
    """What the callbacks of one run share. `store`, `notifier`: only on the process that
    writes and tells (rank 0), None elsewhere; `policy`: the policy engine when
    policy.enabled (set by tuneguard.policy.build_policy_callbacks)."""

    cfg: Config
    run_dir: Path
    store: RunStore | None = None
    notifier: RunNotifier | None = None
    policy: RunPolicy | None = None
    is_main: bool = True
    world_size: int = 1
    secrets: list[str] = dataclasses.field(default_factory=list)
    audit_findings: list[Finding] = dataclasses.field(default_factory=list)
    max_steps: int = 0
    steps_per_epoch: int = 0
    # Training rows with the audit's duplicate groups each counted once (tuneguard.guard.seen):
    # the guards count exposures per distinct row. None: no audit on this rank (all rows distinct).
    distinct_rows: int | None = None
    # Examples seen per step over every layout the run trained with (tuneguard.guard.seen.SeenHistory,
    # set by MetricsCallback at each train begin, every rank; None: not known).
    seen: Any = None
    # The optimizer steps since the previous log or evaluation, as tuneguard.train.steps.StepRecord
    # (MetricsCallback sets it at each log and evaluation, every rank; None: not recorded).
    step_records: list[Any] | None = None
    # The optimizer step that just ended, read at its end (tuneguard.train.steps.StepRecorder.peek) within
    # guard.watch_steps (MetricsCallback sets it at on_step_end, every rank; the guards take it; None: not read).
    step_now: Any = None
    # Decisions taken during the run.
    halt_finding: Finding | None = None
    stop_reason: str | None = None  # "halted", "stopped", "early_stop"
    stop_detail: str | None = None  # who/why, e.g. "SIGTERM" or "stop requested by user@host"
    findings: list[Finding] = dataclasses.field(default_factory=list)
    paused_seconds: float = 0.0  # wall time spent paused (excluded from throughput)
    collectives: Collectives | None = None  # over the run's own gloo group (several processes)
    # Guard findings (code, step) an earlier process of this run already notified at steps this
    # resume trains again (tuneguard.train.rundir.told_after): stored again, not sent again.
    told_before: set[tuple[str, int]] = dataclasses.field(default_factory=set)

    def scrub(self, text: str) -> str:
        return scrub_secrets(text, self.secrets)

    def action_for(self, f: Finding) -> str:
        """guard.actions for the finding's code; an info finding, or one guard.severity set
        below error, never halts."""
        if f.severity == "info" or overridden_below_error(f):
            return "warn"
        return self.cfg.guard.actions.get(f.code, "warn")

    def record_finding(self, f: Finding) -> str:
        """Store and notify a finding; returns the configured action ("warn" or "halt")."""
        f.source = f.source or "guard"
        self.findings.append(f)
        action = self.action_for(f) if f.source == "guard" else "warn"
        # The log level is the severity: one level per line ("ERROR LOSS_COLLAPSE ..."), never a
        # logging level beside a severity tag that disagrees with it.
        # In the run's language: what tuneguard itself says on the terminal follows the run's config.
        # An info finding is a fact that never acts: one line, and where its full text is.
        language = config_language(self.cfg)
        if f.severity == "info":
            log.info("%s", brief_line(f, T("brief.where.run", run=str(self.run_dir)), language))
        else:
            log.log(SEVERITY_LEVELS.get(f.severity, logging.WARNING), "%s %s", f.code, f.message_in(language))
        if self.is_main and self.store is not None:
            self.store.add_finding(f)
        told = f.step is not None and (f.code, f.step) in self.told_before
        if self.is_main and self.notifier is not None and f.severity in ("warning", "error") and not told:
            self.notifier.notify(Event.FINDING, {**f.to_dict(), "action": action}, step=f.step)
        if action == "halt" and self.halt_finding is None:
            self.halt_finding = f
            self.stop_reason = "halted"
        return action

    def event(self, type_: str, payload: Mapping[str, Any] | None = None, step: int | None = None,
              notify: bool = True) -> None:
        """Record an event in the store and, if it is a notifiable event, send it."""
        if not self.is_main:
            return
        if self.store is not None:
            self.store.add_event(type_, dict(payload or {}), step)
        if notify and self.notifier is not None:
            self.notifier.notify(type_, payload or {}, step=step)
