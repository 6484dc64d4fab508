"""A guard finding's advice, in the light of what the audit found before training.

The mission's worst day: the loss collapses on duplicated rows, the team reads "overfitting" and
lowers the learning rate, and the duplicates stay. So a guard whose own advice is to tune a
hyperparameter (OVERFITTING and EVAL_DIVERGENCE: regularise, train less; LOSS_SPIKE,
GRAD_NORM_HIGH: a lower learning rate; PLATEAU: a higher one; QA_DEGRADED, EARLY_STOP) never says
only that when the audit found a fault in the data that explains the symptom: its recommendation
then leads with fixing the data and keeps the tuning for a run on clean data. LOSS_COLLAPSE says
"fix the data, not the learning rate" by itself; MEMORY_HIGH, THROUGHPUT_DROP and NON_FINITE
advise on the machine and the precision, which a data fault does not change.

Which audit findings explain which symptom:
- memorising (OVERFITTING, EVAL_DIVERGENCE, QA_DEGRADED, EARLY_STOP): rows that repeat
  (DUPLICATE_EXACT, DUPLICATE_NEAR, LOW_DIVERSITY) at warning or error: the copies are what the
  model memorises, whatever the learning rate;
- the loss curve itself (LOSS_SPIKE, GRAD_NORM_HIGH, PLATEAU): the audit findings of severity
  error that explain a collapse (tuneguard.guard.collapse.audit_causes: padding or prompt tokens
  in the labels, rows without labels, answers in the prompt, duplicates, leakage).

Applied where every guard finding passes (tuneguard.guard.actions.act), so the store, the
notification, `status`, the report and `tuneguard next` read the same advice.
"""

from __future__ import annotations

from collections.abc import Iterable

from tuneguard.catalog import T, render
from tuneguard.findings import Finding
from tuneguard.guard.collapse import audit_causes

MEMORISING = frozenset({"OVERFITTING", "EVAL_DIVERGENCE", "QA_DEGRADED", "EARLY_STOP"})
CURVE = frozenset({"LOSS_SPIKE", "GRAD_NORM_HIGH", "PLATEAU"})
REPEATING = ("DUPLICATE_EXACT", "DUPLICATE_NEAR", "LOW_DIVERSITY")


def explaining_audit_codes(code: str, audit_findings: Iterable[Finding]) -> list[str]:
    """The audit codes that explain guard finding `code` (module docstring), in the audit's order."""
    found = list(audit_findings)
    if code in MEMORISING:
        codes = [f.code for f in found if f.code in REPEATING and f.severity in ("warning", "error")]
    elif code in CURVE:
        codes = [f.code for f in audit_causes(found)]
    else:
        codes = []
    return list(dict.fromkeys(codes))


def data_first(finding: Finding, audit_findings: Iterable[Finding]) -> Finding:
    """`finding` with its recommendation led by fixing the data when the audit found a fault that
    explains it (evidence `data_first`: those codes); unchanged otherwise."""
    codes = explaining_audit_codes(finding.code, audit_findings)
    if not codes or not finding.recommendation:
        return finding
    own = (finding.text or {}).get("recommendation") or finding.recommendation
    spec = T("guard.data_first", codes=", ".join(codes), rec=own)
    finding.text = {**(finding.text or {"message": finding.message}), "recommendation": spec}
    finding.recommendation = render(spec)
    finding.evidence = {**(finding.evidence or {}), "data_first": codes}
    return finding
