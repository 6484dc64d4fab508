"""The Finding type shared by the audit and the guards (contract: DESIGN section 4)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tuneguard.catalog import in_language, render

Severity = Literal["info", "warning", "error"]
SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2}

AUDIT_CODES = (
    "DUPLICATE_EXACT", "DUPLICATE_NEAR", "TRAIN_VAL_LEAKAGE", "LOW_DIVERSITY",
    "PAD_IS_EOS", "PAD_IN_LABELS", "EOS_MISSING", "PROMPT_NOT_MASKED",
    "ANSWER_TRUNCATED", "EMPTY_LABELS", "ANSWER_IN_PROMPT", "MALFORMED_ROWS",
    "TOKENIZER_MISMATCH",
)
# The audit faults `tuneguard fix` repairs by removing rows (the truncation codes only on request).
FIXABLE_CODES = ("MALFORMED_ROWS", "DUPLICATE_EXACT", "DUPLICATE_NEAR", "TRAIN_VAL_LEAKAGE")
GUARD_CODES = (
    "LOSS_COLLAPSE", "OVERFITTING", "EVAL_DIVERGENCE", "LOSS_SPIKE", "GRAD_NORM_HIGH",
    "NON_FINITE", "PLATEAU", "EARLY_STOP", "MEMORY_HIGH", "THROUGHPUT_DROP", "QA_DEGRADED",
)


@dataclasses.dataclass
class Finding:
    """One thing the audit or a guard noticed, with the evidence and what to do.

    `step` is None for audit findings; `source` is "audit" or "guard".
    """

    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    recommendation: str = ""
    step: int | None = None
    source: str = "audit"
    # The catalog specs the message and recommendation were rendered from ({"message": spec,
    # "recommendation": spec}, tuneguard.catalog): what a report or a notification in another
    # language renders them from, with the same numbers.
    text: dict[str, Any] | None = None

    @classmethod
    def said(cls, code: str, severity: Severity, message: dict[str, Any], recommendation: dict[str, Any],
             evidence: dict[str, Any] | None = None, step: int | None = None, source: str = "audit") -> "Finding":
        """A finding whose message and recommendation are catalog specs, rendered in English
        for the contract fields and kept for other languages."""
        return cls(code=code, severity=severity, message=render(message), evidence=evidence or {},
                   recommendation=render(recommendation), step=step, source=source,
                   text={"message": message, "recommendation": recommendation})

    def message_in(self, language: str) -> str:
        """The message in `language` (English, or a finding stored without its specs: as stored)."""
        return self._in(language, "message", self.message)

    def recommendation_in(self, language: str) -> str:
        return self._in(language, "recommendation", self.recommendation)

    def _in(self, language: str, field: str, english: str) -> str:
        return in_language((self.text or {}).get(field), english, language)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d.get("text") is None:
            d.pop("text", None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


def apply_severity(finding: Finding, overrides: dict[str, str], key: str) -> Finding | None:
    """The finding at the severity the user set for its code (`audit.severity` or
    `guard.severity`, named by `key`), or None when the code is set to off.

    The severity the check gave is kept in the evidence (`severity_override`), so the store,
    the report and the notification show both: the override is the user's judgement, not
    the check's."""
    level = overrides.get(finding.code)
    if level is None:
        return finding
    if level == "off":
        return None
    if level != finding.severity:
        finding.evidence = {**(finding.evidence or {}),
                            "severity_override": {"set_by": f"{key}.{finding.code}", "default": finding.severity}}
        finding.severity = level  # type: ignore[assignment]
    return finding


def overridden_below_error(finding: Finding) -> bool:
    """True when the user's severity override put this finding below error (it may not halt)."""
    ov = (finding.evidence or {}).get("severity_override")
    return bool(ov) and finding.severity != "error"


def worst_severity(findings: list[Finding]) -> str | None:
    if not findings:
        return None
    return max((f.severity for f in findings), key=SEVERITY_ORDER.__getitem__)


def json_safe(obj: Any) -> Any:
    """JSON-safe copy of evidence: numpy scalars to Python numbers, tuples to lists, keys to str.
    (The audit and the data cache write findings whose evidence numpy computed.)"""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and not isinstance(obj, (str, bytes)):
        try:
            return obj.item()
        except (TypeError, ValueError):
            return str(obj)
    return obj
