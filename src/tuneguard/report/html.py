"""`write_report`: the run report, one self-contained HTML page plus RUN_DIR/report.md.

The page answers, in order: what went on (the diagnosis, with the evidence that decided
it), is the model good (verdict), why (plots, findings), what to change (recommendations
derived from the diagnosis, with a ready command and RUN_DIR/recommended.yaml), what it
says (its answers beside the base model's, QA samples per evaluation), and what ran
(config, environment, timings, best checkpoint).
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any

from tuneguard.config.diff import format_value
from tuneguard.config.load import dump_yaml
from tuneguard.report.components import (
    badge,
    duration,
    esc,
    finding_item,
    kv_table,
    ordered_findings,
    page,
    prompts_in_order,
    qa_cell,
    qa_prompt_block,
    run_plots,
    to_epoch,
    verdict_table,
    when,
)
from tuneguard.diagnosis import Diagnosis
from tuneguard.report.markdown import render_markdown
from tuneguard.report.output import check_output
from tuneguard.report.recommend import (
    RECOMMENDED_CONFIG,
    Recommendations,
    config_path_for,
    recommend_for_run,
    recommended_yaml,
)
from tuneguard.report.rundata import RunData, is_finite, load_run
from tuneguard.report.verdict import (
    Thresholds,
    Verdict,
    answer_rows,
    compare_to_base,
    compute_verdict,
    eval_loss_at,
    fmt,
    versus,
)

log = logging.getLogger(__name__)

REPORT_HTML = "report.html"
REPORT_MD = "report.md"

KEY_SETTINGS = (
    "model.name", "model.dtype", "lora.r", "lora.alpha", "lora.dropout", "data.train_file",
    "data.max_length", "train.learning_rate", "train.num_epochs", "train.max_steps", "train.batch_size",
    "train.gradient_accumulation_steps", "train.lr_scheduler", "train.weight_decay", "eval.steps",
    "eval.early_stopping_patience",
)


def write_report(run_dir: str | Path, out: str | Path | None = None, *, force: bool = False) -> Path:
    """Write the HTML report (to `out`, default RUN_DIR/report.html), RUN_DIR/report.md and,
    when the recommendations change the config, RUN_DIR/recommended.yaml (removed when a
    later report has no change to recommend).

    Returns the HTML path. Raises FileNotFoundError when RUN_DIR has no run store, and
    OutputRefused when the HTML path is not this command's to write (`force`: any regular file).
    """
    run = load_run(run_dir)
    html_path = Path(out) if out else run.run_dir / REPORT_HTML
    check_output(html_path, force, "report")
    verdict = compute_verdict(run)
    recs = recommend_for_run(run)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(html_path, render_html(run, verdict, recs))
    md_path = run.run_dir / REPORT_MD
    write_atomic(md_path, render_markdown(run, verdict, recs))
    rec_path = run.run_dir / RECOMMENDED_CONFIG
    if recs.changes:
        write_atomic(rec_path, recommended_yaml(recs, str(run.run_dir)))
    else:
        rec_path.unlink(missing_ok=True)
    # debug: the commands say where the report went
    log.debug("report written: %s (%s; diagnosis %s), %s", html_path, verdict.overall,
              recs.diagnosis.kind if recs.diagnosis else "n/a", md_path)
    return html_path


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a full disk leaves the previous report
    whole (and no half-written one), and raises for the caller to report."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def next_run_dir(run: RunData) -> str:
    return str(run.run_dir.parent / f"{run.name}-next")


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for p in dotted.split("."):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def timings(run: RunData) -> dict[str, Any]:
    """Start, end, duration, median step time and throughput of a run."""
    m = run.meta
    start = to_epoch(m.get("started")) or to_epoch(m.get("created"))
    end = to_epoch(m.get("ended"))
    if end is None and run.train:
        end = max(r.get("time") or 0 for r in run.train + run.evals) or None
    step_times = [r["step_time_s"] for r in run.train if is_finite(r.get("step_time_s"))]
    tps = [r["tokens_per_s"] for r in run.train if is_finite(r.get("tokens_per_s"))]
    return {
        "started": m.get("started") or m.get("created"), "ended": m.get("ended"),
        "duration_s": (end - start) if start and end else None,
        "median_step_time_s": statistics.median(step_times) if step_times else None,
        "median_tokens_per_s": statistics.median(tps) if tps else None,
    }


def _summary_cards(run: RunData) -> str:
    t = timings(run)
    best = eval_loss_at(run, run.best_step)
    last_train = [r["loss"] for r in run.train if r.get("loss") is not None]
    test = [r for r in run.test if r.get("eval_loss") is not None]
    steps = f"{run.last_step}" + (f" / {run.max_steps}" if run.max_steps else "")
    cards = [
        ("state", run.state), ("steps", steps),
        ("final train loss", fmt(last_train[-1]) if last_train else "n/a"),
        ("best eval loss", f"{fmt(best[1])} @ {best[0]}" if best else "n/a"),
        ("test loss", fmt(test[-1]["eval_loss"]) if test else "n/a"),
        ("duration", duration(t["duration_s"])),
        ("median tokens/s", fmt(t["median_tokens_per_s"], 4) if t["median_tokens_per_s"] else "n/a"),
        ("findings", str(len(run.findings))),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v{" smallv" if len(str(v)) > 14 else ""}">'
        f"{esc(v)}</div></div>" for k, v in cards) + "</div>"


def _diagnosis_html(d: Diagnosis | None) -> str:
    if d is None:
        return ""
    ev = "".join(f"<li>{esc(e.text())}</li>" for e in d.evidence)
    notes = "".join(f"<li>{esc(e.text())}</li>" for e in d.notes)
    codes = f'<div class="codes">{esc(", ".join(d.codes))}</div>' if d.codes else ""
    return (f'<section id="diagnosis" class="diagnosis {esc(d.kind)}"><h2>Diagnosis: {esc(d.label())}</h2>'
            f'<p class="means">{esc(d.means()[:1].upper() + d.means()[1:])}.</p>'
            f'<div class="small muted">Decided by:</div><ul>{ev}</ul>{codes}'
            + (f'<div class="small muted">Also noticed:</div><ul>{notes}</ul>' if notes else "") + "</section>")


def _answers_html(run: RunData) -> str:
    """The probes' answers side by side: the base model's and the fine-tuned model's."""
    rows = answer_rows(run)
    if not rows or not run.qa_base:
        return ""

    def mark(ok: bool | None) -> str:
        return "" if ok is None else f'<span class="chip {"good" if ok else "bad"}">{"right" if ok else "wrong"}</span>'

    body = "".join(
        f"<tr><td><pre>{esc(r.prompt)}</pre></td><td><pre>{esc(' | '.join(r.expected)) if r.expected else ''}</pre>"
        f"</td><td><pre>{esc(r.base if r.base is not None else 'n/a')}</pre>{mark(r.base_correct)}</td>"
        f"<td><pre>{esc(r.tuned)}</pre>{mark(r.tuned_correct)}</td></tr>" for r in rows)
    vs = compare_to_base(rows)
    head = ""
    if vs is not None:
        word, after, before, n = vs
        head = (f"<p><b>{esc(versus(word).capitalize())}</b> the base model: {after} of {n} expected answers right after "
                f"fine-tuning, {before} of {n} before.</p>")
    return (f"<h3>Before and after: the base model and the fine-tuned model (step {run.qa_best_step()})</h3>{head}"
            '<table class="answers"><thead><tr><th>prompt</th><th>expected</th><th>base model</th>'
            f"<th>fine-tuned</th></tr></thead><tbody>{body}</tbody></table>")


def _recommendations_html(run: RunData, recs: Recommendations) -> str:
    d = recs.diagnosis
    lead = (f'<p>Derived from the diagnosis (<b>{esc(d.label())}</b>): every change below pulls the way it '
            "calls for.</p>") if d else ""
    if not recs.changes and not recs.actions:
        return lead + ('<p class="muted">Nothing calls for a change: this run\'s config can be reused as is.</p>')
    parts = [lead]
    if recs.actions:
        parts.append("<h3>Fix first (outside the config)</h3><ul class=\"actions\">" + "".join(
            f'<li>{esc(a.text)} <span class="codes">{esc(", ".join(a.codes))}</span></li>' for a in recs.actions)
            + "</ul>")
    if recs.changes:
        reasons = {c.key: c for c in recs.changes}
        rows = "".join(
            f'<tr><td class="key">{esc(k)}</td><td class="old">{esc(format_value(a))}</td>'
            f'<td class="new">{esc(format_value(b))}</td><td>{esc(reasons[k].reason) if k in reasons else ""}'
            f'<div class="codes">{esc(", ".join(reasons[k].codes)) if k in reasons else ""}</div></td></tr>'
            for k, a, b in recs.diff())
        parts.append("<h3>Config changes</h3><table><thead><tr><th>key</th><th>this run</th><th>proposed</th>"
                     f"<th>why</th></tr></thead><tbody>{rows}</tbody></table>")
        rec_file = str(run.run_dir / RECOMMENDED_CONFIG)
        parts.append('<h3>Next run</h3><pre class="cmd">' +
                     esc(recs.command(config_path_for(run), next_run_dir(run), multiline=True)) + "</pre>"
                     f'<p class="small">The same config is written to <code>{esc(rec_file)}</code>: '
                     f'<code>tuneguard config diff {esc(config_path_for(run))} {esc(rec_file)}</code> shows these '
                     "changes with their reasons.</p>")
        if "***" in str(run.config.get("notify", {})):
            parts.append('<p class="note">Secrets were redacted in config.yaml: set notify.urls again '
                         '(e.g. --set \'notify.urls=["${LINE_URL}"]\').</p>')
    from tuneguard.report.next_steps import NEXT_WORDS, next_steps

    steps = next_steps(run, recs)
    if steps:
        parts.append("<h3>Next steps</h3>" + "".join(
            f'<p class="small">{NEXT_WORDS[st["kind"]]}:</p><pre class="cmd">{esc(st["command"])}</pre>'
            for st in steps))
    return "".join(parts)


def _qa_html(run: RunData) -> str:
    if not run.qa:
        return '<p class="muted">No QA samples were recorded (set eval.qa_probes in the config).</p>'
    best = run.qa_best_step()
    blocks = []
    for prompt in prompts_in_order(run.qa):
        samples = [s for s in run.qa if s["prompt"] == prompt]
        cells = [qa_cell(s, f"step {s['step']}", s["step"] == best) for s in samples]
        blocks.append(qa_prompt_block(prompt, samples[0].get("keywords") or [], cells, samples[0].get("expected")))
    return "".join(blocks)


def _run_details(run: RunData) -> str:
    cfg = run.config
    settings = kv_table([(k, format_value(_get(cfg, k))) for k in KEY_SETTINGS if _get(cfg, k) is not None]
                        + run.diagnosis_settings())
    env = run.meta.get("environment") if isinstance(run.meta.get("environment"), dict) else {}
    env_table = kv_table(list(env.items())) if env else '<p class="muted">not recorded</p>'
    t = timings(run)
    best_step = run.best_step
    best = eval_loss_at(run, best_step)
    timing_rows = [
        ("run id", run.run_id), ("run directory", str(run.run_dir)), ("state", run.state),
        ("exit reason", run.meta.get("exit_reason") or "n/a"),
        ("started", when(t["started"])), ("ended", when(t["ended"])), ("duration", duration(t["duration_s"])),
        ("median step time", f"{fmt(t['median_step_time_s'], 3)} s" if t["median_step_time_s"] else "n/a"),
        ("median tokens/s", fmt(t["median_tokens_per_s"], 4) if t["median_tokens_per_s"] else "n/a"),
        ("best checkpoint", run.meta.get("best_checkpoint") or "n/a"),
        ("best step", best_step if best_step is not None else "n/a"),
        ("eval loss at best", fmt(best[1]) if best else "n/a"),
    ]
    events = run.events
    ev_rows = "".join(
        f"<tr><td>{esc(when(e['time']))}</td><td class=\"num\">{esc(e['step'] if e['step'] is not None else '')}</td>"
        f"<td>{esc(e['type'])}</td><td class=\"mono small\">{esc(_short(e['payload']))}</td></tr>" for e in events)
    ev_html = (f"<details{' open' if len(events) <= 8 else ''}><summary>Events ({len(events)})</summary>"
               f"<table><thead><tr><th>time</th><th>step</th><th>event</th><th>details</th></tr></thead>"
               f"<tbody>{ev_rows}</tbody></table></details>") if events else ""
    yaml_text = dump_yaml(cfg) if cfg else "(no config recorded)"
    return (f'<div class="two"><div><h3>Timings and checkpoint</h3>{kv_table(timing_rows)}'
            f'<h3>Environment</h3>{env_table}</div><div><h3>Key settings</h3>{settings}</div></div>{ev_html}'
            f'<details><summary>Full resolved config (secrets redacted)</summary><pre class="yaml">'
            f"{esc(yaml_text)}</pre></details>")


def _short(payload: Any, limit: int = 160) -> str:
    if not payload:
        return ""
    if isinstance(payload, dict):
        text = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in payload.items())
    else:
        text = str(payload)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_html(run: RunData, verdict: Verdict, recs: Recommendations) -> str:
    th = Thresholds.from_config(run.config)
    model = _get(run.config, "model.name") or "unknown model"
    sub = "".join(f"<span>{esc(x)}</span>" for x in (
        model, run.state, f"step {run.last_step}" + (f" of {run.max_steps}" if run.max_steps else ""),
        when(run.meta.get("created"))))
    findings = ordered_findings(run.findings)
    timeline = ('<ol class="timeline">' + "".join(finding_item(f) for f in findings) + "</ol>") if findings else \
        '<p class="muted">No findings: the audit and the guards saw nothing wrong.</p>'
    body = f"""
<header class="hero"><div class="wrap"><div><div class="eyebrow">tuneguard run report</div>
<h1>{esc(run.name)}</h1><div class="sub">{sub}</div></div>{badge(verdict)}</div></header>
<nav class="toc"><div class="wrap"><a href="#diagnosis">Diagnosis</a><a href="#verdict">Verdict</a><a href="#plots">Plots</a>
<a href="#findings">Findings ({len(findings)})</a><a href="#recommendations">Recommendations</a>
<a href="#qa">QA samples</a><a href="#run">Run details</a></div></nav>
<main class="wrap">
{_diagnosis_html(recs.diagnosis)}
<section id="summary">{_summary_cards(run)}</section>
<section id="verdict"><h2>Verdict</h2>{verdict_table(verdict)}</section>
<section id="plots"><h2>Training curves</h2>
<div class="plots">{"".join(run_plots(run, th.max_final_gap))}</div></section>
<section id="findings"><h2>Findings</h2>{timeline}</section>
<section id="recommendations"><h2>Recommendations</h2>{_recommendations_html(run, recs)}</section>
<section id="qa"><h2>QA samples</h2>{_answers_html(run)}<h3>Per evaluation</h3>{_qa_html(run)}</section>
<section id="run"><h2>Run details</h2>{_run_details(run)}</section>
<footer>generated by tuneguard on {esc(when(time.time()))} from {esc(str(run.run_dir / "run.db"))}</footer>
</main>"""
    return page(f"tuneguard report: {run.name}", body)


__all__ = ["write_report", "render_html", "timings", "REPORT_HTML", "REPORT_MD"]
