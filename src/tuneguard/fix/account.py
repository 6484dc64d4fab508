"""The account of a fix: fix-report.md (every removed row and why) and its summary lines.

Rows are named as the audit names them (file:line), duplicate groups by the row kept and
the rows removed, so a reader can check any decision against the original file.
"""

from __future__ import annotations

import collections
from typing import Any

from tuneguard.data.load import line_ranges
from tuneguard.findings import Finding
from tuneguard.fix.plan import FAULT, TRUNCATION_CODES, DataFile, FixPlan, Group
from tuneguard.fix.write import REPORT_MARK
from tuneguard.fmt import num
from tuneguard.report.markdown import cell, fence

EVERY_LINE = 10**9  # line_ranges limit: a file lists every row


def rows_text(wheres: list[str]) -> str:
    """"train.jsonl:4", "train.jsonl:5", "train.jsonl:9" -> "train.jsonl:4-5, 9"."""
    by_file: dict[str, list[int]] = collections.defaultdict(list)
    other: list[str] = []
    for w in wheres:
        name, _, line = w.rpartition(":")
        if name and line.isdigit():
            by_file[name].append(int(line))
        else:
            other.append(w)
    return "; ".join([f"{name}:{line_ranges(lines, EVERY_LINE)}" for name, lines in by_file.items()] + other)


def rows(n: int) -> str:
    return f"{num(n)} row" + ("" if n == 1 else "s")


def by_code(f: DataFile) -> str:
    """"DUPLICATE_EXACT 1,199, MALFORMED_ROWS 2": a file's removed rows by code, most first."""
    counts = collections.Counter(d.code for d in f.drops.values())
    return ", ".join(f"{c} {num(n)}" for c, n in counts.most_common())


def resolved(before: list[Finding], after: list[Finding]) -> list[str]:
    """The faults (warning or error) the audit found before the fix and not after it, in
    the audit's order; dropping duplicates can also clear LOW_DIVERSITY, for instance."""
    gone = {f.code for f in before if f.severity in FAULT} - {f.code for f in after if f.severity in FAULT}
    return [c for c in dict.fromkeys(f.code for f in before) if c in gone]


def summary(plan: FixPlan) -> str:
    """One sentence: what was removed, by code, or that nothing needed fixing."""
    if not plan.removed():
        return "Nothing needed fixing: the copies are identical to the originals."
    total = sum(f.records for f in plan.files)
    codes = ", ".join(f"{c} {num(n)}" for c, n in sorted(plan.by_code().items(), key=lambda kv: -kv[1]))
    return f"Removed {num(plan.removed())} of {rows(total)} ({codes})."


def _finding_line(f: Finding, plan: FixPlan) -> str:
    head = f"- **{f.code}** ({f.severity}): "
    if f.code in plan.acted_on:
        if f.code == "DUPLICATE_EXACT":
            n = sum(len(g.removed) for g in plan.exact)
            return head + (f"{rows(n)} removed in {num(len(plan.exact))} group(s); in each group the first row "
                           "in file order is kept.")
        if f.code == "DUPLICATE_NEAR":
            n = sum(len(g.removed) for g in plan.near)
            return head + (f"{rows(n)} removed in {num(len(plan.near))} cluster(s); in each cluster the text "
                           "that comes first in the file is kept.")
        if f.code == "TRAIN_VAL_LEAKAGE":
            if plan.leaked:
                noun = 'row' if len(plan.leaked) == 1 else 'rows'
                return head + (f"{num(len(plan.leaked))} validation/test {noun} that occur in training removed from "
                               "their file; training keeps its rows.")
            return head + "fixed by deduplicating data.train_file, which validation is drawn from."
        if f.code == "MALFORMED_ROWS":
            return head + f"{rows(len(plan.malformed))} removed."
        return head + f"{rows(len(plan.truncated))} whose answer does not fit data.max_length removed."
    if f.code in TRUNCATION_CODES:
        sugg = (f.evidence or {}).get("suggested_max_length", (f.evidence or {}).get("needed_length_p95"))
        raise_to = f" (the audit suggests about {num(sugg)})" if isinstance(sugg, (int, float)) else ""
        return head + (f"{rows(len(plan.truncated))} listed below, kept: pass `--truncation drop` to remove "
                       f"them, or raise data.max_length{raise_to}.")
    why = {g.code: w for g, w in plan.left}.get(f.code)
    if why:
        return head + f"not changed: {why}."
    if f.severity not in FAULT:
        return head + "not changed (info is a fact, not a fault)."
    return head + "not changed."


def _groups(title: str, groups: list[Group], what: str) -> list[str]:
    if not groups:
        return []
    out = ["", f"## {title}", "", f"| kept | removed ({what}) |", "|---|---|"]
    out += [f"| {cell(g.kept)} | {cell(rows_text(g.removed))} |" for g in groups]
    return out


def render(plan: FixPlan, source: str, before: list[Finding], after: list[Finding] | None,
           names: dict[str, str], config_notes: list[str]) -> str:
    """fix-report.md. `names`: each data file's role -> the name of its copy in the folder."""
    out = [f"# Data fix: {cell(source)}", "", REPORT_MARK, "", summary(plan), "",
           f"The original files are untouched. `config.yaml` here is {cell(source)} with its data files "
           "pointing at the copies below.", "",
           "| role | original | copy | rows before | rows after | removed |", "|---|---|---|---|---|---|"]
    for f in plan.files:
        copy = names.get(f.role, "(not written)")
        out.append(f"| {f.role} | {cell(f.path)} | {cell(copy)} | {num(f.records)} | {num(f.kept)} | "
                   f"{num(len(f.drops))} |")
    out += ["", "## What the audit found", ""]
    if before:
        out += [_finding_line(f, plan) for f in before]
    else:
        out.append("No findings: the data passed every check.")
    for n in plan.notes + config_notes:
        out += ["", cell(n)]
    out += _groups("Exact duplicates", plan.exact, "exact copies of the kept row")
    out += _groups("Near duplicates", plan.near, "near copies of the kept row")
    if plan.leaked:
        out += ["", "## Validation and test rows that occur in training", "",
                "| removed | occurs in training as | match |", "|---|---|---|"]
        out += [f"| {cell(a)} | {cell(b)} | {k} |" for a, b, k in plan.leaked]
    if plan.malformed:
        out += ["", "## Malformed rows", "", "| removed | reason |", "|---|---|"]
        out += [f"| {cell(w)} | {cell(r)} |" for w, r in plan.malformed]
    if plan.truncated:
        state = "removed" if plan.truncation_dropped else "kept (`--truncation drop` removes them)"
        out += ["", f"## Answers that do not fit data.max_length ({num(plan.max_length)} tokens): {state}", "",
                cell(rows_text(plan.truncated))]
    if after is not None:
        out += ["", "## Audit of the fixed data", ""]
        gone = resolved(before, after)
        if gone:
            out.append(f"No longer found: {', '.join(gone)}.")
        for f in after:
            still = f.code in plan.acted_on and f.severity in FAULT
            out.append(f"- {'still' if still else 'also'} found: **{f.code}** ({f.severity}): {cell(f.message)}")
        if not after:
            out.append("No findings: the data passed every check.")
    return "\n".join(out) + "\n"


def next_block(commands: list[tuple[str, str]]) -> str:
    """The commands to run next, as a fenced block with a comment line each."""
    return fence("\n".join(f"# {what}\n{cmd}" for what, cmd in commands))


def as_dict(plan: FixPlan) -> dict[str, Any]:
    """What was removed, per file and code (for the run store's data_fixed event)."""
    return {"removed": plan.removed(), "by_code": plan.by_code(),
            "files": [{"role": f.role, "path": f.path, "before": f.records, "after": f.kept} for f in plan.files]}
