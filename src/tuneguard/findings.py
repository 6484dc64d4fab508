"""The Finding type shared by the audit and the guards (contract: DESIGN section 4)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tuneguard.catalog import Spec, T, in_language, render
from tuneguard.fmt import seen_in, times

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
# The audit faults of how the labels are built from sound rows (padding, EOS, prompt masking,
# truncation): the config's data section fixes them, not an edit of the data files.
LABEL_CODES = ("PAD_IS_EOS", "PAD_IN_LABELS", "EOS_MISSING", "PROMPT_NOT_MASKED", "ANSWER_TRUNCATED")
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


def seen_spec(evidence: Any) -> Spec | None:
    """What the model had seen, from a guard finding's evidence ("after 28 examples (0.07 passes
    over the rows)"), as a catalog spec; None when the evidence states no units."""
    u = seen_in(evidence)
    if u is None:
        return None
    if "passes" not in u:
        return T("seen.units", examples=u["examples"])
    if u["repeats"] and "exposures" in u:
        return T("seen.units.repeats", examples=u["examples"], passes=times(u["passes"]),
                 exposures=times(u["exposures"]))
    return T("seen.units.passes", examples=u["examples"], passes=times(u["passes"]))


def when_spec(step: int | None, evidence: Any) -> Spec | None:
    """When a guard finding happened, the one wording the report, the notifications and `status`
    share: "step 10, after 40 examples (...)", or, when the log or evaluation that judged it
    (`step`) came after the step where the condition was first seen (evidence `at_step`, which
    the units are counted at), "first seen at step 7, after 28 examples (...); judged at step 10".
    None for an audit finding (no step)."""
    if step is None:
        return None
    ev = evidence if isinstance(evidence, dict) else {}
    at = ev.get("at_step")
    seen = seen_spec(ev)
    if isinstance(at, int) and not isinstance(at, bool) and at != step:
        return T("when.first_seen", at=at, step=step, seen=seen) if seen else T("when.first", at=at, step=step)
    return T("when.step_seen", step=step, seen=seen) if seen else T("when.step", step=step)


def when_text(finding: Finding | dict[str, Any], language: str = "en") -> str | None:
    """`when_spec` of a finding or of its dict (`status --json`'s findings), rendered."""
    d = finding.to_dict() if isinstance(finding, Finding) else finding
    spec = when_spec(d.get("step"), d.get("evidence"))
    return None if spec is None else render(spec, language)


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


HEADLINE_LIMIT = 160  # characters of a message kept as a headline when its catalog text has none


def first_sentence(text: str, limit: int = HEADLINE_LIMIT) -> str:
    """The opening clause of a message: up to its first ". " or ": ", else its first `limit`
    characters cut at a space with "…"."""
    stops = [i for i in (text.find(". "), text.find(": ")) if 0 < i <= limit]
    if stops:
        return text[:min(stops)]
    if len(text) <= limit:
        return text.rstrip(".")
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > 0 else limit].rstrip(",;: ") + "…"


def headline(finding: Finding | dict[str, Any], language: str = "en") -> str:
    """One sentence that says what a finding is, in `language`: the catalog's `<message key>.headline`
    filled with the message's own numbers where the catalog has one, else the message's opening clause."""
    from tuneguard.catalog import TABLE, is_spec

    d = finding.to_dict() if isinstance(finding, Finding) else finding
    said = d.get("text")
    spec: Any = said.get("message") if isinstance(said, dict) else None
    key = f"{spec.get('key')}.headline" if is_spec(spec) else ""
    if key in TABLE:
        try:
            return render(T(key, **dict(spec.get("params") or {})), language)
        except (KeyError, IndexError, ValueError, TypeError):
            pass
    return first_sentence(in_language(spec, str(d.get("message") or ""), language))


def brief_line(finding: Finding | dict[str, Any], where: Spec, language: str = "en") -> str:
    """A finding in one line (an info finding on the console): its code, step, headline and
    `where` its full text is ("`tuneguard status RUN_DIR`", "--json")."""
    d = finding.to_dict() if isinstance(finding, Finding) else finding
    step = d.get("step")
    key = "brief.line" if step is None else "brief.line.step"
    return render(T(key, code=str(d.get("code")), step=step, headline=headline(d, language), where=where), language)
