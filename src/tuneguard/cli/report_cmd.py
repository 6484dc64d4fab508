"""CLI commands `report`, `compare` and `config diff` as plain functions; the main CLI
registers them (e.g. `app.command("report")(report)`, `config_app.command("diff")(config_diff)`).

User errors (no run store, a bad config, an output path that is not theirs to write) print
one line and exit 2, never a traceback; a write that fails (full disk) exits 1.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tuneguard.cli.common import console, styled
from tuneguard.cli.errors import run_guarded, user_errors

log = logging.getLogger(__name__)

ForceOpt = Annotated[bool, typer.Option("--force", help="Replace --out even when it is not a tuneguard page.")]


def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (holds run.db).")],
    out: Annotated[Optional[Path],
                   typer.Option("--out", help="HTML file to write; default RUN_DIR/report.html.")] = None,
    force: ForceOpt = False,
) -> None:
    """Write the self-contained HTML report of a run (and RUN_DIR/report.md)."""
    from tuneguard.report.html import write_report
    from tuneguard.report.rundata import load_run
    from tuneguard.report.verdict import compute_verdict

    from tuneguard.report.recommend import diagnose_run

    from tuneguard.catalog import config_language, say

    run: Any = run_guarded(lambda: load_run(run_dir), run_dir, "configcli.the_report")
    lang, c = config_language(run.config), console()  # the run's language, like its report
    path = run_guarded(lambda: write_report(run_dir, out, force=force, run=run), run_dir, "configcli.the_report",
                       language=lang)
    verdict, diagnosis = compute_verdict(run), diagnose_run(run)
    c.print(diagnosis.line(lang), markup=False)
    style = {"pass": "green", "fail": "red"}.get(verdict.overall, "yellow")
    c.print(styled((verdict.headline(lang), style)))
    for crit in verdict.criteria:
        colour = {"pass": "green", "fail": "red", "not_checked": "dim"}.get(crit.shown, "yellow")
        c.print(styled("  ", (crit.status_in(lang), colour), "  ", crit.name_in(lang)))
    c.print(say("reportcli.html", lang, path=str(path)))
    c.print(say("reportcli.md", lang, path=str(Path(run_dir) / "report.md")))
    rec = Path(run_dir) / "recommended.yaml"
    if rec.exists():
        command = f"tuneguard config diff {Path(run_dir) / 'config.yaml'} {rec}"
        c.print(say("reportcli.recommended", lang, path=str(rec), command=command))


def config_diff(
    a: Annotated[str, typer.Argument(help="Preset name or config file.")],
    b: Annotated[str, typer.Argument(help="Preset name or config file.")],
) -> None:
    """Show the parameters that differ between two configs (defaults filled in), with the
    reason of each change where a config gives one (RUN_DIR/recommended.yaml does)."""
    from tuneguard.config.diff import change_reasons, diff_configs, diff_table, load_for_diff

    with user_errors():
        da, db = load_for_diff(a), load_for_diff(b)
    from tuneguard.catalog import config_language, say

    rows = diff_configs(da, db)
    c, lang = console(), config_language(da)  # A's language, as `compare` speaks run A's
    if not rows:
        c.print(say("configcli.same", lang, a=a, b=b), markup=False)
        return
    reasons = {**change_reasons(a), **change_reasons(b)}
    c.print(diff_table(rows, a, b, title=say("configcli.differ", lang, n=len(rows)), reasons=reasons or None,
                       heads=(say("next.col.key", lang), say("next.col.why", lang)), not_set=say("configcli.not_set", lang)))
