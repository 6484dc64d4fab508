"""`tuneguard compare RUN_A RUN_B [--out FILE] [--force] [--json]`: two runs side by side.

The page (tuneguard.report.compare) and the terminal show the same summary: a loss that was
measured on other tokens or rows in the two runs reads "not comparable (N)" in both columns,
footnote N saying why (tuneguard.report.comparable), never two numbers to rank. `--json`
prints the figures as numbers with the same judgement in `comparable`. The terminal speaks the
page's language (run A's report.language, else notify.language), whatever run B's: the person
comparing is the one who ran A, and one command speaks one language; --json is always English.

Exit codes: 0 written; 2 a run directory without a run store, or an --out that is not this
command's to write; 1 the page could not be written (a full disk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tuneguard.cli.common import console, print_json, styled
from tuneguard.cli.errors import run_guarded

PAGE = "configcli.the_page"  # what a failed write did not write (catalog key)


def _table(labels: tuple[str, str], rows: list[tuple[str, str, str]]) -> Any:
    """The summary as a Rich table, every cell verbatim (run names are the user's)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=False, header_style="bold")
    table.add_column("")
    for label in labels:
        table.add_column(Text(label), justify="right", overflow="fold")
    for name, x, y in rows:
        table.add_row(Text(name), Text(x), Text(y))
    return table


def compare(
    run_a: Annotated[Path, typer.Argument(help="First run directory.")],
    run_b: Annotated[Path, typer.Argument(help="Second run directory.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write; default next to RUN_A.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out even when it is not a tuneguard page.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary and which losses are comparable as one "
                                                       "JSON object.")] = False,
) -> None:
    """Write a side-by-side HTML page of two runs (curves, config diff, verdicts, QA samples) and
    print the summary, a loss that is not comparable between them shown as such, with why."""
    from tuneguard.report.compare import (judgement, labels_of, run_facts, settings_only_note, summary,
                                          incomparable_notes, write_compare)
    from tuneguard.report.components import report_language
    from tuneguard.report.rundata import load_run

    a = run_guarded(lambda: load_run(run_a), run_a, PAGE, json_out=json_)
    b = run_guarded(lambda: load_run(run_b), run_b, PAGE, json_out=json_)
    path = run_guarded(lambda: write_compare(run_a, run_b, out, force=force, runs=(a, b)), run_a, PAGE,
                       json_out=json_, language="en" if json_ else report_language(a.config))
    j = judgement(a, b)
    lang = "en" if json_ else report_language(a.config)  # the page's language; --json stays English
    notes, aside = incomparable_notes(a, b, lang, j=j), settings_only_note(a, b, j, lang)
    if json_:
        print_json({"page": str(path), "run_a": run_facts(a), "run_b": run_facts(b), "comparable": j.to_dict(),
                    "notes": notes + ([aside] if aside else [])})
        return
    c = console()
    for note in notes:  # the page's note, where it is read first
        c.print(styled((note, "yellow")))
    s = summary(a, b, j, lang)
    c.print(_table(labels_of(a, b), s.rows))
    for i, line in enumerate(s.footnotes, 1):
        c.print(styled(f"({i}) {line}"))
    if aside:
        c.print(styled((aside, "dim")))
    from tuneguard.catalog import say

    c.print(styled(config_line(a, b, lang)))
    c.print(say("comparecli.page", lang, path=str(path)), markup=False)


def config_line(a: Any, b: Any, lang: str) -> str:
    """The settings that differ, as the page's config diff lists them: what was changed between
    the two runs is what a comparison is read for."""
    from tuneguard.catalog import say
    from tuneguard.config.diff import diff_configs, format_value
    from tuneguard.report.compare import labels_of

    rows = diff_configs(a.config, b.config)
    if not rows:
        return say("comparecli.config_same", lang)
    la, lb = labels_of(a, b)
    changes = "; ".join(f"{k} `{format_value(x)}` -> `{format_value(y)}`" for k, x, y in rows)
    return say("comparecli.config_diff", lang, a=la, b=lb, changes=changes)
