"""`write_compare`: two runs on one page, the way a "v1 vs v2" decision gets made.

Both runs' curves overlaid on one step axis (A solid blue, B solid orange; eval dashed),
the config diff, both verdicts side by side, and the QA answers of both at their best
checkpoints. The page is in run A's report language (report.language, else
notify.language): the person comparing is the one who ran A, usually the baseline.

Runs whose losses were measured on different tokens or rows (tuneguard.report.comparable: by
their settings, and by the data fingerprints both recorded) are still shown, under a note at the
top that says which losses are not comparable and why; in the summary such a loss reads "not
comparable (N)" in both columns, footnote N giving the reasons, and the loss plots say to read
their shapes, not their heights. `tuneguard compare` prints the same summary, and `--json` the
figures with the judgement per loss (`Judgement.to_dict`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from tuneguard.catalog import J, T, render, say
from tuneguard.config.diff import diff_configs, format_value
from tuneguard.report.components import (
    Words,
    badge,
    esc,
    figure,
    gap_series,
    page,
    pill,
    prompts_in_order,
    qa_cell,
    report_language,
    step_range,
    timings,
    when,
)
from tuneguard.report.comparable import Judgement, judge, notes
from tuneguard.report.html import write_atomic
from tuneguard.report.output import check_output
from tuneguard.report.plots import PALETTE, Series, line_chart
from tuneguard.report.rundata import RunData, load_run
from tuneguard.report.verdict import Verdict, compute_verdict, eval_loss_at, fmt

log = logging.getLogger(__name__)

COLORS = (PALETTE[0], PALETTE[1])


def default_compare_path(run_a: RunData, run_b: RunData) -> Path:
    return run_a.run_dir.parent / f"compare_{run_a.name}_vs_{run_b.name}.html"


def labels_of(a: RunData, b: RunData) -> tuple[str, str]:
    """How the two runs are named on the page: their directory names, "A: x" and "B: x" when equal."""
    if a.name != b.name:
        return a.name, b.name
    return f"A: {a.name}", f"B: {b.name}"


def compare_plots(a: RunData, b: RunData, language: str = "en", j: Judgement | None = None) -> list[str]:
    """Both runs' curves overlaid on one step axis (A blue, B orange; eval dashed), titles,
    axes and legends in `language`. Where the judgement `j` finds the training or eval losses
    not comparable, the loss plots say so under their title: the shapes still tell (a collapse,
    a divergence), the heights do not."""
    la, lb = labels_of(a, b)
    runs = ((a, la, COLORS[0]), (b, lb, COLORS[1]))
    xr = step_range(a, b)
    w = Words(language)

    def chart(series: list[Series], title: str, y_label: str, **kw: Any) -> str | None:
        return line_chart(series, title=w(title), y_label=w(y_label), x_range=xr, x_label=w("axis.step"),
                          language=language, **kw)

    def fig(title: str, svg: str | None, note: str = "") -> str:
        return figure(w(title), svg, note, language)

    def each(column: str) -> list[Series]:
        return [Series(label, run.series("train", column), color) for run, label, color in runs]

    loss = []
    for run, label, color in runs:
        loss.append(Series(w("cmp.train", label=label), run.series("train", "loss"), color))
        loss.append(Series(w("cmp.eval", label=label), run.series("eval", "eval_loss"), color, dash="6 4", dots=True))
    gaps = [Series(label, gap_series(run), color, dots=True) for run, label, color in runs]
    apart = j is not None and not (j.comparable("train_loss") and j.comparable("eval_loss"))
    heights = w("cmp.plot_not_comparable") if apart else ""
    return [
        fig("plot.loss", chart(loss, "plot.loss", "axis.loss"), " · ".join(filter(None, (w("cmp.solid_dashed"),
                                                                                           heights)))),
        fig("plot.loss_log", chart(loss, "plot.loss_log", "axis.loss", log_y=True), heights),
        fig("plot.gap_fig", chart(gaps, "plot.gap", "axis.gap"), heights),
        fig("plot.lr", chart(each("learning_rate"), "plot.lr", "axis.lr")),
        fig("plot.grad", chart(each("grad_norm"), "plot.grad", "axis.norm")),
        fig("plot.throughput", chart(each("tokens_per_s"), "plot.throughput", "axis.tps")),
    ]


def overall_word(v: Verdict, language: str) -> str:
    """A verdict's overall result as the compare page shows it: "pass"/"fail"/"inconclusive"
    in English, the catalog's word otherwise."""
    return v.overall if language == "en" else say(f"verdict.overall.{v.overall}", language)


def _verdicts(a: RunData, b: RunData, va: Verdict, vb: Verdict, language: str = "en") -> str:
    la, lb = labels_of(a, b)

    def cell(c: Any) -> str:
        return (f"<td>{pill(c.shown, c.status_in(language))}<div class=\"small muted\">"
                f"{esc(c.evidence_in(language))}</div></td>")

    rows = [f"<tr><td>{esc(ca.name_in(language))}</td>{cell(ca)}{cell(cb)}</tr>"
            for ca, cb in zip(va.criteria, vb.criteria, strict=True)]
    head = (f"<tr><th>{esc(Words(language)('col.criterion'))}</th>"
            f"<th>{esc(la)} {pill(va.overall, overall_word(va, language))}</th>"
            f"<th>{esc(lb)} {pill(vb.overall, overall_word(vb, language))}</th></tr>")
    return f'<table class="verdict-pair"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


# The summary's rows: (catalog label, the loss it shows, or None where it is no loss).
SUMMARY_ROWS = (("state", None), ("steps", None), ("final_train", "train_loss"), ("best_eval", "eval_loss"),
                ("test_loss", "test_loss"), ("tps", None), ("findings", None))


@dataclasses.dataclass
class Summary:
    """The summary table both outputs show (page and terminal): rows of (label, cell A, cell B),
    a loss that is not comparable reading "not comparable (N)" in both cells, and footnote N
    saying why (losses not comparable for the same reasons share a footnote)."""

    rows: list[tuple[str, str, str]]
    footnotes: list[str]


def run_facts(r: RunData) -> dict[str, Any]:
    """A run's summary figures as numbers (None where the run has none): `compare --json`."""
    best = eval_loss_at(r, r.best_step)
    test = [x for x in r.test if x.get("eval_loss") is not None]
    train = [x["loss"] for x in r.train if x.get("loss") is not None]
    return {"name": r.name, "run_dir": str(r.run_dir), "state": r.state, "step": r.last_step, "max_steps": r.max_steps,
            "final_train_loss": train[-1] if train else None, "best_eval_loss": best[1] if best else None,
            "best_step": best[0] if best else None, "test_loss": test[-1]["eval_loss"] if test else None,
            "median_tokens_per_s": timings(r)["median_tokens_per_s"] or None, "findings": len(r.findings)}


def _cells(f: dict[str, Any], w: Words) -> dict[str, str]:
    na = w("na")
    return {"state": w.state(f["state"]), "steps": f"{f['step']}" + (f" / {f['max_steps']}" if f["max_steps"] else ""),
            "final_train": fmt(f["final_train_loss"]) if f["final_train_loss"] is not None else na,
            "best_eval": f"{fmt(f['best_eval_loss'])} @ {f['best_step']}" if f["best_eval_loss"] is not None else na,
            "test_loss": fmt(f["test_loss"]) if f["test_loss"] is not None else na,
            "tps": fmt(f["median_tokens_per_s"], 4) if f["median_tokens_per_s"] else na, "findings": str(f["findings"])}


def summary(a: RunData, b: RunData, j: Judgement, language: str = "en") -> Summary:
    """Both runs' summary figures, a loss the judgement `j` finds not comparable shown as such
    (where either run has it), never as two numbers to rank."""
    w = Words(language)
    ca, cb = _cells(run_facts(a), w), _cells(run_facts(b), w)
    rows, notes = [], []
    for key, loss in SUMMARY_ROWS:
        x, y = ca[key], cb[key]
        if loss and not j.comparable(loss) and w("na") not in (x, y):
            why = render(J("join.semi", [r.text for r in j.losses[loss]]), language)
            if why not in notes:  # losses not comparable for the same reasons share one footnote
                notes.append(why)
            x = y = f"{w('cmp.not_comparable')} ({notes.index(why) + 1})"
        rows.append((w(f"card.{key}"), x, y))
    return Summary(rows, notes)


def _summary(a: RunData, b: RunData, s: Summary) -> str:
    la, lb = labels_of(a, b)
    rows = "".join(f"<tr><td>{esc(n)}</td><td class=\"num\">{esc(x)}</td><td class=\"num\">{esc(y)}</td></tr>"
                   for n, x, y in s.rows)
    notes = "".join(f'<li>{esc(n)}</li>' for n in s.footnotes)
    return (f'<table class="kv"><thead><tr><th></th><th class="num">{esc(la)}</th><th class="num">{esc(lb)}</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
            + (f'<ol class="footnotes small muted">{notes}</ol>' if notes else ""))


def _config_diff(a: RunData, b: RunData, w: Words) -> str:
    la, lb = labels_of(a, b)
    rows = diff_configs(a.config, b.config)
    if not rows:
        return f'<p class="muted">{esc(w("cmp.same_config"))}</p>'
    body = "".join(f'<tr><td class="key">{esc(k)}</td><td>{esc(format_value(x))}</td>'
                   f'<td>{esc(format_value(y))}</td></tr>'
                   for k, x, y in rows)
    return (f'<table class="config-diff"><thead><tr><th>{esc(w("rec.col.key"))}</th><th>{esc(la)}</th>'
            f"<th>{esc(lb)}</th></tr></thead><tbody>{body}</tbody></table>")


def _qa(a: RunData, b: RunData, w: Words) -> str:
    la, lb = labels_of(a, b)
    sa, sb = a.qa_best_step(), b.qa_best_step()
    qa_a, qa_b = a.qa_at(sa), b.qa_at(sb)
    if not qa_a and not qa_b:
        return f'<p class="muted">{esc(w("cmp.no_qa"))}</p>'
    blocks = []
    for prompt in prompts_in_order(qa_a + qa_b):
        cells = []
        for samples, label, step in ((qa_a, la, sa), (qa_b, lb, sb)):
            match = [s for s in samples if s["prompt"] == prompt]
            if match:
                cells.append(qa_cell(match[0], w("cmp.at_step", label=label, step=step), False, w.language))
            else:
                cells.append(f'<div class="qa-cell"><div class="step">{esc(label)}</div>'
                             f'<p class="muted">{esc(w("cmp.not_probed"))}</p></div>')
        kws = next((s.get("keywords") for s in qa_a + qa_b if s["prompt"] == prompt and s.get("keywords")), [])
        kw = f'<div class="small muted">{esc(w("qa.keywords", v=", ".join(map(str, kws))))}</div>' if kws else ""
        blocks.append(f'<div class="qa-prompt"><div class="q"><pre>{esc(prompt)}</pre>{kw}</div>'
                      f'<div class="side">{"".join(cells)}</div></div>')
    return "".join(blocks)


def data_identity(r: RunData) -> Any:
    """What the run's losses were measured on: as it recorded it, or for a run from before
    tuneguard recorded it, as its tokenized-data cache holds it (kept in the run's meta in memory,
    read once). A run whose fingerprinting failed recorded None, and one recorded under an older
    fingerprint scheme cannot be compared with today's: its cache stands in (when it has none, the
    old record stays, and runs of two schemes are judged by their settings)."""
    if not r.meta.get("_data_identity_read"):
        from tuneguard.data.identity import identity_from_cache, is_current

        cache = r.run_dir / "cache"
        if not is_current(r.meta.get("data_identity")) and (cache / "tokens.pt").exists():
            r.meta["data_identity"] = identity_from_cache(cache) or r.meta.get("data_identity")
        r.meta["_data_identity_read"] = True
    return r.meta.get("data_identity")


def judgement(a: RunData, b: RunData) -> Judgement:
    """Which of the two runs' losses are comparable: by their settings and, where both recorded
    it, by the data they were measured on (tuneguard.report.comparable)."""
    return judge(a.config, b.config, data_identity(a), data_identity(b), labels=labels_of(a, b))


def incomparable_notes(a: RunData, b: RunData, language: str = "en", j: Judgement | None = None) -> list[str]:
    """The sentences that say which of the two runs' losses are not comparable, and why."""
    return [render(spec, language) for spec in notes(j or judgement(a, b))]


def settings_only_note(a: RunData, b: RunData, j: Judgement, language: str = "en") -> str | None:
    """The line that says the judgement read the settings alone, and which run lacks fingerprints."""
    if j.by_data:
        return None
    la, lb = labels_of(a, b)
    lacking = [label for r, label in ((a, la), (b, lb)) if not isinstance(data_identity(r), dict)]
    return render(T("report.cmp.judged_by_settings", runs=J("join.and", lacking)), language) if lacking else None


def _notes_html(notes: list[str]) -> str:
    return "".join(f'<p class="alert">{esc(n)}</p>' for n in notes)


def render_compare(a: RunData, b: RunData, language: str | None = None) -> str:
    """The compare page in `language` (default: run A's report language)."""
    lang = language or report_language(a.config)
    w = Words(lang)
    va, vb = compute_verdict(a), compute_verdict(b)
    la, lb = labels_of(a, b)
    j = judgement(a, b)
    aside = settings_only_note(a, b, j, lang)
    h = {k: esc(w(f"cmp.h.{k}")) for k in ("summary", "curves_nav", "curves", "config", "verdicts", "qa_nav", "qa")}
    body = f"""
<header class="hero"><div class="wrap"><div><div class="eyebrow">{esc(w("cmp.eyebrow"))}</div>
<h1>{esc(la)} <span class="muted" style="color:#9fb0d0">{esc(w("cmp.vs"))}</span> {esc(lb)}</h1>
<div class="sub"><span>{esc(la)}: {esc(overall_word(va, lang))}</span><span>{esc(lb)}: {esc(overall_word(vb, lang))}</span>\
</div></div>
<div style="display:flex;gap:12px">{badge(va, lang)}{badge(vb, lang)}</div></div></header>
<nav class="toc"><div class="wrap"><a href="#summary">{h["summary"]}</a><a href="#plots">{h["curves_nav"]}</a>
<a href="#config">{h["config"]}</a><a href="#verdicts">{h["verdicts"]}</a><a href="#qa">{h["qa_nav"]}</a></div></nav>
<main class="wrap">
{_notes_html(incomparable_notes(a, b, lang, j))}
<section id="summary"><h2>{h["summary"]}</h2>{_summary(a, b, summary(a, b, j, lang))}\
{f'<p class="note">{esc(aside)}</p>' if aside else ""}</section>
<section id="plots"><h2>{h["curves"]}</h2><p class="note">{esc(w("cmp.colors", a=la, b=lb))}</p>
<div class="plots">{"".join(compare_plots(a, b, lang, j))}</div></section>
<section id="config"><h2>{h["config"]}</h2>{_config_diff(a, b, w)}</section>
<section id="verdicts"><h2>{h["verdicts"]}</h2>{_verdicts(a, b, va, vb, lang)}</section>
<section id="qa"><h2>{h["qa"]}</h2>{_qa(a, b, w)}</section>
<footer>{esc(w("cmp.footer", when=when(time.time())))}</footer>
</main>"""
    return page(w("cmp.title", a=la, b=lb), body, lang)


def write_compare(run_a: str | Path, run_b: str | Path, out: str | Path | None = None, *,
                  force: bool = False, runs: tuple[RunData, RunData] | None = None) -> Path:
    """Write the compare page; default path: next to RUN_A, compare_A_vs_B.html. `runs`: the two
    runs already read (the CLI reads them once for the page and the terminal).

    Raises OutputRefused when the path is not this command's to write (`force`: any regular file)."""
    a, b = runs or (load_run(run_a), load_run(run_b))
    path = Path(out) if out else default_compare_path(a, b)
    check_output(path, force, "compare page")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render_compare(a, b))
    log.info("compare page written: %s", path)
    return path
