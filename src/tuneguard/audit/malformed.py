"""MALFORMED_ROWS: rows the loader could not use (broken JSON, missing or empty fields).

Rule: an error when more than data.max_malformed_fraction of the rows are malformed
(training refuses to start unless --force, and then skips them), a warning for any
malformed row below that (training skips them, silently shrinking the data). The evidence
names every bad row as file:line (`rows`, up to MAX_ROWS) and groups identical reasons
(`groups`), so one reason repeated for 200 rows reads as one line with a line range.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from tuneguard.audit.common import finding, share
from tuneguard.catalog import J, T
from tuneguard.data.load import RowProblem, group_problems, reason_kind
from tuneguard.findings import Finding, Severity

log = logging.getLogger(__name__)

SHOW = 20
SHOW_REASONS = 3
MAX_ROWS = 1000


def check(problems: list[RowProblem], rows_read: int, max_fraction: float) -> tuple[list[Finding], dict[str, Any]]:
    problems = sorted(problems, key=lambda p: (p.file, p.line if p.line is not None else -1))
    n = len(problems)
    frac = share(n, rows_read)
    reasons = collections.Counter(reason_kind(p.reason) for p in problems)
    stats = {"rows_read": rows_read, "malformed": n, "share": frac, "reasons": dict(reasons.most_common())}
    if not n:
        return [], stats
    groups = group_problems(problems)
    files = collections.Counter(p.file for p in problems)
    rows = [f"{p.file}:{p.line}" if p.line is not None else p.file for p in problems]
    ev = {"count": n, "share": frac, "rows_read": rows_read, "rows": rows[:MAX_ROWS],
          "groups": [{k: g[k] for k in ("count", "reason", "where", "file")} for g in groups],
          "reasons": dict(reasons.most_common()), "files": dict(files),
          "examples": [str(p) for p in problems[:SHOW]], "max_malformed_fraction": max_fraction}
    # Every reason up to SHOW_REASONS, not only the commonest: five rows with five different
    # faults are fixed from the message alone.
    shown = [T("MALFORMED_ROWS.one", reason=g["reason"], where=g["where"]) for g in groups[:SHOW_REASONS]]
    rest = groups[SHOW_REASONS:]
    if rest:
        shown.append(T("MALFORMED_ROWS.more", count=sum(g["count"] for g in rest), reasons=len(rest)))
    most = J("join.semi", shown)
    level: Severity = "error" if frac > max_fraction else "warning"
    msg = T(f"MALFORMED_ROWS.{level}", n=n, rows=rows_read, share=frac, max=max_fraction, most=most)
    if n >= rows_read and all(p.kind == "fields" for p in problems):
        # No row has the format's fields: a mapping to set, and --force would leave nothing.
        rec = T("MALFORMED_ROWS.fields.rec")
    else:
        rec = T(f"MALFORMED_ROWS.{level}.rec", max=max_fraction)
    return [finding("MALFORMED_ROWS", level, msg, ev, rec)], stats
