"""HTML building blocks shared by the run report and the compare page.

Everything that comes from a run (config values, prompts, model outputs, finding text) goes
through `esc`: a model output is untrusted text and must never become markup.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from html import escape
from importlib import resources
from typing import Any, Iterable

from tuneguard.findings import Finding
from tuneguard.fmt import seen_text
from tuneguard.report.plots import (
    PALETTE,
    SEVERITY_COLORS,
    HLine,
    Series,
    VMark,
    action_marks,
    line_chart,
)
from tuneguard.report.rundata import RunData, is_finite
from tuneguard.report.verdict import Verdict, fmt, train_loss_at

log = logging.getLogger(__name__)


def esc(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def css() -> str:
    return (resources.files("tuneguard.report") / "templates" / "report.css").read_text("utf-8")


# Marks a page as tuneguard's own output: `report --out` and `compare --out` replace such a
# file, and refuse any other without --force (tuneguard.report.output).
GENERATOR_META = '<meta name="generator" content="tuneguard">'


def page(title: str, body: str) -> str:
    """A whole HTML document: inline CSS, no scripts, no external resources."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"{GENERATOR_META}<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>\n{css()}\n</style></head>\n<body>\n{body}\n</body></html>\n")


def pill(status: str) -> str:
    return f'<span class="pill {esc(status)}">{esc(status)}</span>'


BADGE_WORDS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}


def badge(verdict: Verdict) -> str:
    n = len(verdict.criteria)
    failed = sum(c.status == "fail" for c in verdict.criteria)
    passed = sum(c.status == "pass" for c in verdict.criteria)
    why = (f"{failed} of {n} criteria failed" if failed else
           f"all {n} criteria passed" if passed == n else f"{passed} of {n} passed, {n - passed} unknown")
    return (f'<div class="badge {verdict.overall}"><div class="word">{BADGE_WORDS[verdict.overall]}</div>'
            f'<div class="why">{esc(why)}</div></div>')


def kv_table(rows: Iterable[tuple[str, Any]], cls: str = "kv") -> str:
    body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}"><tbody>{body}</tbody></table>'


def when(ts: Any) -> str:
    """A timestamp (epoch seconds or ISO text) as local 'YYYY-MM-DD HH:MM:SS'."""
    if ts is None:
        return "n/a"
    if isinstance(ts, (int, float)):
        return _dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M:%S")
    return str(ts)


def to_epoch(ts: Any) -> float | None:
    if isinstance(ts, (int, float)):
        return float(ts)
    if isinstance(ts, str):
        try:
            return _dt.datetime.fromisoformat(ts).timestamp()
        except ValueError:
            return None
    return None


def duration(seconds: float | None) -> str:
    if seconds is None or not is_finite(seconds) or seconds < 0:
        return "n/a"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s" if m else f"{s}s"


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


def finding_item(f: Finding) -> str:
    when_ = "pre-flight audit" if f.step is None else f"step {f.step}"
    seen = seen_text(f.evidence)
    if seen:
        when_ += f", {seen}"
    ov = (f.evidence or {}).get("severity_override")
    if isinstance(ov, dict):
        when_ += f" · severity set by {ov.get('set_by')} (the check said {ov.get('default')})"
    rec = f'<div class="rec"><b>Do:</b> {esc(f.recommendation)}</div>' if f.recommendation else ""
    return (f'<li class="finding {esc(f.severity)}"><div class="finding-head">{pill(f.severity)}'
            f'<span class="code">{esc(f.code)}</span><span class="when">{esc(when_)} · {esc(f.source)}</span></div>'
            f'<p>{esc(f.message)}</p>{rec}{evidence_html(f.evidence or {})}</li>')


def ordered_findings(findings: list[Finding]) -> list[Finding]:
    """Audit findings first (they precede training), then guard findings by step."""
    return sorted(findings, key=lambda f: (f.source != "audit", f.step if f.step is not None else -1))


def figure(title: str, svg: str | None, note: str = "") -> str:
    body = svg if svg else '<div class="nodata">no data recorded for this plot</div>'
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


def finding_marks(run: RunData) -> list[VMark]:
    return [VMark(f.step, f.code, SEVERITY_COLORS.get(f.severity, SEVERITY_COLORS["warning"]),
                  f"{f.code} at step {f.step}: {f.message}")
            for f in run.findings if f.step is not None]


def step_range(*runs: RunData) -> tuple[float, float] | None:
    steps = [float(r["step"]) for run in runs for r in run.train + run.evals]
    return (min(steps), max(steps)) if steps else None


def run_plots(run: RunData, max_final_gap: float) -> list[str]:
    """The figures of one run's report, in reading order, all on the run's step range."""
    xr = step_range(run)

    def chart(series: list[Series], title: str, y_label: str, **kw: Any) -> str | None:
        return line_chart(series, title=title, y_label=y_label, x_range=xr, **kw)

    loss = [Series("train loss", run.series("train", "loss"), PALETTE[0]),
            Series("eval loss", run.series("eval", "eval_loss"), PALETTE[1], dots=True)]
    test = [r for r in run.test if is_finite(r.get("eval_loss"))]
    hl = [HLine(test[-1]["eval_loss"], f"test loss {fmt(test[-1]['eval_loss'])}", PALETTE[2])] if test else []
    marks = finding_marks(run) + action_marks(run.events)  # policy actions too
    spikes = [m for m in marks if m.label in ("GRAD_NORM_HIGH", "LOSS_SPIKE", "NON_FINITE")]
    gap_hl = [HLine(max_final_gap, f"max_final_gap {fmt(max_final_gap)}", SEVERITY_COLORS["error"])]
    mem = [Series(label, run.series("train", col), color) for label, col, color in (
        ("allocated", "mem_allocated_gb", PALETTE[0]), ("reserved", "mem_reserved_gb", PALETTE[1]),
        ("process RSS", "rss_gb", PALETTE[2]))]
    totals = [v for _, v in run.series("train", "mem_total_gb") if is_finite(v)]
    mem_hl = [HLine(max(totals), f"device total {fmt(max(totals), 3)} GB", "#888888")] if totals else []
    return [
        figure("Loss", chart(loss, "Loss", "loss", vmarks=marks, hlines=hl),
               "findings and policy actions marked at their step"),
        figure("Loss, log scale", chart(loss, "Loss, log scale", "loss", log_y=True, vmarks=marks, hlines=hl)),
        figure("Eval − train gap", chart([Series("eval − train", gap_series(run), PALETTE[3], dots=True)],
                                         "Eval - train gap", "gap", hlines=gap_hl)),
        figure("Learning rate", chart([Series("learning rate", run.series("train", "learning_rate"), PALETTE[2])],
                                      "Learning rate", "lr")),
        figure("Gradient norm", chart([Series("grad norm", run.series("train", "grad_norm"), PALETTE[5])],
                                      "Gradient norm", "norm", vmarks=spikes)),
        figure("Throughput", chart([Series("tokens/s", run.series("train", "tokens_per_s"), PALETTE[4])],
                                   "Throughput", "tokens/s")),
        figure("Step time", chart([Series("seconds per step", run.series("train", "step_time_s"), PALETTE[7])],
                                  "Step time", "s")),
        figure("Memory", chart(mem, "Memory", "GB", hlines=mem_hl)),
    ]


def qa_cell(sample: dict[str, Any], heading: str, best: bool) -> str:
    ks = sample.get("keyword_score")
    chips = []
    if sample.get("expected") and sample.get("correct") is not None:
        ok = bool(sample["correct"])
        chips.append(f'<span class="chip {"good" if ok else "bad"}">{"right" if ok else "wrong"}</span>')
    if is_finite(ks) and sample.get("keywords"):
        chips.append(f'<span class="chip {"good" if ks >= 0.5 else "bad"}">keywords {fmt(ks, 2)}</span>')
    eos = bool(sample.get("emitted_eos"))
    chips.append(f'<span class="chip {"good" if eos else "bad"}">{"EOS" if eos else "no EOS"}</span>')
    d2 = sample.get("distinct2")
    if is_finite(d2):
        chips.append(f'<span class="chip {"good" if d2 >= 0.5 else "bad"}">distinct-2 {fmt(d2, 2)}</span>')
    star = " ★ best" if best else ""
    return (f'<div class="qa-cell{" best" if best else ""}"><div class="step">{esc(heading)}{star}</div>'
            f'<pre>{esc(sample.get("output", ""))}</pre>{"".join(chips)}</div>')


def qa_prompt_block(prompt: str, keywords: list[str], cells: list[str], expected: list[str] | None = None) -> str:
    kw = (f'<div class="small muted">keywords: {esc(", ".join(map(str, keywords)))}</div>' if keywords else "")
    if expected:
        kw += f'<div class="small muted">expected: {esc(" / ".join(map(str, expected)))}</div>'
    return (f'<div class="qa-prompt"><div class="q"><pre>{esc(prompt)}</pre>{kw}</div>'
            f'<div class="qa-row">{"".join(cells)}</div></div>')


def prompts_in_order(samples: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(s["prompt"] for s in samples))


def verdict_table(verdict: Verdict) -> str:
    rows = "".join(f"<tr><td>{esc(c.name)}</td><td>{pill(c.status)}</td><td>{esc(c.evidence)}"
                   f"{_codes(c.codes)}</td></tr>" for c in verdict.criteria)
    return (f'<table class="verdict"><thead><tr><th>criterion</th><th>result</th><th>evidence</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _codes(codes: list[str]) -> str:
    return f'<div class="codes">{esc(", ".join(codes))}</div>' if codes else ""
