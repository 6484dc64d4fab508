"""`tuneguard audit CONFIG`: the pre-flight data audit (exit 0 no error finding, 1 some, 2 bad input)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from tuneguard.cli.common import (EXIT_FAIL, EXIT_OK, console, load_or_exit, print_json,
                                  setup_logging, styled)
from tuneguard.fmt import num

log = logging.getLogger(__name__)


def json_command(config: str, overrides: list[str] | None) -> str:
    """The command that prints this audit's full evidence: the user's own config argument, not a
    placeholder. --set values are named, not repeated: notify.urls may hold a token."""
    import shlex

    same = " (with the same --set options)" if overrides else ""
    return f"{shlex.join(['tuneguard', 'audit', config, '--json'])}{same}"


# The parts of an audit's time, as the console names them (stats["timings_s"] keys).
TIMING_PARTS = (("load_tokenizer", "tokenizer"), ("prepare_data", "data"), ("total", "checks"))


def timing_text(timings: dict[str, float]) -> str:
    """The audit's wall time and what it covers: "41.0s (tokenizer 32.0s, data 7.9s, checks
    1.0s)". The log's "audit: ... in 1.0s" is the checks alone; this says so next to it."""
    parts = [(label, timings[key]) for key, label in TIMING_PARTS if key in timings]
    whole = sum(seconds for _, seconds in parts)
    if len(parts) < 2:
        return f"{whole:.1f}s"
    return f"{whole:.1f}s (" + ", ".join(f"{label} {seconds:.1f}s" for label, seconds in parts) + ")"


def render(result: Any, con: Any, command: str = "tuneguard audit CONFIG --json") -> None:
    """The audit for a person: a summary line, then each finding as a block (cli.findings_view),
    then the totals and `command`, which prints the full evidence."""
    from tuneguard.cli.findings_view import print_findings

    rows = result.stats.get("rows", {})
    took = timing_text(result.stats.get("timings_s", {}))
    sizes = ", ".join(f"{k} {num(v)}" for k, v in rows.items() if k in ("train", "validation", "test"))
    whole = rows.get("train_population")
    sample = f" of {num(whole)} (a seeded sample: audit.max_rows)" if rows.get("sampled") and whole else ""
    con.print(f"Audited {num(rows.get('audited_train'), missing='?')}{sample} training rows ({sizes}) in {took}.")
    task = result.stats.get("task") or {}
    if task.get("shape"):
        how = "set by data.task" if task.get("source") == "data.task" else f"inferred: {task.get('reason')}"
        con.print(f"Task: {task['shape']} ({how}); each check is judged for this task.")
        labels = task.get("labels")
        if labels:
            con.print("Labels: " + ", ".join(f"{x['label']} {x['share']:.0%}" for x in labels[:8])
                      + (" …" if len(labels) > 8 else ""))
    if result.stats.get("cache"):
        con.print(f"Tokenized data: {result.stats['cache']} (key matches).")
    overrides = (result.stats.get("severity_overrides") or {}).get("applied") or {}
    if overrides:
        con.print("Severity set by audit.severity: " + ", ".join(
            f"{c} {v['default']} -> {v['set']}" for c, v in sorted(overrides.items())))
    if not result.findings:
        con.print(styled(("No findings: the data passed every check.", "green")))
        return
    con.print()
    print_findings(con, result.findings)
    n_err = sum(f.severity == "error" for f in result.findings)
    n_warn = sum(f.severity == "warning" for f in result.findings)
    con.print()
    # The command on a line of its own: copied whole, and a long path wraps no sentence.
    con.print(f"{n_err} error(s), {n_warn} warning(s). Full evidence:")
    con.print(f"  {command}")


def run_dir_source(config: str) -> tuple[str, Path | None]:
    """The config to load and the data cache to read: a run directory stands for its
    config.yaml, and a config inside a run directory brings that run's cache/ (written by
    `train`), which the audit reads when its key matches this config's data."""
    path = Path(config)
    if path.is_dir() and (path / "config.yaml").is_file():
        path = path / "config.yaml"
    cache = path.parent / "cache"
    if not path.is_file():
        return config, None  # a preset name, or a file that load_or_exit reports missing
    return str(path), cache if cache.is_dir() else None


def audit(
    config: Annotated[str, typer.Argument(help="YAML config file, preset name, or a run directory (its config.yaml; "
                                            "its tokenized data are reused when they match).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: section.key=value (YAML value).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print {\"findings\": [...], \"stats\": {...}} as JSON.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Pre-flight data audit: duplicates, leakage, templated data, label/padding/EOS faults, truncation."""
    setup_logging(debug)
    source, cache_dir = run_dir_source(config)
    cfg = load_or_exit(source, set_, json_out=json_)
    from tuneguard.audit import audit_config
    from tuneguard.cli.errors import user_errors

    with user_errors(json_out=json_, debug=debug):
        result = audit_config(cfg, cache_dir=cache_dir)
    if json_:
        print_json(result.to_json())
    else:
        render(result, console(), json_command(config, set_))
    raise typer.Exit(EXIT_FAIL if result.has_errors() else EXIT_OK)
