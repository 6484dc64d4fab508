"""`write_compare`: two runs on one page, the way a "v1 vs v2" decision gets made.

Both runs' curves overlaid on one step axis (A solid blue, B solid orange; eval dashed),
the config diff, both verdicts side by side, and the QA answers of both at their best
checkpoints.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tuneguard.config.diff import diff_configs, format_value
from tuneguard.report.components import (
    badge,
    esc,
    figure,
    gap_series,
    page,
    pill,
    prompts_in_order,
    qa_cell,
    step_range,
    when,
)
from tuneguard.report.html import timings, write_atomic
from tuneguard.report.output import check_output
from tuneguard.report.plots import PALETTE, Series, line_chart
from tuneguard.report.rundata import RunData, load_run
from tuneguard.report.verdict import Verdict, compute_verdict, eval_loss_at, fmt

log = logging.getLogger(__name__)

COLORS = (PALETTE[0], PALETTE[1])


def default_compare_path(run_a: RunData, run_b: RunData) -> Path:
    return run_a.run_dir.parent / f"compare_{run_a.name}_vs_{run_b.name}.html"


def _labels(a: RunData, b: RunData) -> tuple[str, str]:
    if a.name != b.name:
        return a.name, b.name
    return f"A: {a.name}", f"B: {b.name}"


def compare_plots(a: RunData, b: RunData) -> list[str]:
    """Both runs' curves overlaid on one step axis (A blue, B orange; eval dashed)."""
    la, lb = _labels(a, b)
    runs = ((a, la, COLORS[0]), (b, lb, COLORS[1]))
    xr = step_range(a, b)

    def chart(series: list[Series], title: str, y_label: str, **kw: Any) -> str | None:
        return line_chart(series, title=title, y_label=y_label, x_range=xr, **kw)

    def each(column: str) -> list[Series]:
        return [Series(label, run.series("train", column), color) for run, label, color in runs]

    loss = []
    for run, label, color in runs:
        loss.append(Series(f"{label} train", run.series("train", "loss"), color))
        loss.append(Series(f"{label} eval", run.series("eval", "eval_loss"), color, dash="6 4", dots=True))
    gaps = [Series(label, gap_series(run), color, dots=True) for run, label, color in runs]
    return [
        figure("Loss", chart(loss, "Loss", "loss"), "solid: train, dashed: eval"),
        figure("Loss, log scale", chart(loss, "Loss, log scale", "loss", log_y=True)),
        figure("Eval − train gap", chart(gaps, "Eval - train gap", "gap")),
        figure("Learning rate", chart(each("learning_rate"), "Learning rate", "lr")),
        figure("Gradient norm", chart(each("grad_norm"), "Gradient norm", "norm")),
        figure("Throughput", chart(each("tokens_per_s"), "Throughput", "tokens/s")),
    ]


def _verdicts(a: RunData, b: RunData, va: Verdict, vb: Verdict) -> str:
    la, lb = _labels(a, b)
    rows = []
    for ca, cb in zip(va.criteria, vb.criteria, strict=True):
        rows.append(f"<tr><td>{esc(ca.name)}</td><td>{pill(ca.status)}<div class=\"small muted\">{esc(ca.evidence)}"
                    f"</div></td><td>{pill(cb.status)}<div class=\"small muted\">{esc(cb.evidence)}</div></td></tr>")
    head = (f"<tr><th>criterion</th><th>{esc(la)} {pill(va.overall)}</th><th>{esc(lb)} {pill(vb.overall)}</th></tr>")
    return f'<table class="verdict-pair"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _summary(a: RunData, b: RunData) -> str:
    la, lb = _labels(a, b)

    def facts(r: RunData) -> list[str]:
        best = eval_loss_at(r, r.best_step)
        test = [x for x in r.test if x.get("eval_loss") is not None]
        train = [x["loss"] for x in r.train if x.get("loss") is not None]
        t = timings(r)
        return [r.state, f"{r.last_step}" + (f" / {r.max_steps}" if r.max_steps else ""),
                fmt(train[-1]) if train else "n/a", f"{fmt(best[1])} @ {best[0]}" if best else "n/a",
                fmt(test[-1]["eval_loss"]) if test else "n/a",
                fmt(t["median_tokens_per_s"], 4) if t["median_tokens_per_s"] else "n/a", str(len(r.findings))]

    names = ["state", "steps", "final train loss", "best eval loss", "test loss", "median tokens/s", "findings"]
    rows = "".join(f"<tr><td>{esc(n)}</td><td class=\"num\">{esc(x)}</td><td class=\"num\">{esc(y)}</td></tr>"
                   for n, x, y in zip(names, facts(a), facts(b), strict=True))
    return (f'<table class="kv"><thead><tr><th></th><th class="num">{esc(la)}</th><th class="num">{esc(lb)}</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _config_diff(a: RunData, b: RunData) -> str:
    la, lb = _labels(a, b)
    rows = diff_configs(a.config, b.config)
    if not rows:
        return '<p class="muted">The two runs used the same config.</p>'
    body = "".join(f'<tr><td class="key">{esc(k)}</td><td>{esc(format_value(x))}</td>'
                   f'<td>{esc(format_value(y))}</td></tr>'
                   for k, x, y in rows)
    return (f'<table class="config-diff"><thead><tr><th>key</th><th>{esc(la)}</th><th>{esc(lb)}</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _qa(a: RunData, b: RunData) -> str:
    la, lb = _labels(a, b)
    sa, sb = a.qa_best_step(), b.qa_best_step()
    qa_a, qa_b = a.qa_at(sa), b.qa_at(sb)
    if not qa_a and not qa_b:
        return '<p class="muted">Neither run recorded QA samples.</p>'
    blocks = []
    for prompt in prompts_in_order(qa_a + qa_b):
        cells = []
        for samples, label, step in ((qa_a, la, sa), (qa_b, lb, sb)):
            match = [s for s in samples if s["prompt"] == prompt]
            if match:
                cells.append(qa_cell(match[0], f"{label} · step {step}", False))
            else:
                cells.append(f'<div class="qa-cell"><div class="step">{esc(label)}</div>'
                             f'<p class="muted">not probed</p></div>')
        kws = next((s.get("keywords") for s in qa_a + qa_b if s["prompt"] == prompt and s.get("keywords")), [])
        kw = f'<div class="small muted">keywords: {esc(", ".join(map(str, kws)))}</div>' if kws else ""
        blocks.append(f'<div class="qa-prompt"><div class="q"><pre>{esc(prompt)}</pre>{kw}</div>'
                      f'<div class="side">{"".join(cells)}</div></div>')
    return "".join(blocks)


def render_compare(a: RunData, b: RunData) -> str:
    va, vb = compute_verdict(a), compute_verdict(b)
    la, lb = _labels(a, b)
    body = f"""
<header class="hero"><div class="wrap"><div><div class="eyebrow">tuneguard compare</div>
<h1>{esc(la)} <span class="muted" style="color:#9fb0d0">vs</span> {esc(lb)}</h1>
<div class="sub"><span>{esc(la)}: {esc(va.overall)}</span><span>{esc(lb)}: {esc(vb.overall)}</span></div></div>
<div style="display:flex;gap:12px">{badge(va)}{badge(vb)}</div></div></header>
<nav class="toc"><div class="wrap"><a href="#summary">Summary</a><a href="#plots">Curves</a>
<a href="#config">Config diff</a><a href="#verdicts">Verdicts</a><a href="#qa">QA at best checkpoints</a></div></nav>
<main class="wrap">
<section id="summary"><h2>Summary</h2>{_summary(a, b)}</section>
<section id="plots"><h2>Curves on one step axis</h2><p class="note">{esc(la)} in blue, {esc(lb)} in orange.</p>
<div class="plots">{"".join(compare_plots(a, b))}</div></section>
<section id="config"><h2>Config diff</h2>{_config_diff(a, b)}</section>
<section id="verdicts"><h2>Verdicts</h2>{_verdicts(a, b, va, vb)}</section>
<section id="qa"><h2>QA samples at the best checkpoints</h2>{_qa(a, b)}</section>
<footer>generated by tuneguard on {esc(when(time.time()))}</footer>
</main>"""
    return page(f"tuneguard compare: {la} vs {lb}", body)


def write_compare(run_a: str | Path, run_b: str | Path, out: str | Path | None = None, *,
                  force: bool = False) -> Path:
    """Write the compare page; default path: next to RUN_A, compare_A_vs_B.html.

    Raises OutputRefused when the path is not this command's to write (`force`: any regular file)."""
    a, b = load_run(run_a), load_run(run_b)
    path = Path(out) if out else default_compare_path(a, b)
    check_output(path, force, "compare page")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render_compare(a, b))
    log.info("compare page written: %s", path)
    return path
