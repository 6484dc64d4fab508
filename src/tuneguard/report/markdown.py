"""RUN_DIR/report.md: the report for a terminal or a repository (no plots; the numbers)."""

from __future__ import annotations

import logging
from typing import Any

from tuneguard.config.diff import format_value
from tuneguard.report.recommend import Recommendations, config_path_for
from tuneguard.report.rundata import RunData
from tuneguard.report.verdict import Verdict, eval_loss_at, fmt, generation_stats

log = logging.getLogger(__name__)

ICONS = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN"}


def cell(v: Any) -> str:
    """Text safe inside a Markdown table cell: no pipes, no newlines, no raw HTML."""
    s = "" if v is None else str(v)
    return (s.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", " ").replace("\n", " "))


def fence(text: str) -> str:
    """A fenced block that the text itself cannot close."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}\n{text}\n{ticks}"


def render_markdown(run: RunData, verdict: Verdict, recs: Recommendations) -> str:
    model = (run.config.get("model") or {}).get("name", "unknown model") if isinstance(run.config, dict) else "?"
    best = eval_loss_at(run, run.best_step)
    out = [f"# tuneguard report: {run.name}", "",
           f"**Verdict: {verdict.overall.upper()}** · model `{model}` · state {run.state} · "
           f"step {run.last_step}" + (f" of {run.max_steps}" if run.max_steps else ""), "",
           "## Verdict", "", "| criterion | result | evidence |", "|---|---|---|"]
    out += [f"| {cell(c.name)} | {ICONS[c.status]} | {cell(c.evidence)} |" for c in verdict.criteria]
    out += ["", "## Findings", ""]
    if not run.findings:
        out.append("No findings.")
    for f in sorted(run.findings, key=lambda f: (f.source != "audit", f.step if f.step is not None else -1)):
        where = "audit" if f.step is None else f"step {f.step}"
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
    if not recs.changes and not recs.actions:
        out.append("No finding calls for a change.")
    for a in recs.actions:
        out.append(f"- {cell(a.text)} ({', '.join(a.codes)})")
    if recs.changes:
        out += ["", "| key | this run | proposed | why |", "|---|---|---|---|"]
        why = {c.key: c.reason for c in recs.changes}
        out += [f"| `{k}` | {cell(format_value(a))} | {cell(format_value(b))} | {cell(why.get(k, ''))} |"
                for k, a, b in recs.diff()]
        next_dir = str(run.run_dir.parent / f"{run.name}-next")
        out += ["", fence(recs.command(config_path_for(run), next_dir, multiline=True))]
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
