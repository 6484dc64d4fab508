"""The run's notifier: events in, messages out, without ever slowing the training loop.

`notify()` only appends to a bounded in-memory queue and returns; one daemon thread
renders, sends (timeouts, retries on 429/5xx) and records the outcome in the run store
(`notify_sent`, `notify_failed`, `notify_dropped`). When the queue is full the oldest
pending progress message goes first, otherwise the new message is dropped: a stuck
endpoint must cost memory and messages, never training time. `close()` flushes what it
can within a time limit and records what it could not.

All store writes happen on the notifier's thread with its own SQLite connection (the
store is "one connection per thread"), except the final accounting in `close()`, which
runs on the caller's thread with the caller's store.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tuneguard.catalog import Spec, T
from tuneguard.config.schema import NotifyConfig
from tuneguard.notify.delivery import Delivery, SendResult, Target, skip_reason
from tuneguard.notify.messages import Message, fit, late_line, render, truncation_marker
from tuneguard.notify.secrets import Scrubber, ScrubFilter
from tuneguard.store.run_store import RunStore
from tuneguard.events import Event

log = logging.getLogger(__name__)

NOTIFIED_SEVERITIES = ("warning", "error")
# After this many network failures in a row a target is skipped for a while, so a dead
# endpoint does not hold every later message (and every other target) for its timeout.
BREAKER_FAILURES = 3
BREAKER_COOLDOWN_S = 60.0
# Periodic snapshots a later one supersedes: not re-sent after an outage. Everything else (a
# finding, a halt, the end of the run) is sent late rather than never.
SUPERSEDED = frozenset({"progress", "evaluation", "qa"})
# An evaluation may take the periodic slot after this share of the wait, a progress message only
# after all of it: progress is logged at every step, so with one clock for both the slot would
# nearly always go to a progress message, and an evaluation says more (validation loss, best).
EVALUATION_SHARE = 0.75
MISSED_TOO_MANY = "missed during an outage, too many to re-send"  # why a missed message was dropped
# Each reason a message is dropped for, and the catalog text that says it in the report's language.
DROPPED_TEXT = {"queue full": "notify.dropped.queue", "flush time limit": "notify.dropped.flush",
                MISSED_TOO_MANY: "notify.dropped.missed"}


@dataclasses.dataclass
class _Pending:
    event: str
    payload: dict[str, Any]
    step: int | None
    only: int | None = None  # a re-send after an outage: to this target alone


@dataclasses.dataclass
class _Health:
    """Consecutive network failures of one target and until when it is skipped; the messages
    it missed while unreachable, re-sent when it answers again."""

    failures: int = 0
    down_until: float = 0.0
    missed: list[_Pending] = dataclasses.field(default_factory=list)
    last_reason: str = ""
    failing: bool = False  # warn once per outage, not once per message
    stopped: str = ""  # why the target gets no more messages this run (its monthly limit is reached)


class Notifier:
    """Sends run events to the configured apprise URLs from a background thread.

    `cfg` must already have `${VAR}` references resolved; `secrets` are scrubbed from
    everything recorded or logged (the URLs' own secrets are always added). With no
    URLs the notifier is inert: no thread, no apprise. Safe to call from any thread;
    no method raises into the caller.
    """

    def __init__(self, cfg: NotifyConfig, store: RunStore | None, secrets: list[str], *,
                 run_name: str | None = None, backoff_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self._cfg = cfg
        self._events = frozenset(cfg.events)
        self._store = store
        self._run_name = run_name or (Path(store.run_dir).resolve().name if store is not None else "tuneguard")
        self._backoff_s = backoff_s
        self._clock = clock
        self._scrub = Scrubber(secrets, cfg.urls)
        self._cond = threading.Condition()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._dropped: collections.Counter[tuple[str, str]] = collections.Counter()
        self._max_pending = 0  # the backlog's high-water mark, recorded at close
        self._dropped_total = 0
        self._wake = threading.Event()
        self._closing = False
        self._deadline: float | None = None
        # Periodic messages (progress, evaluation): the last one's time and the wait before the next,
        # doubled after each up to notify.periodic_max_s (see `_periodic_due`).
        self._last_periodic = clock()
        self._periodic_gap = cfg.progress_interval_s
        self._evaluations = 0  # evaluations offered through maybe_evaluation
        self._skipped_eval_step: int | None = None  # the step of the latest evaluation not sent
        self._health: dict[int, _Health] = {}
        self._delivery: Delivery | None = None
        self._thread: threading.Thread | None = None
        self._close_result: bool | None = None
        self._ending = False
        self._log_filter: ScrubFilter | None = None
        if not cfg.urls:
            return
        self._log_filter = ScrubFilter(self._scrub)
        self._log_filter.install()
        try:
            self._delivery = Delivery(cfg.urls, timeout_s=cfg.timeout_s, scrub=self._scrub)
        except Exception as exc:  # noqa: BLE001 - notifications are optional; training is not
            log.warning("notifications disabled: apprise could not be set up: %s", self._scrub(exc))
            self._log_filter.remove()
            return
        for bad in self._delivery.invalid:
            log.warning("notification URL %s is skipped: %s", bad.label, skip_reason(bad))
        self._health = {t.index: _Health() for t in self._delivery.targets}
        self._thread = threading.Thread(target=self._run, name="tuneguard-notifier", daemon=True)
        self._thread.start()

    # -- caller side (must stay cheap) -------------------------------------------------
    @property
    def enabled(self) -> bool:
        """True when there is at least one URL to send to."""
        return self._thread is not None

    def wants(self, event: str) -> bool:
        return self.enabled and event in self._events

    def notify(self, event: str, payload: Mapping[str, Any] | Any | None = None, step: int | None = None) -> None:
        """Queue one event for sending; returns at once and never raises."""
        try:
            if not self.wants(event):
                return
            if payload is not None and hasattr(payload, "to_dict"):
                payload = payload.to_dict()  # a Finding
            data = dict(payload or {})
            if event == "finding" and data.get("severity") not in NOTIFIED_SEVERITIES:
                return
            if event == "qa" and step is not None and step == self._skipped_eval_step:
                return  # its evaluation was not sent (maybe_evaluation): the samples go with it
            if step is None and isinstance(data.get("step"), int):
                step = data["step"]
            # The event's plain name ("started"): an Event member would print as <Event.STARTED: 'started'>.
            self._enqueue(_Pending(str(event), data, step))
        except Exception:  # noqa: BLE001 - the trainer must never see a notifier error
            log.debug("notify(%s) failed to queue", event, exc_info=True)

    def maybe_progress(self, payload: Mapping[str, Any], step: int | None = None) -> bool:
        """Queue a progress message if the periodic wait has passed since the last periodic
        message (progress or evaluation).

        Call it as often as you like (every logged step); returns whether it queued.
        """
        if not self.wants(Event.PROGRESS) or not self._periodic_due():
            return False
        self.notify(Event.PROGRESS, payload, step)
        return True

    def maybe_evaluation(self, payload: Mapping[str, Any], step: int | None = None) -> bool:
        """Queue an evaluation message if it is the run's first evaluation, the periodic wait
        has passed, or notify.every_evaluation is set; returns whether it queued. An evaluation
        not sent takes its QA samples (the `qa` event of the same step) with it.

        Why a wait: a GPT-J run evaluating every 500 steps of 0.2-3 s evaluates every 2-25
        minutes for days, hundreds of messages that would use up a LINE plan's monthly quota
        (200-300) before a halt needs it. The store and the report keep every evaluation."""
        if not self.wants(Event.EVALUATION):
            return False
        self._evaluations += 1
        if self._cfg.every_evaluation or self._evaluations == 1:
            self._periodic_due(force=True)
        elif not self._periodic_due(EVALUATION_SHARE):
            self._skipped_eval_step = step
            log.debug("evaluation at step %s not sent: the periodic wait has not passed", step)
            return False
        self.notify(Event.EVALUATION, payload, step)
        return True

    def _periodic_due(self, share: float = 1.0, force: bool = False) -> bool:
        """Whether `share` of the periodic wait has passed (or `force`); if so, starts the next,
        longer one."""
        now = self._clock()
        if not force and now - self._last_periodic < share * self._periodic_gap:
            return False
        self._last_periodic = now
        self._periodic_gap = min(self._periodic_gap * 2, max(self._cfg.periodic_max_s, self._cfg.progress_interval_s))
        return True

    def _enqueue(self, item: _Pending) -> None:
        with self._cond:
            if self._closing:
                log.debug("notifier closed; %s not sent", item.event)
                return
            if item.event == "progress":
                # Coalesce: only the newest pending progress is worth sending.
                for old in [p for p in self._queue if p.event == "progress"]:
                    self._queue.remove(old)
            if len(self._queue) >= self._cfg.queue_size:
                oldest_progress = next((p for p in self._queue if p.event == "progress"), None)
                if oldest_progress is not None:
                    self._queue.remove(oldest_progress)
                    self._dropped[("progress", "queue full")] += 1
                else:
                    self._dropped[(item.event, "queue full")] += 1
                    self._cond.notify()
                    return
            self._queue.append(item)
            self._max_pending = max(self._max_pending, len(self._queue))
            self._cond.notify()

    # -- shutdown ----------------------------------------------------------------------
    def ending(self) -> None:
        """The run is ending (its last messages follow): a target whose last attempt found no
        network path is no longer tried, so that the end of the run does not wait for its
        timeout; what is skipped is recorded as `notify_failed`."""
        self._ending = True

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued within `timeout` seconds (default: flush_timeout_s).

        Returns True when everything queued was handled. What is left is recorded as
        `notify_dropped` (reason "flush time limit"); a send still in flight finishes
        (or times out) on the daemon thread and records itself if the process lives.
        """
        if self._thread is None:
            return True
        if self._close_result is not None:  # closed already (the recipe closes before its last line)
            return self._close_result
        limit = self._cfg.flush_timeout_s if timeout is None else max(0.0, float(timeout))
        with self._cond:
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + limit
            deadline = self._deadline or time.monotonic()
            self._cond.notify_all()
        self._wake.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            left = list(self._queue)
            self._queue.clear()
            dropped = self._take_dropped()
            self._dropped_total += len(left)
        for item in left:
            dropped[(item.event, "flush time limit")] += 1
        self._record_dropped(self._store, dropped)
        if self._store is not None:
            try:
                self._store.set_meta(notify_backlog=self.backlog)
            except Exception as exc:  # noqa: BLE001 - recording is best effort, never fatal
                log.warning("could not record the notification backlog: %s", self._scrub(exc))
        finished = not self._thread.is_alive()
        if left or not finished:
            log.warning("notifications: %d message(s) not sent within the %.0f s flush limit",
                        len(left) + (0 if finished else 1), limit)
        self._close_result = finished and not left
        return self._close_result

    def __enter__(self) -> "Notifier":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- worker side -------------------------------------------------------------------
    def _take_dropped(self) -> collections.Counter[tuple[str, str]]:
        taken, self._dropped = self._dropped, collections.Counter()
        self._dropped_total += sum(taken.values())
        return taken

    @property
    def backlog(self) -> dict[str, int]:
        """Messages waiting now, the most that ever waited, the bound, and how many were
        dropped so far: the evidence that a slow endpoint costs messages, not memory."""
        with self._cond:
            return {"pending": len(self._queue), "max_pending": self._max_pending,
                    "queue_size": self._cfg.queue_size,
                    "dropped": self._dropped_total + sum(self._dropped.values())}

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _run(self) -> None:
        store = self._open_store()
        try:
            assert self._delivery is not None
            for bad in self._delivery.invalid:
                self._record(store, "notify_failed", {
                    "event": None, "target": bad.label, "reason": f"{skip_reason(bad)}; it is skipped"},
                    text=T("notify.no_recipient", target=bad.label, form=bad.form) if bad.form
                    else T("notify.invalid_url", target=bad.label))
            while True:
                with self._cond:
                    while not self._queue and not self._dropped and not self._closing:
                        self._cond.wait()
                    dropped = self._take_dropped()
                    stop = self._closing and (not self._queue or self._past_deadline())
                    item = None if stop or not self._queue else self._queue.popleft()
                self._record_dropped(store, dropped)
                if stop:
                    return
                if item is not None:
                    self._deliver(store, item)
        except Exception:  # noqa: BLE001 - a dead notifier thread must not go unnoticed
            log.warning("the notifier thread stopped after an unexpected error", exc_info=True)
        finally:
            if self._log_filter is not None:
                self._log_filter.remove()
            if store is not None and store is not self._store:
                store.close()

    def _open_store(self) -> RunStore | None:
        if self._store is None:
            return None
        try:
            return RunStore(self._store.run_dir)
        except Exception:  # noqa: BLE001 - fall back to the caller's connection
            log.debug("notifier could not open its own store connection", exc_info=True)
            return self._store

    def _sleep(self, seconds: float) -> bool:
        """Wait between retries; False when the flush limit would pass before the wait ends."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= end:
                return True
            deadline = self._deadline
            if deadline is not None:
                if end > deadline:
                    return False
                time.sleep(end - now)
                return True
            self._wake.wait(end - now)

    def _messages(self, item: _Pending, target: Target, cache: dict[int, list[Message]]) -> list[Message]:
        if target.limit not in cache:
            lang = self._cfg.language
            msg = render(item.event, item.payload, language=lang, run_name=self._run_name)
            if item.only is not None:  # a re-send after an outage: the reader learns it is late
                msg = Message(msg.title, f"{late_line(lang)}\n{msg.body}")
            msg = Message(self._scrub(msg.title), self._scrub(msg.body))
            cache[target.limit] = fit(msg, limit=target.limit, marker=truncation_marker(lang))
        return cache[target.limit]

    def _deliver(self, store: RunStore | None, item: _Pending) -> None:
        assert self._delivery is not None
        cache: dict[int, list[Message]] = {}
        for target in self._delivery.targets:
            if item.only is not None and item.only != target.index:
                continue
            health = self._health[target.index]
            if health.stopped:  # said once, when it stopped; every later message would fail the same way
                continue
            now = time.monotonic()
            if (self._ending or self._closing) and health.failures:
                # The run is over and this target's last attempt found no network path to it:
                # do not hold the process for another timeout (the user waits for the prompt).
                self._record(store, "notify_failed", {
                    "event": item.event, "target": target.label, "status": None, "attempts": 0,
                    "reason": f"skipped at the end of the run: unreachable (last: {health.last_reason})"}, item.step,
                    T("notify.skipped_end", event=item.event, target=target.label, last=health.last_reason))
                continue
            if health.down_until > now:
                wait = f"{health.down_until - now:.0f}"
                self._record(store, "notify_failed", {
                    "event": item.event, "target": target.label, "status": None, "attempts": 0,
                    "reason": f"skipped: {health.failures} failures in a row (last: {health.last_reason}); "
                              f"next try in {wait} s"}, item.step,
                    T("notify.skipped_down", event=item.event, target=target.label, failures=health.failures,
                      last=health.last_reason, wait=wait,
                      then=T("notify.superseded" if item.event in SUPERSEDED else "notify.resend")))
                self._miss(health, item)
                continue
            try:
                parts = self._messages(item, target, cache)
            except Exception as exc:  # noqa: BLE001 - a payload we cannot render is recorded, not raised
                error = f"{type(exc).__name__}: {exc}"
                self._record(store, "notify_failed", {
                    "event": item.event, "target": target.label, "status": None, "attempts": 0,
                    "reason": self._scrub(f"could not render the message: {error}")},
                    item.step, T("notify.render_failed", event=item.event, target=target.label, error=error))
                continue
            res: SendResult | None = None
            for part in parts:
                res = self._delivery.send(target, part, retries=self._cfg.retries, backoff_s=self._backoff_s,
                                          sleep=self._sleep)
                if not res.ok:
                    break
            assert res is not None
            self._account(store, item, target, res, len(parts))

    def _account(self, store: RunStore | None, item: _Pending, target: Target, res: SendResult, parts: int) -> None:
        health = self._health[target.index]
        if res.ok:
            if health.failing:
                log.info("notifications to %s work again; re-sending %d message(s) it missed",
                         target.label, len(health.missed))
                self._resend(health, target.index)
            health.failures, health.down_until, health.failing = 0, 0.0, False
            self._record(store, "notify_sent", {"event": item.event, "scheme": target.scheme}, item.step)
            return
        if res.exhausted:
            self._stop(store, item, target, res)
            return
        first = not health.failing
        health.failing = True
        if res.network_failure:
            health.failures += 1
            health.last_reason = res.reason
            if health.failures >= BREAKER_FAILURES:
                health.down_until = time.monotonic() + BREAKER_COOLDOWN_S
            self._miss(health, item)
        else:
            health.failures = 0
        (log.warning if first else log.debug)(
            "notification %s to %s failed after %d attempt(s): %s", item.event, target.label, res.attempts, res.reason)
        self._record_failed(store, item, target, res)

    def _stop(self, store: RunStore | None, item: _Pending, target: Target, res: SendResult) -> None:
        """A target whose monthly message limit is reached gets nothing more this run: LINE
        refuses every push until the month ends, so retrying would only hold the other
        channels' messages. Said once (log, `notify_stopped` for status and the report)."""
        health = self._health[target.index]
        health.stopped, health.missed = res.reason, []
        service = "LINE" if target.scheme == "line" else target.scheme
        log.warning("%s notifications to %s stopped for this run: %s; the other channels still get messages",
                    service, target.label, res.reason)
        self._record_failed(store, item, target, res)
        self._record(store, "notify_stopped", {"event": item.event, "target": target.label, "scheme": target.scheme,
                                               "reason": res.reason}, item.step,
                     T("notify.stopped", service=service, target=target.label, reason=res.reason))

    def _miss(self, health: _Health, item: _Pending) -> None:
        """Keep a message an unreachable target did not get, to send when it answers again
        (at most queue_size of them: the oldest beyond that is dropped and recorded)."""
        if item.event in SUPERSEDED:
            return
        health.missed.append(item)
        if len(health.missed) > self._cfg.queue_size:
            lost = health.missed.pop(0)
            with self._cond:
                self._dropped[(lost.event, MISSED_TOO_MANY)] += 1

    def _resend(self, health: _Health, index: int) -> None:
        """Put the messages a target missed at the front of the queue, oldest first, for it
        alone, as many as the queue's bound leaves room for (the rest recorded as dropped)."""
        missed, health.missed = health.missed, []
        with self._cond:
            cut = max(0, len(missed) - max(0, self._cfg.queue_size - len(self._queue)))
            for lost in missed[:cut]:
                self._dropped[(lost.event, MISSED_TOO_MANY)] += 1
            for item in reversed(missed[cut:]):
                self._queue.appendleft(dataclasses.replace(item, only=index))
            self._max_pending = max(self._max_pending, len(self._queue))

    # -- recording ---------------------------------------------------------------------
    def _record_failed(self, store: RunStore | None, item: _Pending, target: Target, res: SendResult) -> None:
        self._record(store, "notify_failed", {
            "event": item.event, "target": target.label, "status": res.status, "attempts": res.attempts,
            "reason": res.reason}, item.step,
            T("notify.failed", event=item.event, target=target.label, attempts=res.attempts, reason=res.reason))

    def _record_dropped(self, store: RunStore | None, dropped: collections.Counter[tuple[str, str]]) -> None:
        for (event, reason), count in sorted(dropped.items()):
            text = T(DROPPED_TEXT[reason], event=event, count=count) if reason in DROPPED_TEXT else None
            self._record(store, "notify_dropped", {"event": event, "count": count, "reason": reason}, text=text)

    def _record(self, store: RunStore | None, type_: str, payload: dict[str, Any], step: int | None = None,
                text: Spec | None = None) -> None:
        """Record a delivery event; `text` (a catalog spec, its strings scrubbed like the payload's)
        says it in the report's language."""
        if store is None:
            return
        clean = {k: self._scrub(v) if isinstance(v, str) else v for k, v in payload.items()}
        if text is not None:
            clean["text"] = self._scrub_all(text)
        try:
            store.add_event(type_, clean, step)
        except Exception as exc:  # noqa: BLE001 - recording is best effort, never fatal
            log.warning("could not record %s in the run store: %s", type_, self._scrub(exc))

    def _scrub_all(self, value: Any) -> Any:
        """Every parameter of a spec scrubbed, nested specs too (an error's text may quote a URL
        with its token); the catalog keys stay as they are (a secret may be a common word)."""
        if isinstance(value, str):
            return self._scrub(value)
        if isinstance(value, Mapping):
            return {k: v if k in ("key", "join") else self._scrub_all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub_all(v) for v in value]
        return value
