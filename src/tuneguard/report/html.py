"""`write_report`: the run report, one self-contained HTML page plus RUN_DIR/report.md.

The page answers, in order: what went on (the diagnosis, with the evidence that decided
it), is the model good (verdict), why (plots, findings), what to change (recommendations
derived from the diagnosis, with a ready command and RUN_DIR/recommended.yaml), what it
says (its answers beside the base model's, QA samples per evaluation), and what ran
(config, environment, timings, best checkpoint).
"""

from __future__ import annotations

import logging
import time
from html import escape
from pathlib import Path
from typing import Any

from tuneguard.config.diff import format_value
from tuneguard.config.load import dump_yaml
from tuneguard.catalog import TABLE, T, in_language, is_spec, render, say
from tuneguard.findings import Finding
from tuneguard.report.components import (
    Words,
    badge,
    duration,
    exit_reason,
    esc,
    finding_item,
    kv_table,
    notify_stopped,
    ordered_findings,
    page,
    prompts_in_order,
    qa_cell,
    qa_prompt_block,
    report_language,
    run_plots,
    timings,
    train_time,
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
from tuneguard.report.rundata import RunData, load_run
from tuneguard.report.verdict import (
    Thresholds,
    Verdict,
    answer_rows,
    compare_to_base,
    compute_verdict,
    eval_loss_at,
    fmt,
    payload_pairs,
    qa_missing,
    setting,
    summary_spec,
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


def write_report(run_dir: str | Path, out: str | Path | None = None, *, force: bool = False,
                 run: RunData | None = None) -> Path:
    """Write the HTML report (to `out`, default RUN_DIR/report.html), RUN_DIR/report.md and,
    when the recommendations change the config, RUN_DIR/recommended.yaml (removed when a
    later report has no change to recommend).

    Returns the HTML path. Raises FileNotFoundError when RUN_DIR has no run store, and
    OutputRefused when the HTML path is not this command's to write (`force`: any regular file).
    `run`: RUN_DIR already read (load_run), so a caller that shows it too reads a long run once.
    """
    run = run if run is not None else load_run(run_dir)
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
        write_atomic(rec_path, recommended_yaml(recs, str(run.run_dir), report_language(run.config)))
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


def _summary_cards(run: RunData, w: Words) -> str:
    t = timings(run)
    best = eval_loss_at(run, run.best_step)
    last_train = [r["loss"] for r in run.train if r.get("loss") is not None]
    test = [r for r in run.test if r.get("eval_loss") is not None]
    steps = f"{run.last_step}" + (f" / {run.max_steps}" if run.max_steps else "")
    na = w("na")
    cards = [
        (w("card.state"), w.state(run.state)), (w("card.steps"), steps),
        (w("card.final_train"), fmt(last_train[-1]) if last_train else na),
        (w("card.best_eval"), f"{fmt(best[1])} @ {best[0]}" if best else na),
        (w("card.test_loss"), fmt(test[-1]["eval_loss"]) if test else na),
        (w("card.duration"), duration(t["duration_s"], w.language)),
        (w("card.tps"), fmt(t["median_tokens_per_s"], 4) if t["median_tokens_per_s"] else na),
        (w("card.findings"), str(len(run.findings))),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v{" smallv" if len(str(v)) > 14 else ""}">'
        f"{esc(v)}</div></div>" for k, v in cards) + "</div>"


def _diagnosis_html(d: Diagnosis | None, w: Words) -> str:
    if d is None:
        return ""
    lang = w.language
    ev = "".join(f"<li>{esc(e.text(lang))}</li>" for e in d.evidence)
    notes = "".join(f"<li>{esc(e.text(lang))}</li>" for e in d.notes)
    codes = f'<div class="codes">{esc(", ".join(d.codes))}</div>' if d.codes else ""
    means = d.means(lang)
    means = means[:1].upper() + means[1:] + ("." if lang == "en" else "")
    return (f'<section id="diagnosis" class="diagnosis {esc(d.kind)}"><h2>{esc(w("diagnosis_h", label=d.label(lang)))}'
            f'</h2><p class="means">{esc(means)}</p>'
            f'<div class="small muted">{esc(w("decided_by"))}</div><ul>{ev}</ul>{codes}'
            + (f'<div class="small muted">{esc(w("also_noticed"))}</div><ul>{notes}</ul>' if notes else "")
            + "</section>")


def _answers_html(run: RunData, w: Words) -> str:
    """The probes' answers side by side: the base model's and the fine-tuned model's."""
    rows = answer_rows(run)
    if not rows or not run.qa_base:
        return ""

    def mark(ok: bool | None) -> str:
        return "" if ok is None else \
            f'<span class="chip {"good" if ok else "bad"}">{esc(w("qa.right" if ok else "qa.wrong"))}</span>'

    body = "".join(
        f"<tr><td><pre>{esc(r.prompt)}</pre></td><td><pre>{esc(' | '.join(r.expected)) if r.expected else ''}</pre>"
        f"</td><td><pre>{esc(r.base if r.base is not None else w('na'))}</pre>{mark(r.base_correct)}</td>"
        f"<td><pre>{esc(r.tuned)}</pre>{mark(r.tuned_correct)}</td></tr>" for r in rows)
    vs = compare_to_base(rows)
    head = ""
    if vs is not None:
        word, after, before, n = vs
        line = w("qa.vs_line", vs="\x00", after=after, n=n, before=before)
        lead, rest = line.split("\x00", 1)
        said = say(f"verdict.qa.vs.{word}", w.language)
        head = f"<p>{esc(lead)}<b>{esc(said.capitalize() if w.language == 'en' else said)}</b>{esc(rest)}</p>"
    return (f"<h3>{esc(w('qa.before_after', step=run.qa_best_step()))}</h3>{head}"
            f'<table class="answers"><thead><tr><th>{esc(w("qa.col.prompt"))}</th><th>{esc(w("qa.col.expected"))}'
            f'</th><th>{esc(w("qa.col.base"))}</th><th>{esc(w("qa.col.tuned"))}</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _changes_html(run: RunData, recs: Recommendations, w: Words) -> list[str]:
    """The config changes table, the ready command (explained) and where the config was written."""
    lang = w.language
    reasons = {c.key: c for c in recs.changes}
    rows = "".join(
        f'<tr><td class="key">{esc(k)}</td><td class="old">{esc(format_value(a))}</td>'
        f'<td class="new">{esc(format_value(b))}</td><td>{esc(reasons[k].reason_in(lang)) if k in reasons else ""}'
        f'<div class="codes">{esc(", ".join(reasons[k].codes)) if k in reasons else ""}</div></td></tr>'
        for k, a, b in recs.diff())
    parts = [f"<h3>{esc(w('rec.changes'))}</h3><table><thead><tr><th>{esc(w('rec.col.key'))}</th>"
             f"<th>{esc(w('rec.col.this'))}</th><th>{esc(w('rec.col.proposed'))}</th><th>{esc(w('rec.col.why'))}</th>"
             f"</tr></thead><tbody>{rows}</tbody></table>"]
    rec_file = str(run.run_dir / RECOMMENDED_CONFIG)
    explained = "" if lang == "en" else f'<p class="small">{esc(w("rec.set_explained"))}</p>'
    diff_cmd = f"tuneguard config diff {config_path_for(run)} {rec_file}"
    same = w("rec.same_config", file="\x00", cmd="\x01")
    same_html = esc(same).replace("\x00", f"<code>{esc(rec_file)}</code>")
    same_html = same_html.replace("\x01", f"<code>{esc(diff_cmd)}</code>")
    parts.append(f'<h3>{esc(w("rec.next_run"))}</h3>{explained}<pre class="cmd">' +
                 esc(recs.command(config_path_for(run), next_run_dir(run), multiline=True)) + "</pre>"
                 f'<p class="small">{same_html}</p>')
    if "***" in str(run.config.get("notify", {})):
        parts.append(f'<p class="note">{esc(w("rec.redacted"))}</p>')
    return parts


def _recommendations_html(run: RunData, recs: Recommendations, w: Words) -> str:
    d = recs.diagnosis
    lang = w.language
    if d:
        lead_text = w("rec.lead", label="\x00")
        before, after = lead_text.split("\x00", 1)
        lead = f"<p>{esc(before)}<b>{esc(d.label(lang))}</b>{esc(after)}</p>"
    else:
        lead = ""
    if not recs.changes and not recs.actions:
        # Quotes stay as typed (no &#x27;): the English page reads byte for byte as it always has.
        return lead + f'<p class="muted">{escape(w("rec.nothing"), quote=False)}</p>'
    parts = [lead]
    if recs.actions:
        parts.append(f"<h3>{esc(w('rec.fix_first'))}</h3><ul class=\"actions\">" + "".join(
            f'<li>{esc(a.text_in(lang))}' + (f' <span class="codes">{esc(", ".join(a.codes))}</span>' if a.codes else "")
            + '</li>'
            for a in recs.actions) + "</ul>")
    if recs.changes:
        parts += _changes_html(run, recs, w)
    from tuneguard.report.next_steps import next_steps

    steps = next_steps(run, recs)
    if steps:
        parts.append(f"<h3>{esc(w('rec.next_steps'))}</h3>" + "".join(
            f'<p class="small">{esc(w("next." + st["kind"]))}:</p><pre class="cmd">{esc(st["command"])}</pre>'
            for st in steps))
    return "".join(parts)


def _qa_html(run: RunData, w: Words) -> str:
    if not run.qa:
        # Probes that are set but were never answered say why (the run ended before its first evaluation).
        why = render(qa_missing(run), w.language)
        text = why[:1].upper() + why[1:] + say("end.period", w.language) if setting(run, "eval", "qa_probes") \
            else w("qa.none")
        return f'<p class="muted">{esc(text)}</p>'
    best = run.qa_best_step()
    blocks = []
    for prompt in prompts_in_order(run.qa):
        samples = [s for s in run.qa if s["prompt"] == prompt]
        cells = [qa_cell(s, w("step", step=s["step"]), s["step"] == best, w.language) for s in samples]
        blocks.append(qa_prompt_block(prompt, samples[0].get("keywords") or [], cells, samples[0].get("expected"),
                                      w.language))
    return "".join(blocks)


def _run_details(run: RunData, w: Words) -> str:
    cfg = run.config
    settings = kv_table([(k, format_value(_get(cfg, k))) for k in KEY_SETTINGS if _get(cfg, k) is not None]
                        + run.diagnosis_settings(w.language))
    env = run.meta.get("environment") if isinstance(run.meta.get("environment"), dict) else {}
    env_table = kv_table(list(env.items())) if env else f'<p class="muted">{esc(w("run.not_recorded"))}</p>'
    t = timings(run)
    best_step = run.best_step
    best = eval_loss_at(run, best_step)
    na = w("na")
    timing_rows = [
        (w("kv.run_id"), run.run_id), (w("kv.run_dir"), str(run.run_dir)), (w("kv.state"), w.state(run.state)),
        (w("kv.exit_reason"), exit_reason(run, w.language) or na),
        (w("kv.started"), when(t["started"])), (w("kv.ended"), when(t["ended"])),
        (w("kv.duration"), duration(t["duration_s"], w.language)),
        (w("kv.train_time"), train_time(t, w.language)),
        (w("kv.step_time"), w("seconds", v=fmt(t["median_step_time_s"], 3)) if t["median_step_time_s"] else na),
        (w("kv.tps"), fmt(t["median_tokens_per_s"], 4) if t["median_tokens_per_s"] else na),
        (w("kv.best_ckpt"), run.meta.get("best_checkpoint") or na),
        (w("kv.best_step"), best_step if best_step is not None else na),
        (w("kv.best_eval"), fmt(best[1]) if best else na),
        *(((w("kv.adapter"), str(Path(run.run_dir) / "adapter")),)
          if (Path(run.run_dir) / "adapter" / "adapter_config.json").exists() else ()),
        *((w("kv.notify_stopped"), line) for line in notify_stopped(run, w.language)),
    ]
    events = run.events
    ev_rows = "".join(
        f"<tr><td>{esc(when(e['time']))}</td><td class=\"num\">{esc(e['step'] if e['step'] is not None else '')}</td>"
        f"<td>{esc(_event_name(e['type'], w))}</td><td class=\"mono small\">{esc(_event_details(e, w.language))}</td>"
        "</tr>" for e in events)
    ev_html = (f"<details{' open' if len(events) <= 8 else ''}><summary>{esc(w('run.events', n=len(events)))}</summary>"
               f"<table><thead><tr><th>{esc(w('run.col.time'))}</th><th>{esc(w('run.col.step'))}</th>"
               f"<th>{esc(w('run.col.event'))}</th><th>{esc(w('run.col.details'))}</th></tr></thead>"
               f"<tbody>{ev_rows}</tbody></table></details>") if events else ""
    yaml_text = dump_yaml(cfg) if cfg else w("run.no_config")
    return (f'<div class="two"><div><h3>{esc(w("run.timings"))}</h3>{kv_table(timing_rows)}'
            f'<h3>{esc(w("run.environment"))}</h3>{env_table}</div><div><h3>{esc(w("run.settings"))}</h3>{settings}'
            f'</div></div>{ev_html}<details><summary>{esc(w("run.config"))}</summary><pre class="yaml">'
            f"{esc(yaml_text)}</pre></details>")


def _event_name(kind: str, w: Words) -> str:
    """An event's name: as recorded in English, the catalog's word otherwise."""
    if w.language == "en":
        return kind
    if f"report.event.{kind}" in TABLE:
        return w(f"event.{kind}")
    return w("event.control", action=kind.removeprefix("control_")) if kind.startswith("control_") else kind


def _event_details(e: dict[str, Any], language: str) -> str:
    """An event's details: its payload as key=value in English; in another language the
    sentence its catalog spec makes (the notifier's records), a finding's message, or the
    key=value pairs where the event has no words of its own."""
    payload = e.get("payload")
    if isinstance(payload, dict) and is_spec(payload.get("note")):  # words of its own (catalog.events.RUN)
        return _shorten(_render_or(payload["note"], language, _short(payload)), 320)
    if language == "en" or not isinstance(payload, dict):
        return _short(payload)
    text = payload.get("text")
    if e.get("type") == "notify_sent":  # one per message: its words come from its two fields, not a stored spec
        text = T("notify.sent", event=payload.get("event"), scheme=payload.get("scheme"))
    criteria = payload.get("criteria")
    if e.get("type") == "report" and payload.get("verdict") in ("pass", "fail", "inconclusive") and \
            isinstance(criteria, list):  # the verdict's summary, as the phone got it
        text = summary_spec(str(payload["verdict"]), payload_pairs(criteria))
    if is_spec(text):
        return _shorten(in_language(text, _short(payload), language), 320)
    if e.get("type") == "finding" and isinstance(text, dict):
        f = Finding.from_dict({"code": payload.get("code", ""), "severity": payload.get("severity", "info"),
                               "message": payload.get("message", ""), "text": text})
        return _shorten(f"{f.code}: {f.message_in(language)}", 320)
    return _short(payload)


def _render_or(spec: Any, language: str, fallback: str) -> str:
    """`spec` in `language`, or `fallback` where it does not render (a spec from another version)."""
    try:
        return render(spec, language)
    except (KeyError, IndexError, ValueError, TypeError):
        return fallback


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"



def _no_value(v: Any) -> bool:
    return v is None or (isinstance(v, (str, list, tuple, dict)) and not v)


def _short(payload: Any, limit: int = 160) -> str:
    if not payload:
        return ""
    if isinstance(payload, dict):
        # "text" is the message's catalog spec (shown as the message), "criteria" the verdict's rows;
        # items with no value (None, "", an empty list or dict) say nothing and are left out.
        text = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in payload.items()
                         if k not in ("text", "criteria") and not _no_value(v))
    else:
        text = str(payload)
    return _shorten(text, limit)


def render_html(run: RunData, verdict: Verdict, recs: Recommendations, language: str | None = None) -> str:
    """The report page in `language` (default: the run's report.language, else notify.language)."""
    lang = language or report_language(run.config)
    w = Words(lang)
    th = Thresholds.from_config(run.config)
    model = _get(run.config, "model.name") or w("unknown_model")
    sub = "".join(f"<span>{esc(x)}</span>" for x in (
        model, w.state(run.state), w("step_of", step=run.last_step, max=run.max_steps) if run.max_steps
        else w("step", step=run.last_step), when(run.meta.get("created"))))
    findings = ordered_findings(run.findings)
    timeline = ('<ol class="timeline">' + "".join(finding_item(f, lang, recs.diagnosis) for f in findings) + "</ol>") if findings \
        else f'<p class="muted">{esc(w("no_findings"))}</p>'
    h = {k: esc(w(f"h.{k}")) for k in ("diagnosis", "verdict", "plots", "curves", "findings", "recommendations", "qa",
                                        "per_eval", "run")}
    body = f"""
<header class="hero"><div class="wrap"><div><div class="eyebrow">{esc(w("eyebrow"))}</div>
<h1>{esc(run.name)}</h1><div class="sub">{sub}</div></div>{badge(verdict, lang)}</div></header>
<nav class="toc"><div class="wrap"><a href="#diagnosis">{h["diagnosis"]}</a><a href="#verdict">{h["verdict"]}</a>\
<a href="#plots">{h["plots"]}</a>
<a href="#findings">{esc(w("h.findings_n", n=len(findings)))}</a><a href="#recommendations">{h["recommendations"]}</a>
<a href="#qa">{h["qa"]}</a><a href="#run">{h["run"]}</a></div></nav>
<main class="wrap">
{_diagnosis_html(recs.diagnosis, w)}
<section id="summary">{_summary_cards(run, w)}</section>
<section id="verdict"><h2>{h["verdict"]}</h2>{verdict_table(verdict, lang)}</section>
<section id="plots"><h2>{h["curves"]}</h2>
<div class="plots">{"".join(run_plots(run, th.max_final_gap, lang))}</div></section>
<section id="findings"><h2>{h["findings"]}</h2>{timeline}</section>
<section id="recommendations"><h2>{h["recommendations"]}</h2>{_recommendations_html(run, recs, w)}</section>
<section id="qa"><h2>{h["qa"]}</h2>{_answers_html(run, w)}<h3>{h["per_eval"]}</h3>{_qa_html(run, w)}</section>
<section id="run"><h2>{h["run"]}</h2>{_run_details(run, w)}</section>
<footer>{esc(w("footer", when=when(time.time()), db=str(run.run_dir / "run.db")))}</footer>
</main>"""
    return page(w("title", name=run.name), body, lang)


__all__ = ["write_report", "render_html", "timings", "REPORT_HTML", "REPORT_MD"]
