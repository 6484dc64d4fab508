"""Pre-flight data audit: the data faults that ruin fine-tunes, found before a GPU minute is spent.

API: `run_audit(cfg, data, tokenizer) -> AuditResult` (what `train` calls on its prepared
data) and `audit_config(cfg) -> AuditResult` (what `tuneguard audit` calls). One module per
check family: duplicates, leakage, diversity, prompt_leak, malformed, labels; task_shape
decides what kind of task the data is, so that each check judges it for that task.
"""

from tuneguard.audit.runner import AuditResult, audit_config, run_audit

__all__ = ["AuditResult", "audit_config", "run_audit"]
