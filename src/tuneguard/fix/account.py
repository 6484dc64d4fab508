"""The account of a fix: fix-report.md (every removed row and why) and its summary lines.

Rows are named as the audit names them (file:line), duplicate groups by the row kept and
the rows removed, so a reader can check any decision against the original file.
"""

from __future__ import annotations

import collections
from typing import Any

from tuneguard.catalog import Spec, T, render as render_spec, say
from tuneguard.data.load import line_ranges
from tuneguard.findings import Finding
from tuneguard.fix.plan import FAULT, TRUNCATION_CODES, DataFile, FixPlan, Group
from tuneguard.fix.write import REPORT_MARK
from tuneguard.fmt import num
from tuneguard.report.markdown import cell, code, fence, finding_text, spec_prose

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


def rows(n: int, language: str = "en") -> str:
    """"1 row", "1,200 rows" (in `language`)."""
    return say("fix.row" if n == 1 else "fix.rows", language, n=num(n))


def by_code(*files: DataFile) -> str:
    """"DUPLICATE_EXACT 1,199, MALFORMED_ROWS 2": the files' removed rows by code, most first."""
    counts = collections.Counter(d.code for f in files for d in f.drops.values())
    return ", ".join(f"{c} {num(n)}" for c, n in counts.most_common())


def resolved(before: list[Finding], after: list[Finding]) -> list[str]:
    """The faults (warning or error) the audit found before the fix and not after it, in
    the audit's order; dropping duplicates can also clear LOW_DIVERSITY, for instance."""
    gone = {f.code for f in before if f.severity in FAULT} - {f.code for f in after if f.severity in FAULT}
    return [c for c in dict.fromkeys(f.code for f in before) if c in gone]


def summary(plan: FixPlan, language: str = "en", settings: bool = False) -> str:
    """One sentence: what was removed, by code, or that nothing needed fixing (no row needed
    removing, when the fixed config changes data `settings` for label faults)."""
    if not plan.removed():
        return say("fix.no_rows" if settings else "fix.nothing", language)
    total = sum(f.records for f in plan.files)
    codes = ", ".join(f"{c} {num(n)}" for c, n in sorted(plan.by_code().items(), key=lambda kv: -kv[1]))
    return say("fix.removed", language, removed=num(plan.removed()), total=rows(total, language), codes=codes)


_SLOT = "\x00path\x00"


def md(key: str, language: str, /, path: str | None = None, **params: Any) -> str:
    """The catalog text `key` as markdown: its own code spans (commands, config keys, paths)
    render as code, a parameter inside one goes in as typed, one outside is escaped (`cell`).
    `path` (the parameter `source` of the text, inside its backticks) becomes a code span of its
    own (`code`), which holds a path with backticks in it too."""
    if path is None:
        return spec_prose(T(key, **params), "", language)
    text = spec_prose(T(key, source=_SLOT, **params), "", language)
    return text.replace(f"`{_SLOT}`", code(path)).replace(_SLOT, cell(path))


def _finding_line(f: Finding, plan: FixPlan, language: str) -> str:
    def t(key: str, **params: Any) -> str:
        return md(f"fix.{key}", language, **params)

    def n_rows(n: int) -> str:
        return rows(n, language)

    head = say("fix.head", language, code=f.code, severity=_severity(f.severity, language))
    if f.code in plan.acted_on:
        if f.code == "DUPLICATE_EXACT":
            return head + t("exact", rows=n_rows(sum(len(g.removed) for g in plan.exact)), groups=num(len(plan.exact)))
        if f.code == "DUPLICATE_NEAR":
            return head + t("near", rows=n_rows(sum(len(g.removed) for g in plan.near)), clusters=num(len(plan.near)))
        if f.code == "TRAIN_VAL_LEAKAGE":
            if plan.leaked:
                return head + t("leaked_one" if len(plan.leaked) == 1 else "leaked", n=num(len(plan.leaked)))
            return head + t("leak_from_train")
        if f.code == "MALFORMED_ROWS":
            return head + t("malformed", rows=n_rows(len(plan.malformed)))
        return head + t("truncated_removed", rows=n_rows(len(plan.truncated)))
    if f.code in TRUNCATION_CODES:
        ev = f.evidence or {}
        if "context_length" in ev and "suggested_max_length" not in ev:  # the rows need more than the context
            if not plan.truncated:
                return head + t("truncated_prompts_context", context=num(ev["context_length"]))
            return head + t("truncated_kept_context", rows=n_rows(len(plan.truncated)), context=num(ev["context_length"]))
        sugg = ev.get("suggested_max_length", ev.get("needed_length_p95"))
        raise_to = T("fix.raise_to", n=num(sugg)) if isinstance(sugg, (int, float)) else ""
        if not plan.truncated:  # the audit found prompts cut, not answers: no row to list
            return head + t("truncated_prompts", raise_to=raise_to)
        return head + t("truncated_kept", rows=n_rows(len(plan.truncated)), raise_to=raise_to)
    why = next((w for g, w in plan.left if g.code == f.code), None)
    if why:
        return head + t("not_changed_why", why=why)
    if f.severity not in FAULT:
        return head + t("not_changed_info")
    return head + t("not_changed")


def _severity(severity: str, language: str) -> str:
    """A severity as the report names it: as stored in English, the report's word otherwise."""
    return severity if language == "en" else say(f"report.sev.{severity}", language)


def _groups(title: str, groups: list[Group], what: str, language: str) -> list[str]:
    if not groups:
        return []
    out = ["", say(title, language), "", say("fix.groups_cols", language, what=say(what, language)), "|---|---|"]
    out += [f"| {code(g.kept, True)} | {code(rows_text(g.removed), True)} |" for g in groups]
    return out


def render(plan: FixPlan, source: str, before: list[Finding], after: list[Finding] | None,
           names: dict[str, str], config_notes: list[Spec], language: str = "en", settings: list[Any] | None = None) -> str:
    """fix-report.md in `language`. `names`: each data file's ident (role:path) -> the name of its copy in the
    folder; `config_notes`: the decisions about the fixed config (catalog specs)."""
    def t(key: str, **params: Any) -> str:
        return say(f"fix.{key}", language, **params)

    out = [md("fix.title", language, path=source), "", REPORT_MARK, "", summary(plan, language, bool(settings)), "",
           md("fix.untouched", language, path=source), "", t("files_cols"), "|---|---|---|---|---|---|"]
    for f in plan.files:
        copy = code(names[f.ident], True) if f.ident in names else t("not_written")
        out.append(f"| {t('role.' + f.role)} | {code(f.path, True)} | {copy} | {num(f.records)} | {num(f.kept)} | "
                   f"{num(len(f.drops))} |")
    out += ["", t("h.found"), ""]
    if before:
        out += [_finding_line(f, plan, language) for f in before]
    else:
        out.append(t("no_findings"))
    for n in plan.notes + config_notes:
        out += ["", spec_prose(n, render_spec(n, language), language)]
    out += _removed_tables(plan, language)
    if after is not None:
        out += _audit_after(plan, before, after, language)
    return "\n".join(out) + "\n"


def _removed_tables(plan: FixPlan, language: str) -> list[str]:
    """The removed rows, one table per fault family."""
    def t(key: str, **params: Any) -> str:
        return say(f"fix.{key}", language, **params)

    out = _groups("fix.h.exact", plan.exact, "fix.exact_what", language)
    out += _groups("fix.h.near", plan.near, "fix.near_what", language)
    if plan.leaked:
        out += ["", t("h.leaked"), "", t("leaked_cols"), "|---|---|---|"]
        out += [f"| {code(a, True)} | {code(b, True)} | {t('match.' + k)} |"
                for a, b, k in plan.leaked]
    if plan.malformed:
        out += ["", t("h.malformed"), "", t("malformed_cols"), "|---|---|"]
        out += [f"| {code(w, True)} | {cell(r)} |" for w, r in plan.malformed]
    if plan.truncated:
        state = T("fix.truncated.removed" if plan.truncation_dropped else "fix.truncated.kept")
        out += ["", md("fix.h.truncated", language, n=num(plan.max_length), state=state), "",
                code(rows_text(plan.truncated))]
    return out


def _audit_after(plan: FixPlan, before: list[Finding], after: list[Finding], language: str) -> list[str]:
    """What the audit of the fixed data no longer finds, still finds and also finds."""
    out = ["", say("fix.h.after", language), ""]
    gone = resolved(before, after)
    if gone:
        out.append(say("fix.no_longer", language, codes=", ".join(gone)))
    for f in after:
        still = f.code in plan.acted_on and f.severity in FAULT
        out.append(say("fix.still" if still else "fix.also", language, code=f.code,
                       severity=_severity(f.severity, language), message=finding_text(f, "message", language)))
    if not after:
        out.append(say("fix.no_findings", language))
    return out


def next_block(commands: list[tuple[Spec, str]], language: str = "en") -> str:
    """The commands to run next, as a fenced block with a comment line each (in `language`)."""
    return fence("\n".join(f"# {render_spec(what, language)}\n{cmd}" for what, cmd in commands))


def as_dict(plan: FixPlan) -> dict[str, Any]:
    """What was removed, per file and code (for the run store's data_fixed event)."""
    return {"removed": plan.removed(), "by_code": plan.by_code(),
            "files": [{"role": f.role, "path": f.path, "before": f.records, "after": f.kept} for f in plan.files]}
