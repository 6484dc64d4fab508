"""RUN_DIR/report.md: the report for a terminal or a repository (no plots; the numbers)."""

from __future__ import annotations

import logging
from typing import Any

from tuneguard.config.diff import format_value
from tuneguard.fmt import seen_text
from tuneguard.report.recommend import RECOMMENDED_CONFIG, Recommendations, config_path_for
from tuneguard.report.rundata import RunData
from tuneguard.report.verdict import Verdict, answer_rows, compare_to_base, eval_loss_at, fmt, generation_stats, versus

log = logging.getLogger(__name__)

ICONS = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN"}


def cell(v: Any) -> str:
    """User text that renders as typed in a table cell or a list item: no pipes or newlines
    to break the table, no raw HTML, and no `*` or backticks to turn into emphasis or code.
    Brackets and colons stay as typed (`[x]` alone is no link; CommonMark has no emoji codes)."""
    s = "" if v is None else str(v)
    return (s.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("*", "\\*").replace("`", "\\`").replace("\r", " ").replace("\n", " "))


def fence(text: str) -> str:
    """A fenced block that the text itself cannot close."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}\n{text}\n{ticks}"


def render_markdown(run: RunData, verdict: Verdict, recs: Recommendations) -> str:
    model = (run.config.get("model") or {}).get("name", "unknown model") if isinstance(run.config, dict) else "?"
    best = eval_loss_at(run, run.best_step)
    d = recs.diagnosis
    out = [f"# tuneguard report: {run.name}", "",
           f"**Verdict: {verdict.overall.upper()}** · model `{model}` · state {run.state} · "
           f"step {run.last_step}" + (f" of {run.max_steps}" if run.max_steps else ""), ""]
    if d is not None:
        out += [f"**{cell(d.line())}**", "", "Decided by:", ""] + [f"- {cell(e.text())}" for e in d.evidence]
        if d.notes:
            out += ["", "Also noticed:", ""] + [f"- {cell(e.text())}" for e in d.notes]
        out.append("")
    out += ["## Verdict", "", "| criterion | result | evidence |", "|---|---|---|"]
    out += [f"| {cell(c.name)} | {ICONS[c.status]} | {cell(c.evidence)} |" for c in verdict.criteria]
    out += ["", "## Findings", ""]
    if not run.findings:
        out.append("No findings.")
    for f in sorted(run.findings, key=lambda f: (f.source != "audit", f.step if f.step is not None else -1)):
        where = "audit" if f.step is None else f"step {f.step}"
        seen = seen_text(f.evidence)
        if seen:
            where += f", {seen}"
        ov = (f.evidence or {}).get("severity_override")
        set_by = f", set by {ov.get('set_by')}; the check said {ov.get('default')}" if isinstance(ov, dict) else ""
        out.append(f"- **{f.code}** ({f.severity}{cell(set_by)}, {where}): {cell(f.message)}")
        if f.evidence:
            ev = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in f.evidence.items()
                           if not isinstance(v, (list, dict)))
            if ev:
                out.append(f"  - evidence: {cell(ev)}")
        if f.recommendation:
            out.append(f"  - do: {cell(f.recommendation)}")
    out += ["", "## Recommendations", ""]
    if d is not None:
        out += [f"Derived from the diagnosis ({d.label()}): every change pulls the way it calls for.", ""]
    if not recs.changes and not recs.actions:
        out.append("Nothing calls for a change.")
    for a in recs.actions:
        out.append(f"- {cell(a.text)} ({', '.join(a.codes)})")
    if recs.changes:
        out += ["", "| key | this run | proposed | why |", "|---|---|---|---|"]
        why = {c.key: c.reason for c in recs.changes}
        out += [f"| `{k}` | {cell(format_value(a))} | {cell(format_value(b))} | {cell(why.get(k, ''))} |"
                for k, a, b in recs.diff()]
        next_dir = str(run.run_dir.parent / f"{run.name}-next")
        out += ["", fence(recs.command(config_path_for(run), next_dir, multiline=True)), "",
                f"The same config: `{run.run_dir / RECOMMENDED_CONFIG}` (`tuneguard config diff "
                f"{config_path_for(run)} {run.run_dir / RECOMMENDED_CONFIG}` shows the changes with their reasons)."]
    from tuneguard.report.next_steps import NEXT_WORDS, next_steps

    steps = next_steps(run, recs)
    if steps:
        out += ["", "### Next steps"]
        for st in steps:
            out += ["", f"{NEXT_WORDS[st['kind']]}:", "", fence(st["command"])]
    rows = answer_rows(run)
    if rows and run.qa_base:
        out += ["", "## Before and after: the base model and the fine-tuned model", ""]
        vs = compare_to_base(rows)
        if vs is not None:
            out += [f"{versus(vs[0]).capitalize()} the base model: {vs[1]} of {vs[3]} expected answers right after "
                    f"fine-tuning, {vs[2]} of {vs[3]} before.", ""]

        def mark(ok: bool | None) -> str:
            return "" if ok is None else (" (right)" if ok else " (wrong)")

        out += ["| prompt | expected | base model | fine-tuned |", "|---|---|---|---|"]
        out += [f"| {cell(r.prompt)} | {cell(' / '.join(r.expected))} | {cell(r.base)}{mark(r.base_correct)} | "
                f"{cell(r.tuned)}{mark(r.tuned_correct)} |" for r in rows]
    out += ["", "## QA samples at the best checkpoint", ""]
    step = run.qa_best_step()
    samples = run.qa_at(step)
    if not samples:
        out.append("No QA samples were recorded.")
    else:
        st = generation_stats(samples)
        def show(v: Any) -> str:
            return "n/a" if v is None else fmt(v, 3)

        out.append(f"Step {step}: keyword score {show(st['keyword_score'])}, EOS share {show(st['eos_share'])}, "
                   f"distinct-2 {show(st['distinct2'])}.")
        for s in samples:
            out += ["", f"**Prompt:** {cell(s['prompt'])}", "", fence(s["output"])]
    out += ["", "## Run", "",
            f"- run id: {run.run_id}", f"- best checkpoint: {run.meta.get('best_checkpoint') or 'n/a'}"
            f" (step {run.best_step if run.best_step is not None else 'n/a'}, "
            f"eval loss {fmt(best[1]) if best else 'n/a'})",
            f"- exit reason: {run.meta.get('exit_reason') or 'n/a'}"]
    out += [f"- {k}: {cell(v)}" for k, v in run.diagnosis_settings()]
    env = run.meta.get("environment")
    if isinstance(env, dict) and env:
        out.append("- environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    return "\n".join(out) + "\n"
