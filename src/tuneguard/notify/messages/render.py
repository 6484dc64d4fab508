"""Turn an event and its payload into a message, in English or Thai.

One builder per event decides *what* is said (which lines, in which order); the
language tables in `en.py` and `th.py` decide *how*. Missing payload keys drop their
line instead of printing "None", so callers may send what they have.

Payload keys per event (all optional unless noted):
- started: model, task (classification, extraction, rewriting, open), task_source
  ("inferred" or "data.task"), train_rows, eval_rows, test_rows, max_steps, num_epochs,
  learning_rate, batch_size, gradient_accumulation_steps, lora_r, lora_alpha, max_length,
  hyperparameters (dict of further key -> value)
- evaluation: step, max_steps, epoch, train_loss, eval_loss, best_eval_loss (the best
  before this evaluation), train_steps_since_eval (when train_loss is the mean over them)
- finding: a Finding as dict (code, severity, step, message, evidence, recommendation); an
  evidence `severity_override` ({set_by, default}: audit.severity / guard.severity) gets its line,
  and a guard finding a line saying when it happened (tuneguard.findings.when_spec: its step, or the
  step it was first seen at and the step that judged it, with what the model had seen by then)
- qa: step, samples (list of {prompt, output, keyword_score})
- early_stop: step, best_eval_loss, reason
- halted: step, code, message, checkpoint, next_steps
- finished: steps, best_eval_loss, test_metrics (dict), started (the first start, epoch seconds),
  duration_s (wall time since then), train_s (training time over its processes), processes
- failed: step, error, traceback (str or list of lines)
- progress: step, max_steps, epoch, loss, tokens_per_s, eta_s
- stopped: step, requested_by, reason, checkpoint
- paused: step, requested_by, checkpoint, run_dir (for the continue and stop commands)
- resumed: step (the step resumed from), checkpoint, previous_state and previous_step (how
  and where the interrupted run ended), killed (it ended without recording an end)
- report: diagnosis (tuneguard.diagnosis.Diagnosis.to_dict()), verdict, summary (str or
  list of lines), path, next_steps
- next_steps (halted, report): the commands to run next (tuneguard.nextrun.next_steps), a
  list of {kind: fix | then | next, command}; they end the message, each on its own line,
  so that the last thing a phone shows is what to type
- test: nothing
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from tuneguard.catalog import is_spec, render as render_spec
from tuneguard.events import NOTIFIABLE, Event
from tuneguard.findings import when_text
from tuneguard.notify.messages import en, format as fmt, th
from tuneguard.notify.messages.fit import Message

log = logging.getLogger(__name__)

LANGUAGES: dict[str, ModuleType] = {"en": en, "th": th}
# The events a message is made for: the notifiable ones and the test message (tuneguard.events).
EVENTS = tuple(e.value for e in NOTIFIABLE) + (Event.TEST.value,)

TRACEBACK_LINES = 15
QA_SAMPLES = 3
EXTRA_PARAMS = 12


class _Lines:
    """Collects body lines in one language; a line whose value is missing is skipped."""

    def __init__(self, table: Mapping[str, str], language: str = "en"):
        self.table = table
        self.language = language
        self.out: list[str] = []

    def add(self, template: str, /, **values: Any) -> None:
        if any(v is None for v in values.values()):
            return
        self.out.append(self.table[template].format(**values))

    def raw(self, text: str) -> None:
        self.out.append(text)

    def word(self, key: str) -> str:
        return self.table[key]


def _get(p: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if p.get(k) is not None:
            return p[k]
    return None


def _opt(conv: Callable[[Any], str], v: Any) -> str | None:
    return None if v is None else conv(v)


def _step_line(L: _Lines, p: Mapping[str, Any]) -> None:
    step, total = p.get("step"), p.get("max_steps")
    if step is not None and total not in (None, -1, 0):
        L.add("step_of", step=fmt.integer(step), max_steps=fmt.integer(total), pct=fmt.percent(step, total))
    else:
        L.add("step", step=_opt(fmt.integer, step))


def _numbers_only(ev: Any) -> Any:
    """The numbers of a finding's evidence: what a message in another language shows, since
    the evidence's words (verdicts, example rows) are English or the user's data and the
    sentence above already says in the reader's language what they mean."""
    if not isinstance(ev, Mapping):
        return None
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return {k: v for k, v in ev.items()
            if number(v) or (isinstance(v, (list, tuple)) and v and all(number(x) for x in v))}


def _evidence(ev: Any) -> str | None:
    """Evidence in brief: a few key=value pairs, long values and lists shortened."""
    if ev in (None, {}, [], ""):
        return None
    if not isinstance(ev, Mapping):
        return fmt.shorten(ev, 300)
    parts = []
    for k, v in list(ev.items())[:8]:
        if isinstance(v, (list, tuple)):
            shown = ", ".join(fmt.shorten(fmt.number(x) if isinstance(x, (int, float)) else x, 40) for x in v[:5])
            val = f"[{shown}{', …' if len(v) > 5 else ''}]"
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            val = fmt.number(v)
        else:
            val = fmt.shorten(v, 80)
        parts.append(f"{k}={val}")
    return fmt.shorten("; ".join(parts), 400)


def _started(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("model", model=p.get("model"))
    task = p.get("task")
    if task:
        how = L.word("task_stated" if p.get("task_source") == "data.task" else "task_inferred")
        L.add("task", v=L.table.get(f"task_{task}", str(task)), how=how)
    L.add("train_rows", n=_opt(fmt.integer, p.get("train_rows")))
    L.add("eval_rows", n=_opt(fmt.integer, p.get("eval_rows")))
    L.add("test_rows", n=_opt(fmt.integer, p.get("test_rows")))
    if p.get("max_steps") not in (None, -1):
        L.add("max_steps", n=fmt.integer(p["max_steps"]))
    else:
        L.add("epochs", n=_opt(fmt.number, p.get("num_epochs")))
    L.add("learning_rate", v=_opt(fmt.rate, p.get("learning_rate")))
    L.add("batch_size", v=_opt(fmt.number, p.get("batch_size")))
    if p.get("gradient_accumulation_steps") not in (None, 1):
        L.add("grad_accum", v=fmt.number(p["gradient_accumulation_steps"]))
    L.add("lora", r=_opt(fmt.number, p.get("lora_r")), alpha=_opt(fmt.number, p.get("lora_alpha")))
    L.add("max_length", v=_opt(fmt.integer, p.get("max_length")))
    extra = p.get("hyperparameters") or {}
    for k, v in list(extra.items())[:EXTRA_PARAMS]:
        L.add("param", key=str(k), value=fmt.number(v) if isinstance(v, (int, float)) else fmt.shorten(v, 80))


def _evaluation(L: _Lines, p: Mapping[str, Any]) -> None:
    _step_line(L, p)
    L.add("epoch", epoch=_opt(fmt.number, p.get("epoch")))
    train, ev, best = p.get("train_loss"), p.get("eval_loss"), p.get("best_eval_loss")
    steps = p.get("train_steps_since_eval")
    if train is not None and steps:
        # The mean since the last evaluation: the progress message's loss at the same step is
        # the last logged one, and two different numbers both called "training loss" read as an error.
        L.add("train_loss_window", v=fmt.loss(train), steps=fmt.integer(steps))
    else:
        L.add("train_loss", v=_opt(fmt.loss, train))
    L.add("eval_loss", v=_opt(fmt.loss, ev))
    if ev is not None and best is not None:
        delta = float(ev) - float(best)
        key = "new_best" if delta < 0 else "vs_best"
        L.add(key, best=fmt.loss(best), delta=fmt.signed(delta))
    if ev is not None and train is not None:
        L.add("gap", v=fmt.signed(float(ev) - float(train)))


def _finding(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("code", code=p.get("code"))
    sev = p.get("severity")
    if sev is not None:
        L.add("severity", v=L.table.get(f"sev_{sev}", str(sev)))
    ov = (p.get("evidence") or {}).get("severity_override") if isinstance(p.get("evidence"), Mapping) else None
    if isinstance(ov, Mapping) and ov.get("set_by"):
        default = ov.get("default")
        L.add("severity_override", key=str(ov["set_by"]), default=L.table.get(f"sev_{default}", str(default)))
    L.add("when", v=when_text(p, L.language))
    message, recommendation = _said(p, L.language)
    if message:
        L.raw(fmt.shorten(message, 600))
    ev = p.get("evidence") if L.language == "en" else _numbers_only(p.get("evidence"))
    L.add("evidence", v=_evidence(ev))
    if recommendation:
        L.add("recommendation", v=fmt.shorten(recommendation, 600))


def _qa(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("step", step=_opt(fmt.integer, p.get("step")))
    for s in list(p.get("samples") or [])[:QA_SAMPLES]:
        L.raw("")
        L.add("qa_prompt", v=fmt.shorten(s.get("prompt", ""), 150))
        L.add("qa_output", v=fmt.shorten(s.get("output", ""), 400))
        L.add("qa_score", v=_opt(fmt.number, s.get("keyword_score")))
        if s.get("expected") and s.get("correct") is not None:
            L.add("qa_expected", v=fmt.shorten(" / ".join(map(str, s["expected"])), 150),
                  mark=L.word("qa_right" if s["correct"] else "qa_wrong"))


def _early_stop(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("early_stop", step=fmt.integer(p.get("step")))
    L.add("best_eval_loss", v=_opt(fmt.loss, p.get("best_eval_loss")))
    reason = p.get("reason")
    L.add("reason", v=L.word("reason_patience") if reason == "patience exhausted" else _opt(str, reason))


def _next_steps(L: _Lines, p: Mapping[str, Any]) -> None:
    """The exact commands to run next; never shortened (a cut command is a wrong command)."""
    for step in p.get("next_steps") or []:
        if isinstance(step, Mapping) and step.get("kind") in ("fix", "then", "next") and step.get("command"):
            L.add(f"next_{'run' if step['kind'] == 'next' else step['kind']}", v=str(step["command"]))


def _said(p: Mapping[str, Any], language: str) -> tuple[str, str]:
    """A finding's message and recommendation in `language`: rendered from its catalog specs
    (`text`) where the payload carries them, else as sent (English)."""
    from tuneguard.findings import Finding

    f = Finding(code=str(p.get("code")), severity="info", message=str(p.get("message") or ""),
                recommendation=str(p.get("recommendation") or ""),
                text=p.get("text") if isinstance(p.get("text"), Mapping) else None)
    return f.message_in(language), f.recommendation_in(language)


def _halted(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("halted", step=fmt.integer(p.get("step")))
    L.add("code", code=p.get("code"))
    got = p.get("finding")
    finding: Mapping[str, Any] = got if isinstance(got, Mapping) else {}
    message = _said({**finding, "message": p.get("message") or finding.get("message")}, L.language)[0]
    if message:
        L.raw(fmt.shorten(message, 600))
    L.add("checkpoint", v=p.get("checkpoint"))
    _next_steps(L, p)


def _finished(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("steps_done", v=_opt(fmt.integer, _get(p, "steps", "step")))
    L.add("best_eval_loss", v=_opt(fmt.loss, p.get("best_eval_loss")))
    for k, v in list((p.get("test_metrics") or {}).items())[:EXTRA_PARAMS]:
        key = str(k).removeprefix("test_")
        val = fmt.loss(v) if "loss" in key else (fmt.number(v) if isinstance(v, (int, float)) else str(v))
        L.add("test_metric", key=key, value=val)
    _duration(L, p)


def _duration(L: _Lines, p: Mapping[str, Any]) -> None:
    """When the run first started and how long it took; after a resume also its training time,
    summed over the processes that trained it (the wall time holds the time between them)."""
    L.add("first_started", v=_opt(fmt.clock, p.get("started")))
    n = p.get("processes")
    if isinstance(n, int) and n > 1:
        L.add("duration_resumed", wall=fmt.hmm(p.get("duration_s")), train=fmt.hmm(p.get("train_s")), n=n,
              resumes=n - 1)
    else:
        L.add("duration", v=_opt(fmt.hmm, p.get("duration_s")))


def _failed(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("step", step=_opt(fmt.integer, p.get("step")))
    err = str(p.get("error") or "").strip()
    if err:
        first, *rest = err.splitlines()
        L.add("error", v=first)
        for line in rest:
            L.raw(line)
    tb = p.get("traceback")
    if tb:
        tb_lines = tb.splitlines() if isinstance(tb, str) else [str(x).rstrip("\n") for x in tb]
        tb_lines = [x for x in tb_lines if x.strip()][-TRACEBACK_LINES:]
        if tb_lines:
            L.raw(L.word("traceback"))
            for line in tb_lines:
                L.raw(line)


def _progress(L: _Lines, p: Mapping[str, Any]) -> None:
    _step_line(L, p)
    L.add("epoch", epoch=_opt(fmt.number, p.get("epoch")))
    L.add("loss", v=_opt(fmt.loss, _get(p, "loss", "train_loss")))
    L.add("tokens_per_s", v=_opt(fmt.integer, p.get("tokens_per_s")))
    L.add("eta", v=_opt(fmt.hmm, p.get("eta_s")))


def _stopped(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("stopped", step=fmt.integer(p.get("step")))
    L.add("requested_by", v=p.get("requested_by"))
    # "stop requested by X" repeats the line above, in English: said once, in the reader's language.
    said = L.language != "en" and p.get("reason") == f"stop requested by {p.get('requested_by')}"
    L.add("reason", v=None if said else p.get("reason"))
    L.add("checkpoint", v=p.get("checkpoint"))


def _paused(L: _Lines, p: Mapping[str, Any]) -> None:
    L.add("paused", step=fmt.integer(p.get("step")))
    L.add("requested_by", v=p.get("requested_by"))
    L.add("checkpoint", v=p.get("checkpoint"))
    run_dir = p.get("run_dir")
    if run_dir:  # the commands end the message, never shortened (a cut command is a wrong command)
        import shlex

        L.add("paused_continue", v=shlex.join(["tuneguard", "continue", str(run_dir)]))
        L.add("paused_stop", v=shlex.join(["tuneguard", "stop", str(run_dir)]))


def _resumed(L: _Lines, p: Mapping[str, Any]) -> None:
    start = _get(p, "from_step", "step")
    L.add("resumed", step=fmt.integer(start))
    L.add("checkpoint", v=p.get("checkpoint"))
    if is_spec(p.get("note")):  # resumed on another number of processes (tuneguard.train.build.world_size_note)
        try:
            L.raw(render_spec(p["note"], L.language))
        except (KeyError, IndexError, ValueError, TypeError):  # a note from another version's catalog
            log.debug("the resumed event's note does not render: %s", p["note"])
    # How the interrupted run ended: after a SIGKILL (an OOM kill, a preemption past its grace
    # period) this is the first the phone hears of it, so it says so and what is trained again.
    before, at = p.get("previous_state"), p.get("previous_step")
    if not isinstance(at, int):
        return
    if p.get("killed"):
        L.add("resumed_killed", step=fmt.integer(at))
    elif f"state_{before}" in L.table:
        L.add("resumed_after", state=L.word(f"state_{before}"), step=fmt.integer(at))
    if isinstance(start, int) and at == start + 1:
        L.add("resumed_redo_one", step=fmt.integer(at))
    elif isinstance(start, int) and at > start:
        L.add("resumed_redo", first=fmt.integer(start + 1), last=fmt.integer(at))


def _report(L: _Lines, p: Mapping[str, Any]) -> None:
    d = p.get("diagnosis")
    if isinstance(d, Mapping):
        from tuneguard.diagnosis import Diagnosis

        diag = Diagnosis.from_dict(d)
        L.raw(diag.line(L.language))
        if diag.evidence:
            L.raw(fmt.shorten(diag.because(L.language), 900))
    verdict, criteria = p.get("verdict"), p.get("criteria")
    if L.language != "en" and verdict in ("pass", "fail", "inconclusive") and isinstance(criteria, list):
        from tuneguard.catalog import render
        from tuneguard.report.verdict import payload_pairs, summary_spec

        L.raw(render(summary_spec(verdict, payload_pairs(criteria)), L.language))
        L.add("report_path", v=_opt(str, p.get("path")))
        _next_steps(L, p)
        return
    summary = p.get("summary")
    if not (isinstance(summary, str) and summary.startswith("Verdict:")):  # the summary says it, with its counts
        L.add("verdict", v=verdict)
    if summary:
        for line in summary.splitlines() if isinstance(summary, str) else [str(x) for x in summary]:
            L.raw(line)
    L.add("report_path", v=_opt(str, p.get("path")))
    _next_steps(L, p)


def _test(L: _Lines, p: Mapping[str, Any]) -> None:
    L.raw(L.word("test_body"))


_BUILDERS: dict[str, Callable[[_Lines, Mapping[str, Any]], None]] = {
    "started": _started, "evaluation": _evaluation, "finding": _finding, "qa": _qa,
    "early_stop": _early_stop, "halted": _halted, "finished": _finished, "failed": _failed,
    "progress": _progress, "stopped": _stopped, "paused": _paused, "resumed": _resumed, "report": _report,
    "test": _test,
}


def render(event: str, payload: Mapping[str, Any] | None, *, language: str = "en",
           run_name: str = "tuneguard") -> Message:
    """The message for one event. Raises KeyError for an unknown event or language."""
    lang = LANGUAGES[language]
    builder = _BUILDERS[event]
    L = _Lines(lang.LINES, language)
    L.add("run", run=run_name)
    builder(L, payload or {})
    title = f"{lang.TITLES[event]} · {run_name}"
    return Message(title=title, body="\n".join(L.out).strip("\n"))


def truncation_marker(language: str) -> str:
    return LANGUAGES[language].LINES["truncated"]


def late_line(language: str) -> str:
    """The first line of a message re-sent after an outage."""
    return LANGUAGES[language].LINES["late"]
