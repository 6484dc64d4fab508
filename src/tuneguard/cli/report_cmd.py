"""CLI commands `report`, `compare` and `config diff` as plain functions; the main CLI
registers them (e.g. `app.command("report")(report)`, `config_app.command("diff")(config_diff)`).

User errors (no run store, a bad config) print one line and exit 2, never a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

log = logging.getLogger(__name__)


def _fail(message: str, code: int = 2) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (holds run.db).")],
    out: Annotated[Optional[Path],
                   typer.Option("--out", help="HTML file to write; default RUN_DIR/report.html.")] = None,
) -> None:
    """Write the self-contained HTML report of a run (and RUN_DIR/report.md)."""
    from tuneguard.report.html import write_report
    from tuneguard.report.rundata import load_run
    from tuneguard.report.verdict import compute_verdict

    from tuneguard.report.recommend import diagnose_run

    try:
        path = write_report(run_dir, out)
        run = load_run(run_dir)
        verdict, diagnosis = compute_verdict(run), diagnose_run(run)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # a full disk, a read-only directory: the run is fine, the report is not written
        raise _fail(f"cannot write the report: {exc.strerror or exc}"
                    f"{f' ({exc.filename})' if exc.filename else ''}", 1) from None
    console = Console()
    console.print(diagnosis.line(), markup=False, highlight=False)
    style = {"pass": "green", "fail": "red"}.get(verdict.overall, "yellow")
    console.print(f"[{style}]{verdict.headline()}[/{style}]", highlight=False)
    for c in verdict.criteria:
        mark = {"pass": "[green]pass[/green]", "fail": "[red]fail[/red]"}.get(c.status, "[yellow]unknown[/yellow]")
        console.print(f"  {mark}  {c.name}", highlight=False)
    console.print(f"report: {path}", highlight=False)
    console.print(f"markdown: {Path(run_dir) / 'report.md'}", highlight=False)
    rec = Path(run_dir) / "recommended.yaml"
    if rec.exists():
        console.print(f"recommended config: {rec} (tuneguard config diff {Path(run_dir) / 'config.yaml'} {rec})",
                      markup=False, highlight=False)


def compare(
    run_a: Annotated[Path, typer.Argument(help="First run directory.")],
    run_b: Annotated[Path, typer.Argument(help="Second run directory.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write; default next to RUN_A.")] = None,
) -> None:
    """Write a side-by-side HTML page of two runs: curves, config diff, verdicts, QA samples."""
    from tuneguard.report.compare import write_compare

    try:
        path = write_compare(run_a, run_b, out)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"compare: {path}", highlight=False)


def config_diff(
    a: Annotated[str, typer.Argument(help="Preset name or config file.")],
    b: Annotated[str, typer.Argument(help="Preset name or config file.")],
) -> None:
    """Show the parameters that differ between two configs (defaults filled in), with the
    reason of each change where a config gives one (RUN_DIR/recommended.yaml does)."""
    from tuneguard.config.diff import change_reasons, diff_configs, diff_table, load_for_diff
    from tuneguard.config.load import ConfigError

    try:
        da, db = load_for_diff(a), load_for_diff(b)
    except ConfigError as exc:
        raise _fail("; ".join(exc.problems)) from None
    rows = diff_configs(da, db)
    console = Console()
    if not rows:
        console.print(f"{a} and {b} are the same config.", highlight=False)
        return
    reasons = {**change_reasons(a), **change_reasons(b)}
    console.print(diff_table(rows, a, b, title=f"{len(rows)} parameter(s) differ", reasons=reasons or None))
