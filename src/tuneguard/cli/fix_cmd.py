"""`tuneguard fix CONFIG --out DIR`: cleaned copies of the data the audit faulted (exit 0
written, 2 bad config, data or --out; 1 a write that failed, e.g. a full disk)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tuneguard.cli.common import EXIT_FAIL, EXIT_USAGE, console, fail, load_or_exit, note, setup_logging, styled
from tuneguard.fmt import num

log = logging.getLogger(__name__)

TRUNCATION = ("keep", "drop")


def fix(
    config: Annotated[str, typer.Argument(help="YAML config file or preset name (a run's RUN_DIR/config.yaml too).")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the cleaned copies, config.yaml and fix-report.md.")],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: section.key=value (YAML value).")] = None,
    truncation: Annotated[str, typer.Option("--truncation", help="Rows whose answer does not fit data.max_length: "
                                            "keep (list them) or drop.")] = "keep",
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Remove the rows the audit faulted (duplicates, leaked validation rows, malformed rows)
    from copies of the data files; the originals stay untouched."""
    setup_logging(debug)
    if truncation not in TRUNCATION:
        fail(f"--truncation takes keep or drop, got {truncation!r}", EXIT_USAGE)
    cfg = load_or_exit(config, set_)
    from tuneguard.catalog import config_language, say
    from tuneguard.cli.errors import user_errors
    from tuneguard.fix import run_fix

    try:
        with user_errors(debug=debug):
            result = run_fix(cfg, config, out, truncation)
    except OSError as exc:  # a full disk, a read-only folder: nothing half-written is left
        where = f" ({exc.filename})" if exc.filename else ""
        fail(say("next.cannot_write", config_language(cfg), path=out, reason=f"{exc.strerror or exc}{where}"), EXIT_FAIL)
    _show(result, config, config_language(cfg))


def _show(result: Any, config: str, lang: str) -> None:
    """What the fix did, in the config's report language (like fix-report.md)."""
    from tuneguard.catalog import T, render, say
    from tuneguard.findings import LABEL_CODES
    from tuneguard.fix.account import by_code, rows, summary

    plan, c = result.plan, console()
    c.print(summary(plan, lang, settings=bool(result.settings)))
    for f in plan.files:
        copy = result.names.get(f.ident) or say("fixcli.no_copy_split" if f.kept else "fixcli.no_copy_empty", lang)
        by = by_code(f)
        c.print(say("fixcli.file", lang, role=say(f"fix.role.{f.role}", lang), path=f.path, copy=copy,
                    before=rows(f.records, lang), after=num(f.kept)) + (f" ({by})" if by else ""))
    if plan.truncated and not plan.truncation_dropped:
        raised = next((ch.value for ch in result.settings if ch.key == "data.max_length"), None)
        n = rows(len(plan.truncated), lang)
        c.print(say("fixcli.truncated_raised", lang, rows=n, n=plan.max_length, raised=raised) if raised else
                say("fixcli.truncated", lang, rows=n, n=plan.max_length))
    for n in plan.notes + result.notes:
        note(render(n, lang), lang)
    labels = [c for c in dict.fromkeys(f.code for f in result.before if f.severity in ("warning", "error"))
              if c in LABEL_CODES]
    if labels and not plan.removed() and not result.settings:
        c.print(render(T("fix.config_only", codes=", ".join(labels)), lang))
    if result.resolved:
        c.print(styled((say("fixcli.resolved", lang, codes=", ".join(result.resolved)), "green")))
    if result.remaining:
        c.print(styled((say("fixcli.remaining", lang, codes=", ".join(result.remaining)), "yellow")))
    c.print(say("fixcli.report", lang, path=str(result.out / "fix-report.md")))
    c.print(say("fixcli.config", lang, path=str(result.config), command=f"tuneguard config diff {config} {result.config}"))
    for what, cmd in result.next_commands:
        c.print(f"{render(what, lang)}: {cmd}")
