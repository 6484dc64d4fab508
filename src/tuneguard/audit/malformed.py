"""MALFORMED_ROWS: rows the loader could not use (broken JSON, missing or empty fields).

The loader already refuses to start when more than data.max_malformed_fraction of the rows
are malformed (a DataError, exit 2); below that the rows are skipped, silently shrinking
the data, so the audit names them with file and line. Rule: warning for any malformed row.
"""

from __future__ import annotations

import collections
import logging
import re
from typing import Any

from tuneguard.audit.common import finding, pct, share
from tuneguard.data.load import RowProblem
from tuneguard.findings import Finding

log = logging.getLogger(__name__)

SHOW = 20
_DETAIL = re.compile(r"\s*\(.*\)$|\s+at byte \d+$")


def check(problems: list[RowProblem], rows_read: int, max_fraction: float) -> tuple[list[Finding], dict[str, Any]]:
    problems = sorted(problems, key=lambda p: (p.file, p.line if p.line is not None else -1))
    n = len(problems)
    frac = share(n, rows_read)
    reasons = collections.Counter(_DETAIL.sub("", p.reason) for p in problems)
    stats = {"rows_read": rows_read, "malformed": n, "share": frac, "reasons": dict(reasons.most_common())}
    if not n:
        return [], stats
    files = collections.Counter(p.file for p in problems)
    ev = {"count": n, "share": frac, "rows_read": rows_read, "reasons": dict(reasons.most_common()),
          "files": dict(files), "examples": [str(p) for p in problems[:SHOW]],
          "max_malformed_fraction": max_fraction}
    msg = (f"{n} of {rows_read} rows ({pct(frac)}) are malformed and will be skipped "
           f"(most common: {reasons.most_common(1)[0][0]}).")
    rec = ("Fix or remove the listed rows (file:line); training skips them while their share stays below "
           f"data.max_malformed_fraction ({max_fraction:g}) and refuses to start above it.")
    return [finding("MALFORMED_ROWS", "warning", msg, ev, rec)], stats
