"""The policy: what the run does about a guard finding, and the manual set-lr/rollback.

`PolicyEngine.on_finding` is called by the guards' `act()` (tuneguard.guard.actions) for
every guard finding, after it is recorded. It looks up the rule for the finding's code
(policy.rules, then guard.actions, else warn), applies its bounds (a rule's `times`, the
run's `max_actions`, the learning-rate bounds) and carries the action out:

- warn: nothing more (the finding is already stored and notified);
- halt: the run stops with a checkpoint and exit 1 (`keep_best` names the best checkpoint,
  which the Trainer reloads at the end when eval.load_best_model_at_end is on);
- checkpoint: a save at this step;
- scale_lr: the learning rate is multiplied from now on (lr.py), effective at the next step;
- rollback: the newest complete checkpoint before the logging window that showed the
  problem is reloaded and the batches of the offending steps are skipped (rollback.py),
  optionally with scale_lr.

Every action becomes an `action` event in the run store (code, action, from/to values,
step, who asked), a notification, a line in `tuneguard status` and a mark on the report's
loss plot. An automatic action beyond `policy.max_actions` halts the run instead, with a
POLICY_LIMIT finding; manual requests (`tuneguard set-lr`, `tuneguard rollback`) are
recorded the same way but do not count against it.

The engine holds no Trainer: the PolicyCallback hands it the current args, state,
scheduler and data-loader layout at every train begin (a rollback builds new ones).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneguard.catalog import J, Spec, T, config_language, render
from tuneguard.config.schema import PolicyRule
from tuneguard.findings import Finding, overridden_below_error
from tuneguard.policy.lr import LRChange, LRScaler, parse_lr_request
from tuneguard.checkpoints import checkpoint_before, complete_checkpoints
from tuneguard.policy.rollback import BatchSkips, Layout, PendingRollback
from tuneguard.events import Event

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)

STATE_FILE = "tuneguard_policy.json"
LIMIT_CODE = "POLICY_LIMIT"
INTERVENTIONS = ("checkpoint", "scale_lr", "rollback")
MANUAL = "MANUAL"


def effective_rules(cfg: Any) -> dict[str, PolicyRule]:
    """The rule per finding code: guard.actions (warn/halt) overlaid with policy.rules.

    The config validation has already made the two tables disjoint (schema.Config)."""
    rules = {code: PolicyRule(action=a) for code, a in cfg.guard.actions.items()}
    if cfg.policy.enabled:
        rules.update(cfg.policy.rules)
    return rules


@dataclasses.dataclass
class Decision:
    """What the policy will do about one finding, and why (for the event and the log)."""

    action: str
    reason: str = ""
    rule: PolicyRule | None = None
    limit: bool = False  # max_actions reached: halt with a POLICY_LIMIT finding
    said: Spec | None = None  # `reason` as a catalog spec, for the action's message in any language

    @classmethod
    def because(cls, action: str, said: Spec, rule: PolicyRule | None, limit: bool = False) -> "Decision":
        return cls(action, render(said), rule, limit, said)

    def why(self) -> Spec | str:
        return self.said or self.reason


class PolicyEngine:
    """The run's policy: decisions, their execution, and the state that survives rollbacks."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        cfg = ctx.cfg
        self.rules = effective_rules(cfg)
        self.max_actions = cfg.policy.max_actions
        self.lr = LRScaler.for_config(cfg)
        self.skips = BatchSkips()
        self.taken: collections.Counter[str] = collections.Counter()  # automatic actions per code
        self.history: list[dict[str, Any]] = []  # automatic interventions: step, code, action
        self.pending: PendingRollback | None = None
        self.args: Any = None
        self.state: Any = None
        self.layout: Layout | None = None
        self.last_log_step = 0

    @property
    def total(self) -> int:
        return len(self.history)

    # -- binding to the Trainer (PolicyCallback.on_train_begin) ----------------------------
    def bind(self, args: Any, state: Any, lr_scheduler: Any, optimizer: Any, train_dataloader: Any) -> None:
        self.args, self.state = args, state
        if lr_scheduler is not None:
            self.lr.bind(lr_scheduler, optimizer)
        try:
            n = len(train_dataloader) if train_dataloader is not None else None
        except TypeError:
            n = None
        if n:
            self.layout = Layout(n, args.gradient_accumulation_steps, max(1, self.ctx.world_size))
        self.last_log_step = state.global_step

    # -- deciding ---------------------------------------------------------------------------
    def rule_for(self, code: str) -> PolicyRule | None:
        return self.rules.get(code)

    def decide(self, f: Finding) -> Decision:
        rule = self.rule_for(f.code)
        if rule is None or rule.action == "warn":
            return Decision("warn", rule=rule)
        if f.severity == "info":
            return Decision("warn", "an info finding is a fact: it never acts", rule)
        below = overridden_below_error(f)
        if below and rule.action == "halt":
            return Decision("warn", f"guard.severity.{f.code} is {f.severity}: below error, it never halts", rule)
        if rule.triggers:
            found = set((f.evidence or {}).get("triggers") or [])
            if not found & set(rule.triggers):
                return Decision("warn", f"acts only on {'/'.join(rule.triggers)}; this one: "
                                        f"{'/'.join(sorted(found)) or 'none'}", rule)
        if rule.action == "halt":
            return Decision.because("halt", T("reason.rule", code=f.code, action="halt"), rule)
        if rule.times is not None and self.taken[f.code] >= rule.times:
            then = "warn" if below and rule.then == "halt" else rule.then
            return Decision.because(then, T("reason.again", code=f.code, n=self.taken[f.code], action=rule.action,
                                            times=rule.times, then=rule.then), rule)
        if self.ctx.stop_reason is not None:
            return Decision("warn", f"the run is already ending ({self.ctx.stop_reason})", rule)
        if self.pending is not None:
            return Decision("warn", f"a rollback to step {self.pending.to_step} is under way", rule)
        if self.total >= self.max_actions:
            return Decision.because("halt", T("reason.limit", action=rule.action, code=f.code, n=self.total + 1,
                                              max=self.max_actions), rule, limit=True)
        return Decision.because(rule.action, T("reason.rule", code=f.code, action=rule.action), rule)

    # -- acting on a finding (called by guard.actions.act) -----------------------------------
    def on_finding(self, f: Finding, control: Any) -> str:
        """Decide and carry out; returns the action taken ("halt" makes act() request a stop)."""
        step = int(f.step if f.step is not None else (self.state.global_step if self.state else 0))
        d = self.decide(f)
        if d.action == "warn":
            if d.reason:
                # An info finding never acts: saying so at every one ("warn (... never acts)") is noise.
                log.log(logging.DEBUG if f.severity == "info" else logging.INFO, "policy: %s at step %d: warn (%s)",
                        f.code, step, d.reason)
            return "warn"
        if d.action == "halt":
            return self._halt(f, step, d)
        if d.action == "checkpoint":
            control.should_save = True
            self._count(f.code, "checkpoint", step)
            self._event(f.code, "checkpoint", step, {"to": f"checkpoint-{step}", "reason": d.reason},
                        T("action.checkpoint", step=step, code=f.code))
            return "checkpoint"
        if d.action == "scale_lr":
            return self._scale(f, step, d)
        if d.action == "rollback":
            return self._rollback(f, step, d, control)
        return "warn"

    def _halt(self, f: Finding, step: int, d: Decision) -> str:
        finding = f
        if d.limit:
            finding = self._limit_finding(f, step, d)
            self.ctx.record_finding(finding)
        if self.ctx.halt_finding is None:
            self.ctx.halt_finding = finding
        self.ctx.stop_reason = "halted"
        extra: dict[str, Any] = {"reason": d.reason, "finding": finding.code}
        if d.rule is not None and d.rule.keep_best and self.state is not None:
            extra.update(best_checkpoint=self.state.best_model_checkpoint, best_eval_loss=self.state.best_metric,
                         best_step=self.state.best_global_step)
        msg = T("action.halt", step=step, reason=d.why())
        if extra.get("best_checkpoint"):
            msg = T("action.halt_best", step=step, reason=d.why(), best=Path(extra["best_checkpoint"]).name,
                    loss=extra["best_eval_loss"])
        self._event(f.code, "halt", step, extra, msg, severity="error")
        return "halt"

    def _limit_finding(self, f: Finding, step: int, d: Decision) -> Finding:
        acts = (J("join.comma", [T("POLICY_LIMIT.act", action=h["action"], code=h["code"], step=h["step"])
                                 for h in self.history]) if self.history else T("POLICY_LIMIT.none"))
        return Finding.said(
            LIMIT_CODE, "error",
            T("POLICY_LIMIT.found", n=self.total + 1, action=d.rule.action if d.rule else "?", code=f.code, step=step,
              max=self.max_actions),
            T("POLICY_LIMIT.found.rec", acts=acts),
            {"max_actions": self.max_actions, "code": f.code, "action": d.rule.action if d.rule else None,
             "actions_taken": list(self.history)}, step=step, source="guard")

    def _scale(self, f: Finding, step: int, d: Decision) -> str:
        factor = d.rule.scale_lr if d.rule and d.rule.scale_lr else 1.0
        change = self.lr.multiply(factor)
        if not change.changed:
            d2 = Decision.because(d.rule.then if d.rule else "halt",
                                  T("reason.no_scale", factor=factor, clamped=change.clamped), d.rule)
            return self._halt(f, step, d2) if d2.action == "halt" else "warn"
        self._count(f.code, "scale_lr", step)
        self._event(f.code, "scale_lr", step, {**change.as_dict(), "factor": factor, "reason": d.reason},
                    T("action.scale_lr", factor=factor, next=step + 1, lr_from=change.lr_from, lr_to=change.lr_to,
                      clamped=T("action.clamped", v=change.clamped) if change.clamped else "", code=f.code))
        return "scale_lr"

    def _rollback(self, f: Finding, step: int, d: Decision, control: Any) -> str:
        """Back to the newest checkpoint before the logging window that showed the problem
        (the episode's start, or the finding's `at_step` when that is earlier), skipping the
        batches of `skip_steps` steps up to `step` (default: from the episode's start)."""
        rule = d.rule
        episode_start = self.last_log_step + 1
        # A finding judged after the step that showed the problem (a LOSS_SPIKE that did not
        # recover within guard.spike_recovery_steps) names that step: go back before it.
        at_step = (f.evidence or {}).get("at_step") if isinstance(f.evidence, dict) else None
        if isinstance(at_step, int) and 0 < at_step < episode_start:
            episode_start = at_step
        n = rule.skip_steps if rule is not None else None
        first = episode_start if n is None else step - n + 1
        before = min(episode_start, first)
        ckpt = checkpoint_before(self.args.output_dir, before) if self.args is not None else None
        if ckpt is None:
            note_spec = self._no_checkpoint(f, step, before)
            note = render(note_spec)
            if rule is not None and rule.scale_lr:
                log.warning("policy: cannot roll back (%s); scaling the learning rate instead", note)
                return self._scale(f, step, Decision.because("scale_lr", J("join.semi", [d.why(), note_spec]), rule))
            self._event(f.code, "rollback_impossible", step, {"reason": note},
                        T("action.rollback_impossible", code=f.code, step=step, note=note_spec))
            return "warn"
        to_step = int(ckpt.name.rsplit("-", 1)[1])
        steps = list(range(max(first, to_step + 1), step + 1))
        change = self.lr.multiply(rule.scale_lr) if rule is not None and rule.scale_lr else None
        self._count(f.code, "rollback", step)
        self._start_rollback(control, ckpt, to_step, step, f.code, "policy", steps, change, reason=d.reason)
        return "rollback"

    def _no_checkpoint(self, f: Finding, step: int, before: int) -> Spec:
        """Why there is nothing to roll back to: the step the finding was seen at, where the logs
        that showed it began, and the complete checkpoints there are."""
        at_step = (f.evidence or {}).get("at_step") if isinstance(f.evidence, dict) else None
        seen = at_step if isinstance(at_step, int) else f.step if isinstance(f.step, int) else step
        have = sorted(complete_checkpoints(self.args.output_dir)) if self.args is not None else []
        return T("action.no_checkpoint_before", code=f.code, seen=seen, before=before,
                 have=T("action.checkpoints_at", steps=", ".join(map(str, have))) if have else T("action.checkpoints_none"))

    def _start_rollback(self, control: Any, ckpt: Path, to_step: int, step: int, code: str, who: str,
                        steps: list[int], change: LRChange | None, reason: str = "") -> None:
        skipped = self.skips.skip_steps(steps, self.layout) if steps and self.layout is not None else []
        self.pending = PendingRollback(ckpt, to_step, step, code, who, skipped)
        if control is not None:
            self.apply_pending(control)
        examples = sorted({i for s in skipped for i in s.get("examples", [])})
        payload: dict[str, Any] = {"from": step, "to": to_step, "from_step": step, "to_step": to_step,
                                   "checkpoint": str(ckpt), "skipped_steps": steps,
                                   "skipped_batches": len(skipped), "skipped_examples": examples,
                                   "requested_by": who, "reason": reason}
        skip = T("action.rollback_skip", word=T("word.steps" if len(steps) > 1 else "word.step"),
                                        steps=_ranges(steps)) if steps else ""
        lr: Spec | str = ""
        if change is not None:
            payload.update({k: v for k, v in change.as_dict().items() if k.startswith("lr")})
            payload["clamped"] = change.clamped
            lr = T("action.rollback_lr", factor=change.factor_to / change.factor_from, lr_from=change.lr_from,
                   lr_to=change.lr_to)
        self._event(code, "rollback", step, payload, T("action.rollback", step=step, ckpt=ckpt.name, skip=skip, lr=lr))

    # -- the rollback hand-over --------------------------------------------------------------
    def apply_pending(self, control: Any) -> None:
        """While a rollback is pending: end the pass now, without evaluating or saving the
        state we are about to discard (unless something else is stopping the run)."""
        if self.pending is None or self.ctx.stop_reason is not None:
            return
        control.should_training_stop = True
        control.should_save = False
        control.should_evaluate = False

    def take_rollback(self) -> PendingRollback | None:
        """The pending rollback, once the Trainer has returned (None: the run is over)."""
        rb, self.pending = self.pending, None
        if rb is not None and self.ctx.stop_reason is not None:
            log.warning("rollback to %s cancelled: the run ended at step %d (%s)", rb.checkpoint.name, rb.from_step,
                        self.ctx.stop_reason)
            self._event(rb.code, "rollback_cancelled", rb.from_step, {"reason": self.ctx.stop_reason},
                        T("action.rollback_cancelled", ckpt=rb.checkpoint.name, state=self.ctx.stop_reason))
            return None
        return rb

    # -- manual requests (ControlCallback delegates set_lr and rollback here) -------------------
    def handle_request(self, kind: str, arg: str | None, step: int, requested_by: str) -> tuple[str, str]:
        """Carry out a `set_lr` or `rollback` request; returns (status, note) for the control table."""
        if self.ctx.world_size > 1:
            return "rejected", "set-lr and rollback requests are not supported under several processes yet"
        if kind == "set_lr":
            return self._set_lr(arg, step, requested_by)
        if kind == "rollback":
            return self._manual_rollback(arg, step, requested_by)
        return "rejected", f"unknown policy request {kind!r}"

    def _set_lr(self, arg: str | None, step: int, who: str) -> tuple[str, str]:
        try:
            req = parse_lr_request(arg or "")
            if not self.lr.bound:
                raise ValueError("the optimizer is not ready yet")
            change = self.lr.apply(req)
        except ValueError as exc:
            return "rejected", str(exc)
        note = (f"learning rate {change.lr_from:.3g} -> {change.lr_to:.3g} from step {step + 1} (scale "
                f"{change.factor_from:.3g} -> {change.factor_to:.3g} of the schedule)"
                + (f"; clamped to {change.clamped}" if change.clamped else ""))
        self._event(MANUAL, "set_lr", step, {**change.as_dict(), "request": str(req), "requested_by": who},
                    T("action.set_lr", lr_to=change.lr_to, step=step, who=who, req=str(req),
                      note=T("action.clamped", v=change.clamped) if change.clamped else ""))
        return "done", note

    def _manual_rollback(self, arg: str | None, step: int, who: str) -> tuple[str, str]:
        try:
            opts = json.loads(arg) if arg else {}
        except ValueError:
            return "rejected", f"bad rollback arguments {arg!r}"
        if self.pending is not None:
            return "rejected", f"a rollback to step {self.pending.to_step} is already under way"
        if self.ctx.stop_reason is not None:
            return "rejected", f"the run is ending ({self.ctx.stop_reason})"
        if self.args is None:
            return "rejected", "the trainer is not ready yet"
        to = opts.get("to")
        ckpts = complete_checkpoints(self.args.output_dir)
        if to is None:
            ckpt = checkpoint_before(self.args.output_dir, step)
            if ckpt is None:
                return "rejected", f"no complete checkpoint before step {step}"
        else:
            to = int(to)
            if to >= step:
                return "rejected", f"step {to} is not before the current step {step}"
            ckpt = ckpts.get(to)
            if ckpt is None:
                have = ", ".join(str(s) for s in sorted(ckpts) if s < step) or "none"
                return "rejected", f"no complete checkpoint at step {to} (available: {have})"
        to_step = int(ckpt.name.rsplit("-", 1)[1])
        n = int(opts.get("skip_steps") or 0)
        steps = [s for s in range(step - n + 1, step + 1) if s > to_step] if n > 0 else []
        self._start_rollback(None, ckpt, to_step, step, MANUAL, who, steps, None, reason=f"requested by {who}")
        return "done", f"rolling back from step {step} to {ckpt.name}" + (
            f", skipping the batches of steps {_ranges(steps)}" if steps else "")

    # -- records ---------------------------------------------------------------------------
    def _count(self, code: str, action: str, step: int) -> None:
        self.taken[code] += 1
        self.history.append({"step": step, "code": code, "action": action})

    def _event(self, code: str, action: str, step: int, payload: dict[str, Any], text: Spec,
               severity: str = "warning") -> None:
        """The `action` event (store), a log line, and a notification (as a finding-style message).
        `text` is the catalog spec of the message: stored with the event and sent with the
        notification, so either can be shown in the reader's language."""
        message = render(text)
        body = {"code": code, "action": action, "step": step, "message": message, "text": text, **payload}
        body.setdefault("requested_by", "policy")
        log.warning("policy: %s", render(text, config_language(getattr(self.ctx, "cfg", None))))  # the run's language
        self.ctx.event(Event.ACTION, body, step=step, notify=False)
        notifier = getattr(self.ctx, "notifier", None)
        if self.ctx.is_main and notifier is not None:
            # Notified through the "finding" message until the notifier has an "action" template.
            evidence = {k: v for k, v in payload.items() if k in ("from", "to", "checkpoint", "skipped_steps",
                                                                   "lr_scale_from", "lr_scale_to", "requested_by",
                                                                   "clamped", "best_checkpoint")}
            said = {"message": T("action.prefix", message=text), "recommendation": T("action.nothing")}
            notifier.notify(Event.FINDING, {"code": f"{code} -> {action}", "severity": severity, "step": step,
                                        "message": render(said["message"]), "evidence": evidence,
                                        "recommendation": render(said["recommendation"]), "text": said},
                            step=step)

    # -- persistence with checkpoints --------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"lr_scale": self.lr.factor, "taken": dict(self.taken), "history": list(self.history),
                "skips": self.skips.state_dict()}

    def save_checkpoint_state(self, ckpt_dir: Path) -> None:
        if ckpt_dir.is_dir():
            tmp = ckpt_dir / (STATE_FILE + ".tmp")
            tmp.write_text(json.dumps(self.state_dict()), "utf-8")
            tmp.replace(ckpt_dir / STATE_FILE)

    def load_checkpoint_state(self, ckpt_dir: Path) -> None:
        """On a resumed process: the scale, counts and skipped batches as of that checkpoint."""
        path = Path(ckpt_dir) / STATE_FILE
        if not path.exists():
            return
        try:
            d = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("could not read %s: %s", path, exc)
            return
        self.lr.factor = float(d.get("lr_scale", 1.0))
        self.taken = collections.Counter({k: int(v) for k, v in (d.get("taken") or {}).items()})
        self.history = list(d.get("history") or [])
        self.skips.load_state_dict(d.get("skips") or {})
        log.info("policy state restored from %s: lr scale %.4g, %d action(s) so far", path.parent.name,
                 self.lr.factor, self.total)


def _ranges(steps: list[int]) -> str:
    if not steps:
        return ""
    return str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
