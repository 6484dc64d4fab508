"""`tuneguard audit CONFIG`: the pre-flight data audit (exit 0 no error finding, 1 some, 2 bad input)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from tuneguard.cli.common import (EXIT_FAIL, EXIT_OK, console, load_or_exit, print_json,
                                  setup_logging, styled)
from tuneguard.catalog import TABLE, J, T, config_language, say
from tuneguard.catalog import render as render_text
from tuneguard.fmt import num

log = logging.getLogger(__name__)


def json_command(config: str, overrides: list[str] | None, language: str = "en") -> str:
    """The command that prints this audit's full evidence: the user's own config argument, not a
    placeholder. --set values are named, not repeated: notify.urls may hold a token."""
    import shlex

    same = say("auditcli.same_set", language) if overrides else ""
    return f"{shlex.join(['tuneguard', 'audit', config, '--json'])}{same}"


def fix_lines(config: str, overrides: list[str] | None, findings: list[Any], language: str = "en") -> list[str]:
    """The `tuneguard fix` command that writes copies of the data without the rows behind the
    audit's faults it repairs (findings.FIXABLE_CODES, warning or error), in words and on a line
    of its own; none when there is no such fault. The output folder sits beside the config (a
    run directory's: beside the run, as the messages that end a run name it)."""
    import shlex

    from tuneguard.findings import FIXABLE_CODES

    codes = list(dict.fromkeys(f.code for f in findings
                               if f.code in FIXABLE_CODES and f.severity in ("warning", "error")))
    if not codes:
        return []
    path = Path(config)
    if path.is_dir() or (path.name == "config.yaml" and (path.parent / "run.db").is_file()):
        run = path if path.is_dir() else path.parent
        source, out = str(run / "config.yaml"), run.parent / f"{run.name}-fixed-data"
    else:
        source, out = config, path.parent / f"{path.stem}-fixed-data"
    same = say("auditcli.same_set", language) if overrides else ""
    return [say("auditcli.fix", language, codes=", ".join(codes), same=same),
            f"  {shlex.join(['tuneguard', 'fix', source, '--out', str(out)])}"]


# The parts of an audit's time, as the console names them (stats["timings_s"] keys, auditcli.time.KEY).
TIMING_PARTS = ("load_tokenizer", "prepare_data", "total")


def timing_text(timings: dict[str, float], language: str = "en") -> str:
    """The audit's wall time and what it covers: "41.0s (tokenizer 32.0s, data 7.9s, checks
    1.0s)". The log's "audit: ... in 1.0s" is the checks alone; this says so next to it."""
    parts = [(key, timings[key]) for key in TIMING_PARTS if key in timings]
    whole = sum(seconds for _, seconds in parts)
    if len(parts) < 2:
        return say("auditcli.time.seconds", language, s=whole)
    return say("auditcli.time.parts", language, s=whole,
               parts=", ".join(say(f"auditcli.time.{key}", language, s=seconds) for key, seconds in parts))


def header_line(stats: dict[str, Any], language: str = "en") -> str:
    """What was audited, from how many rows, in how long."""
    rows = stats.get("rows", {})
    took = timing_text(stats.get("timings_s", {}), language)
    sizes = ", ".join(say(f"auditcli.size.{k}", language, n=num(v))
                      for k, v in rows.items() if k in ("train", "validation", "test"))
    whole = rows.get("train_population")
    audited = num(rows.get("audited_train"), missing="?")
    if rows.get("sampled") and whole:
        return say("auditcli.header_sampled", language, audited=audited, whole=num(whole), sizes=sizes, took=took)
    return say("auditcli.header", language, audited=audited, sizes=sizes, took=took)


def context_lines(result: Any, language: str = "en") -> list[str]:
    """The task the checks judged the data as (and its labels), the data cache, audit.severity."""
    lines: list[str] = []
    task = result.stats.get("task") or {}
    if task.get("shape"):
        why = result.task_text if result.task_text is not None else task.get("reason")
        how = (T("auditcli.task.stated") if task.get("source") == "data.task"
               else T("auditcli.task.inferred", reason=why))
        shape = T(f"task.{task['shape']}") if f"task.{task['shape']}" in TABLE else task["shape"]
        lines.append(render_text(T("auditcli.task", shape=shape, how=how), language))
        labels = task.get("labels")
        if labels:
            listed = ", ".join(f"{x['label']} {x['share']:.0%}" for x in labels[:8]) + (" …" if len(labels) > 8 else "")
            lines.append(say("auditcli.labels", language, labels=listed))
    if result.stats.get("cache") and result.cache_dir:
        lines.append(say("auditcli.cache", language, path=result.cache_dir))
    overrides = (result.stats.get("severity_overrides") or {}).get("applied") or {}
    if overrides:
        word = {s: T(f"report.sev.{s}") for s in ("error", "warning", "info")} | {"off": T("auditcli.severity_off")}
        changes = J("join.comma", (T("auditcli.severity_change", code=c, default=word.get(v["default"], v["default"]),
                                     new=word.get(v["set"], v["set"])) for c, v in sorted(overrides.items())))
        lines.append(render_text(T("auditcli.severity_set", changes=changes), language))
    return lines


def render_audit(result: Any, con: Any, command: str = "tuneguard audit CONFIG --json", language: str = "en",
                 fix: list[str] | None = None) -> None:
    """The audit for a person, in `language`: a summary line, then each finding as a block
    (cli.findings_view), then the totals and `command`, which prints the full evidence, and
    `fix` (fix_lines): the command that cleans what it can."""
    from tuneguard.cli.findings_view import print_findings

    con.print(header_line(result.stats, language))
    for line in context_lines(result, language):
        con.print(line)
    if not result.findings:
        con.print(styled((say("auditcli.clean", language), "green")))
        return
    con.print()
    print_findings(con, result.findings, language=language)
    n_err = sum(f.severity == "error" for f in result.findings)
    n_warn = sum(f.severity == "warning" for f in result.findings)
    con.print()
    # The command on a line of its own: copied whole, and a long path wraps no sentence.
    con.print(say("auditcli.totals", language, errors=n_err, warnings=n_warn))
    con.print(f"  {command}")
    for line in fix or []:
        # The sentence wraps at a terminal's width; the command line stays whole for copying.
        con.print(line, markup=False, highlight=False, soft_wrap=line.startswith("  ") or not con.is_terminal)


render = render_audit


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
        language = config_language(cfg)
        render_audit(result, console(), json_command(config, set_, language), language,
                     fix_lines(config, set_, result.findings, language))
    raise typer.Exit(EXIT_FAIL if result.has_errors() else EXIT_OK)
