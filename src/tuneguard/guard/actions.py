"""How a guard acts on a finding: apply the user's severity for its code (guard.severity),
record it through the RunContext (store + notify) and, when the config says halt, ask the
Trainer for a checkpoint and a stop.

Severity decides whether a finding may act at all: an info finding is a fact and never halts
nor triggers a policy intervention, and a code that guard.severity sets below error never
halts (RunContext.action_for, PolicyEngine.decide); guard.actions / policy.rules decide what
the other findings do.

`control.should_save` set in on_log or on_evaluate is honoured in the same
`_maybe_log_save_evaluate` call (log -> evaluate -> save), so the halt checkpoint holds the
state at the step that triggered it; `should_training_stop` then ends the loop.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tuneguard.catalog import Spec, T
from tuneguard.findings import Finding, apply_severity
from tuneguard.guard.advice import data_first

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)


def fault_consequence(cfg: Any, code: str) -> Spec:
    """What an error finding of `code` will make the run do (the words a finding that announces
    one uses, so it never promises a halt the config will not make): a guard.severity below
    error never halts; policy.rules, when the policy is on and names the code, decide; else
    guard.actions (RunContext.action_for, PolicyEngine.decide)."""
    level = cfg.guard.severity.get(code)
    if level is not None and level != "error":
        return T("guard.then.severity", code=code, level=level)
    rule = cfg.policy.rules.get(code) if cfg.policy.enabled else None
    if rule is not None and rule.action != "halt":
        return T("guard.then.policy", code=code, action=rule.action)
    if rule is not None or cfg.guard.actions.get(code) == "halt":
        return T("guard.then.halt")
    return T("guard.then.warn", code=code)


def request_halt(control: Any) -> None:
    control.should_save = True
    control.should_training_stop = True


def act(ctx: RunContext, control: Any, finding: Finding) -> str:
    """Record `finding` (its advice led by fixing the data where the audit found the fault behind
    it: tuneguard.guard.advice); the run's policy (tuneguard.policy, `ctx.policy`) may then act on
    it (checkpoint, scale the learning rate, roll back, halt); on "halt" request a
    checkpoint and a stop. Returns the action ("off": guard.severity silenced the code)."""
    finding = data_first(finding, getattr(ctx, "audit_findings", None) or [])
    overrides = ctx.cfg.guard.severity
    if overrides:
        kept = apply_severity(finding, overrides, "guard.severity")
        if kept is None:
            log.debug("%s at step %s not recorded: guard.severity.%s is off", finding.code, finding.step, finding.code)
            return "off"
        finding = kept
    action = ctx.record_finding(finding)
    if ctx.policy is not None and action != "halt":
        action = ctx.policy.on_finding(finding, control)
    if action == "halt":
        request_halt(control)
    return action


def record_only(ctx: RunContext, finding: Finding | None) -> None:
    """Record `finding` (with guard.severity applied) without acting on it: what the guards find
    once the Trainer's loop is over, when no action can change the run any more."""
    if finding is None:
        return
    finding = data_first(finding, getattr(ctx, "audit_findings", None) or [])
    if ctx.cfg.guard.severity:
        kept = apply_severity(finding, ctx.cfg.guard.severity, "guard.severity")
        if kept is None:
            return
        finding = kept
    ctx.record_finding(finding)


def agree_on_halt(ctx: RunContext, args: Any, control: Any) -> bool:
    """Under several processes, make a halt decided on any rank reach every rank.

    Only rank 0 sees the host-side numbers (memory, tokens/s, QA generations), so a halt can
    be local to it; every rank calls this at the same points (each training log and each
    evaluation) and a one-element all-reduce (MAX) spreads the decision. A single process
    returns at once: no communication, no device synchronisation.
    """
    local = ctx.stop_reason == "halted"
    if getattr(ctx, "world_size", 1) <= 1:
        return local
    coll = getattr(ctx, "collectives", None)
    if coll is not None:  # tuneguard's own gloo group: a CPU all-reduce, no device sync
        agreed = bool(coll.all_max([1 if local else 0])[0])
    else:
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() <= 1:
            return local
        flag = torch.tensor([1 if local else 0], device=getattr(args, "device", "cpu"))
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        agreed = bool(flag.item())
    if agreed and not local:
        log.info("another process halted the run; stopping here too")
        ctx.stop_reason = "halted"
    if agreed:
        request_halt(control)
    return agreed
