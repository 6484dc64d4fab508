"""RUN_DIR/report.md: the report for a terminal or a repository (no plots; the numbers)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from tuneguard.catalog import TABLE, is_spec, render, say
from tuneguard.catalog.core import _Formatter
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
    s = _inline("" if v is None else str(v))
    return "\\" + s if s.startswith(">") else s


def _inline(s: str, ticks: bool = True) -> str:
    """`cell` without the leading `>` rule; with ticks=False backticks stay (tuneguard's own code spans)."""
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("\r", " ").replace("\n", " ")
    if ticks:
        s = s.replace("`", "\\`")
    return _HTML_START.sub(r"\\<", _ENTITY.sub(r"\\&", s))


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def _code(text: str, table: bool = False) -> str:
    """A code span's content: shown as typed (CommonMark reads no escapes in code); no line
    breaks; in a GFM table a pipe escaped (the table takes `\\|` out before the span is read)."""
    text = text.replace("\r", " ").replace("\n", " ")
    return text.replace("|", "\\|") if table else text


def code(v: Any, table: bool = False) -> str:
    """User text that is a path, a row (file:line) or a command, as a code span that shows it
    as typed: delimited by one backtick more than the longest run of backticks in it (with a
    space inside where it starts or ends with one), so a backtick in it neither ends the span
    nor leaves one unbalanced. `table`: for a GFM table cell (pipes escaped)."""
    text = _code("" if v is None else str(v), table)
    if not text.strip():
        return cell(text)
    ticks = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def prose(text: Any, table: bool = False) -> str:
    """tuneguard's own text (a catalog message, a recommendation) for a table cell or a list
    item: its `code` spans (commands, config keys, paths) render as code, the rest as `cell`.
    For a text kept with its catalog spec, `spec_prose` is exact about which parts are the
    user's; this reads a pair of backticks as a code span. `table`: for a table cell."""
    s = "" if text is None else str(text)
    out, at = [], 0
    for m in _CODE_SPAN.finditer(s):
        out += [_inline(s[at:m.start()]), f"`{_code(m.group(1), table)}`"]
        at = m.end()
    out.append(_inline(s[at:]))
    joined = "".join(out)
    return "\\" + joined if joined.startswith(">") else joined


class _MarkdownFormatter(_Formatter):
    """A catalog spec as markdown: the template's own text keeps its code spans; a parameter (user
    text: a label, a path, a row) is escaped like `cell` outside a code span and goes in as typed
    inside one (where code shows it verbatim), so a backtick in the user's text never makes code."""

    def __init__(self, language: str, table: Any, in_table: bool = False) -> None:
        super().__init__(language, table)
        self.in_table = in_table

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:  # type: ignore[override]
        out, in_code = [], False
        for literal, field, spec, conversion in self.parse(format_string):
            for i, part in enumerate(literal.split("`")):
                if i:
                    out.append("`")
                    in_code = not in_code
                out.append(_code(part, self.in_table) if in_code else _inline(part, ticks=False))
            if field is None:
                continue
            value = self.convert_field(self.get_field(field, args, kwargs)[0], conversion)
            if not in_code:
                out.append(format(self.render(value), spec or "") if is_spec(value) else _inline(format(value, spec or "")))
                continue
            text = format(_Formatter(self.language, self.table).render(value), spec or "")
            # A backtick would end the span: such a value goes in escaped (its backslashes show).
            out.append(_inline(text) if "`" in text else _code(text, self.in_table))
        return "".join(out)

    def render(self, spec: Any) -> str:
        if is_spec(spec) and "join" in spec:
            sep = _inline(self.template(spec["join"]), ticks=False)
            return sep.join(self.render(x) for x in spec.get("items") or [])
        return super().render(spec) if is_spec(spec) else _inline(str(spec))


def spec_prose(spec: Any, fallback: str, language: str, table: bool = False) -> str:
    """`fallback` (a text as stored) for markdown, from the catalog `spec` it was rendered from
    where there is one (`_MarkdownFormatter`), else by `prose`."""
    if is_spec(spec):
        try:
            text = _MarkdownFormatter(language, TABLE, table).render(spec)
            return "\\" + text if text.startswith(">") else text
        except (KeyError, IndexError, ValueError, TypeError):
            pass
    return prose(fallback, table)


def finding_text(f: Any, field: str, language: str) -> str:
    """A finding's message or recommendation for markdown: from its catalog spec (`spec_prose`:
    its code spans render, the user's text in it never becomes code); in English only when the
    spec still renders the English as stored (a catalog edited since reads the stored text)."""
    stored = f.message_in(language) if field == "message" else f.recommendation_in(language)
    spec = (f.text or {}).get(field)
    if language == "en" and is_spec(spec):
        try:
            same = render(spec, "en") == stored
        except (KeyError, IndexError, ValueError, TypeError):
            same = False
        spec = spec if same else None
    return spec_prose(spec, stored, language)


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
        out += [f"**{prose(d.line(lang))}**", "", w("decided_by"), ""] + [f"- {prose(e.text(lang))}" for e in d.evidence]
        if d.notes:
            out += ["", w("also_noticed"), ""] + [f"- {prose(e.text(lang))}" for e in d.notes]
        out.append("")
    out += [w("md.h.verdict"), "", w("md.verdict_cols"), "|---|---|---|"]
    out += [f"| {prose(c.name_in(lang), table=True)} | {ICONS[c.shown] if lang == 'en' else c.status_in(lang)} | "
            f"{prose(c.evidence_in(lang), table=True)} |" for c in verdict.criteria]
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
        out.append(f"- **{f.code}** ({sev}{cell(set_by)}, {where}): {finding_text(f, 'message', lang)}")
        if f.evidence:
            ev = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in f.evidence.items()
                           if not isinstance(v, (list, dict)))
            if ev:
                out.append(w("md.evidence", v=cell(ev)))
        if f.recommendation:
            note = superseded(f, recs.diagnosis, lang)
            out.append(w("md.do", v=finding_text(f, "recommendation", lang) + (f" {prose(note)}" if note else "")))
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
        out.append(f"- {prose(a.text_in(lang))}" + (f" ({', '.join(a.codes)})" if a.codes else ""))
    if recs.changes:
        out += ["", w("md.rec_cols"), "|---|---|---|---|"]
        why = {c.key: c.reason_in(lang) for c in recs.changes}
        out += [f"| `{k}` | {cell(format_value(a))} | {cell(format_value(b))} | {prose(why.get(k, ''), table=True)} |"
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
    adapter = Path(run.run_dir) / "adapter"
    if (adapter / "adapter_config.json").exists():
        out.append(w("md.adapter", path=cell(str(adapter))))
    out += [w("md.notify_stopped", v=cell(line)) for line in notify_stopped(run, w.language)]
    out += [f"- {k}: {cell(v)}" for k, v in run.diagnosis_settings(w.language)]
    env = run.meta.get("environment")
    if isinstance(env, dict) and env:
        out.append(w("md.environment", v=", ".join(f"{k} {v}" for k, v in env.items())))
    return out
