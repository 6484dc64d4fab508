"""One optimizer step as the guards read it, and where a resumed run finds every step again.

The recorder that produces these is tuneguard.train.steps; the guards and the since-evaluation
loss read them (tuneguard.guard.callbacks, tuneguard.guard.train_loss), also on resume and after
a rollback (`replay_history`). The run store keeps every step (its `steps` table, written at
each log by tuneguard.train.metrics), and the Trainer's log history keeps only its latest
training logs and every evaluation: a history of every step, rewritten into each checkpoint's
trainer_state.json, grew to 19 MB at 100,000 steps and made each save slower than the last.
Runs without a store, and checkpoints written before, carry the steps in the log history
itself, each log entry under `tuneguard_steps`; those are read as they are.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuneguard.store.run_store import RunStore

log = logging.getLogger(__name__)

STEPS_KEY = "tuneguard_steps"  # per-step records kept in the Trainer's log history (resume, rollback)


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """One optimizer step: its loss (token average over the global batch), the gradient norm
    before clipping, and the supervised tokens of the global batch (None when not counted)."""

    step: int
    loss: float | None
    grad_norm: float | None = None
    tokens: int | None = None

    def as_list(self) -> list[Any]:
        return [self.step, self.loss, self.grad_norm, self.tokens]

    @classmethod
    def from_list(cls, v: list[Any]) -> "StepRecord":
        step, loss, grad, tokens = (list(v) + [None] * 4)[:4]
        return cls(int(step), None if loss is None else float(loss), None if grad is None else float(grad),
                   None if tokens is None else int(tokens))


def records_in(entry: dict[str, Any]) -> list[StepRecord] | None:
    """The per-step records a log-history entry carries (None when it has none)."""
    raw = entry.get(STEPS_KEY)
    if not isinstance(raw, list):
        return None
    try:
        return [StepRecord.from_list(v) for v in raw]
    except (TypeError, ValueError):
        return None


def _stored_steps(store: RunStore | None, run_dir: str | os.PathLike[str] | None,
                  up_to: int) -> list[tuple[int, bool, list[Any]]]:
    """The store's per-step records up to `up_to`: through `store` (the writing process), else
    read from RUN_DIR/run.db (the other processes of a multi-process run); none without one."""
    if store is not None:
        return store.step_records(up_to)
    if run_dir is None:
        return []
    from tuneguard.store.run_store import RunStore

    try:
        with RunStore(run_dir, readonly=True) as reader:
            return reader.step_records(up_to)
    except (FileNotFoundError, OSError, ValueError) as exc:
        log.debug("no per-step records in the run store of %s: %s", run_dir, exc)
        return []


def _is_train_log(entry: dict[str, Any]) -> bool:
    return "loss" in entry and "eval_loss" not in entry


def replay_history(log_history: list[dict[str, Any]], up_to: int, store: RunStore | None = None,
                   run_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The log entries a run resumed at step `up_to` replays, in the order they were logged:
    the Trainer's log history (evaluations, the latest training logs) with each log's per-step
    records under `tuneguard_steps`, and the training logs the history no longer holds rebuilt
    from the store's records. Entries that carry their own records (older checkpoints) keep them."""
    grouped: dict[tuple[int, bool], list[list[Any]]] = {}
    for log_step, at_eval, rec in _stored_steps(store, run_dir, up_to):
        grouped.setdefault((log_step, at_eval), []).append(rec)
    if not grouped:
        return [e for e in log_history if int(e.get("step", 0)) <= up_to]
    entries: list[dict[str, Any]] = []
    for e in log_history:
        step = int(e.get("step", 0))
        if step > up_to:
            continue
        if STEPS_KEY not in e and ("loss" in e or "eval_loss" in e):
            recs = grouped.pop((step, not _is_train_log(e)), None)
            e = {**e, STEPS_KEY: recs} if recs else e
        elif STEPS_KEY in e:
            grouped.pop((step, not _is_train_log(e)), None)
        entries.append(e)
    for (log_step, at_eval), recs in grouped.items():
        entry: dict[str, Any] = {"step": log_step, STEPS_KEY: recs}
        if not at_eval:
            entry["loss"] = recs[-1][1]
        entries.append(entry)
    # A step's training log came before its evaluation (the Trainer logs, then evaluates).
    entries.sort(key=lambda e: (int(e.get("step", 0)), 0 if _is_train_log(e) else 1))
    return entries
