"""`tuneguard fix CONFIG --out DIR`: cleaned copies of the data the audit faulted (exit 0
written, 2 bad config, data or --out; 1 a write that failed, e.g. a full disk)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

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
    from tuneguard.cli.errors import user_errors
    from tuneguard.fix import run_fix
    from tuneguard.catalog import T, render
    from tuneguard.findings import LABEL_CODES
    from tuneguard.fix.account import by_code, summary

    try:
        with user_errors(debug=debug):
            result = run_fix(cfg, config, out, truncation)
    except OSError as exc:  # a full disk, a read-only folder: nothing half-written is left
        fail(f"cannot write {out}: {exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}", EXIT_FAIL)
    plan = result.plan
    c = console()
    c.print(summary(plan, settings=bool(result.settings)))
    for f in plan.files:
        copy = result.names.get(f.ident, "(no copy: " + ("split from the training file instead)" if f.kept else
                                                         "no row left)"))
        by = by_code(f)
        c.print(f"  {f.role}: {f.path} -> {copy}: {num(f.records)} rows -> {num(f.kept)}" + (f" ({by})" if by else ""))
    if plan.truncated and not plan.truncation_dropped:
        raised = next((ch.value for ch in result.settings if ch.key == "data.max_length"), None)
        longer = f"({plan.max_length}, which the fixed config raises to {raised})" if raised else f"({plan.max_length})"
        c.print(f"  {num(len(plan.truncated))} rows keep answers longer than data.max_length {longer}: "
                "listed in fix-report.md; --truncation drop removes them" + (" instead" if raised else ""))
    for n in plan.notes + result.notes:
        note(render(n))
    labels = [c for c in dict.fromkeys(f.code for f in result.before if f.severity in ("warning", "error"))
              if c in LABEL_CODES]
    if labels and not plan.removed() and not result.settings:
        c.print(render(T("fix.config_only", codes=", ".join(labels))))
    if result.resolved:
        c.print(styled((f"The audit of the fixed config no longer finds {', '.join(result.resolved)}.", "green")))
    if result.remaining:
        c.print(styled((f"The audit of the fixed config still finds {', '.join(result.remaining)}: see "
                        "fix-report.md.", "yellow")))
    c.print(f"report: {result.out / 'fix-report.md'}")
    c.print(f"config: {result.config} (tuneguard config diff {config} {result.config})")
    for what, cmd in result.next_commands:
        c.print(f"{render(what)}: {cmd}")
