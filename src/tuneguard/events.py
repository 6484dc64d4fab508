"""The events of a run, typed: their names (`Event`), which a phone may be sent
(`NOTIFIABLE`: notify.events, the message renderer), which trackers mirror, and the payload
each carries (`PAYLOADS`; every key optional: a missing key drops its line in a message).

An event is recorded in the run store (`RunContext.event`) and, when notifiable, sent. The
config's list of events, the trackers' and the message renderer's derive from this module
(tests/test_events.py checks them and every event name the code records), so that a new
event cannot be known to one and missing from another.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict


class Event(StrEnum):
    STARTED = "started"
    RESUMED = "resumed"
    EVALUATION = "evaluation"
    PROGRESS = "progress"
    FINDING = "finding"
    QA = "qa"
    QA_FAILED = "qa_failed"
    ACTION = "action"  # a policy's action (rollback, learning-rate change, ...)
    EARLY_STOP = "early_stop"
    HALTED = "halted"
    STOPPED = "stopped"
    PAUSED = "paused"  # `tuneguard pause`: the model stays loaded (a rented GPU idles) until continue or stop
    FINISHED = "finished"
    FAILED = "failed"
    REPORT = "report"
    DATA_FIXED = "data_fixed"  # `tuneguard fix` cleaned this run's data
    NOTIFY_SENT = "notify_sent"
    NOTIFY_FAILED = "notify_failed"
    NOTIFY_STOPPED = "notify_stopped"  # a target that will not take messages again this run (LINE's monthly limit)
    TEST = "test"  # `tuneguard notify-test`; never recorded in a run
    # control_stop, control_pause, ...: one per control request (control.requests), not listed here.


# What a phone may be sent (notify.events chooses among them), in the order the config lists them.
NOTIFIABLE: tuple[Event, ...] = (Event.STARTED, Event.EVALUATION, Event.FINDING, Event.QA, Event.EARLY_STOP,
                                 Event.HALTED, Event.FINISHED, Event.FAILED, Event.PROGRESS, Event.STOPPED,
                                 Event.PAUSED, Event.RESUMED, Event.REPORT)

# Events trackers do not mirror: metrics already (evaluation, progress) or about delivery, not the run.
NOT_TRACKED: tuple[Event, ...] = (Event.EVALUATION, Event.PROGRESS, Event.NOTIFY_FAILED, Event.NOTIFY_SENT,
                                  Event.NOTIFY_STOPPED)


class NextStep(TypedDict):
    kind: str  # fix | then | next
    command: str


class StartedPayload(TypedDict, total=False):
    model: str
    task: str | None  # classification, extraction, rewriting, open
    task_source: str  # "inferred" or "data.task"
    train_rows: int
    eval_rows: int
    test_rows: int | None
    max_steps: int
    num_epochs: float
    learning_rate: float
    batch_size: int
    gradient_accumulation_steps: int
    lora_r: int
    lora_alpha: int
    max_length: int
    hyperparameters: dict[str, Any]
    run_dir: str


class ResumedPayload(StartedPayload, total=False):
    from_step: int
    checkpoint: str
    previous_state: str  # how the interrupted run ended, as `status` reads it (stopped, halted, failed)
    previous_step: int  # the last step it recorded
    killed: bool  # it ended without recording an end (SIGKILL, OOM kill, power): only this message says so


class EvaluationPayload(TypedDict, total=False):
    step: int
    max_steps: int
    epoch: float
    eval_loss: float
    train_loss: float | None  # the training loss since the previous evaluation
    best_eval_loss: float | None  # the best before this evaluation


class ProgressPayload(TypedDict, total=False):
    step: int
    max_steps: int
    epoch: float
    loss: float
    tokens_per_s: float
    eta_s: float


class FindingPayload(TypedDict, total=False):
    """A Finding as dict (tuneguard.findings.Finding.to_dict) and what the run did about it."""

    code: str
    severity: str
    step: int | None
    message: str
    evidence: dict[str, Any]
    recommendation: str
    action: str


class QAPayload(TypedDict, total=False):
    step: int
    samples: list[dict[str, Any]]  # {prompt, output, keyword_score}


class EndPayload(TypedDict, total=False):
    """finished, early_stop, stopped, halted: the run's summary at its end."""

    step: int
    max_steps: int
    best_eval_loss: float | None
    best_step: int | None
    test_metrics: dict[str, float]
    started: float | None  # when the run first started training (epoch seconds), over resumes
    duration_s: float | None  # wall time since then
    train_s: float | None  # training time summed over its processes (None: an older store lost some)
    processes: int  # the first `tuneguard train` and each resume
    adapter: str
    checkpoint: str | None
    reason: str | None  # early_stop, stopped
    requested_by: str | None  # stopped
    code: str | None  # halted: the finding that halted the run
    message: str | None
    finding: dict[str, Any] | None
    next_steps: list[NextStep]


class PausedPayload(TypedDict, total=False):
    step: int
    requested_by: str
    checkpoint: str  # the checkpoint written at the pause
    run_dir: str  # for the commands that continue or end it


class FailedPayload(TypedDict, total=False):
    step: int
    error: str
    traceback: str | list[str]


class ReportPayload(TypedDict, total=False):
    path: str
    verdict: str
    summary: str | list[str]
    criteria: list[dict[str, str]]  # {name, status} of each success criterion
    diagnosis: dict[str, Any]  # tuneguard.diagnosis.Diagnosis.to_dict()
    next_steps: list[NextStep]


PAYLOADS: dict[Event, type] = {
    Event.STARTED: StartedPayload, Event.RESUMED: ResumedPayload, Event.EVALUATION: EvaluationPayload,
    Event.PROGRESS: ProgressPayload, Event.FINDING: FindingPayload, Event.QA: QAPayload,
    Event.EARLY_STOP: EndPayload, Event.HALTED: EndPayload, Event.STOPPED: EndPayload, Event.FINISHED: EndPayload,
    Event.FAILED: FailedPayload, Event.REPORT: ReportPayload, Event.PAUSED: PausedPayload,
}


def next_step_lines(steps: Any, language: str = "en") -> list[str]:
    """A halted run's next commands (its halted event's `next_steps`) as its halted message says
    them ("Fix the data: tuneguard fix ...", "Then the next run: tuneguard next ... --train"), for
    the terminal that ran it and for `status`; malformed entries are left out."""
    from tuneguard.catalog.events import LINES  # the notification's own words (rendered with str.format)

    words = {kind: LINES[f"next_{'run' if kind == 'next' else kind}"] for kind in ("fix", "then", "next")}
    return [(words[s["kind"]].get(language) or words[s["kind"]]["en"]).format(v=s["command"])
            for s in steps or [] if isinstance(s, dict) and s.get("kind") in words and isinstance(s.get("command"), str)]
