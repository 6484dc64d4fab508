"""`tuneguard audit CONFIG`: the pre-flight data audit (exit 0 no error finding, 1 some, 2 bad input)."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import typer

from tuneguard.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, console, fail, load_or_exit, print_json, setup_logging

log = logging.getLogger(__name__)

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
# Evidence keys shown first in the table, in this order; the rest stays in --json.
_KEY_FIELDS = ("count", "share", "rows", "largest_cluster", "positions", "share_of_positions", "rows_checked",
               "max_length", "needed_length_p95", "prompt_share_of_supervised", "signals")
_LIST_FIELDS = ("largest_groups", "largest_clusters", "examples", "top_responses")
_DIRS = re.compile(r"[^\s,=()]*/([^/\s,=()]+:\d+)")


def short_paths(text: str) -> str:
    """"/long/dir/train.jsonl:12" -> "train.jsonl:12" (the JSON output keeps full paths)."""
    return _DIRS.sub(r"\1", text)


def summarise_evidence(ev: dict[str, Any], width: int = 3) -> str:
    """A few lines of a finding's evidence for the table: key numbers, then example rows."""
    lines: list[str] = []
    for k in _KEY_FIELDS:
        v = ev.get(k)
        if v is None or isinstance(v, dict):
            continue
        if k == "signals":
            continue
        if isinstance(v, list):
            if v and isinstance(v[0], str):
                lines.append(f"{k}: {', '.join(v[:width])}{' …' if len(v) > width else ''}")
            continue
        lines.append(f"{k}: {v:.1%}" if isinstance(v, float) and "share" in k else f"{k}: {v}")
    for k in _LIST_FIELDS:
        items = ev.get(k)
        if not items:
            continue
        for it in items[:width]:
            if isinstance(it, dict):
                where = it.get("rows") or it.get("where") or it.get("row") or it.get("first")
                if isinstance(where, list):
                    where = ", ".join(where[:3]) + (" …" if len(where) > 3 else "")
                size = it.get("count") or it.get("texts")
                head = f"x{size} " if size else ""
                lines.append(f"{k.removesuffix('s')}: {head}{where or ''}".rstrip())
            else:
                lines.append(str(it))
        break
    return short_paths("\n".join(lines))


def render(result: Any, con: Any) -> None:
    from rich.table import Table

    rows = result.stats.get("rows", {})
    timings = result.stats.get("timings_s", {})
    seconds = sum(timings.get(k, 0.0) for k in ("total", "prepare_data", "load_tokenizer"))
    head = (f"Audited {rows.get('audited_train', '?')} training rows"
            f" ({', '.join(f'{k} {v}' for k, v in rows.items() if k in ('train', 'validation', 'test'))})"
            f" in {seconds:.1f}s.")
    con.print(head, markup=False)
    task = result.stats.get("task") or {}
    if task.get("shape"):
        how = "set by data.task" if task.get("source") == "data.task" else f"inferred: {task.get('reason')}"
        con.print(f"Task: {task['shape']} ({how}); each check is judged for this task.", markup=False)
        labels = task.get("labels")
        if labels:
            con.print("Labels: " + ", ".join(f"{x['label']} {x['share']:.0%}" for x in labels[:8])
                      + (" …" if len(labels) > 8 else ""), markup=False)
    overrides = (result.stats.get("severity_overrides") or {}).get("applied") or {}
    if overrides:
        con.print("Severity set by audit.severity: " + ", ".join(
            f"{c} {v['default']} -> {v['set']}" for c, v in sorted(overrides.items())), markup=False)
    if not result.findings:
        con.print("[green]No findings: the data passed every check.[/]")
        return
    table = Table(show_lines=True, expand=True)
    table.add_column("code", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("message", ratio=3)
    table.add_column("evidence", ratio=2)
    table.add_column("recommendation", ratio=2)
    for f in result.findings:
        table.add_row(f.code, f"[{_STYLE.get(f.severity, '')}]{f.severity}[/]", f.message,
                      summarise_evidence(f.evidence), f.recommendation)
    con.print(table)
    n_err = sum(f.severity == "error" for f in result.findings)
    n_warn = sum(f.severity == "warning" for f in result.findings)
    con.print(f"{n_err} error(s), {n_warn} warning(s). Full evidence: tuneguard audit CONFIG --json", markup=False)


def audit(
    config: Annotated[str, typer.Argument(help="YAML config file or preset name.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: section.key=value (YAML value).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print {\"findings\": [...], \"stats\": {...}} as JSON.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Pre-flight data audit: duplicates, leakage, templated data, label/padding/EOS faults, truncation."""
    setup_logging(debug)
    cfg = load_or_exit(config, set_)
    from tuneguard.audit import audit_config
    from tuneguard.data.load import DataError
    from tuneguard.train.model import ModelError

    try:
        result = audit_config(cfg)
    except (DataError, ModelError) as exc:
        if debug:
            log.exception("audit failed")
        fail(str(exc), EXIT_USAGE)
    if json_:
        print_json(result.to_json())
    else:
        render(result, console())
    raise typer.Exit(EXIT_FAIL if result.has_errors() else EXIT_OK)
