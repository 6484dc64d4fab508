"""Render a catalog text in one language from a key and its parameters.

A text is a *spec*: ``{"key": KEY, "params": {...}}``; a parameter may itself be a spec, or
``{"join": SEP_KEY, "items": [...]}`` (specs joined by a separator that is itself translated,
" and " / " และ "), so that a sentence built from parts (the signals of LOW_DIVERSITY, the
rule a loss crossed) is rendered whole in either language. Specs are plain JSON: a finding
keeps its specs (`Finding.text`) in run.db, and a report or notification renders them later
in the reader's language.

Numbers are formatted by the template (Python format specs, and the conversions ``!p``
for a share as a percentage and ``!n`` for tuneguard.fmt.num), and both languages of a key must
use the same placeholders with the same specs, so the Thai and the English show the same
digits. Why a custom Formatter and not gettext/Babel: the texts are keyed by finding code and
variant, not by English sentence, the two languages must be checked side by side (same
placeholders), and the parameters are structured (nested parts); a ``string.Formatter``
subclass does exactly that in a few lines.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any

from tuneguard import fmt

LANGUAGES = ("en", "th")

Spec = dict[str, Any]


def pct(x: Any) -> str:
    """A share as a percentage, as the audit has always printed it (12.5%, 0.05%)."""
    v = float(x)
    return f"{v:.1%}" if v >= 0.001 or v == 0 else f"{v:.2%}"


def T(key: str, /, **params: Any) -> Spec:
    """A text spec: catalog `key` with its parameters."""
    return {"key": key, "params": params}


def J(sep: str, items: Iterable[Any]) -> Spec:
    """Parts joined by the separator text `sep` (a catalog key, e.g. "join.and")."""
    return {"join": sep, "items": list(items)}


def is_spec(v: Any) -> bool:
    return isinstance(v, Mapping) and (isinstance(v.get("key"), str) or isinstance(v.get("join"), str))


class _Formatter(string.Formatter):
    """str.format with the catalog's conversions and nested specs rendered in one language."""

    def __init__(self, language: str, table: Mapping[str, Mapping[str, str]]) -> None:
        super().__init__()
        self.language = language
        self.table = table

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "p":
            return pct(value)
        if conversion == "n":
            return fmt.num(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        if is_spec(value):
            return format(self.render(value), format_spec)
        return super().format_field(value, format_spec)

    def render(self, spec: Any) -> str:
        if not is_spec(spec):
            return str(spec)
        if "join" in spec:
            sep = self.template(spec["join"])
            return sep.join(self.render(x) for x in spec.get("items") or [])
        return self.vformat(self.template(spec["key"]), (), dict(spec.get("params") or {}))

    def template(self, key: str) -> str:
        entry = self.table[key]
        # An empty text is a text (Thai's sentence end, "end.period"): only a missing language falls back.
        return entry[self.language] if self.language in entry else entry["en"]


def render(spec: Any, language: str = "en", table: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The text of `spec` in `language` (English where a key lacks the language)."""
    if table is None:
        from tuneguard.catalog import TABLE

        table = TABLE
    return _Formatter(language, table).render(spec)


def placeholders(template: str) -> list[tuple[str, str, str]]:
    """(name, conversion, format spec) of every placeholder of a template, sorted: the
    two languages of a key must have the same list."""
    out = []
    for _, name, spec, conv in string.Formatter().parse(template):
        if name is not None:
            out.append((name, conv or "", spec or ""))
    return sorted(out)
