"""The bilingual catalog: every text tuneguard shows a person, English and Thai side by side.

One table per family (finding codes and policy actions in `findings.py`, notification
events in `events.py`, report headings, verdict criteria, plot labels and the compare page in
`report.py`; the diagnosis in `diagnosis.py`; fix-report.md in `fix.py`; the terminal lines of
`next`, `fix`, `report`, `status`, `compare`, `notify-test`, `audit`, `train`, `watch`, `config diff`,
`init`, `plan` and the run tools in `cli.py`; input the CLI cannot take as given in `inputs.py`), merged
into `TABLE`.
The Thai follows one glossary (docs/THAI.md): one Thai term per concept, the terms Thai ML
engineers say in English kept in English. A detector
or a report builds a spec (`T(key, **params)`), and `render(spec, language)` makes the
sentence; tests/test_catalog.py fails when a key lacks a language or when the two
languages' placeholders differ.
"""

from __future__ import annotations

from typing import Any

from tuneguard.catalog import cli, diagnosis, events, findings, fix, inputs, report
from tuneguard.catalog.core import LANGUAGES, J, Spec, T, is_spec, pct, placeholders, render

_OWN_RENDERER = ("event_titles", "event_lines", "diagnosis")
TABLES: dict[str, dict[str, dict[str, str]]] = {
    "common": findings.COMMON, "audit": findings.AUDIT, "guard": findings.GUARD, "policy": findings.POLICY,
    "report": report.REPORT, "verdict": report.VERDICT, "advice": report.ADVICE,
    "event_titles": events.TITLES, "event_lines": events.LINES, "diagnosis": diagnosis.DIAGNOSIS,
    "fix": fix.FIX, "notify_records": events.RECORDS, "run_events": events.RUN, "input": inputs.INPUT,
    "next": cli.NEXT, "fix_cli": cli.FIX_CLI, "report_cli": cli.REPORT_CLI, "status_cli": cli.STATUS_CLI,
    "compare_cli": cli.COMPARE_CLI, "notify_cli": cli.NOTIFY_CLI, "train_cli": cli.TRAIN_CLI,
    "audit_cli": cli.AUDIT_CLI, "watch": cli.WATCH,
    "config_cli": cli.CONFIG_CLI, "tools": cli.TOOLS,
}
# Every key but the notification lines and the diagnosis (tuneguard.notify.messages and
# tuneguard.diagnosis render those with str.format), in one table.
TABLE: dict[str, dict[str, str]] = {
    k: v for name, t in TABLES.items() if name not in _OWN_RENDERER for k, v in t.items()}


def say(key: str, language: str = "en", /, **params: Any) -> str:
    """The text `key` in `language`, filled with `params`."""
    return render(T(key, **params), language)


def config_language(config: Any) -> str:
    """The language a run speaks in, from its config (a dict, as run.db and config.yaml keep it,
    or the validated config a run trains with): report.language, else notify.language, else
    English (DESIGN: report.language defaults to notify.language). The CLI says what concerns a
    run (its directory, its control requests, its training) in it, like the run's report."""
    for section in ("report", "notify"):
        sec = config.get(section) if isinstance(config, dict) else getattr(config, section, None)
        language = sec.get("language") if isinstance(sec, dict) else getattr(sec, "language", None)
        if language in LANGUAGES:
            return str(language)
    return "en"


def in_language(spec: Any, english: str, language: str) -> str:
    """A text stored in English with the spec it was rendered from, in `language`: the English
    as stored for English or where no spec was kept (and where a spec from another version no
    longer renders), else the spec rendered."""
    if language == "en" or not is_spec(spec):
        return english
    try:
        return render(spec, language)
    except (KeyError, IndexError, ValueError, TypeError):
        return english


__all__ = ["LANGUAGES", "J", "Spec", "T", "TABLE", "TABLES", "config_language", "in_language", "is_spec", "pct", "placeholders", "render",
           "say"]
