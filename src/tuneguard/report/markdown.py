"""RUN_DIR/report.md: the report for a terminal or a repository (no plots; the numbers)."""

from __future__ import annotations

import logging
import re
from typing import Any

from tuneguard.catalog import say
from tuneguard.config.diff import format_value
from tuneguard.findings import when_text
from tuneguard.report.components import (
    Words, duration, exit_reason, notify_stopped, report_language, superseded, timings, train_time, when,
)
from tuneguard.report.recommend import RECOMMENDED_CONFIG, Recommendations, config_path_for
from tuneguard.report.rundata import RunData
from tuneguard.report.verdict import Verdict, answer_rows, compare_to_base, eval_loss_at, fmt, generation_stats

log = logging.getLogger(__name__)

ICONS = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN", "not_checked": "NOT CHECKED"}
# Where CommonMark reads markup in text: `<` opening a tag, closing tag, comment, declaration or
# autolink; `&` opening a named or numeric character reference.
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def cell(v: Any) -> str:
    """User text that renders as typed in a table cell or a list item, and reads as typed in a
    plain-text viewer: no pipes or newlines to break the table, no `*` or backticks to turn into
    emphasis or code. `<` and `>` stay as typed (HTML entities would show as `&lt;` in a terminal)
    except where CommonMark would read markup: a `<` that would open a tag, comment or autolink
    and a leading `>` (a block quote in a list item) get a backslash, as does an `&` that would
    start an entity. Brackets and colons stay as typed (`[x]` alone is no link; CommonMark has
    no emoji codes)."""
    s = "" if v is None else str(v)
    s = (s.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("`", "\\`")
         .replace("\r", " ").replace("\n", " "))
    s = _HTML_START.sub(r"\\<", _ENTITY.sub(r"\\&", s))
    return "\\" + s if s.startswith(">") else s


def fence(text: str) -> str:
    """A fenced block that the text itself cannot close."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}\n{text}\n{ticks}"


def render_markdown(run: RunData, verdict: Verdict, recs: Recommendations, language: str | None = None) -> str:
    """report.md in `language` (default: the run's report.language, else notify.language)."""
    lang = language or report_language(run.config)
    w = Words(lang)
    model = (run.config.get("model") or {}).get("name", "unknown model") if isinstance(run.config, dict) else "?"
    d = recs.diagnosis
    overall = verdict.overall.upper() if lang == "en" else say(f"verdict.overall.{verdict.overall}", lang)
    out = [w("md.title", name=run.name), "",
           w("md.head", overall=overall, model=model, state=w.state(run.state), step=run.last_step,
             of=w("md.of", max=run.max_steps) if run.max_steps else ""), ""]
    if d is not None:
        out += [f"**{cell(d.line(lang))}**", "", w("decided_by"), ""] + [f"- {cell(e.text(lang))}" for e in d.evidence]
        if d.notes:
            out += ["", w("also_noticed"), ""] + [f"- {cell(e.text(lang))}" for e in d.notes]
        out.append("")
    out += [w("md.h.verdict"), "", w("md.verdict_cols"), "|---|---|---|"]
    out += [f"| {cell(c.name_in(lang))} | {ICONS[c.shown] if lang == 'en' else c.status_in(lang)} | "
            f"{cell(c.evidence_in(lang))} |" for c in verdict.criteria]
    out += _findings_md(run, w, recs) + _recommendations_md(run, recs, w) + _answers_md(run, w) + _qa_md(run, w)
    out += _run_md(run, w)
    return "\n".join(out) + "\n"


def _findings_md(run: RunData, w: Words, recs: Recommendations) -> list[str]:
    lang = w.language
    out = ["", w("md.h.findings"), ""]
    if not run.findings:
        out.append(w("md.no_findings"))
    for f in sorted(run.findings, key=lambda f: (f.source != "audit", f.step if f.step is not None else -1)):
        where = when_text(f, lang) or w("md.audit")
        ov = (f.evidence or {}).get("severity_override")
        set_by = w("md.set_by", key=ov.get("set_by"), default=ov.get("default")) if isinstance(ov, dict) else ""
        sev = f.severity if lang == "en" else w(f"sev.{f.severity}")
        out.append(f"- **{f.code}** ({sev}{cell(set_by)}, {where}): {cell(f.message_in(lang))}")
        if f.evidence:
            ev = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in f.evidence.items()
                           if not isinstance(v, (list, dict)))
            if ev:
                out.append(w("md.evidence", v=cell(ev)))
        if f.recommendation:
            note = superseded(f, recs.diagnosis, lang)
            out.append(w("md.do", v=cell(f.recommendation_in(lang) + (f" {note}" if note else ""))))
    return out


def _recommendations_md(run: RunData, recs: Recommendations, w: Words) -> list[str]:
    lang = w.language
    d = recs.diagnosis
    out = ["", w("md.h.recommendations"), ""]
    if d is not None:
        out += [w("md.rec_lead", label=d.label(lang)), ""]
    if not recs.changes and not recs.actions:
        out.append(w("md.nothing"))
    for a in recs.actions:
        out.append(f"- {cell(a.text_in(lang))}" + (f" ({', '.join(a.codes)})" if a.codes else ""))
    if recs.changes:
        out += ["", w("md.rec_cols"), "|---|---|---|---|"]
        why = {c.key: c.reason_in(lang) for c in recs.changes}
        out += [f"| `{k}` | {cell(format_value(a))} | {cell(format_value(b))} | {cell(why.get(k, ''))} |"
                for k, a, b in recs.diff()]
        next_dir = str(run.run_dir.parent / f"{run.name}-next")
        explained = [] if lang == "en" else ["", w("rec.set_explained")]
        out += explained + ["", fence(recs.command(config_path_for(run), next_dir, multiline=True)), "",
                            w("md.same_config", file=run.run_dir / RECOMMENDED_CONFIG, config=config_path_for(run))]
    from tuneguard.report.next_steps import next_steps

    steps = next_steps(run, recs)
    if steps:
        out += ["", w("md.h.next_steps")]
        for st in steps:
            out += ["", f"{w('next.' + st['kind'])}:", "", fence(st["command"])]
    return out


def _answers_md(run: RunData, w: Words) -> list[str]:
    rows = answer_rows(run)
    if not rows or not run.qa_base:
        return []
    out = ["", w("md.h.before_after"), ""]
    vs = compare_to_base(rows)
    if vs is not None:
        said = say(f"verdict.qa.vs.{vs[0]}", w.language)
        out += [w("qa.vs_line", vs=said.capitalize() if w.language == "en" else said, after=vs[1], n=vs[3],
                  before=vs[2]), ""]

    def mark(ok: bool | None) -> str:
        return "" if ok is None else w("md.right" if ok else "md.wrong")

    out += [w("md.answers_cols"), "|---|---|---|---|"]
    out += [f"| {cell(r.prompt)} | {cell(' / '.join(r.expected))} | {cell(r.base)}{mark(r.base_correct)} | "
            f"{cell(r.tuned)}{mark(r.tuned_correct)} |" for r in rows]
    return out


def _qa_md(run: RunData, w: Words) -> list[str]:
    out = ["", w("md.h.qa"), ""]
    step = run.qa_best_step()
    samples = run.qa_at(step)
    if not samples:
        out.append(w("md.no_qa"))
        return out
    st = generation_stats(samples)

    def show(v: Any) -> str:
        return w("na") if v is None else fmt(v, 3)

    out.append(w("md.qa_stats", step=step, kw=show(st["keyword_score"]), eos=show(st["eos_share"]),
                 d2=show(st["distinct2"])))
    for s in samples:
        out += ["", w("md.prompt", v=cell(s["prompt"])), "", fence(s["output"])]
    return out


def _run_md(run: RunData, w: Words) -> list[str]:
    na = w("na")
    best = eval_loss_at(run, run.best_step)
    t = timings(run)
    out = ["", w("md.h.run"), "", w("md.run_id", v=run.run_id),
           w("md.times", started=when(t["started"]), wall=duration(t["duration_s"], w.language),
             train=train_time(t, w.language)),
           w("md.best", ckpt=run.meta.get("best_checkpoint") or na,
             step=run.best_step if run.best_step is not None else na, loss=fmt(best[1]) if best else na),
           w("md.exit", v=exit_reason(run, w.language) or na)]
    out += [w("md.notify_stopped", v=cell(line)) for line in notify_stopped(run, w.language)]
    out += [f"- {k}: {cell(v)}" for k, v in run.diagnosis_settings(w.language)]
    env = run.meta.get("environment")
    if isinstance(env, dict) and env:
        out.append(w("md.environment", v=", ".join(f"{k} {v}" for k, v in env.items())))
    return out
