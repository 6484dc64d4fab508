"""Findings for a terminal as blocks, not table rows (audit, status, watch).

A table squeezes message, evidence and recommendation into columns a few characters wide at
80 columns (one word per line). A block gives each its own full-width line:

    ERROR MALFORMED_ROWS (audit)
      4 of 160 rows (2.5%) are malformed ...
      rows: train.jsonl:11, train.jsonl:51, train.jsonl:100, train.jsonl:141
      -> Fix or remove the listed rows ...

On a terminal the lines wrap at its width under their indent; elsewhere (a pipe, a log
file) each stays one physical line, so `grep` finds a whole message.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.text import Text

from tuneguard.findings import Finding, when_text
from tuneguard.fmt import num
from tuneguard.verbatim import styled

SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
INDENT = 2
# Evidence keys shown first, in this order; the rest stays in --json.
KEY_FIELDS = ("count", "share", "rows", "largest_cluster", "positions", "share_of_positions", "rows_checked",
              "max_length", "needed_length_p95", "prompt_share_of_supervised")
LIST_FIELDS = ("largest_groups", "largest_clusters", "examples", "top_responses")
# What one item of a list field is called on its line: only the first group is the largest, and
# "largest_cluster" is also the name of a number above it.
ITEM_LABEL = {"largest_groups": "group", "largest_clusters": "cluster", "examples": "example",
              "top_responses": "response"}
_DIRS = re.compile(r"[^\s,=()]*/([^/\s,=()]+:\d+)")


def short_paths(text: str) -> str:
    """"/long/dir/train.jsonl:12" -> "train.jsonl:12" (the JSON output keeps full paths)."""
    return _DIRS.sub(r"\1", text)


def _value(k: str, v: Any) -> str:
    if isinstance(v, float) and "share" in k:
        return f"{v:.1%}"
    return num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def _over_splits(ev: dict[str, Any]) -> bool:
    """Whether evidence `share` (TRAIN_VAL_LEAKAGE's) counts more rows than one split's."""
    splits, share, count = ev.get("splits"), ev.get("share"), ev.get("count")
    if not isinstance(splits, dict) or not splits or not isinstance(share, float) or not share or not count:
        return False
    listed = sum(int(sp.get("rows", 0)) for sp in splits.values() if isinstance(sp, dict))
    return len(splits) > 1 or round(count / share) != listed


def evidence_lines(ev: dict[str, Any], width: int = 3, language: str = "en") -> list[str]:
    """A few `key: value` lines of a finding's evidence: key numbers, then example rows (the keys
    as stored, what tuneguard adds in words in `language`)."""
    from tuneguard.catalog import say

    lines: list[str] = []
    for k in KEY_FIELDS:
        v = ev.get(k)
        if v is None or isinstance(v, dict):
            continue
        if isinstance(v, list):
            if v and isinstance(v[0], str):
                more = say("statuscli.ev_more", language, n=len(v) - width * 3) if len(v) > width * 3 else ""
                lines.append(f"{k}: {', '.join(v[:width * 3])}{more}")
            continue
        # A leak's share is over the validation and test rows together (its message gives each
        # split's own): said, so that "24 of 24 validation rows" beside "share: 75.0%" adds up.
        together = say("statuscli.ev_together", language) if k == "share" and _over_splits(ev) else ""
        lines.append(f"{k}: {_value(k, v)}{together}")
    rows_listed = isinstance(ev.get("rows"), list) and bool(ev["rows"])
    for k in LIST_FIELDS:
        if k == "examples" and rows_listed:  # the rows are named already; the message says why
            continue
        items = ev.get(k)
        if not items or not isinstance(items, list):
            continue
        label = ITEM_LABEL.get(k, k.removesuffix("s"))
        for it in items[:width]:
            if isinstance(it, dict):
                # The locations: a cluster's "rows" is a count, its "where" the list of file:line.
                where = next((it[f] for f in ("rows", "where", "row", "first")
                              if isinstance(it.get(f), (list, str)) and it.get(f)), "")
                if isinstance(where, list):
                    where = ", ".join(map(str, where[:3])) + (" …" if len(where) > 3 else "")
                size = it.get("count") or it.get("texts")
                head = f"x{size} " if size else ""
                lines.append(f"{label}: {head}{where}".rstrip())
            else:
                lines.append(f"{label}: {it}")
        break
    return [short_paths(line) for line in lines]


def _parts(f: Finding | dict[str, Any], evidence: bool, language: str = "en") -> tuple[Text, list[str], str]:
    """A finding's head line, body lines and recommendation; its message and recommendation in
    `language` where the finding kept its catalog specs (`text`), the stored English otherwise."""
    from tuneguard.catalog import in_language, say

    d = f.to_dict() if isinstance(f, Finding) else f
    sev = str(d.get("severity") or "")
    where = when_text(d, language) or ("audit" if language == "en" else say("auditcli.where", language))
    label = sev.upper() if language == "en" or sev not in SEVERITY_STYLE else say(f"report.sev.{sev}", language)
    head = styled((label, SEVERITY_STYLE.get(sev, "bold")), " ", (str(d.get("code")), "bold"), f" ({where})")
    said = d.get("text") if isinstance(d.get("text"), dict) else {}
    body = [in_language(said.get("message"), str(d.get("message") or ""), language)]
    if evidence and isinstance(d.get("evidence"), dict):
        body += evidence_lines(d["evidence"], language=language)
    rec = in_language(said.get("recommendation"), str(d.get("recommendation") or ""), language)
    return head, body, rec


def finding_renderable(f: Finding | dict[str, Any], *, evidence: bool = True, language: str = "en") -> RenderableType:
    """One finding as a block that wraps at the console's width under an indent (for Live views)."""
    head, body, rec = _parts(f, evidence, language)
    lines: list[RenderableType] = [head]
    lines += [Padding(Text(b), (0, 0, 0, INDENT), expand=False) for b in body]
    if rec:
        lines.append(Padding(styled(("-> ", "bold"), rec), (0, 0, 0, INDENT), expand=False))
    return Group(*lines)


def info_line(f: Finding | dict[str, Any], where: Any = None, language: str = "en") -> Text:
    """An info finding in one line, for a first read: severity, code, step, its headline and where
    its full text is (`where`: a catalog spec, default "the same command with --json").

        INFO LOSS_COLLAPSE at step 15: The task looks easy ... (full text: the same command with --json)

    Warnings and errors keep their blocks (`print_findings`); info findings are facts that never act."""
    from tuneguard.catalog import T, say
    from tuneguard.findings import brief_line

    d = f.to_dict() if isinstance(f, Finding) else f
    label = "INFO" if language == "en" else say("report.sev.info", language)
    line = brief_line(d, where if where is not None else T("brief.where.json"), language)
    return styled((label, SEVERITY_STYLE["info"]), " ", short_paths(line))


def _is_info(f: Finding | dict[str, Any]) -> bool:
    return (f.severity if isinstance(f, Finding) else f.get("severity")) == "info"


def print_findings(con: Console, findings: list[Any], *, evidence: bool = True, language: str = "en",
                   brief_info: bool = False, where: Any = None) -> None:
    """Each finding as a block, its message and recommendation in `language`; a blank line between
    blocks. With `brief_info`, an info finding is one line (`info_line`, naming `where` its full text
    is) and consecutive ones are not set apart."""
    previous_brief = False
    for i, f in enumerate(findings):
        brief = brief_info and _is_info(f)
        if i and not (brief and previous_brief):
            con.print()
        previous_brief = brief
        if brief:
            con.print(info_line(f, where, language), soft_wrap=not con.is_terminal)
        elif con.is_terminal:
            con.print(finding_renderable(f, evidence=evidence, language=language), soft_wrap=False)
        else:
            _print_plain(con, f, evidence, language)


def _print_plain(con: Console, f: Finding | dict[str, Any], evidence: bool, language: str) -> None:
    head, body, rec = _parts(f, evidence, language)
    con.print(head)
    for b in body:
        con.print(" " * INDENT + b)
    if rec:
        con.print(" " * INDENT + "-> " + rec)
