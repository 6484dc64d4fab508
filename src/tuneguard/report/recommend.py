"""What to change for the next run, derived from the run's one diagnosis.

The recommendations are data (`Change`: config key, new value, reason, finding codes;
`Action`: something to do outside the config), rendered by the report and applied by
`tuneguard next`. Where they come from, in order of precedence (the first to set a key wins):

1. the playbook of the diagnosis (`PLAYBOOK`): the hyperparameter changes the diagnosis
   calls for, e.g. fewer steps and early stopping for overfitting, a higher learning rate
   for underfitting, a lower one with clipping for instability, none for a data fault;
2. data fixes per audit code (`DATA_FIXES`): deduplicate, unmask the prompt, a pad token
   distinct from EOS, a longer max_length... whatever the diagnosis, since they fix the data
   or its pipeline rather than a hyperparameter;
3. fixes per guard code that are not about learning (`OTHER_FIXES`): memory, throughput,
   keeping the best checkpoint, a premature early stop.

Every change is then checked against `DIRECTIONS`, the table of which way each diagnosis
may move each hyperparameter (overfitting never raises the learning rate; a data fault
changes no hyperparameter), so that all of them pull the same way. Every value respects
the model and the machine (`Limits`): max_length within the model's context and the
memory estimate, and where the data needs more than that allows the recommendation says
so in words. The table with its sources: docs/DIAGNOSIS.md.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneguard.catalog import Spec, T, in_language, is_spec, render
from tuneguard.config.diff import MISSING, diff_configs, flatten, format_value
from tuneguard.diagnosis import (LONGER, MIN_EVALS, MIN_STEPS, SHORT_FELL, Curves, Diagnosis, Evidence, Kind, diagnose,
                                   diverged_lr, longer, nice_lr, unstable_lr)
from tuneguard.findings import SEVERITY_ORDER, Finding
from tuneguard.report.rundata import RunData, is_finite

log = logging.getLogger(__name__)

RECOMMENDED_CONFIG = "recommended.yaml"


@dataclasses.dataclass
class Change:
    """Set config `key` to `value` because of `codes`."""

    key: str
    value: Any
    reason: str | Spec
    codes: list[str]
    # The catalog spec `reason` was rendered from (given as a spec), for the report in Thai.
    said: Spec | None = None

    def __post_init__(self) -> None:
        if is_spec(self.reason):
            self.said, self.reason = dict(self.reason), render(self.reason)  # type: ignore[arg-type]

    def reason_in(self, language: str) -> str:
        return in_language(self.said, str(self.reason), language)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("said", None)
        return d


@dataclasses.dataclass
class Action:
    """Something to do outside the config (fix the data, rerun the audit), or a limit the
    config cannot get past, said in words."""

    text: str | Spec
    codes: list[str]
    said: Spec | None = None

    def __post_init__(self) -> None:
        if is_spec(self.text):
            self.said, self.text = dict(self.text), render(self.text)  # type: ignore[arg-type]

    def text_in(self, language: str) -> str:
        return in_language(self.said, str(self.text), language)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("said", None)
        return d


@dataclasses.dataclass
class Recommendations:
    changes: list[Change]
    actions: list[Action]
    current: dict[str, Any]
    proposed: dict[str, Any]
    diagnosis: Diagnosis | None = None

    def diff(self) -> list[tuple[str, Any, Any]]:
        return diff_configs(self.current, self.proposed)

    def set_args(self) -> list[str]:
        """`--set key=value` arguments, values written so that YAML parses them back."""
        args: list[str] = []
        for c in self.changes:
            args += ["--set", f"{c.key}={format_value(c.value)}"]
        return args

    def command(self, config_path: str, run_dir: str | None = None, multiline: bool = False) -> str:
        """The `tuneguard train` line of the next run; `multiline` puts each --set on its
        own continued line (for display)."""
        head = ["tuneguard", "train", config_path] + (["--run-dir", run_dir] if run_dir else [])
        if not multiline:
            return shlex.join(head + self.set_args())
        sets = self.set_args()
        parts = [shlex.join(head)] + [shlex.join(sets[i:i + 2]) for i in range(0, len(sets), 2)]
        return " \\\n  ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
                "changes": [c.to_dict() for c in self.changes], "actions": [a.to_dict() for a in self.actions]}


@dataclasses.dataclass(frozen=True)
class Limits:
    """What the model and the machine allow: the model's context in tokens, and the memory
    estimate of the run (tuneguard.train.perf: peak GB without and with gradient
    checkpointing, the budget it planned for, whether checkpointing was on)."""

    context_length: int | None = None
    peak_gb: float | None = None
    peak_checkpointed_gb: float | None = None
    budget_gb: float | None = None
    checkpointing: bool | None = None
    device: str | None = None  # where the run trained (cpu, cuda, mps), from its recorded environment

    @classmethod
    def from_run(cls, run: RunData) -> "Limits":
        perf = run.meta.get("performance") if isinstance(run.meta.get("performance"), dict) else {}
        ctx = run.meta.get("context_length") or _get(run.config, "model.context_length")
        env = run.meta.get("environment") if isinstance(run.meta.get("environment"), dict) else {}

        def num(v: Any) -> float | None:
            return float(v) if is_finite(v) and v > 0 else None

        return cls(context_length=int(ctx) if isinstance(ctx, (int, float)) and ctx > 0 else None,
                   peak_gb=num(perf.get("estimated_peak_gb")),
                   peak_checkpointed_gb=num(perf.get("estimated_peak_checkpointed_gb")),
                   budget_gb=num(perf.get("memory_budget_gb")),
                   checkpointing=perf.get("gradient_checkpointing") if isinstance(
                       perf.get("gradient_checkpointing"), bool) else None,
                   device=env.get("device") if isinstance(env.get("device"), str) else None)


# Share of the memory budget a proposed config may plan to use (the rest is headroom for
# allocator fragmentation and the estimate's error), as tuneguard.train.perf plans it.
MEMORY_USABLE = 0.85

# --- which way each diagnosis may move each hyperparameter ---------------------------------

UP, DOWN, FIXED = 1, -1, 0
HYPERPARAMETERS = ("train.learning_rate", "train.max_steps", "train.num_epochs", "lora.r", "lora.alpha",
                   "lora.dropout", "train.weight_decay", "train.warmup_ratio", "train.max_grad_norm",
                   "eval.early_stopping_patience")


def _table(**moves: int | None) -> dict[str, int | None]:
    """A row of DIRECTIONS: every hyperparameter FIXED unless named (None: either way)."""
    names = {k.split(".")[-1]: k for k in HYPERPARAMETERS}
    row: dict[str, int | None] = dict.fromkeys(HYPERPARAMETERS, FIXED)
    for short, move in moves.items():
        row[names[short]] = move
    return row


# Keys not in HYPERPARAMETERS (data pipeline, memory, evaluation cadence) are free in every
# diagnosis: changing them does not move what is learned in one direction or the other.
DIRECTIONS: dict[Kind, dict[str, int | None]] = {
    "data_fault": _table(),
    "unstable": _table(learning_rate=DOWN, warmup_ratio=UP, max_grad_norm=DOWN),
    "overfitting": _table(learning_rate=DOWN, max_steps=DOWN, num_epochs=DOWN, r=DOWN, alpha=DOWN, dropout=UP,
                          weight_decay=UP, early_stopping_patience=DOWN),
    "underfitting": _table(learning_rate=UP, max_steps=UP, num_epochs=UP, r=UP, alpha=UP, dropout=DOWN,
                           weight_decay=DOWN, early_stopping_patience=UP),
    "healthy": _table(early_stopping_patience=None, max_steps=UP, num_epochs=UP),  # UP: still improving at the end
    "inconclusive": _table(max_steps=UP, num_epochs=UP),  # UP: too short to judge (Diagnosis.too_short)
}


# Which way a guard finding's own advice (its catalog recommendation key) moves each hyperparameter.
# A finding is judged as it happens, the diagnosis at the end of the run with every finding: where
# the two pull apart (OVERFITTING's "a lower learning rate" in a run whose diagnosis is a data
# fault, PLATEAU's "raise the learning rate" in an unstable one), the report says which one holds.
_MEMORISE_MOVES = {"train.learning_rate": DOWN, "train.num_epochs": DOWN, "lora.dropout": UP,
                   "train.weight_decay": UP}
ADVICE_MOVES: dict[str, dict[str, int]] = {
    "OVERFITTING.found.rec": _MEMORISE_MOVES, "EVAL_DIVERGENCE.found.rec": _MEMORISE_MOVES,
    "LOSS_SPIKE.found.rec": {"train.learning_rate": DOWN, "train.warmup_ratio": UP},
    "GRAD_NORM_HIGH.found.rec": {"train.learning_rate": DOWN, "train.warmup_ratio": UP},
    "LOSS_SPIKE.found.rec_lr": {"train.learning_rate": DOWN, "train.warmup_ratio": UP},
    "GRAD_NORM_HIGH.found.rec_lr": {"train.learning_rate": DOWN, "train.warmup_ratio": UP},
    "NON_FINITE.rec": {"train.learning_rate": DOWN}, "NON_FINITE.rec_resume": {"train.learning_rate": DOWN},
    "NON_FINITE.rec_restart": {"train.learning_rate": DOWN},
    "PLATEAU.early.rec": {"train.learning_rate": UP},
    "QA_DEGRADED.found.rec": {"train.learning_rate": DOWN, "train.max_steps": DOWN},
    "EARLY_STOP.found.rec": {"eval.early_stopping_patience": UP},
    "POLICY_LIMIT.found.rec": {"train.learning_rate": DOWN},
}


def advice_key(f: Finding) -> str | None:
    """The catalog key of a finding's own recommendation (inside "fix the data first", which
    tuneguard.guard.advice wraps around it)."""
    spec = (f.text or {}).get("recommendation")
    while is_spec(spec) and spec.get("key") == "guard.data_first":
        spec = (spec.get("params") or {}).get("rec")
    return spec.get("key") if is_spec(spec) else None


def against_diagnosis(f: Finding, kind: Kind) -> list[str]:
    """The hyperparameters a guard finding's advice moves the way diagnosis `kind` does not
    (DIRECTIONS: FIXED or the other way); none for a finding that says "fix the data first"
    (the diagnosis and it agree on what comes first)."""
    if f.source != "guard" or (f.evidence or {}).get("data_first"):
        return []
    row = DIRECTIONS[kind]
    return [k for k, move in ADVICE_MOVES.get(advice_key(f) or "", {}).items()
            if k in row and row[k] is not None and row[k] != move]


def _ordinal(key: str, v: Any) -> float | None:
    if key == "eval.early_stopping_patience" and v in (None, MISSING):
        return math.inf  # no early stopping: the longest possible training
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def direction(key: str, old: Any, new: Any) -> int:
    """+1 when `new` raises `key` above `old`, -1 when it lowers it, 0 otherwise."""
    a, b = _ordinal(key, old), _ordinal(key, new)
    if a is None or b is None or a == b:
        return 0
    return 1 if b > a else -1


def agrees(kind: Kind, key: str, old: Any, new: Any) -> bool:
    """Whether changing `key` from `old` to `new` pulls the way diagnosis `kind` calls for."""
    row = DIRECTIONS[kind]
    if key not in row:
        return True
    allowed = row[key]
    return allowed is None or (allowed != FIXED and direction(key, old, new) == allowed)


# --- helpers ---------------------------------------------------------------------------

def _get(cfg: dict[str, Any], key: str, default: Any = None) -> Any:
    v = flatten(cfg).get(key, MISSING)
    return default if v is MISSING else v


def _num_ev(f: Finding, *names: str) -> float | None:
    for n in names:
        v = (f.evidence or {}).get(n)
        if is_finite(v):
            return float(v)
    return None


def _round_up(n: float, multiple: int) -> int:
    return int(math.ceil(n / multiple) * multiple)


@dataclasses.dataclass
class Context:
    """What a rule may read: the config, the diagnosis (with its facts), all findings, the
    limits of the model and machine."""

    config: dict[str, Any]
    diagnosis: Diagnosis
    findings: list[Finding]
    limits: Limits
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # the run's (action events: what it tried)
    # The audit of this run's data and config (`tuneguard audit RUN_DIR`); CONFIG without a run.
    audit_command: str = "tuneguard audit CONFIG"
    # `tuneguard fix` of this run's data, for the actions that remove rows; None without a run,
    # and for a data fault, whose report and messages give it as the first next step already.
    fix_command: str | None = None
    # A run the audit refused before training: the command that starts it anyway (with --force).
    force_command: str | None = None
    # A run that failed before training (a model that would not load...): its exit reason and the
    # command that starts it again once that is fixed.
    failed_start: tuple[str, str] | None = None
    # A run stopped (or killed) mid-training before its planned steps: its last step, its planned
    # steps and the `tuneguard train ... --resume auto` that continues it. Its length was not what
    # ended it, so no config change is proposed before it has run them.
    unfinished: tuple[int, int, str] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return _get(self.config, key, default)

    @property
    def facts(self) -> dict[str, Any]:
        return self.diagnosis.facts


Out = tuple[list[Change], list[Action]]


def A(key: str, /, **params: Any) -> Spec:
    """An advice text spec (catalog key "advice.KEY"): the English goes into the reason or
    action, the spec renders it in the report's language."""
    return T(f"advice.{key}", **params)

# --- the playbook: changes per diagnosis -------------------------------------------------


def _data_fault(ctx: Context) -> Out:
    codes = ctx.diagnosis.codes
    audit = sorted({f.code for f in ctx.findings if f.source == "audit" and f.severity in ("error", "warning")})
    labels = ".labels" if ctx.diagnosis.labels_only() else ".leak" if ctx.diagnosis.eval_only() else ""
    if ctx.force_command and ctx.fix_command:
        # Refused by the audit: it never trained, so nothing "ran past" the errors.
        return [], [Action(A("data_fault.refused", codes=", ".join(codes), fix=ctx.fix_command,
                             force=ctx.force_command), codes)]
    if "LOSS_COLLAPSE" not in codes:
        # Past audit errors (a forced run), or label faults the audit warned of (Diagnosis.labels_first).
        forced = any(f.code in codes and f.severity == "error" for f in ctx.findings if f.source == "audit")
        key = f"data_fault.forced{labels}" if forced or not labels else "data_fault.warned.labels"
        return [], [Action(A(key, codes=", ".join(codes)), codes)]
    text = A(f"data_fault.audit{labels}", codes=", ".join(audit)) if audit else A("data_fault.collapse", command=ctx.audit_command)
    return [], [Action(text, ["LOSS_COLLAPSE"])]


UNSTABLE_CODES = ("LOSS_SPIKE", "NON_FINITE", "GRAD_NORM_HIGH")


@dataclasses.dataclass(frozen=True)
class LrTried:
    """A learning-rate change the run made itself, as its action event records it: at `step`
    (the step it was decided at), trained with from `first` (the next step, or the step after
    the checkpoint a rollback went back to); `scale` the factor of the schedule after it, `factor`
    this change's own multiplier, `lr_from` -> `lr_to` the optimizer's rate there."""

    step: int
    first: int
    scale: float
    factor: float
    lr_from: float | None
    lr_to: float | None

    def said(self) -> dict[str, Any]:
        """The params the advice texts quote: the same step and values as the run's own record."""
        rates = (A("unstable.rates", lr_from=self.lr_from, lr_to=self.lr_to)
                 if self.lr_from is not None and self.lr_to is not None else "")
        return {"factor": self.factor, "step": self.first, "rates": rates}


def _lr_tried(ctx: Context) -> LrTried | None:
    """The last learning-rate scale the run itself moved to (action events with `lr_scale_to`: the
    policy's scale_lr or rollback, a person's set_lr), when below 1."""
    for e in reversed(ctx.events):
        p = e.get("payload") if isinstance(e.get("payload"), dict) else {}
        if e.get("type") == "action" and is_finite(p.get("lr_scale_to")) and isinstance(e.get("step"), int):
            if p["lr_scale_to"] >= 1:
                return None
            step, scale = e["step"], float(p["lr_scale_to"])
            before = float(p["lr_scale_from"]) if is_finite(p.get("lr_scale_from")) and p["lr_scale_from"] > 0 else 1.0
            first = p["to_step"] + 1 if isinstance(p.get("to_step"), int) else step + 1
            return LrTried(step, first, scale, scale / before,
                           float(p["lr_from"]) if is_finite(p.get("lr_from")) else None,
                           float(p["lr_to"]) if is_finite(p.get("lr_to")) else None)
    return None


def _diverged_lr(ctx: Context, lr: float, codes: list[str], tried: LrTried | None) -> Change:
    """A run whose loss ended above its untrained value (a learning rate 10-100x too high): halving
    is not enough, and a rate the run moved to without the loss coming back did not help, so a
    tenth, at most the top of the usual LoRA range."""
    new = diverged_lr(lr)
    f = ctx.facts
    moved = A("unstable.diverged_tried", **tried.said()) if tried else ""
    return Change("train.learning_rate", new,
                  A("unstable.diverged", first=f["first_train_loss"], last=f.get("end_train_loss", f["last_train_loss"]),
                    moved=moved,
                    lr=format_value(lr)), codes)


def _unstable_lr(ctx: Context, lr: float, codes: list[str]) -> Change:
    """Half the learning rate, or, when the run already lowered it (`_lr_tried`), never back to what
    it tried: half of that if the loss was unstable again after it, else that rate, which held;
    a tenth when the loss diverged (`_diverged_lr`). The texts quote the run's own record of the
    change (the step it took effect, its factor, the rates there), then the peak proposed."""
    tried = _lr_tried(ctx)
    if ctx.facts.get("diverged"):
        return _diverged_lr(ctx, lr, codes, tried)
    if tried is None:
        return Change("train.learning_rate", unstable_lr(lr), A("unstable.lr"), codes)
    at = nice_lr(lr * tried.scale)
    again = sorted(f.step for f in ctx.findings if f.code in UNSTABLE_CODES and f.severity != "info"
                   and f.step is not None and f.step >= tried.first)
    peak = {"peak": format_value(lr), "scale": tried.scale}
    if again:
        new = nice_lr(at / 2)
        return Change("train.learning_rate", new, A("unstable.lr_tried", lr=format_value(new), again=again[0],
                                                    **peak, **tried.said()), codes)
    return Change("train.learning_rate", at, A("unstable.lr_helped", lr=format_value(at), **peak, **tried.said()),
                  codes)


def _unstable(ctx: Context) -> Out:
    codes = ctx.diagnosis.codes
    lr = float(ctx.get("train.learning_rate", 2e-4) or 2e-4)
    gn = float(ctx.get("train.max_grad_norm", 1.0) or 1.0)
    ch = [_unstable_lr(ctx, lr, codes),
          Change("train.max_grad_norm", 1.0 if gn > 1.0 else gn / 2, A("unstable.clip"), codes)]
    if float(ctx.get("train.warmup_ratio", 0.0) or 0.0) < 0.05:
        ch.append(Change("train.warmup_ratio", 0.1, A("unstable.warmup"), codes))
    if "NON_FINITE" not in codes:
        return ch, []
    dtype, rows = _nonfinite_out(ctx)
    return ch + dtype, rows


def _nonfinite_out(ctx: Context) -> Out:
    """A non-finite run: leave fp16 when the run computed in it (model.dtype fp16, or auto that
    resolved to fp16 on a GPU without bf16: the finding records it), for bf16, or for fp32 on the
    CPU, which computes fp32 natively and bf16 slowly; look for bad rows unless the loss climbed
    above its untrained value first (the learning rate made it non-finite, not a row)."""
    fp16 = any((f.evidence or {}).get("dtype") == "fp16" for f in ctx.findings if f.code == "NON_FINITE")
    ch = []
    if ctx.get("model.dtype") == "fp16" or fp16:
        cpu = ctx.get("train.use_cpu") is True or ctx.limits.device == "cpu"
        ch.append(Change("model.dtype", "fp32", A("unstable.dtype_cpu"), ["NON_FINITE"]) if cpu
                  else Change("model.dtype", "bf16", A("unstable.dtype"), ["NON_FINITE"]))
    if ctx.facts.get("diverged"):
        return ch, []
    step = next((e.params.get("step") for e in ctx.diagnosis.evidence if e.key == "non_finite"), None)
    where = A("unstable.around", step=step) if step is not None else ""
    return ch, [Action(A("unstable.rows", where=where), ["NON_FINITE"])]


def _keep_best(ctx: Context, reason: Spec, codes: list[str]) -> list[Change]:
    """eval.load_best_model_at_end, with checkpoints at evaluations (the config requires
    train.save_steps to be a multiple of eval.steps for it)."""
    if ctx.get("eval.load_best_model_at_end") is True:
        return []
    ch = [Change("eval.load_best_model_at_end", True, reason, codes)]
    every, save = ctx.get("eval.steps"), ctx.get("train.save_steps")
    if ctx.get("eval.strategy") == "steps" and isinstance(every, int) and isinstance(save, int) and save % every:
        ch.append(Change("train.save_steps", every, A("keep_best.saves"), codes))
    return ch


def _overfitting(ctx: Context) -> Out:
    codes = ctx.diagnosis.codes or ["OVERFITTING"]
    facts = ctx.facts
    ch: list[Change] = []
    actions: list[Action] = []
    best = facts.get("best_step")
    max_steps = ctx.get("train.max_steps", -1)
    best_epoch = facts.get("best_epoch")
    if isinstance(max_steps, int) and max_steps > 0:
        if best:
            new_steps = _round_up(best * 1.25, 10)
            if new_steps < max_steps:
                ch.append(Change("train.max_steps", new_steps, A("overfit.steps", best=best, max_steps=max_steps),
                                 codes))
    else:
        epochs = float(ctx.get("train.num_epochs", 3.0) or 3.0)
        new = float(math.ceil(best_epoch)) if best_epoch else max(1.0, epochs / 2)
        if new < epochs:
            ch.append(Change("train.num_epochs", new, A("overfit.epochs_best", epoch=best_epoch) if best_epoch
                             else A("overfit.epochs"), codes))
    if ctx.get("eval.strategy") != "no":
        if ctx.get("eval.early_stopping_patience") is None:
            ch.append(Change("eval.early_stopping_patience", 3, A("overfit.patience"), codes))
        ch += _keep_best(ctx, A("overfit.keep_best"), codes)
    if float(ctx.get("lora.dropout", 0.0) or 0.0) < 0.1:
        ch.append(Change("lora.dropout", 0.1, A("overfit.dropout"), codes))
    if best and best_epoch and best_epoch > 1:
        actions.append(Action(A("overfit.more_data", epochs=best_epoch), codes))
    return ch, actions


LORA_LR_FLOOR = 1e-5  # below this a LoRA learning rate barely moves the adapter (QLoRA used 1e-4 to 2e-4)
LORA_LR_TYPICAL = 1e-4


def _underfitting(ctx: Context) -> Out:
    codes = ctx.diagnosis.codes
    facts = ctx.facts
    ch: list[Change] = []
    lr = float(ctx.get("train.learning_rate", 2e-4) or 2e-4)
    answers = any(e.key.startswith("answers_wrong") for e in ctx.diagnosis.evidence)
    why = A("under.answers") if answers else A("under.flat")
    apart = _fits_apart(ctx) if answers else None
    if apart is not None:
        # The rate moved the training loss well: a higher one fits the training rows faster, not the task.
        ch += _rank_up(ctx, codes)
        return ch, [apart]
    if lr < LORA_LR_FLOOR:
        ch.append(Change("train.learning_rate", LORA_LR_TYPICAL, A("under.lr_floor", lr=format_value(lr), why=why),
                         codes))
    else:
        ch.append(Change("train.learning_rate", nice_lr(lr * 2), A("under.lr", why=why), codes))
    if facts.get("still_falling"):
        max_steps = ctx.get("train.max_steps", -1)
        if isinstance(max_steps, int) and max_steps > 0:
            ch.append(Change("train.max_steps", max_steps * 2, A("under.falling"), codes))
        else:
            epochs = float(ctx.get("train.num_epochs", 3.0) or 3.0)
            ch.append(Change("train.num_epochs", epochs * 2, A("under.falling"), codes))
    return ch + _rank_up(ctx, codes), []


def _rank_up(ctx: Context, codes: list[str]) -> list[Change]:
    """LoRA rank 8 (alpha scaled to keep alpha / r) when below 8: more adapter capacity."""
    r = int(ctx.get("lora.r", 8) or 8)
    if r >= 8:
        return []
    alpha = int(ctx.get("lora.alpha", 2 * r) or 2 * r)
    return [Change("lora.r", 8, A("under.rank"), codes),
            Change("lora.alpha", max(alpha, round(alpha * 8 / r)), A("under.alpha"), codes)]


def _fits_apart(ctx: Context) -> Action | None:
    """Wrong answers while the training loss fell strongly (SHORT_FELL or more) and the eval loss
    stayed flat over MIN_EVALS evaluations or more (the diagnosis's eval_flat): the learning rate
    moves the model, which fits the training rows without getting better on unseen ones, so the
    evidence supports checking what is supervised and what is evaluated, not a higher rate."""
    flat = next((e for e in ctx.diagnosis.evidence if e.key == "eval_flat"), None)
    f = ctx.facts
    first, last = f.get("first_train_loss"), f.get("last_train_loss")
    if flat is None or not (is_finite(first) and is_finite(last)) or first <= 0 or (first - last) / first < SHORT_FELL:
        return None
    return Action(A("under.apart", first=f"{first:.4g}", last=f"{last:.4g}", n=f.get("evaluations"),
                    eval_first=f"{flat.params['first']:.4g}", best=f"{flat.params['best']:.4g}",
                    command=ctx.audit_command), [])


def _healthy(ctx: Context) -> Out:
    more = longer(ctx.facts, ctx.get("train.max_steps", -1), ctx.get("train.num_epochs"))
    if more is not None:  # the eval loss was still falling at the end (tuneguard.diagnosis.longer)
        key, value = more
        f = ctx.facts["eval_falling"]
        why = A("healthy.longer", times=LONGER, prev=f"{f['prev']:.4g}", last=f"{f['last']:.4g}", step=f["last_step"])
        return [Change(key, int(value) if key == "train.max_steps" else value, why, [])], []
    plateau = [f for f in ctx.findings if f.code == "PLATEAU" and f.severity == "info"]
    if plateau and ctx.get("eval.early_stopping_patience") is None and ctx.get("eval.strategy") != "no":
        return [Change("eval.early_stopping_patience", 3, A("healthy.patience", step=plateau[0].step),
                       ["PLATEAU"])], []
    return [], []


def _inconclusive(ctx: Context) -> Out:
    keys = {e.key for e in ctx.diagnosis.evidence}
    if ctx.failed_start:
        reason, command = ctx.failed_start
        return [], [Action(A("inconclusive.failed_start", reason=reason.rstrip("."), command=command), [])]
    if ctx.unfinished:
        return _continue(ctx.unfinished)
    if ctx.diagnosis.loss_rose():
        # Enough was logged: the loss rose with no spike, NaN or collapse to name a cause.
        return [], [Action(A("inconclusive.rose"), [])]
    if ctx.diagnosis.few_evals():
        return _few_evals(ctx)
    if ctx.diagnosis.too_short():
        return _too_short(ctx)
    if "no_evals" not in keys:
        return [], [Action(A("inconclusive.rerun"), [])]
    planned = ctx.facts.get("planned_steps") or ctx.get("train.max_steps", -1)
    if not isinstance(planned, int) or planned < 5:
        return [], [Action(A("inconclusive.evaluate"), [])]
    return _evaluate_every(ctx, planned, A("inconclusive.steps", planned=planned)), []


def _evaluations(ctx: Context, planned: int) -> int:
    """How many evaluations the config's cadence gives over `planned` steps."""
    strategy, every = ctx.get("eval.strategy"), ctx.get("eval.steps")
    if strategy == "steps" and isinstance(every, int) and every > 0:
        return planned // every
    spe = ctx.facts.get("steps_per_epoch")
    return planned // spe if strategy == "epoch" and isinstance(spe, int) and spe > 0 else 0


def _evaluate_every(ctx: Context, planned: int, why: Spec) -> list[Change]:
    """Evaluations every fifth of `planned` steps (about 5: MIN_EVALS and more, a trend with room
    for one noisy point), checkpoints at evaluations where the best one is kept."""
    every = max(1, planned // 5)
    ch = [] if ctx.get("eval.strategy") == "steps" else [Change("eval.strategy", "steps", A("inconclusive.strategy"), [])]
    ch.append(Change("eval.steps", every, why, []))
    save = ctx.get("train.save_steps", every)
    if ctx.get("eval.load_best_model_at_end") and isinstance(save, int) and save % every:
        ch.append(Change("train.save_steps", every, A("keep_best.saves"), []))
    return ch


def _judged(ctx: Context, planned: Any) -> list[Change]:
    """The evaluation cadence a next run of `planned` steps needs to show a trend (MIN_EVALS
    evaluations or more); nothing when its cadence already gives them."""
    if not isinstance(planned, int) or isinstance(planned, bool) or planned < MIN_EVALS:
        return []
    n = _evaluations(ctx, planned)
    return [] if n >= MIN_EVALS else _evaluate_every(ctx, planned, A("few_evals.steps", n=n, planned=planned))


def _few_evals(ctx: Context) -> Out:
    """Fewer than MIN_EVALS evaluations left the eval loss's trend unjudged: the next run evaluates
    often enough to show one (`_judged`), and trains LONGER times as long when its training loss
    was still falling at its planned end (more steps can still teach). One that ended before its
    planned steps is told to run them first (`_too_short`)."""
    planned, last = ctx.facts.get("planned_steps"), ctx.facts.get("last_step")
    if isinstance(planned, int) and isinstance(last, int) and last < planned:
        return _too_short(ctx)
    ch = _longer(ctx, A("few_evals.longer", step=last)) if ctx.facts.get("still_falling") else []
    new = ch[0].value if ch and ch[0].key == "train.max_steps" else (
        planned * LONGER if ch and isinstance(planned, int) else planned)
    if not isinstance(new, int):  # the run's length is not known: say what to set
        return ch, [Action(A("inconclusive.evaluate"), [])]
    return ch + _judged(ctx, new), []


def _longer(ctx: Context, why: Spec) -> list[Change]:
    """LONGER times the run's train.max_steps (at least twice MIN_STEPS: a run of fewer is too short
    to judge again), or its train.num_epochs."""
    max_steps = ctx.get("train.max_steps", -1)
    if isinstance(max_steps, int) and not isinstance(max_steps, bool) and max_steps > 0:
        return [Change("train.max_steps", max(max_steps * LONGER, 2 * MIN_STEPS), why, [])]
    epochs = ctx.get("train.num_epochs", 3.0)
    if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and epochs > 0:
        return [Change("train.num_epochs", float(epochs) * LONGER, why, [])]
    return []


def _too_short(ctx: Context) -> Out:
    """A run too short to judge (few steps, or its loss still falling, its answers still wrong):
    LONGER times its steps, or its epochs; nothing else changes until a longer run shows what is
    wrong. One that ended before its planned steps is told to run them first."""
    planned, last = ctx.facts.get("planned_steps"), ctx.facts.get("last_step")
    if ctx.unfinished:
        return _continue(ctx.unfinished)
    if isinstance(planned, int) and isinstance(last, int) and last < planned:
        # Stopped before its planned steps: its length was not what ended it.
        return [], [Action(A("inconclusive.short_stopped", step=last, planned=planned), [])]
    ch = _longer(ctx, A("inconclusive.short", step=last))
    # The longer run evaluated often enough to show a trend (MIN_EVALS evaluations or more).
    new = ch[0].value if ch and ch[0].key == "train.max_steps" else planned * LONGER if isinstance(planned, int) else None
    return ch + (_judged(ctx, new) if ch else []), []


def _continue(unfinished: tuple[int, int, str]) -> Out:
    """A run stopped before its planned steps with too little recorded to judge: continue it (the
    command `status` gives), no change: a new config would answer a question the run never asked."""
    step, planned, command = unfinished
    return [], [Action(A("inconclusive.unfinished", step=step, planned=planned, command=command), [])]


PLAYBOOK: dict[Kind, Callable[[Context], Out]] = {
    "data_fault": _data_fault, "unstable": _unstable, "overfitting": _overfitting,
    "underfitting": _underfitting, "healthy": _healthy, "inconclusive": _inconclusive,
}

# --- data fixes per audit code (any diagnosis) -------------------------------------------


def _dupes(f: Finding, ctx: Context) -> Out:
    # A classifier's labels (one label, or one far above the others) are no copies to remove: the
    # finding's own advice (add rows of the other labels), not "deduplicate, keeping one of each
    # group", which would leave one row of a single-label file.
    said = (f.text or {}).get("recommendation")
    if f.code == "LOW_DIVERSITY" and "distinct_labels" in (f.evidence or {}) and said is not None:
        return [], [Action(said, [f.code])]
    # The rows to remove: the audit's extra copies (`count`), never its `rows`, which is every
    # row it read (a real SmolLM2 run was told to remove all 360 of its rows, not the 326 copies).
    n = _num_ev(f, "duplicate_rows", "count")
    size = A("dupes.size", n=format_value(int(n))) if n is not None else ""
    params = {"what": A(f"dupes.{f.code}"), "size": size, "file": _source(ctx.get("data.train_file", "data.train_file"))}
    if ctx.fix_command and f.code != "LOW_DIVERSITY":
        return [], [Action(A("dupes.fix", command=ctx.fix_command, **params), [f.code])]
    return [], [Action(A("dupes.remove", **params), [f.code])]


def _source(value: Any) -> str:
    """A data source as the text names it: a list of files joined with ", "."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _leak(f: Finding, ctx: Context) -> Out:
    if ctx.fix_command:
        return [], [Action(A("leak.fix", command=ctx.fix_command), [f.code])]
    return [], [Action(A("leak.remove"), [f.code])]


def fix_out(run_dir: Path | str) -> Path:
    """Where the commands put a run's cleaned data: beside the run, RUN_DIR-fixed-data."""
    d = Path(run_dir).absolute()
    return d.parent / f"{d.name}-fixed-data"


def fix_command(run_dir: Path | str) -> str:
    """`tuneguard fix` of the run's data: its config, the cleaned copies beside the run."""
    d = Path(run_dir).absolute()
    return shlex.join(["tuneguard", "fix", str(d / "config.yaml"), "--out", str(fix_out(d))])


def _pad(f: Finding, ctx: Context) -> Out:
    ch = [Change("data.pad_token", "auto", A("pad.distinct"), [f.code])]
    if f.code == "PAD_IN_LABELS":
        ch.append(Change("data.collator", "tuneguard", A("pad.mask"), [f.code]))
    return ch, []


def _eos(f: Finding, ctx: Context) -> Out:
    return ([Change("data.pad_token", "auto", A("eos.pad"), [f.code]),
             Change("data.collator", "tuneguard", A("eos.collator"), [f.code])], [])


def _prompt(f: Finding, ctx: Context) -> Out:
    return ([Change("data.train_on_prompt", False, A("prompt.response"), [f.code]),
             Change("data.collator", "tuneguard", A("prompt.collator"), [f.code])], [])


def _memory_for_length(ctx: Context, cur: int, new: int, code: str) -> tuple[list[Change], Spec | None]:
    """Changes that keep a longer max_length within the memory estimate, or why none can.

    The run's estimate was made at its longest example, which is data.max_length when rows
    were truncated. Activation memory grows about in proportion to the sequence length;
    scaling the whole estimated peak by new/cur overstates it (weights do not grow), which
    errs on the safe side."""
    lim = ctx.limits
    if lim.peak_gb is None or lim.budget_gb is None:
        return [], None
    usable = MEMORY_USABLE * lim.budget_gb
    scale = new / cur
    ckpt = lim.checkpointing is True or ctx.get("model.gradient_checkpointing") is True
    peak = (lim.peak_checkpointed_gb if ckpt and lim.peak_checkpointed_gb else lim.peak_gb) * scale
    if peak <= usable:
        return [], None
    changes: list[Change] = []
    if not ckpt and lim.peak_checkpointed_gb is not None:
        changes.append(Change("model.gradient_checkpointing", True,
                              A("mem.checkpointing", new=new, peak=peak, budget=lim.budget_gb), [code]))
        peak = lim.peak_checkpointed_gb * scale
    bs = int(ctx.get("train.batch_size", 1) or 1)
    ga = int(ctx.get("train.gradient_accumulation_steps", 1) or 1)
    factor = 1
    while peak / factor > usable and bs // (factor * 2) >= 1:
        factor *= 2
    if factor > 1:
        changes.append(Change("train.batch_size", bs // factor,
                              A("mem.batch", new=new, peak=peak / factor, budget=lim.budget_gb), [code]))
        changes.append(Change("train.gradient_accumulation_steps", ga * factor, A("mem.accum"), [code]))
    if peak / factor > usable:
        return [], A("mem.blocked", new=new, peak=peak / factor, budget=lim.budget_gb)
    return changes, None


def _truncated(f: Finding, ctx: Context) -> Out:
    cur = int(ctx.get("data.max_length", 512) or 512)
    need = _num_ev(f, "needed_length_p95", "p95_tokens", "p99_tokens", "needed_length_max", "max_tokens", "needed")
    # The context the run recorded, the config's, or the one the audit read from the model (its evidence).
    ctx_len = ctx.limits.context_length or ctx.get("model.context_length") or (f.evidence or {}).get("context_length")
    want = _round_up(need, 64) if need else _round_up(cur * 2, 64)
    new = min(want, ctx_len) if isinstance(ctx_len, int) and ctx_len > 0 else want
    need_s = A("trunc.need", n=format_value(int(need))) if need else A("trunc.longer")
    if new <= cur:
        where = A("trunc.context", n=ctx_len) if ctx_len and cur >= ctx_len else A("trunc.tokens", n=cur)
        return [], [Action(A("trunc.too_long", need=need_s, where=where), [f.code])]
    extra, blocked = _memory_for_length(ctx, cur, new, f.code)
    if blocked:
        return [], [Action(A("trunc.blocked", need=need_s, blocked=blocked, cur=cur), [f.code])]
    reason = A("trunc.raise", cur=cur, need=need_s)
    actions = []
    if new < want:
        reason = A("trunc.raise_context", cur=cur, new=new)
        actions.append(Action(A("trunc.still", new=new, need=need_s), [f.code]))
    return [Change("data.max_length", new, reason, [f.code])] + extra, actions


def _data_action(text: Spec) -> Callable[[Finding, Context], Out]:
    def rule(f: Finding, ctx: Context) -> Out:
        return [], [Action(text, [f.code])]
    return rule


DATA_FIXES: dict[str, Callable[[Finding, Context], Out]] = {
    "DUPLICATE_EXACT": _dupes, "DUPLICATE_NEAR": _dupes, "LOW_DIVERSITY": _dupes,
    "TRAIN_VAL_LEAKAGE": _leak,
    "PAD_IS_EOS": _pad, "PAD_IN_LABELS": _pad, "EOS_MISSING": _eos,
    "PROMPT_NOT_MASKED": _prompt, "ANSWER_TRUNCATED": _truncated, "EMPTY_LABELS": _truncated,
    "ANSWER_IN_PROMPT": _data_action(A("fix.ANSWER_IN_PROMPT")),
    "MALFORMED_ROWS": _data_action(A("fix.MALFORMED_ROWS")),
    "TOKENIZER_MISMATCH": _data_action(A("fix.TOKENIZER_MISMATCH")),
}

# --- other fixes per guard code (any diagnosis; directions still checked) -----------------


def _memory(f: Finding, ctx: Context) -> Out:
    ch: list[Change] = []
    if ctx.get("model.gradient_checkpointing") is not True:
        ch.append(Change("model.gradient_checkpointing", True, A("memory.checkpointing"), [f.code]))
    bs = int(ctx.get("train.batch_size", 4) or 4)
    if bs > 1:
        ga = int(ctx.get("train.gradient_accumulation_steps", 1) or 1)
        ch.append(Change("train.batch_size", bs // 2, A("memory.batch"), [f.code]))
        ch.append(Change("train.gradient_accumulation_steps", ga * 2, A("mem.accum"), [f.code]))
    return ch, []


def _throughput(f: Finding, ctx: Context) -> Out:
    """Padded batches: bucket them. And the check the guard's own advice names: other processes
    on the CPU when it measured them (a CPU run was told to look for processes "on the GPU"
    while its finding said that other processes kept 1.7 of the 2 cores busy), else the usual
    suspects. Nothing for a slowdown that recovered on its own (info): a healthy run was told to
    check for other processes and to "act on the points above first"."""
    if f.severity == "info":
        return [], []
    rec = (f.text or {}).get("recommendation")
    cpu = isinstance(rec, dict) and rec.get("key") == "THROUGHPUT_DROP.cpu.rec"
    actions = [Action(T("THROUGHPUT_DROP.cpu.rec") if cpu else A("throughput.check"), [f.code])]
    if ctx.get("data.batching") == "padded":
        return [Change("data.batching", "token_budget", A("throughput.batching"), [f.code])], actions if cpu else []
    return [], actions


def _qa(f: Finding, ctx: Context) -> Out:
    ch = _keep_best(ctx, A("qa.keep_best"), [f.code]) if ctx.get("eval.strategy") != "no" else []
    if ctx.get("eval.early_stopping_patience") is None:
        ch.append(Change("eval.early_stopping_patience", 3, A("qa.patience"), [f.code]))
    return ch, []


def _early(f: Finding, ctx: Context) -> Out:
    from tuneguard.report.verdict import Thresholds

    planned = ctx.facts.get("planned_steps")
    if f.step is None or not planned or f.step / planned >= Thresholds.from_config(ctx.config).min_early_stop_share:
        return [], []
    pat = int(ctx.get("eval.early_stopping_patience", 3) or 3)
    return [Change("eval.early_stopping_patience", pat + 2, A("early.patience"), [f.code])], []


OTHER_FIXES: dict[str, Callable[[Finding, Context], Out]] = {
    "MEMORY_HIGH": _memory, "THROUGHPUT_DROP": _throughput, "QA_DEGRADED": _qa, "EARLY_STOP": _early,
}

# --- putting it together ------------------------------------------------------------------


def _context(config: dict[str, Any], diagnosis: Diagnosis, findings: list[Finding], limits: Limits,
             run: RunData | None) -> Context:
    """What the advice is written from; with a run, the commands that audit and fix its data."""
    ctx = Context(config, diagnosis, list(findings), limits, list(run.events) if run else [])
    if run is not None:
        ctx.audit_command = shlex.join(["tuneguard", "audit", str(run.run_dir)])
        # A run whose rows a warning says to remove gets the command that removes them (it was
        # told to remove them by hand and to audit again); a data fault's steps name it already.
        if diagnosis.kind != "data_fault":
            ctx.fix_command = fix_command(run.run_dir)
        if refused_by_audit(run):
            ctx.fix_command = fix_command(run.run_dir)
            ctx.force_command = rerun(run, "--force")
        elif failed_before_training(run):
            ctx.failed_start = (str(run.meta.get("exit_reason") or "unknown"), rerun(run))
        elif stopped_unfinished(run):
            from tuneguard.store.invocation import Invocation, resume_command

            ctx.unfinished = (run.last_step, int(run.max_steps or 0), resume_command(Invocation.from_meta(run.meta), run.run_dir))
    return ctx


def stopped_unfinished(run: RunData) -> bool:
    """Whether the run trained, then was stopped, killed or crashed before its planned steps: it can
    be continued with --resume auto (a halted run was ended by a guard's finding, not by its plan)."""
    return (run.state in ("stopped", "failed") and run.meta.get("started") is not None and bool(run.train)
            and isinstance(run.max_steps, int) and run.last_step < run.max_steps)


def failed_before_training(run: RunData) -> bool:
    """Whether the run failed before its first step (a model or tokenizer that would not load, data
    that could not be prepared, the audit's refusal): it never started training and logged nothing."""
    return run.state == "failed" and run.meta.get("started") is None and not run.train


def refused_by_audit(run: RunData) -> bool:
    """Whether the run is one the audit refused before training (`train` exited 2 on audit errors,
    without --force): its record says failed, exit code 2, "audit errors", and no step was logged."""
    return (run.state == "failed" and run.meta.get("exit_code") == 2 and run.meta.get("exit_reason") == "audit errors"
            and not run.train)


def rerun(run: RunData, *extra: str) -> str:
    """The command that started the run, to start it again (a run that failed before training has
    nothing to resume), with `extra` words; `tuneguard train CONFIG --run-dir RUN_DIR` when the
    run did not record how it was started."""
    from tuneguard.store.invocation import Invocation, rerun_command

    started = Invocation.from_meta(run.meta)
    command = (rerun_command(started, run.run_dir) if started is not None else
               shlex.join(["tuneguard", "train", str(Path(run.run_dir) / "config.yaml"), "--run-dir", str(run.run_dir)]))
    return command + "".join(f" {shlex.quote(w)}" for w in extra)


def recommend(findings: list[Finding], config: dict[str, Any], run: RunData | None = None, *,
              diagnosis: Diagnosis | None = None, limits: Limits | None = None) -> Recommendations:
    """The changes and actions for the next run. `diagnosis` defaults to the run's (or, without
    a run, to one from the findings alone); `limits` to what the run recorded."""
    if diagnosis is None:
        diagnosis = diagnose_run(run) if run is not None and findings is run.findings else diagnose(
            findings, run.curves() if run else Curves([], []), config)
    if limits is None:
        limits = Limits.from_run(run) if run else Limits(context_length=_get(config, "model.context_length"))
    ctx = _context(config, diagnosis, findings, limits, run)
    ordered = sorted(findings, key=lambda f: (-SEVERITY_ORDER.get(f.severity, 0), f.step if f.step is not None else -1))
    outputs: list[Out] = [PLAYBOOK[diagnosis.kind](ctx)]
    # An audit finding at info is a fact (the audit printed "0 error(s), 0 warning(s)"): advising
    # to act on it would contradict the audit and a healthy diagnosis.
    outputs += [DATA_FIXES[f.code](f, ctx) for f in ordered if f.code in DATA_FIXES and f.severity != "info"]
    outputs += [OTHER_FIXES[f.code](f, ctx) for f in ordered if f.code in OTHER_FIXES]

    changes: dict[str, Change] = {}
    actions: dict[str, Action] = {}
    for ch, ac in outputs:
        for c in ch:
            current = _get(config, c.key, MISSING)
            if not diff_configs({"k": current}, {"k": c.value}):
                continue  # already set that way
            if not agrees(diagnosis.kind, c.key, current, c.value):
                log.debug("%s -> %r (%s) left out: it points against the diagnosis %s", c.key, c.value,
                          ",".join(c.codes), diagnosis.kind)
                continue
            if c.key in changes:
                for code in c.codes:
                    if changes[c.key].value == c.value and code not in changes[c.key].codes:
                        changes[c.key].codes.append(code)
                continue
            changes[c.key] = dataclasses.replace(c, codes=list(c.codes))
        for a in ac:
            text = str(a.text)
            if text in actions:
                actions[text].codes += [x for x in a.codes if x not in actions[text].codes]
            else:
                actions[text] = dataclasses.replace(a, codes=list(a.codes))
    proposed = copy.deepcopy(config)
    for c in changes.values():
        node = proposed
        parts = c.key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = c.value
    return Recommendations(list(changes.values()), list(actions.values()), config, proposed, diagnosis)


def diagnose_run(run: RunData) -> Diagnosis:
    """The run's diagnosis; for a run the audit refused, its audit errors are said as a refusal
    (the diagnosis of findings alone cannot tell it from a run forced past them)."""
    d = diagnose(run.findings, run.curves(), run.config)
    if refused_by_audit(run):
        d = dataclasses.replace(d, evidence=[Evidence("audit_refused", e.params) if e.key == "audit_errors" else e
                                             for e in d.evidence])
    return d


def recommend_for_run(run: RunData) -> Recommendations:
    return recommend(run.findings, run.config, run)


def config_path_for(run: RunData) -> str:
    """The config a follow-up run starts from: the run directory's resolved config.yaml."""
    return str(Path(run.run_dir) / "config.yaml")


# --- the recommended config as a file ---------------------------------------------------------

def recommended_yaml(recs: Recommendations, source: str, language: str = "en") -> str:
    """The proposed config as YAML, headed by one `# change KEY: REASON (CODES)` comment per
    change (`# เปลี่ยน KEY: ...` in Thai), which `tuneguard config diff` shows as the reason of
    each row (tuneguard.config.diff.change_reasons reads them back); the comments in `language`."""
    from tuneguard.catalog import say
    from tuneguard.config.load import dump_yaml

    d = recs.diagnosis
    head = [say("next.yaml.head", language, source=source),
            f"# {d.line(language)}" if d else say("next.yaml.no_diagnosis", language)]
    if d and d.evidence:
        head.append(f"# {d.because(language)}")
    head.append(say("next.yaml.diff", language))
    for c in recs.changes:
        codes = f" ({', '.join(c.codes)})" if c.codes else ""
        head.append(say("next.yaml.change", language, key=c.key, reason=" ".join(c.reason_in(language).split()) + codes))
    for a in recs.actions:
        head.append(say("next.yaml.also", language, text=" ".join(a.text_in(language).split())))
    return "\n".join(head) + "\n" + dump_yaml(recs.proposed)
