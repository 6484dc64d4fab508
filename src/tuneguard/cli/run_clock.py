"""When a run started and how long it has run, as `status` and `watch` show it.

The store keeps each training process's start and last sign of life (`RunTimes`): for a run
that ended, the wall time runs from the first start to its end and the training time sums its
processes. For a live run the current process is still going: both are counted up to now (the training
time only while it runs, not while it is paused),
not to its last heartbeat, so the numbers do not stand still between heartbeats. The line is
in the run's report language (report.language, else notify.language), like its report.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from tuneguard.catalog import say
from tuneguard.fmt import clock
from tuneguard.report.components import duration, report_language
from tuneguard.store.run_store import RunTimes

LIVE = ("running", "paused")


@dataclasses.dataclass(frozen=True)
class RunClock:
    """A run's first start (epoch seconds), wall and training time in seconds (None when not
    known), the processes that trained it, and the ETA of a running run (None when not known)."""

    first_started: float | None
    wall_s: float | None
    train_s: float | None
    processes: int
    eta_s: float | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_clock(times: RunTimes, state: str, eta_s: Any = None, now: float | None = None) -> RunClock:
    """The times of a run in `state` (as the views show it: a dead live run reads "failed").
    A live run's current process counts up to `now` (its training time only while it runs: a
    pause is no training); the ETA is kept for a running run only."""
    now = time.time() if now is None else now
    wall, train = times.wall_s, times.train_s
    if state in LIVE and times.first_started is not None:
        wall = max(0.0, now - times.first_started)
        if train is not None and times.last_seen is not None and state == "running":
            train += max(0.0, now - times.last_seen)  # a paused run's training time stands still
    eta = float(eta_s) if state == "running" and isinstance(eta_s, (int, float)) else None
    return RunClock(times.first_started, wall, train, times.processes, eta)


def clock_line(c: RunClock, state: str, config: dict[str, Any] | None) -> str:
    """'started 2026-11-28 03:31:00 · wall time 1h 05m 03s · training time 1h 02m 10s · time
    left 12m 00s' in the run's language; the time left only for a running run."""
    lang = report_language(config or {})
    train = duration(c.train_s, lang)
    if c.train_s is not None and c.processes > 1:
        train = say("report.train_time.processes", lang, d=train, n=c.processes)
    parts = [say("report.view.started", lang, when=clock(c.first_started) if c.first_started else say("report.na", lang)),
             say("report.view.wall", lang, d=duration(c.wall_s, lang)),
             say("report.view.train", lang, d=train)]
    if state == "running":
        parts.append(say("report.view.eta", lang, d=duration(c.eta_s, lang)) if c.eta_s is not None
                     else say("report.view.eta_unknown", lang))
    return " · ".join(parts)
