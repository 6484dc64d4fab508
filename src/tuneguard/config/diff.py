"""Differences between two configs, as rows of (dotted key, value in A, value in B).

Used by `tuneguard config diff A B`, by the report's recommendations (this run's config
against the proposed one) and by `tuneguard compare`. Configs are compared after
flattening to dotted keys so a row names exactly the key a `--set` would change.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

log = logging.getLogger(__name__)


class _Missing:
    """Marks a key that one side does not have (distinct from an explicit null)."""

    def __repr__(self) -> str:
        return "<missing>"

    def __str__(self) -> str:
        return "(not set)"


MISSING: Any = _Missing()


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": value}. Lists stay whole values (they are set whole)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def diff_configs(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Keys whose values differ, sorted by key; a key absent on one side gets MISSING there."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, MISSING), fb.get(key, MISSING)
        if not _same(va, vb):
            rows.append((key, va, vb))
    return rows


def _same(a: Any, b: Any) -> bool:
    # 3 and 3.0 are the same setting; True and 1 are not.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def format_value(v: Any) -> str:
    """One-line text of a config value, as a person would write it in YAML."""
    if v is MISSING:
        return str(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return yaml_float(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def yaml_float(v: float) -> str:
    """A float that YAML (PyYAML's 1.1 resolver) reads back as a float: 5e-06 is a
    string there, 5.0e-06 is a number."""
    s = repr(float(v))
    if "e" in s:
        mant, exp = s.split("e", 1)
        if "." not in mant:
            mant += ".0"
        if exp[0] not in "+-":
            exp = "+" + exp
        s = f"{mant}e{exp}"
    return s


def load_for_diff(source: str) -> dict[str, Any]:
    """A preset name or config file -> the validated, resolved, redacted config dict.

    Validation fills every default, so the diff shows real differences, not keys one
    file happened to spell out. Raises ConfigError for a bad source.
    """
    from tuneguard.config.load import read_source, redacted_dict, validate_config

    raw, _desc = read_source(source)
    return redacted_dict(validate_config(raw))


# "change" in English, "เปลี่ยน" in Thai (catalog key next.yaml.change): a next config's comments
# are in the run's language.
_CHANGE_LINE = re.compile(r"^#\s*(?:change|เปลี่ยน)\s+([A-Za-z0-9_.]+):\s*(.*)$")


def change_reasons(source: str) -> dict[str, str]:
    """The reasons a config file gives for its changes: lines `# change KEY: REASON`, as
    tuneguard writes them into a recommended config (RUN_DIR/recommended.yaml). Empty for a
    preset name or a file without such lines."""
    from pathlib import Path

    path = Path(source)
    if not path.is_file():
        return {}
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _CHANGE_LINE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def diff_table(rows: list[tuple[str, Any, Any]], a_label: str = "A", b_label: str = "B",
               title: str | None = None, reasons: dict[str, str] | None = None,
               heads: tuple[str, str] = ("key", "why"), not_set: str = str(MISSING)):
    """A Rich table of diff rows (import of rich kept local: library users may not render);
    with `reasons`, a "why" column. `heads`: the key and why columns' heads, `not_set`: a key one
    side lacks (in a run's language)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column(heads[0], style="cyan", no_wrap=True)
    table.add_column(a_label, overflow="fold")
    table.add_column(b_label, overflow="fold")
    if reasons:
        table.add_column(heads[1], overflow="fold")
    for key, va, vb in rows:
        values = [not_set if v is MISSING else format_value(v) for v in (va, vb)]
        cells = [key, *values] + ([reasons.get(key, "")] if reasons else [])
        table.add_row(*(Text(c) for c in cells))  # values and reasons verbatim, never Rich markup
    return table
