"""HTML building blocks shared by the run report and the compare page.

Everything that comes from a run (config values, prompts, model outputs, finding text) goes
through `esc`: a model output is untrusted text and must never become markup.
"""

from __future__ import annotations

import json
import logging
import statistics
from html import escape
from importlib import resources
from typing import Any, Iterable

from tuneguard.catalog import LANGUAGES, TABLE, is_spec, render, say
from tuneguard.diagnosis import Diagnosis
from tuneguard.findings import Finding, when_text
from tuneguard.fmt import clock
from tuneguard.report.plots import (
    PALETTE,
    SEVERITY_COLORS,
    HLine,
    Series,
    VMark,
    action_marks,
    line_chart,
)
from tuneguard.report.recommend import against_diagnosis
from tuneguard.report.rundata import RunData, is_finite
from tuneguard.report.verdict import Verdict, fmt, train_loss_at
from tuneguard.store.run_store import run_times

log = logging.getLogger(__name__)


def esc(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


class Words:
    """The report's texts in one language: `w("h.verdict")` is catalog key report.h.verdict."""

    def __init__(self, language: str = "en") -> None:
        self.language = language

    def __call__(self, key: str, /, **params: Any) -> str:
        return say(f"report.{key}", self.language, **params)

    def state(self, state: str) -> str:
        """A run state (halted, finished...) in this language; as stored in English."""
        key = f"report.state.{state}"
        return state if self.language == "en" or key not in TABLE else say(key, self.language)


def exit_reason(run: RunData, language: str = "en") -> str | None:
    """The run's exit reason; in another language, a halt's "CODE: message" with the halting
    finding's message in that language (the store keeps the English)."""
    reason = run.meta.get("exit_reason")
    if language == "en" or not isinstance(reason, str):
        return reason
    for f in run.findings:
        if reason == f"{f.code}: {f.message}":
            return f"{f.code}: {f.message_in(language)}"
    for key in ("completed", "early_stop", "stopped", "halted", "audit_errors", "peer"):
        if reason == say(f"report.exit.{key}"):
            return say(f"report.exit.{key}", language)
    if reason.startswith("stop requested by "):
        return say("report.exit.stop_by", language, who=reason.removeprefix("stop requested by "))
    return reason  # an error's own words (a failed run): as recorded


def notify_stopped(run: RunData, language: str = "en") -> list[str]:
    """One sentence per notification channel that stopped during the run (LINE's monthly
    limit), in `language`: the reader learns why the phone went quiet."""
    out = []
    for e in run.events:
        payload = e.get("payload")
        if e.get("type") == "notify_stopped" and isinstance(payload, dict):
            out.append(stopped_sentence(payload, language))
    return out


def stopped_sentence(payload: dict[str, Any], language: str = "en") -> str:
    """A `notify_stopped` record as its sentence in `language` (its English reason where the
    spec does not render: a record of another version)."""
    text = payload.get("text")
    try:
        return render(text, language) if is_spec(text) else str(payload.get("reason", ""))
    except (KeyError, IndexError, ValueError, TypeError):
        return str(payload.get("reason", ""))


def report_language(config: dict[str, Any]) -> str:
    """report.language, else notify.language, else English (DESIGN: report.language defaults
    to notify.language)."""
    for section in ("report", "notify"):
        sec = config.get(section)
        language = sec.get("language") if isinstance(sec, dict) else None
        if language in LANGUAGES:
            return str(language)
    return "en"


def css() -> str:
    return (resources.files("tuneguard.report") / "templates" / "report.css").read_text("utf-8")


# Marks a page as tuneguard's own output: `report --out` and `compare --out` replace such a
# file, and refuse any other without --force (tuneguard.report.output).
GENERATOR_META = '<meta name="generator" content="tuneguard">'


def page(title: str, body: str, language: str = "en") -> str:
    """A whole HTML document: inline CSS, no scripts, no external resources."""
    return (f"<!DOCTYPE html>\n<html lang=\"{esc(language)}\"><head><meta charset=\"utf-8\">"
            f"{GENERATOR_META}<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>\n{css()}\n</style></head>\n<body>\n{body}\n</body></html>\n")


def pill(status: str, shown: str | None = None) -> str:
    """A status chip; `shown` is its word in the report's language (the class stays the status)."""
    return f'<span class="pill {esc(status)}">{esc(status if shown is None else shown)}</span>'


BADGE_WORDS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
SEVERITIES = ("info", "warning", "error")


def badge(verdict: Verdict, language: str = "en") -> str:
    w = Words(language)
    checked = [c for c in verdict.criteria if c.checked]  # one not configured is not counted
    n = len(checked)
    failed = sum(c.status == "fail" for c in checked)
    passed = sum(c.status == "pass" for c in checked)
    why = (w("badge.failed", failed=failed, n=n) if failed else
           w("badge.all", n=n) if passed == n else w("badge.some", passed=passed, n=n, unknown=n - passed))
    if len(checked) < len(verdict.criteria):
        why += w("badge.unchecked", m=len(verdict.criteria) - n)
    word = BADGE_WORDS[verdict.overall] if language == "en" else say(f"verdict.overall.{verdict.overall}", language)
    return (f'<div class="badge {verdict.overall}"><div class="word">{esc(word)}</div>'
            f'<div class="why">{esc(why)}</div></div>')


def kv_table(rows: Iterable[tuple[str, Any]], cls: str = "kv") -> str:
    body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}"><tbody>{body}</tbody></table>'


def when(ts: Any) -> str:
    """A timestamp (epoch seconds or ISO text) as local 'YYYY-MM-DD HH:MM:SS'."""
    if ts is None:
        return "n/a"
    return clock(ts) if isinstance(ts, (int, float)) else str(ts)


def timings(run: RunData) -> dict[str, Any]:
    """Start, end, durations, median step time and throughput of a run. `started` is when the
    run first started training and `duration_s` the wall time since, over every resume;
    `train_s` the training time summed over its `processes` (store.run_store.run_times)."""
    m = run.meta
    times = run_times(m, run.events)
    end = times.last_seen
    if end is None and run.train:  # a store without a start time: its metrics tell
        end = max(r.get("time") or 0 for r in run.train + run.evals) or None
    start = times.first_started
    step_times = [r["step_time_s"] for r in run.train if is_finite(r.get("step_time_s"))]
    tps = [r["tokens_per_s"] for r in run.train if is_finite(r.get("tokens_per_s"))]
    return {
        "started": start if start is not None else m.get("created"), "ended": m.get("ended"),
        "duration_s": (end - start) if start and end else None,
        "train_s": times.train_s, "processes": times.processes,
        "median_step_time_s": statistics.median(step_times) if step_times else None,
        "median_tokens_per_s": statistics.median(tps) if tps else None,
    }


def train_time(t: dict[str, Any], language: str) -> str:
    """The training time, with the number of processes that made it after a resume."""
    d = duration(t["train_s"], language)
    if t["train_s"] is None or t["processes"] < 2:  # unknown: an older store kept only the last process's
        return d
    return say("report.train_time.processes", language, d=d, n=t["processes"])


def duration(seconds: float | None, language: str = "en") -> str:
    """A run's length as people read it ("1h 05m 03s"; Thai: "1 ชม. 05 นาที 03 วินาที")."""
    if seconds is None or not is_finite(seconds) or seconds < 0:
        return say("report.na", language)
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return say("report.dur.h", language, h=h, m=f"{m:02d}", s=f"{s:02d}")
    return say("report.dur.m", language, m=m, s=f"{s:02d}") if m else say("report.dur.s", language, s=s)


def evidence_html(ev: dict[str, Any]) -> str:
    if not ev:
        return ""
    rows = []
    for k, v in ev.items():
        if isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v):
            text = ", ".join(str(x) for x in v[:50]) + (f", ... ({len(v)} in all)" if len(v) > 50 else "")
            val = f"<pre>{esc(text)}</pre>"
        elif isinstance(v, (dict, list)):
            text = json.dumps(v, ensure_ascii=False, indent=1, default=str)
            if len(text) > 2000:
                text = text[:2000] + "\n..."
            val = f"<pre>{esc(text)}</pre>"
        else:
            val = esc(fmt(v) if isinstance(v, float) else v)
        rows.append(f"<tr><td>{esc(k)}</td><td>{val}</td></tr>")
    return f'<table class="evidence"><tbody>{"".join(rows)}</tbody></table>'


def superseded(f: Finding, diagnosis: Diagnosis | None, language: str = "en") -> str | None:
    """The note under a guard finding whose advice the run's diagnosis does not follow
    (tuneguard.report.recommend.against_diagnosis), in `language`; None when they agree. A
    finding the eval curve answered with a new best at the last evaluation says it recovered."""
    if diagnosis is None:
        return None
    step = diagnosis.recovered_at(f)
    if step is not None:
        return Words(language)("f.recovered", step=step, best=fmt(diagnosis.facts.get("last_eval_loss")),
                               kind=diagnosis.label(language))
    keys = against_diagnosis(f, diagnosis.kind)
    if not keys:
        return None
    return Words(language)("f.superseded", kind=diagnosis.label(language), keys=", ".join(keys))


def finding_item(f: Finding, language: str = "en", diagnosis: Diagnosis | None = None) -> str:
    w = Words(language)
    when_ = when_text(f, language) or w("f.audit")
    ov = (f.evidence or {}).get("severity_override")
    if isinstance(ov, dict):
        default = ov.get("default")
        when_ += w("f.override", key=ov.get("set_by"),
                   default=default if language == "en" else w(f"sev.{default}") if default in SEVERITIES else default)
    rec_text = f.recommendation_in(language)
    note = superseded(f, diagnosis, language)
    rec = (f'<div class="rec"><b>{esc(w("f.do"))}</b> {esc(rec_text)}'
           f'{f"<br><i>{esc(note)}</i>" if note else ""}</div>') if rec_text else ""
    source = f.source if language == "en" or f.source not in ("audit", "guard") else w(f"source.{f.source}")
    sev = None if language == "en" or f.severity not in SEVERITIES else w(f"sev.{f.severity}")
    return (f'<li class="finding {esc(f.severity)}"><div class="finding-head">{pill(f.severity, sev)}'
            f'<span class="code">{esc(f.code)}</span><span class="when">{esc(when_)} · {esc(source)}</span></div>'
            f'<p>{esc(f.message_in(language))}</p>{rec}{evidence_html(f.evidence or {})}</li>')


def ordered_findings(findings: list[Finding]) -> list[Finding]:
    """Audit findings first (they precede training), then guard findings by step."""
    return sorted(findings, key=lambda f: (f.source != "audit", f.step if f.step is not None else -1))


def figure(title: str, svg: str | None, note: str = "", language: str = "en") -> str:
    body = svg if svg else f'<div class="nodata">{esc(Words(language)("plot.no_data"))}</div>'
    sub = f' <span class="muted small">{esc(note)}</span>' if note else ""
    return f"<figure><figcaption>{esc(title)}{sub}</figcaption>{body}</figure>"


# -- plots of one run ---------------------------------------------------------------

def gap_series(run: RunData) -> list[tuple[float, float]]:
    pts = []
    for r in run.evals:
        ev = r.get("eval_loss")
        tr = train_loss_at(run, int(r["step"]))
        if ev is not None and tr is not None:
            pts.append((float(r["step"]), float(ev) - float(tr[1])))
    return pts


def finding_marks(run: RunData, language: str = "en") -> list[VMark]:
    w = Words(language)
    return [VMark(f.step, f.code, SEVERITY_COLORS.get(f.severity, SEVERITY_COLORS["warning"]),
                  w("mark.finding", code=f.code, step=f.step, message=f.message_in(language)))
            for f in run.findings if f.step is not None]


def step_range(*runs: RunData) -> tuple[float, float] | None:
    steps = [float(r["step"]) for run in runs for r in run.train + run.evals]
    return (min(steps), max(steps)) if steps else None


def run_plots(run: RunData, max_final_gap: float, language: str = "en") -> list[str]:
    """The figures of one run's report, in reading order, all on the run's step range, with
    titles, axes and legends in the report's language."""
    xr = step_range(run)
    w = Words(language)

    def chart(series: list[Series], title: str, y_label: str, **kw: Any) -> str | None:
        return line_chart(series, title=w(title), y_label=w(y_label), x_range=xr, x_label=w("axis.step"),
                          language=language, **kw)

    def fig(title: str, svg: str | None, note: str = "") -> str:
        return figure(w(title), svg, w(note) if note else "", language)

    def series(label: str, points: list[tuple[float, float]], color: str, **kw: Any) -> Series:
        return Series(w(label), points, color, **kw)

    loss = [series("series.train_loss", run.series("train", "loss"), PALETTE[0]),
            series("series.eval_loss", run.series("eval", "eval_loss"), PALETTE[1], dots=True)]
    test = [r for r in run.test if is_finite(r.get("eval_loss"))]
    hl = [HLine(test[-1]["eval_loss"], w("line.test_loss", v=fmt(test[-1]["eval_loss"])), PALETTE[2])] if test else []
    marks = finding_marks(run, language) + action_marks(run.events, language)  # policy actions too
    spikes = [m for m in marks if m.label in ("GRAD_NORM_HIGH", "LOSS_SPIKE", "NON_FINITE")]
    gap_hl = [HLine(max_final_gap, w("line.max_gap", v=fmt(max_final_gap)), SEVERITY_COLORS["error"])]
    mem = [series(label, run.series("train", col), color) for label, col, color in (
        ("series.allocated", "mem_allocated_gb", PALETTE[0]), ("series.reserved", "mem_reserved_gb", PALETTE[1]),
        ("series.rss", "rss_gb", PALETTE[2]))]
    totals = [v for _, v in run.series("train", "mem_total_gb") if is_finite(v)]
    mem_hl = [HLine(max(totals), w("line.device_total", v=fmt(max(totals), 3)), "#888888")] if totals else []
    return [
        fig("plot.loss", chart(loss, "plot.loss", "axis.loss", vmarks=marks, hlines=hl), "plot.marks_note"),
        fig("plot.loss_log", chart(loss, "plot.loss_log", "axis.loss", log_y=True, vmarks=marks, hlines=hl)),
        fig("plot.gap_fig", chart([series("series.gap", gap_series(run), PALETTE[3], dots=True)],
                                  "plot.gap", "axis.gap", hlines=gap_hl)),
        fig("plot.lr", chart([series("series.lr", run.series("train", "learning_rate"), PALETTE[2])],
                             "plot.lr", "axis.lr")),
        fig("plot.grad", chart([series("series.grad", run.series("train", "grad_norm"), PALETTE[5])],
                               "plot.grad", "axis.norm", vmarks=spikes)),
        fig("plot.throughput", chart([series("series.tps", run.series("train", "tokens_per_s"), PALETTE[4])],
                                     "plot.throughput", "axis.tps")),
        fig("plot.step_time", chart([series("series.step_time", run.series("train", "step_time_s"), PALETTE[7])],
                                    "plot.step_time", "axis.s")),
        fig("plot.memory", chart(mem, "plot.memory", "axis.gb", hlines=mem_hl)),
    ]


def qa_cell(sample: dict[str, Any], heading: str, best: bool, language: str = "en") -> str:
    w = Words(language)
    ks = sample.get("keyword_score")
    chips = []
    if sample.get("expected") and sample.get("correct") is not None:
        ok = bool(sample["correct"])
        chips.append(f'<span class="chip {"good" if ok else "bad"}">{esc(w("qa.right" if ok else "qa.wrong"))}</span>')
    if is_finite(ks) and sample.get("keywords"):
        good = "good" if float(ks) >= 0.5 else "bad"
        chips.append(f'<span class="chip {good}">{esc(w("qa.keywords_score", v=fmt(ks, 2)))}</span>')
    eos = bool(sample.get("emitted_eos"))
    chips.append(f'<span class="chip {"good" if eos else "bad"}">{esc(w("qa.eos" if eos else "qa.no_eos"))}</span>')
    d2 = sample.get("distinct2")
    if is_finite(d2):
        good = "good" if float(d2) >= 0.5 else "bad"
        chips.append(f'<span class="chip {good}">{esc(w("qa.distinct2", v=fmt(d2, 2)))}</span>')
    star = w("qa.best") if best else ""
    return (f'<div class="qa-cell{" best" if best else ""}"><div class="step">{esc(heading)}{star}</div>'
            f'<pre>{esc(sample.get("output", ""))}</pre>{"".join(chips)}</div>')


def qa_prompt_block(prompt: str, keywords: list[str], cells: list[str], expected: list[str] | None = None,
                    language: str = "en") -> str:
    w = Words(language)
    kw = (f'<div class="small muted">{esc(w("qa.keywords", v=", ".join(map(str, keywords))))}</div>'
          if keywords else "")
    if expected:
        kw += f'<div class="small muted">{esc(w("qa.expected", v=" / ".join(map(str, expected))))}</div>'
    return (f'<div class="qa-prompt"><div class="q"><pre>{esc(prompt)}</pre>{kw}</div>'
            f'<div class="qa-row">{"".join(cells)}</div></div>')


def prompts_in_order(samples: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(s["prompt"] for s in samples))


def verdict_table(verdict: Verdict, language: str = "en") -> str:
    w = Words(language)
    rows = "".join(f"<tr><td>{esc(c.name_in(language))}</td><td>{pill(c.shown, c.status_in(language))}"
                   f"</td><td>{esc(c.evidence_in(language))}{_codes(c.codes)}</td></tr>" for c in verdict.criteria)
    return (f'<table class="verdict"><thead><tr><th>{esc(w("col.criterion"))}</th><th>{esc(w("col.result"))}</th>'
            f'<th>{esc(w("col.evidence"))}</th></tr></thead><tbody>{rows}</tbody></table>')


def _codes(codes: list[str]) -> str:
    return f'<div class="codes">{esc(", ".join(codes))}</div>' if codes else ""
