"""Send what tuneguard saw (audit findings, guard findings, control and end-of-run events)
to the experiment trackers the Trainer already reports to (`train.report_to`).

The Trainer's own integrations log the metrics; people then look at a loss curve in
TensorBoard or MLflow without the reason tuneguard found for its shape. `TrackerCallback`
puts the reason next to the curve:

- TensorBoard: text summaries `tuneguard/audit`, `tuneguard/findings`, `tuneguard/events`
  at the step they happened, and scalar markers `tuneguard/finding` (severity: 1 info,
  2 warning, 3 error) and `tuneguard/finding/<CODE>`, so a finding is a visible point on
  the timeline. The event files go to RUN_DIR/tensorboard unless TENSORBOARD_LOGGING_DIR
  says otherwise.
- MLflow: tags `tuneguard.state`, `tuneguard.findings` (codes), `tuneguard.finding.<CODE>`
  (severity), `tuneguard.halt`, audit counts; params `tuneguard.run_dir`, `tuneguard.model`,
  `tuneguard.world_size`; the metric `tuneguard.finding_severity` at each finding's step;
  text artifacts `tuneguard/findings.json`, `tuneguard/findings.md`, `tuneguard/events.json`.
- Weights & Biases: the findings in the run summary and an alert per warning or error.

The run store is the single record of a run, so this callback mirrors it: at every log,
evaluation and at the end it sends the findings and events added since the last time. It
writes through the integrations' own handles (TensorBoardCallback's `tb_writer`, MLflow's
active run, `wandb.run`), found by `attach(trainer)`; after the Trainer has closed them (the
final "finished"/"halted" events come after training) it reopens the same log directory or
writes to the same MLflow run by id. Only the main process has trackers and a store.

A tracker failure is logged once and never stops or slows training.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from tuneguard.events import NOT_TRACKED
from tuneguard.findings import Finding, when_text

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)

SEVERITY_LEVEL = {"info": 1, "warning": 2, "error": 3}
SKIPPED_EVENTS = tuple(e.value for e in NOT_TRACKED)
# What tuneguard's MetricsCallback adds to a training log after the integrations have sent it.
TUNEGUARD_METRICS = ("tokens_per_s", "step_time_s", "eta_s", "mem_allocated_gb", "mem_reserved_gb", "mem_peak_gb",
                     "rss_gb")
_MAX_EVIDENCE = 2000


def finding_markdown(f: Finding, scrub: Any = str) -> str:
    """One finding as a short Markdown block (TensorBoard renders text summaries as Markdown)."""
    where = when_text(f) or "audit"
    evidence = json.dumps(f.evidence, ensure_ascii=False, default=str)
    if len(evidence) > _MAX_EVIDENCE:
        evidence = evidence[:_MAX_EVIDENCE] + " ..."
    lines = [f"**{f.severity.upper()} {f.code}** ({where}, {f.source}): {f.message}"]
    if f.recommendation:
        lines.append(f"\n*Recommendation:* {f.recommendation}")
    lines.append(f"\n*Evidence:* `{evidence}`")
    return scrub("\n".join(lines))


def event_markdown(ev: dict[str, Any], scrub: Any = str) -> str:
    payload = {k: v for k, v in (ev.get("payload") or {}).items() if k not in ("traceback",)}
    keys = ("code", "message", "reason", "requested_by", "note", "status", "checkpoint", "error", "verdict",
            "from_step", "best_eval_loss")
    parts = [f"{k}: {payload[k]}" for k in keys if payload.get(k) not in (None, "", [])]
    step = ev.get("step")
    return scrub(f"**{ev['type']}**" + (f" at step {step}" if step is not None else "") +
                 (" — " + "; ".join(parts) if parts else ""))


class _Sink:
    """One tracker: `bind` after the integration started, then findings and events."""

    name = "tracker"

    def bind(self, args: Any, state: Any) -> bool:
        return True

    def begin(self, ctx: RunContext, audit: list[Finding]) -> None: ...

    def findings(self, found: list[Finding], all_findings: list[Finding]) -> None: ...

    def events(self, events: list[dict[str, Any]], all_events: list[dict[str, Any]]) -> None: ...

    def end(self, state: str | None, halt: Finding | None) -> None: ...

    def metrics(self, step: int, values: dict[str, float]) -> None: ...


class _TensorBoardSink(_Sink):
    name = "tensorboard"

    def __init__(self, callback: Any, scrub: Any):
        self.cb = callback
        self.scrub = scrub
        self.writer: Any = None

    def bind(self, args: Any, state: Any) -> bool:
        self.writer = self.cb.tb_writer
        return self.writer is not None

    def begin(self, ctx: RunContext, audit: list[Finding]) -> None:
        w = self.writer
        counts = {sev: sum(1 for f in audit if f.severity == sev) for sev in SEVERITY_LEVEL}
        if audit:
            w.add_text("tuneguard/audit", "\n\n---\n\n".join(finding_markdown(f, self.scrub) for f in audit), 0)
        else:
            w.add_text("tuneguard/audit", "The data audit found nothing.", 0)
        w.add_scalar("tuneguard/audit_errors", counts["error"], 0)
        w.add_scalar("tuneguard/audit_warnings", counts["warning"], 0)
        w.flush()

    def findings(self, found: list[Finding], all_findings: list[Finding]) -> None:
        w = self.writer
        for f in found:
            step = f.step or 0
            level = SEVERITY_LEVEL.get(f.severity, 1)
            w.add_text("tuneguard/findings", finding_markdown(f, self.scrub), step)
            w.add_scalar("tuneguard/finding", level, step)
            w.add_scalar(f"tuneguard/finding/{f.code}", level, step)
        w.flush()

    def events(self, events: list[dict[str, Any]], all_events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.writer.add_text("tuneguard/events", event_markdown(ev, self.scrub), ev.get("step") or 0)
        self.writer.flush()

    def metrics(self, step: int, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.writer.add_scalar(f"tuneguard/{k}", v, step)

    def end(self, state: str | None, halt: Finding | None) -> None:
        # The Trainer's callback closed the writer at on_train_end; a closed torch
        # SummaryWriter reopens an event file in the same directory on its next write.
        self.writer.flush()
        self.writer.close()


class _MlflowSink(_Sink):
    name = "mlflow"

    def __init__(self, scrub: Any):
        import mlflow

        self.mlflow = mlflow
        self.scrub = scrub
        self.client: Any = None
        self.run_id: str | None = None

    def bind(self, args: Any, state: Any) -> bool:
        run = self.mlflow.active_run()
        if run is None:
            return False
        self.run_id = run.info.run_id
        self.client = self.mlflow.MlflowClient(tracking_uri=self.mlflow.get_tracking_uri())
        return True

    def _json(self, obj: Any, path: str) -> None:
        self.client.log_text(self.run_id, self.scrub(json.dumps(obj, ensure_ascii=False, indent=1, default=str)), path)

    def begin(self, ctx: RunContext, audit: list[Finding]) -> None:
        c, rid = self.client, self.run_id
        for key, value in (("tuneguard.run_dir", str(ctx.run_dir)), ("tuneguard.model", ctx.cfg.model.name),
                           ("tuneguard.world_size", ctx.world_size)):
            try:
                c.log_param(rid, key, value)
            except Exception:
                log.debug("mlflow param %s not logged", key, exc_info=True)
        counts = {sev: sum(1 for f in audit if f.severity == sev) for sev in SEVERITY_LEVEL}
        c.set_tag(rid, "tuneguard.audit.errors", counts["error"])
        c.set_tag(rid, "tuneguard.audit.warnings", counts["warning"])
        c.set_tag(rid, "tuneguard.audit.codes", ",".join(sorted({f.code for f in audit})) or "-")
        self._json([f.to_dict() for f in audit], "tuneguard/audit.json")

    def findings(self, found: list[Finding], all_findings: list[Finding]) -> None:
        c, rid = self.client, self.run_id
        for f in found:
            c.log_metric(rid, "tuneguard.finding_severity", SEVERITY_LEVEL.get(f.severity, 1), step=f.step or 0)
            c.set_tag(rid, f"tuneguard.finding.{f.code}", f.severity)
        c.set_tag(rid, "tuneguard.findings", ",".join(dict.fromkeys(f.code for f in all_findings)) or "-")
        self._json([f.to_dict() for f in all_findings], "tuneguard/findings.json")
        c.log_text(rid, "\n\n".join(finding_markdown(f, self.scrub) for f in all_findings) + "\n",
                   "tuneguard/findings.md")

    def events(self, events: list[dict[str, Any]], all_events: list[dict[str, Any]]) -> None:
        self._json(all_events, "tuneguard/events.json")

    def metrics(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(f"tuneguard.{k}", v, now, step) for k, v in values.items()])

    def end(self, state: str | None, halt: Finding | None) -> None:
        if state:
            self.client.set_tag(self.run_id, "tuneguard.state", state)
        if halt is not None:
            self.client.set_tag(self.run_id, "tuneguard.halt", f"{halt.code}: {halt.message}"[:500])


class _WandbSink(_Sink):
    name = "wandb"

    def __init__(self, scrub: Any):
        import wandb

        self.wandb = wandb
        self.scrub = scrub
        self.run: Any = None

    def bind(self, args: Any, state: Any) -> bool:
        self.run = self.wandb.run
        return self.run is not None

    def findings(self, found: list[Finding], all_findings: list[Finding]) -> None:
        self.run.summary["tuneguard/findings"] = [f"{f.severity} {f.code} @ {f.step}" for f in all_findings]
        for f in found:
            if f.severity in ("warning", "error"):
                level = self.wandb.AlertLevel.ERROR if f.severity == "error" else self.wandb.AlertLevel.WARN
                self.wandb.alert(title=f"tuneguard {f.code}", text=self.scrub(f.message), level=level)

    def begin(self, ctx: RunContext, audit: list[Finding]) -> None:
        self.run.summary["tuneguard/audit"] = [f"{f.severity} {f.code}" for f in audit]

    def end(self, state: str | None, halt: Finding | None) -> None:
        if state:
            self.run.summary["tuneguard/state"] = state


class TrackerCallback(TrainerCallback):
    """Mirrors the run store's findings and events into the Trainer's active trackers.

    Add it after the guard callbacks (so a finding recorded in an `on_log` is sent in the
    same `on_log`), then call `attach(trainer)` once the Trainer exists.
    """

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.sinks: list[_Sink] = []
        self._pending: list[_Sink] = []
        self._sent_findings = 0
        self._last_event_id = 0
        self._began = False
        self._closed = False
        self._failed: set[str] = set()
        self._step = 0

    @property
    def store(self) -> Any:
        return self.ctx.store if self.ctx.is_main else None

    def attach(self, trainer: Any) -> list[str]:
        """Find the Trainer's tracker integrations; returns the names of those found."""
        if self.store is None:
            return []
        names = {type(cb).__name__: cb for cb in trainer.callback_handler.callbacks}
        scrub = self.ctx.scrub
        if "TensorBoardCallback" in names:
            tb = names["TensorBoardCallback"]
            if getattr(tb, "logging_dir", None) is None and getattr(tb, "tb_writer", None) is None:
                tb.logging_dir = str(Path(self.ctx.run_dir) / "tensorboard")  # in the run dir, not checkpoints/
            self._pending.append(_TensorBoardSink(tb, scrub))
        for cls_name, sink_cls in (("MLflowCallback", _MlflowSink), ("WandbCallback", _WandbSink)):
            if cls_name in names:
                try:
                    self._pending.append(sink_cls(scrub))
                except ImportError:
                    log.warning("%s is in train.report_to but its package is missing", sink_cls.name)
        # Events of an earlier process of this run (before --resume) went to that run's trackers.
        events = self.store.events()
        self._last_event_id = events[-1]["id"] if events else 0
        return [s.name for s in self._pending]

    # -- Trainer events ---------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        if self.store is None or not state.is_world_process_zero:
            return
        # The integrations come first in the callback list: their writers/runs exist now.
        for sink in self._pending:
            if self._call(sink, "bind", args, state):
                self.sinks.append(sink)
        self._pending = []
        found = self.store.findings()
        audit = [f for f in found if f.source == "audit"]
        for sink in self.sinks:
            self._call(sink, "begin", self.ctx, audit)
        # Guard findings of an earlier process of this run (before --resume) went to its trackers.
        self._sent_findings = len(found)
        self._began = True
        self.sync()

    def on_log(self, args, state, control, logs=None, **kwargs):
        self._step = state.global_step
        if self.sinks and logs and "loss" in logs:
            values = {k: float(logs[k]) for k in TUNEGUARD_METRICS
                      if isinstance(logs.get(k), (int, float)) and math.isfinite(logs[k])}
            if values:
                for sink in self.sinks:
                    self._call(sink, "metrics", state.global_step, values)
        self.sync()

    def on_evaluate(self, args, state, control, **kwargs):
        self._step = state.global_step
        self.sync()

    def on_train_end(self, args, state, control, **kwargs):
        self._step = state.global_step
        self.sync()

    def close(self) -> None:
        """After the run has finished: the final events (finished/halted/stopped, report) and state."""
        if self._closed or not self._began:
            return
        self._closed = True
        self.sync()
        state = self.store.state() if self.store is not None else None
        for sink in self.sinks:
            self._call(sink, "end", state, self.ctx.halt_finding)

    # -- mirroring ----------------------------------------------------------------------
    def sync(self) -> None:
        """Send the findings and events added to the store since the last call."""
        if not self.sinks or self.store is None:
            return
        try:
            all_findings = self.store.findings()
            events = [e for e in self.store.events() if e["type"] not in SKIPPED_EVENTS]
        except Exception:
            log.debug("could not read the run store for the trackers", exc_info=True)
            return
        new = all_findings[self._sent_findings:]
        self._sent_findings = len(all_findings)
        new_events = [e if e.get("step") is not None else {**e, "step": self._step}  # e.g. the report
                      for e in events if e["id"] > self._last_event_id]
        if new_events:
            self._last_event_id = new_events[-1]["id"]
        for sink in self.sinks:
            if new:
                self._call(sink, "findings", new, all_findings)
            if new_events:
                self._call(sink, "events", new_events, events)

    def _call(self, sink: _Sink, method: str, *a: Any) -> Any:
        try:
            return getattr(sink, method)(*a)
        except Exception as exc:
            if sink.name not in self._failed:
                self._failed.add(sink.name)
                log.warning("could not send tuneguard's findings to %s: %s", sink.name, self.ctx.scrub(str(exc)))
            log.debug("%s.%s failed", sink.name, method, exc_info=True)
            return None
