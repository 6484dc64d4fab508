"""summary.md of a GPU session (tuneguard.bench.gpu_session): its figures as Markdown tables,
ready for docs/BENCHMARKS.md, rewritten after every step like summary.json (a call cut short
still brings back the tables of the steps it finished)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:+.1f}%"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows), ""]


def _steps(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for name, r in results.items():
        status = "skipped" if r.get("skipped") and not r.get("ok") else "PASS" if r.get("ok") else "FAIL"
        why = r.get("skipped") or r.get("error") or r.get("why") or ""
        rows.append([name, status, _fmt(r.get("seconds"), 1), str(why).replace("|", "/")[:160]])
    return ["### Steps", "", *_table(["step", "status", "seconds", "note"], rows)]


def _acceptance(results: dict[str, dict[str, Any]]) -> list[str]:
    """The GPU issue's acceptance figures: tuneguard train's speed and memory against the
    notebook pipeline of the same session, resume, calibrate, 4-bit."""
    train, bench = results.get("train", {}), results.get("bench", {})
    resume, cal, four = results.get("resume", {}), results.get("calibrate", {}), results.get("four_bit", {})
    notebook = (bench.get("baseline") or {}).get("tokens_per_s")
    tg = train.get("tokens_per_s")
    rows = [["`tuneguard train` real tokens/s (v2 preset, 8 x 2)", _fmt(tg, 0), ">= 20,000"],
            ["its peak memory (GB)", _fmt(train.get("mem_peak_gb")), "<= 40"],
            ["notebook pipeline real tokens/s (bench)", _fmt(notebook, 0), ""],
            ["train / notebook", _fmt(tg / notebook if tg and notebook else None), ">= 9x"],
            ["`tuneguard train` with the levers on: real tokens/s, peak GB",
             f"{_fmt((results.get('train_levers') or {}).get('tokens_per_s'), 0)}, "
             f"{_fmt((results.get('train_levers') or {}).get('mem_peak_gb'))}", ">= 20,000, <= 40"],
            ["bench: tuneguard pipeline real tokens/s", _fmt((bench.get("tuneguard") or {}).get("tokens_per_s"), 0), ""],
            ["bf16 loss curve, tuneguard with the levers against the notebook: largest step difference",
             _verdict(results.get("loss_match"), "tuneguard_levers"), _tolerance(results.get("loss_match"))],
            ["resume: largest relative loss difference, steps logged twice", _pct(resume.get("max_rel_loss_diff")),
             "continues"],
            ["calibrate: predicted / measured step time - 1", _pct(cal.get("step_time_error")), "within 15%"],
            ["calibrate: predicted / measured peak memory - 1", _pct(cal.get("peak_error")), "within 10%"],
            ["memory estimate: largest error at the two batch sizes",
             _fmt((results.get("memory_estimate") or {}).get("max_abs_error_pct"), 1) + "%"
             if (results.get("memory_estimate") or {}).get("max_abs_error_pct") is not None else "-", "within 10%"],
            ["4-bit: trained, peak GB", "skipped" if four.get("skipped") else
             f"{_fmt(four.get('ok'))}, {_fmt(four.get('mem_peak_gb'))}", "trains"],
            ["the train step's plan", _plan(train.get("performance")), ""]]
    return ["### Acceptance figures", "", *_table(["figure", "measured", "target"], rows)]


def _verdict(loss: Any, name: str) -> str:
    """"+0.03% (max abs 0.0021), PASS" for one comparison of the loss check; "-" without one."""
    c = ((loss or {}).get("comparisons") or {}).get(name)
    if not c:
        return "-"
    rel = "-" if c.get("max_rel_diff") is None else f"{100 * c['max_rel_diff']:.3f}%"
    return f"{rel} (max abs {_fmt(c.get('max_abs_diff'), 4)}), {'PASS' if c.get('pass') else 'FAIL'}"


def _tolerance(loss: Any) -> str:
    tol, drop = (loss or {}).get("tolerance_rel") or 0.01, (loss or {}).get("tolerance_of_drop") or 0.05
    return f"every step within {100 * tol:g}% of the loss and {100 * drop:g}% of how far it fell"


def _loss_match(results: dict[str, dict[str, Any]]) -> list[str]:
    """The loss check: each step's loss of the notebook pipeline and of tuneguard's (plan, and
    plan with the levers), the first steps; then each comparison's verdict."""
    r = results.get("loss_match") or {}
    comps = r.get("comparisons") or {}
    if not comps:
        return []
    names = list(comps)
    rows = []
    for i, first in enumerate(comps[names[0]].get("first_steps") or []):
        row = [str(first["step"]), _fmt(first["notebook"], 5)]
        for n in names:
            steps = comps[n].get("first_steps") or []
            x = steps[i] if i < len(steps) else {}
            row += [_fmt(x.get("tuneguard"), 5), _fmt(x.get("abs_diff"), 5),
                    "-" if x.get("rel_diff") is None else f"{100 * x['rel_diff']:.3f}%"]
        rows.append(row)
    head = ["step", "notebook"] + [h for n in names for h in (n, "abs diff", "rel diff")]
    runs = r.get("runs") or {}
    verdicts = [[n, _fmt(c.get("max_abs_diff"), 5),
                 "-" if c.get("max_rel_diff") is None else f"{100 * c['max_rel_diff']:.3f}%",
                 _fmt(c.get("notebook_drop"), 4), "PASS" if c.get("pass") else f"FAIL: {c.get('why')}",
                 _plan((runs.get(n) or {})) + (f"; error {runs[n]['error'][:80]}" if (runs.get(n) or {}).get("error")
                                               else "")] for n, c in comps.items()]
    title = (f"### bf16 loss curves, same examples, batches and start ({r.get('steps')} steps of "
             f"{r.get('batch')} x {r.get('accum')}, lr {r.get('learning_rate')}; {_tolerance(r)})")
    return [title, "", *_table(head, rows),
            *_table(["pipeline", "max abs diff", "max rel diff", "notebook loss fell by", "verdict", "settings"],
                    verdicts)]


def _plan(perf: Any) -> str:
    if not isinstance(perf, dict):
        return "-"
    keys = ("attention", "gradient_checkpointing", "chunked_loss", "adapter_dtype", "fused_linear_loss", "padding_free",
            "compiled_layers", "estimated_peak_gb")
    return ", ".join(f"{k} {_fmt(perf.get(k))}" for k in keys if k in perf)


def _levers(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = []
    for step in ("levers", "compile"):
        r = results.get(step) or {}
        ratios = r.get("ratio_to_none") or {}
        for name, run in (r.get("runs") or {}).items():
            if step == "compile" and name == "none":
                name = "none (compile step)"
            rows.append([name, _fmt(run.get("tokens_per_s"), 0), _fmt(ratios.get(name)), _fmt(run.get("peak_memory_gb")),
                         _fmt(run.get("final_loss"), 5), _fmt(run.get("wall_s"), 1), str(run.get("error") or "")[:120]])
    if not rows:
        return []
    return ["### Speed levers (each alone against `none`, same process)", "",
            *_table(["lever", "real tokens/s", "x none", "peak GB", "final loss", "wall s", "error"], rows)]


def _memory(results: dict[str, dict[str, Any]]) -> list[str]:
    runs = (results.get("memory_estimate") or {}).get("runs") or {}
    rows = [[b, _fmt(r.get("estimated_peak_gb")), _fmt(r.get("peak_memory_gb")),
             "-" if r.get("error_pct") is None else f"{r['error_pct']:+.1f}%"] for b, r in runs.items()]
    if not rows:
        return []
    worst = (results.get("memory_estimate") or {}).get("max_abs_error_pct")
    verdict = ("no device peak measured (CPU): the error is a GPU figure" if worst is None else
               f"largest error {worst:.1f}%: " + ("within 10%" if worst <= 10 else
                                                  "beyond 10%, perf.activation_bytes needs correcting"))
    return ["### Memory estimate (512-token rows, checkpointing off)", "",
            *_table(["batch", "estimated GB", "measured GB (max allocated)", "error"], rows), verdict, ""]


def write_markdown(out: Path, selftest: bool, results: dict[str, dict[str, Any]]) -> None:
    env = out / "env.txt"
    lines = ["## GPT-J-6B on one GPU: " + ("CPU selftest (figures say nothing about a GPU)" if selftest else
                                           "bench/gpu_gptj.sh"), ""]
    if env.exists():
        lines += ["```", *env.read_text("utf-8", "replace").strip().splitlines()[:16], "```", ""]
    for part in (_acceptance, _loss_match, _levers, _memory, _steps):
        lines += part(results)
    (out / "summary.md").write_text("\n".join(lines), "utf-8")
