"""One diagnosis per run, decided from all its findings and its loss curves together.

A run is exactly one of: data fault, unstable, overfitting, underfitting, healthy or
inconclusive. The report puts the diagnosis first, the final notification carries it, and
the recommendations are derived from it (`tuneguard.report.recommend`), so that every change
they propose pulls in the direction the diagnosis calls for. Rules and sources:
docs/DIAGNOSIS.md.

The decision, in order (the first that holds wins, because a fault higher up makes the
signals below it meaningless: an unstable run's eval curve says nothing about overfitting,
and a run on faulty data can look like any of the others):

1. data fault: an audit finding of severity error (the run was forced past the audit), or a
   LOSS_COLLAPSE of severity error (a collapse with evidence of a fault; the guard links the
   audit findings that explain it).
2. unstable: NON_FINITE, a non-finite logged loss, or LOSS_SPIKE; or a training loss that
   climbed: the mean of its last third above its first value and over `CLIMB` x the mean of its
   first third (a learning rate 10-100x too high that no guard named: the gradients were
   clipped below GRAD_NORM_HIGH's limit and the climb was too steady for a spike).
3. overfitting: the eval loss rose at least `RISE` above its best while the training loss
   fell, or the eval - train gap ended at or above `report.max_final_gap` after growing (by more
   than `GAP_GROWTH` of that limit since the first evaluation) while the eval loss stalled (not
   `falling_at_end`: a gap that grows while the eval loss still falls to a new best at the last
   evaluation is a model still learning what generalises, not memorising: healthy, said so), or
   an OVERFITTING finding that saw the eval loss rise evaluation after evaluation, or an
   OVERFITTING (gap) or EVAL_DIVERGENCE finding that the curves back (a gap at one
   evaluation that closed again is noted, not decisive). A finding judged before the last
   evaluation when that one is a new best (`falling_at_end`) never decides: it is noted as
   recovered (`recovered`), and the report's finding, the verdict and `next` say so.
4. underfitting: both losses high (above `HIGH_LOSS`) and flat (down less than `FLAT_DROP`)
   from the first log to the end, or a PLATEAU warning (a stall in the first half) with a
   high, barely moving loss; or the QA probes' expected answers mostly wrong (below
   `report.min_answer_accuracy`): the losses may have fallen, but the model has not learned
   the task yet. Unless the run was too short to judge (`too_short`): its training loss fell
   strongly (at least `SHORT_FELL` from start to end) and nothing shows it had stopped falling
   (three or more evaluations with the eval loss still falling clearly, or fewer evaluations
   with the training loss still falling at its end): then more steps may be all it needs, and
   raising the learning rate would be advice from no evidence. Such a run is inconclusive,
   said as too short to judge (rule 7), unless a later rule names something; and so is a run
   of fewer than `MIN_STEPS` optimizer steps that either underfitting rule would name. When such
   a run of `MIN_STEPS` or more had fewer than `MIN_EVALS` evaluations, what could not be judged
   is the eval loss's trend (`few_evals`, with its values): two points show no trend, so the
   next run evaluates often enough to show one. Wrong answers after `MIN_EVALS` or more
   evaluations whose eval loss stayed flat are underfitting, with the flat eval loss as evidence
   (`eval_flat`).
5. unstable: GRAD_NORM_HIGH alone (large updates that had not yet turned into spikes), unless
   it was one episode inside the warmup (`train.warmup_ratio` of the planned steps) of a run
   whose training loss fell: noted (`grad_norm_warmup`), and the rules below decide.
6. healthy: the training loss fell, an evaluation exists, and none of the above holds. A
   healthy run whose eval loss was still falling clearly when it ended (`eval_still_falling`:
   three or more evaluations, the last one the best, its fall from the one before at least
   `NOISE` of that eval loss and, per step, at least `PACE` of the pace from the first
   evaluation to the one before) is said to have ended while still improving: not a fault,
   but the recommendations train it longer (`longer`).
7. inconclusive: too little was logged to tell (fewer than two training losses, or no
   evaluation), or the training loss rose and no rule above names why (said as a rising loss,
   with its numbers), or the run was too short to judge its wrong answers (rule 4). Whether
   the loss fell is `loss_ends`: the means of the first and last tenth of the logged losses,
   the rule the report's verdict uses too.

`diagnose` is a pure function of (findings, curves, config): no store, no model, so every
branch is testable on synthetic numbers. The texts, English and Thai side by side, are the
catalog's (tuneguard.catalog.diagnosis).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from tuneguard.catalog.diagnosis import DIAGNOSIS
from tuneguard.findings import Finding
from tuneguard.fmt import is_finite

log = logging.getLogger(__name__)

Kind = Literal["data_fault", "unstable", "overfitting", "underfitting", "healthy", "inconclusive"]
KINDS: tuple[Kind, ...] = ("data_fault", "unstable", "overfitting", "underfitting", "healthy", "inconclusive")
LANGUAGES = ("en", "th")

# Thresholds of the curve rules (documented in docs/DIAGNOSIS.md).
RISE = 0.05  # eval loss this far above its best (relative) counts as rising
FLAT_DROP = 0.10  # a loss that fell less than this share from start to end is flat
HIGH_LOSS = 1.0  # nats per token; below this a flat loss is a converged easy task, not underfitting
CLIMB = 1.5  # a training loss whose last third averages this x its first third's climbed
GAP_GROWTH = 0.1  # a gap grew when it ended this share of report.max_final_gap above its first value
DEFAULT_MAX_GAP = 0.5  # report.max_final_gap's default, when the config does not say
DEFAULT_MIN_ACCURACY = 0.5  # report.min_answer_accuracy's default
# Still improving at the end: the last evaluation's fall from the one before must be clear of
# noise (this share of that eval loss) and keep up this share of the earlier pace per step
# (3.41 -> 3.07 -> 3.00 falls 2.3% and at 21% of the earlier pace: still falling; 3.41 -> 3.07
# -> 3.05 falls 0.7%: flat).
NOISE = 0.01
PACE = 0.1
LONGER = 2  # a run that ended still improving is proposed this many times its steps (or epochs)
# Too short to judge wrong answers: a training loss that fell at least this share from start to
# end and was still falling (a 4-step demo: 4.5 -> 1.7) has not shown that it cannot learn the task.
SHORT_FELL = 0.2
# Fewer optimizer steps than this are too few to call a run underfitting at all (a 2-step demo: one
# step in warmup at learning rate 0, one real update): the flat and the answers rules say so instead.
MIN_STEPS = 10
# Fewer evaluations than this show no trend of the eval loss (still falling, flat or rising): two
# points are one difference, with nothing to compare it with (eval_still_falling needs three too).
MIN_EVALS = 3

# The texts, English and Thai side by side, live in the catalog (tuneguard.catalog.diagnosis).
TEXTS = DIAGNOSIS


# --- the learning rate an unstable run goes on with -----------------------------------------
# One rule for the report, `tuneguard next` (tuneguard.report.recommend) and the advice of the
# guards that see the loss blow up (LOSS_SPIKE, GRAD_NORM_HIGH), so all of them name one number.

# The top of the learning rates LoRA recipes use (QLoRA 2e-4, alpaca-lora 3e-4, the smollm2-135m
# preset 5e-4): what a run whose loss diverged is proposed at most.
LORA_LR_HIGH = 1e-3


def nice_lr(v: float) -> float:
    """Two significant digits: 1.0e-4 / 2 -> 5.0e-5, not 4.99999e-5."""
    return float(f"{v:.2g}")


def diverged_lr(lr: float) -> float:
    """The rate after a loss that went above its untrained value (a rate 10-100x too high):
    halving is not enough, so a tenth, at most the top of the usual LoRA range."""
    return nice_lr(min(lr / 10, LORA_LR_HIGH))


def unstable_lr(lr: float) -> float:
    """The rate after a loss that spiked but stayed below its untrained value: half."""
    return nice_lr(lr / 2)


# --- where the training loss started and ended --------------------------------------------
# One rule for the diagnosis ("loss fell a -> b", "rose a -> b") and the report's verdict (its
# "loss decreased gradually" criterion, tuneguard.report.verdict), so both say the same numbers
# and never disagree on whether the loss fell. The start and end of the curve are each the mean
# of this share of the logged losses (1 to END_POINTS_MAX of them): one logged step of a small
# batch swings by tens of percent, and a healthy run whose last step drew a hard batch read as
# "the loss did not decrease".
END_SHARE = 0.1
END_POINTS_MAX = 20


@dataclasses.dataclass(frozen=True)
class LossEnds:
    """The start and end of a training-loss curve: `first` is the mean of the logged losses at
    steps `head` (first, last step of them), `last` the mean of those at steps `tail`; `points`
    how many losses each mean holds (1: the single first and last logged losses)."""

    first: float
    last: float
    head: tuple[int, int]
    tail: tuple[int, int]
    points: int

    @property
    def fell(self) -> bool:
        return self.last < self.first

    @property
    def drop(self) -> float:
        """The share the loss fell by (negative when it rose)."""
        return (self.first - self.last) / self.first if self.first > 0 else 0.0

    def params(self) -> dict[str, Any]:
        """The numbers a text says them with: first, last, and the steps they are at or span."""
        return {"first": self.first, "last": self.last, "first_step": self.head[0], "first_end": self.head[1],
                "last_step": self.tail[0], "last_end": self.tail[1]}


def loss_ends(losses: list[tuple[int, float]]) -> LossEnds:
    """Where the (step, loss) curve `losses` (two or more, finite) started and ended: the first
    and last logged losses, or the means of the first and last tenth (at most END_POINTS_MAX logs)
    when there are 20 or more."""
    w = max(1, min(END_POINTS_MAX, int(len(losses) * END_SHARE)))
    head, tail = losses[:w], losses[-w:]
    return LossEnds(sum(v for _, v in head) / w, sum(v for _, v in tail) / w, (head[0][0], head[-1][0]),
                    (tail[0][0], tail[-1][0]), w)


def text(key: str, language: str = "en", **params: Any) -> str:
    """The text `key` in `language` (English where a language lacks it), filled in."""
    entry = TEXTS[key]
    return entry.get(language, entry["en"]).format(**params)


def _num(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4g}"


def _pct(v: float) -> str:
    return f"{100 * v:.3g}%"


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One fact behind a diagnosis: a template key of `TEXTS` and its values (numbers stay
    numbers, so the text can be rendered in any language and the values read by code)."""

    key: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def text(self, language: str = "en") -> str:
        shown = {}
        for k, v in self.params.items():
            if k in ("drop", "pace") and isinstance(v, float):
                shown[k] = _pct(v)
            elif k == "curve" and isinstance(v, (list, tuple)):  # (step, loss) pairs: "2.61 at step 20"
                shown[k] = ", ".join(text("ev.curve_point", language, loss=_num(x[1]), step=x[0]) for x in v)
            elif isinstance(v, (list, tuple)):
                shown[k] = ", ".join(str(x) for x in v)
            else:
                shown[k] = _num(v)
        return text(f"ev.{self.key}", language, **shown)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "params": dict(self.params)}


SHORT_KEYS = ("too_short", "too_short_mean", "few_steps", "few_evals")  # the evidence of a run too short to judge


@dataclasses.dataclass
class Diagnosis:
    """What went on in a run: its `kind`, the `evidence` that decided it, the finding
    `codes` behind it, `notes` (other signals, not decisive) and `facts` (numbers the
    recommendations build on: best step, planned steps, whether the loss still fell...)."""

    kind: Kind
    evidence: list[Evidence]
    codes: list[str] = dataclasses.field(default_factory=list)
    notes: list[Evidence] = dataclasses.field(default_factory=list)
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)

    def label(self, language: str = "en") -> str:
        return text(self.kind, language)

    def labels_only(self) -> bool:
        """A data fault whose audit codes are all in how the labels are built (LABEL_CODES):
        the data files are sound and the config's data settings fix it, so "fix the data"
        would send the user to edit rows that are fine."""
        from tuneguard.findings import AUDIT_CODES, LABEL_CODES

        audit = [c for c in self.codes if c in AUDIT_CODES]
        return self.kind == "data_fault" and bool(audit) and set(audit) <= set(LABEL_CODES)

    def eval_only(self) -> bool:
        """A data fault that is only validation rows repeating training rows (TRAIN_VAL_LEAKAGE,
        with no collapse of the training loss it explains): the eval loss is what is wrong, so
        "the data or its labels are faulty" would send the user to look for a fault in rows
        that train as well as ever."""
        return self.kind == "data_fault" and self.codes == ["TRAIN_VAL_LEAKAGE"]

    def loss_rose(self) -> bool:
        """Inconclusive because the training loss did not fall (no rule names why): enough was
        recorded, so "too little was recorded" would be untrue."""
        return self.kind == "inconclusive" and any(e.key in ("rose", "rose_mean") for e in self.evidence)

    def too_short(self) -> bool:
        """Inconclusive because the run was too short to judge: fewer than MIN_STEPS steps that an
        underfitting rule would name, or expected answers still wrong while the loss was still
        falling fast; not underfitting."""
        return self.kind == "inconclusive" and any(e.key in SHORT_KEYS for e in self.evidence)

    def recovered_at(self, f: Finding) -> int | None:
        """The step of the new best eval loss that answered guard finding `f` (an OVERFITTING or
        EVAL_DIVERGENCE judged before the last evaluation, which was the best: noted `recovered`),
        else None."""
        step = (self.facts.get("recovered") or {}).get(f.code)
        return step if isinstance(step, int) and f.step is not None and f.step < step else None

    def few_evals(self) -> bool:
        """Inconclusive because fewer than MIN_EVALS evaluations leave the eval loss's trend
        unjudged (rule 4): the next run needs more evaluations before anything else changes."""
        return self.kind == "inconclusive" and any(e.key == "few_evals" for e in self.evidence)

    def still_improving(self) -> bool:
        """Healthy, and the eval loss was still falling clearly when the run ended: not a fault,
        but a longer run would have learned more."""
        return self.kind == "healthy" and any(e.key == "eval_still_falling" for e in self.evidence)

    def means(self, language: str = "en") -> str:
        key = ("data_fault.labels.means" if self.labels_only() else "data_fault.leak.means" if self.eval_only()
               else "inconclusive.rose.means" if self.loss_rose()
               else "inconclusive.few_evals.means" if self.few_evals()
               else "inconclusive.short.means" if self.too_short()
               else "healthy.gap.means" if self.kind == "healthy" and any(e.key == "gap_held" for e in self.evidence)
               else "healthy.gap_falling.means" if self.kind == "healthy" and any(e.key == "gap_falling"
                                                                                 for e in self.evidence)
               else "healthy.improving.means" if self.still_improving()
               else f"{self.kind}.means")
        return text(key, language)

    def line(self, language: str = "en") -> str:
        """"Diagnosis: overfitting: the model memorises ..." (one line)."""
        return text("line", language, label=self.label(language), means=self.means(language))

    def because(self, language: str = "en") -> str:
        """The decisive evidence as one line: "Because: a; b"."""
        return text("because", language, v="; ".join(e.text(language) for e in self.evidence))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "codes": list(self.codes), "evidence": [e.to_dict() for e in self.evidence],
                "notes": [e.to_dict() for e in self.notes], "facts": dict(self.facts)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Diagnosis":
        """The inverse of `to_dict` (a notification payload); unknown template keys are dropped."""
        def ev(items: Any) -> list[Evidence]:
            out = []
            for e in items or []:
                if isinstance(e, Mapping) and f"ev.{e.get('key')}" in TEXTS:
                    out.append(Evidence(str(e["key"]), dict(e.get("params") or {})))
            return out

        kind = d.get("kind") if d.get("kind") in KINDS else "inconclusive"
        return cls(kind=kind, evidence=ev(d.get("evidence")), codes=list(d.get("codes") or []),  # type: ignore[arg-type]
                   notes=ev(d.get("notes")), facts=dict(d.get("facts") or {}))


@dataclasses.dataclass
class Curves:
    """The numbers of a run the diagnosis reads.

    `train`: (step, loss) of every logged training loss, non-finite ones included.
    `evals`: (step, eval loss, training loss to compare it with): the training loss averaged
    since the previous evaluation where the run recorded it, else the last one logged.
    """

    train: list[tuple[int, float]]
    evals: list[tuple[int, float, float | None]]
    planned_steps: int | None = None
    steps_per_epoch: int | None = None
    best_step: int | None = None
    # Passes over the training rows at each evaluation step, counted in the examples each step
    # took (tuneguard.report.rundata.RunData.epoch_at): a run resumed on another number of
    # processes has no one steps_per_epoch. Empty: step / steps_per_epoch.
    epochs: dict[int, float] = dataclasses.field(default_factory=dict)
    # QA probes with an expected answer at the best checkpoint: (right, judged, right by the
    # base model or None when it did not answer), or None without such probes.
    answers: tuple[int, int, int | None] | None = None


def _cfg(config: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = config
    for p in dotted.split("."):
        if not isinstance(node, Mapping) or p not in node:
            return default
        node = node[p]
    return default if node is None else node


def _codes(findings: Iterable[Finding]) -> list[str]:
    return list(dict.fromkeys(f.code for f in findings))


def _first(findings: list[Finding], code: str) -> Finding | None:
    hits = [f for f in findings if f.code == code]
    hits.sort(key=lambda f: f.step if f.step is not None else -1)
    return hits[0] if hits else None


def _facts(curves: Curves) -> dict[str, Any]:
    """Numbers the recommendations use, computed once here."""
    train = [(s, v) for s, v in curves.train if is_finite(v)]
    evals = [(s, e, t) for s, e, t in curves.evals if is_finite(e)]
    facts: dict[str, Any] = {"planned_steps": curves.planned_steps, "steps_per_epoch": curves.steps_per_epoch,
                             "last_step": max([s for s, _ in curves.train] + [s for s, _, _ in curves.evals],
                                              default=None)}
    if evals:
        by_step = {s: e for s, e, _ in evals}
        best_step = curves.best_step if curves.best_step in by_step else min(evals, key=lambda r: r[1])[0]
        facts.update(best_step=best_step, best_eval_loss=by_step[best_step], last_eval_step=evals[-1][0],
                     last_eval_loss=evals[-1][1], evaluations=len(evals))
        spe = curves.steps_per_epoch
        best_epoch = curves.epochs.get(best_step)
        facts["best_epoch"] = best_epoch if best_epoch is not None else best_step / spe if spe else None
        falling = eval_still_falling([(s, e) for s, e, _ in evals])
        facts["eval_still_falling"] = falling is not None
        if falling is not None:
            facts["eval_falling"] = falling
    if train:
        facts.update(first_train_loss=train[0][1], last_train_loss=train[-1][1])
        # Still learning at the end: the last third of the logged losses is lower than the third before it.
        k = max(1, len(train) // 3)
        if len(train) >= 2 * k + 1:
            recent = sum(v for _, v in train[-k:]) / k
            before = sum(v for _, v in train[-2 * k:-k]) / k
            facts["still_falling"] = recent < before * (1 - 0.01)
            # Diverged: the last third of the losses is above the first loss (the untrained
            # model's), so the model ended worse than it started, whatever it did in between.
            facts["diverged"] = recent > train[0][1]
            # What that rule compared, for the texts that say it (the last single loss may be lower).
            facts.update(end_train_loss=recent, end_first_step=train[-k][0], end_last_step=train[-1][0])
            start = sum(v for _, v in train[:k]) / k
            facts["climbed"] = facts["diverged"] and recent > CLIMB * start
    return facts


def eval_still_falling(evals: list[tuple[int, float]]) -> dict[str, Any] | None:
    """The numbers that show the (step, eval loss) curve `evals` still falling clearly at its
    end (the rule in the module docstring: NOISE, PACE), or None when it does not or when fewer
    than three evaluations leave no earlier fall to compare the last one with."""
    if len(evals) < 3:
        return None
    (s0, e0), (s1, e1), (s2, e2) = evals[0], evals[-2], evals[-1]
    if not (s0 < s1 < s2) or e2 > min(e for _, e in evals) or e0 <= e1:
        return None
    fall = e1 - e2
    pace = (fall / (s2 - s1)) / ((e0 - e1) / (s1 - s0))
    if fall < NOISE * e1 or pace < PACE:
        return None
    return {"first": e0, "first_step": s0, "prev": e1, "prev_step": s1, "last": e2, "last_step": s2,
            "drop": fall / e1, "pace": pace}


def falling_at_end(evals: list[tuple[int, float]]) -> bool:
    """The (step, eval loss) curve `evals` ended at a new best, the last evaluation below every
    one before it: the model was still generalising better when the run ended, and its best
    checkpoint is its last, so "train for fewer steps" would keep a worse model (a cosine
    schedule's last evaluations fall by under 1%: 4.222 -> 4.197 is still a new best). One rule
    for the diagnosis (a growing gap is not overfitting then) and the report's verdict (nor does
    the gap fail "validation loss tracked training loss")."""
    if len(evals) < 2:
        return False
    return evals[-1][1] < min(e for _, e in evals[:-1])


def longer(facts: Mapping[str, Any], max_steps: Any, num_epochs: Any) -> tuple[str, float] | None:
    """The run after one that ended still improving (`facts["eval_still_falling"]`): its
    train.max_steps (when it set them) or train.num_epochs times LONGER, as (key, value); None
    when the eval loss was not still falling or the run stopped before its planned steps (then
    its length was not what ended it)."""
    if not facts.get("eval_still_falling"):
        return None
    planned, last = facts.get("planned_steps"), facts.get("last_step")
    if isinstance(planned, int) and isinstance(last, int) and last < planned:
        return None
    if isinstance(max_steps, int) and not isinstance(max_steps, bool) and max_steps > 0:
        return "train.max_steps", max_steps * LONGER
    if isinstance(num_epochs, (int, float)) and not isinstance(num_epochs, bool) and num_epochs > 0:
        return "train.num_epochs", float(num_epochs) * LONGER
    return None


def _train_near(train: list[tuple[int, float]], step: int) -> float | None:
    before = [v for s, v in train if s <= step]
    return before[-1] if before else (train[0][1] if train else None)


def diagnose(findings: Iterable[Finding], curves: Curves, config: Mapping[str, Any] | None = None) -> Diagnosis:
    """The one diagnosis of a run (rules in the module docstring): the first rule that holds,
    in order; healthy or inconclusive when none does."""
    judge = _Judge(list(findings), curves, config or {})
    for rule in (judge.data_fault, judge.unstable, judge.overfitting, judge.underfitting, judge.answers_wrong,
                 judge.large_gradients):
        found = rule()
        if found is not None:
            return judge.labels_first(found)
    return judge.healthy_or_inconclusive()


class _Judge:
    """The run's findings and curves, and what the rules tried so far have noted; each rule
    returns its Diagnosis or None."""

    def __init__(self, findings: list[Finding], curves: Curves, config: Mapping[str, Any]) -> None:
        self.curves, self.config = curves, config
        self.facts = _facts(curves)
        self.audit = [f for f in findings if f.source == "audit"]
        self.guard = [f for f in findings if f.source != "audit"]
        self.audit_errors = [f for f in self.audit if f.severity == "error"]
        audit_warnings = [f for f in self.audit if f.severity == "warning"]
        self.notes: list[Evidence] = []
        if audit_warnings and not self.audit_errors:
            self.notes.append(Evidence("audit_warnings", {"codes": _codes(audit_warnings)}))
        self.train = [(s, v) for s, v in curves.train if is_finite(v)]
        self.evals = [(s, e, t) for s, e, t in curves.evals if is_finite(e)]
        self.grad_ev: Evidence | None = None
        self.short: list[Evidence] = []  # too short to judge: underfitting's rules found it (rule 4)
        self.gaps: list[tuple[int, float]] = []
        self.gap_grew = False  # the gap grew past the limit while the eval loss still fell (rule 3)
        self.max_gap = float(_cfg(config, "report.max_final_gap", DEFAULT_MAX_GAP))

    def _diagnosis(self, kind: str, ev: list[Evidence], codes: list[str]) -> Diagnosis:
        return Diagnosis(kind, ev, codes, self.notes, self.facts)

    def labels_first(self, found: Diagnosis) -> Diagnosis:
        """An underfitting run whose audit warned that the labels are built wrong (prompt tokens
        supervised, answers cut, no EOS: LABEL_CODES at warning) is a data fault of its labels: the
        loss and the answers were measured on those labels (81% prompt tokens on a real run), so
        "raise the learning rate" would tune around the fault; the data settings fix it first."""
        from tuneguard.findings import LABEL_CODES

        warned = _codes(f for f in self.audit if f.severity == "warning" and f.code in LABEL_CODES)
        if found.kind != "underfitting" or not warned:
            return found
        self.notes = [n for n in self.notes if n.key != "audit_warnings"]
        ev = [Evidence("labels_warned", {"codes": warned})] + found.evidence
        return self._diagnosis("data_fault", ev, warned + [c for c in found.codes if c not in warned])

    def data_fault(self) -> Diagnosis | None:
        """1. Audit errors, or a LOSS_COLLAPSE error."""
        collapse = [f for f in self.guard if f.code == "LOSS_COLLAPSE" and f.severity == "error"]
        if self.audit_errors or collapse:
            ev: list[Evidence] = []
            if self.audit_errors:
                ev.append(Evidence("audit_errors", {"codes": _codes(self.audit_errors)}))
            if collapse:
                ev.append(_collapse_evidence(collapse[0]))
            return self._diagnosis("data_fault", ev, _codes(self.audit_errors) + ["LOSS_COLLAPSE"] * bool(collapse))
        easy = [f for f in self.guard if f.code == "LOSS_COLLAPSE"]
        if easy:
            self.notes.append(Evidence("easy_task", {"step": _first_seen(easy[0])}))
        # Below, a guard finding decides only at warning or error: info is a fact, or a code the
        # user lowered on purpose (guard.severity).
        self.guard = [f for f in self.guard if f.severity != "info"]
        return None

    def unstable(self) -> Diagnosis | None:
        """2. NaN/Inf or spikes (with large gradients as further evidence)."""
        ev: list[Evidence] = []
        codes: list[str] = []
        nonfinite = _first(self.guard, "NON_FINITE")
        bad_loss = next(((s, v) for s, v in self.curves.train if not is_finite(v)), None)
        if nonfinite is not None or bad_loss is not None:
            step = nonfinite.step if nonfinite is not None else bad_loss[0]  # type: ignore[index]
            ev.append(Evidence("non_finite", {"step": step}))
            codes.append("NON_FINITE")
        spikes = [f for f in self.guard if f.code == "LOSS_SPIKE"]
        if spikes:
            s0 = min(spikes, key=lambda f: f.step if f.step is not None else -1)
            ev.append(Evidence("spikes", {"n": len(spikes), "step": _first_seen(s0), "loss": s0.evidence.get("loss"),
                                          "ratio": s0.evidence.get("ratio")}))
            codes.append("LOSS_SPIKE")
        grad = [f for f in self.guard if f.code == "GRAD_NORM_HIGH"]
        if grad:
            g0 = min(grad, key=lambda f: f.step if f.step is not None else -1)
            self.grad_ev = Evidence("grad_norm", {"n": len(grad), "step": _first_seen(g0),
                                                  "value": g0.evidence.get("grad_norm"),
                                                  "limit": g0.evidence.get("grad_norm_max")})
        if not ev and not self.facts.get("climbed"):
            return None
        if self.facts.get("diverged"):
            f = self.facts
            ev.append(Evidence("diverged_mean", {"first": f["first_train_loss"], "first_step": self.train[0][0],
                                                 "last": f["end_train_loss"], "last_step": f["end_first_step"],
                                                 "last_end": f["end_last_step"]}))
        if self.grad_ev is not None:
            ev.append(self.grad_ev)
            codes.append("GRAD_NORM_HIGH")
        self.facts["spike_step"] = spikes[0].step if spikes else None
        return self._diagnosis("unstable", ev, codes)

    def overfitting(self) -> Diagnosis | None:
        """3. The eval loss rose while the training loss fell, or the gap grew; guard findings
        count when they saw the rise or the curves back them."""
        ev: list[Evidence] = []
        codes: list[str] = []
        rising = self._rising()
        if rising is not None:
            ev.append(rising)
        train = self.train
        for s, e, t in self.evals:
            t = t if is_finite(t) else _train_near(train, s)
            if t is not None:
                self.gaps.append((s, e - t))
        gaps = self.gaps
        # Grew: by more than noise (GAP_GROWTH of the limit: 0.05 nats by default). A gap that stood at
        # 0.7 from the first evaluation to the last is a validation set harder than the training rows,
        # not memorising ("grew from 0.7 to 0.7" was said of one).
        grew = (len(gaps) >= 2 and gaps[-1][1] >= self.max_gap
                and gaps[-1][1] > gaps[0][1] + GAP_GROWTH * self.max_gap)
        # A gap that grew while the eval loss still fell to a new best is no memorising yet: the
        # healthy rule says it (gap_falling), and "train for fewer steps" would be wrong advice.
        self.gap_grew = grew and falling_at_end([(s, e) for s, e, _ in self.evals])
        growing = grew and not self.gap_grew
        if growing:
            ev.append(Evidence("gap", {"first_gap": gaps[0][1], "first_step": gaps[0][0], "gap": gaps[-1][1],
                                       "step": gaps[-1][0], "limit": self.max_gap}))
        # A guard finding counts when it saw the eval loss rise evaluation after evaluation, or when
        # the curves back it; a gap at one evaluation that later closed is noted, not decisive.
        backed = rising is not None or growing
        for code in ("OVERFITTING", "EVAL_DIVERGENCE"):
            # A first-pass EVAL_DIVERGENCE (no row seen twice) is a validation set unlike the training
            # rows, not memorising: the finding says so, the diagnosis does not count it.
            group = sorted((f for f in self.guard if f.code == code and not (f.evidence or {}).get("first_pass")),
                           key=lambda f: f.step if f.step is not None else -1)
            group = self._not_recovered(code, group)
            if not group:
                continue
            decisive = [f for f in group if backed or "rising" in ((f.evidence or {}).get("triggers") or [])]
            f0 = (decisive or group)[0]
            item = Evidence("finding", {"code": f0.code, "step": f0.step})
            if decisive:
                ev.append(item)
                codes.append(code)
            else:
                self.notes.append(item)
        return self._diagnosis("overfitting", ev, codes) if ev else None

    def _not_recovered(self, code: str, group: list[Finding]) -> list[Finding]:
        """The findings of `group` (one code) that the eval curve did not answer: a finding judged
        before the last evaluation, when that evaluation is a new best (`falling_at_end`), was
        followed by the model generalising better than ever, so it is noted as recovered
        (`recovered`: the finding's step, the new best and its step) and never decides; the
        report's finding, the verdict and `next` say the same."""
        curve = [(s, e) for s, e, _ in self.evals]
        if not group or not falling_at_end(curve):
            return group
        last_step, best = curve[-1]
        recovered = [f for f in group if f.step is not None and f.step < last_step]
        if recovered:
            self.notes.append(Evidence("recovered", {"code": code, "step": recovered[0].step, "n": len(recovered),
                                                     "best": best, "best_step": last_step}))
            self.facts.setdefault("recovered", {})[code] = last_step
        return [f for f in group if f not in recovered]

    def _rising(self) -> Evidence | None:
        """The eval loss above its best at the last evaluation while the training loss fell."""
        facts, evals, train = self.facts, self.evals, self.train
        if len(evals) < 2 or facts.get("best_step") is None:
            return None
        best_step, best = facts["best_step"], facts["best_eval_loss"]
        last_step, last, last_train = evals[-1]
        then = next((t for s, _, t in evals if s == best_step), None)
        then = then if is_finite(then) else _train_near(train, best_step)
        last_train = last_train if is_finite(last_train) else _train_near(train, last_step)
        if (last_step > best_step and last > best * (1 + RISE) and then is not None and last_train is not None
                and last_train < then):
            return Evidence("eval_rising", {"best": best, "best_step": best_step, "last": last,
                                            "last_step": last_step, "train_then": then, "train_last": last_train})
        return None

    def underfitting(self) -> Diagnosis | None:
        """4. High and flat from the start (or a plateau found early)."""
        train, evals, facts = self.train, self.evals, self.facts
        if len(train) < 2:
            return None
        ends = loss_ends(train)
        last, drop = ends.last, ends.drop
        eval_drop = None
        if evals:
            e_first = evals[0][1]
            eval_drop = (e_first - facts["best_eval_loss"]) / e_first if e_first > 0 else 0.0
        plateau = [f for f in self.guard if f.code == "PLATEAU" and f.severity == "warning"]
        if not evals and not plateau:
            # "Both losses high and flat" needs an eval loss: without one, a run stopped or halted
            # in its first steps (the warmup, the learning rate still near 0) looks flat, and
            # doubling its learning rate and steps would be advice from no evidence (inconclusive).
            return None
        high = last > HIGH_LOSS and (not evals or facts["best_eval_loss"] > HIGH_LOSS)
        # Flat, not rising: a loss that climbs without spikes is no sign of too small a learning rate.
        flat = abs(drop) < FLAT_DROP and (eval_drop is None or eval_drop < FLAT_DROP)
        if not (high and (flat or (plateau and 0 <= drop < 2 * FLAT_DROP))):
            return None
        ev = [_ends_evidence("flat", ends, drop=drop)]
        if eval_drop is not None:
            ev.append(Evidence("eval_flat", {"first": evals[0][1], "best": facts["best_eval_loss"],
                                             "drop": eval_drop}))
        codes = []
        if plateau:
            ev.append(Evidence("plateau_early", {"step": plateau[0].step}))
            codes.append("PLATEAU")
        few = self._few_steps()
        if few is not None:
            self.short = [few] + ev  # decided at the end (rule 7) unless a later rule names the run
            return None
        return self._diagnosis("underfitting", ev, codes)

    def _few_steps(self) -> Evidence | None:
        """Fewer than MIN_STEPS optimizer steps: too few to call the run underfitting."""
        last = self.facts.get("last_step")
        if isinstance(last, int) and last < MIN_STEPS:
            return Evidence("few_steps", {"steps": last, "min": MIN_STEPS})
        return None

    def answers_wrong(self) -> Diagnosis | None:
        """4. (also) Too few expected answers right."""
        answers = self.curves.answers
        if answers is None or answers[1] <= 0:
            return None
        right, judged, base = answers
        share = float(_cfg(self.config, "report.min_answer_accuracy", DEFAULT_MIN_ACCURACY))
        if right / judged >= share:
            return None
        params: dict[str, Any] = {"right": right, "n": judged, "step": self.facts.get("best_step")}
        ev = [Evidence("answers_wrong_base", {**params, "base": base}) if base is not None
              else Evidence("answers_wrong", params)]
        if self.short:  # the flat rule found the run too short already
            self.short += ev
            return None
        short = self._too_short() or self._few_steps()
        few = self._few_evals() if short is not None and self._few_steps() is None else None
        if short is not None:
            # Not decided here: a later rule (large gradients) may still name the run. With fewer than
            # MIN_EVALS evaluations over MIN_STEPS steps or more, what is unjudged is the eval trend.
            self.short = ([few] if few is not None else []) + [short] + ev
            return None
        return self._diagnosis("underfitting", self._eval_flat(ev), [])

    def _eval_flat(self, ev: list[Evidence]) -> list[Evidence]:
        """Wrong answers after MIN_EVALS or more evaluations over which the eval loss stayed flat
        (down less than FLAT_DROP): said with its numbers, the model is not learning the task."""
        if len(self.evals) < MIN_EVALS:
            return ev
        first, best = self.evals[0][1], self.facts["best_eval_loss"]
        drop = (first - best) / first if first > 0 else 0.0
        return ev + [Evidence("eval_flat", {"first": first, "best": best, "drop": drop})] if drop < FLAT_DROP else ev

    def _too_short(self) -> Evidence | None:
        """The training loss fell at least SHORT_FELL and nothing shows it had stopped falling:
        with three or more evaluations, the eval loss still falling clearly at the end; with
        fewer, the training loss still falling at its end (or too few logs to tell)."""
        if len(self.train) < 2:
            return None
        ends = loss_ends(self.train)
        if ends.drop < SHORT_FELL:
            return None
        facts = self.facts
        if len(self.evals) >= MIN_EVALS:
            falling = bool(facts.get("eval_still_falling"))
        else:
            falling = facts.get("still_falling", True) is not False
        if not falling:
            return None
        return _ends_evidence("too_short", ends, drop=ends.drop, step=facts.get("last_step"),
                              evaluations=len(self.evals))

    def _few_evals(self) -> Evidence | None:
        """Fewer than MIN_EVALS evaluations (one at least): the eval loss's trend cannot be judged,
        so neither "still learning" nor "not learning" is what they show; their numbers are said."""
        if not 0 < len(self.evals) < MIN_EVALS:
            return None
        return Evidence("few_evals", {"n": len(self.evals), "curve": [[s, e] for s, e, _ in self.evals],
                                      "min": MIN_EVALS})

    def large_gradients(self) -> Diagnosis | None:
        """5. Unstable through large gradients alone, unless they were one episode inside the
        warmup of a run whose training loss fell (noted instead): the first steps of a fresh
        adapter take large gradients at a learning rate still near 0, and clipping bounds each
        update; that is what warmup and clipping are for, and "warm up and clip gradients" would be
        advice the run already follows. A rate too high shows after the warmup, at its peak."""
        if self.grad_ev is None:
            return None
        ratio = float(_cfg(self.config, "train.warmup_ratio", 0.0))
        planned = self.curves.planned_steps
        warmup = math.ceil(ratio * planned) if planned else 0
        step = self.grad_ev.params.get("step")
        if (self.grad_ev.params.get("n") == 1 and isinstance(step, int) and 0 < step <= warmup
                and len(self.train) >= 2 and loss_ends(self.train).fell):
            self.notes.append(Evidence("grad_norm_warmup", {**self.grad_ev.params, "warmup": warmup}))
            return None
        return self._diagnosis("unstable", [self.grad_ev], ["GRAD_NORM_HIGH"])

    def healthy_or_inconclusive(self) -> Diagnosis:
        """6./7. Healthy, or too little to tell."""
        train = self.train
        if len(train) < 2:
            return self._diagnosis("inconclusive", [Evidence("few_losses", {"n": len(train)})], [])
        if not self.evals:
            return self._diagnosis("inconclusive", [Evidence("no_evals")], [])
        if self.short:
            return self._diagnosis("inconclusive", self.short, [])
        ends = loss_ends(train)
        if not ends.fell:
            return self._diagnosis("inconclusive", [_ends_evidence("rose", ends)], [])
        ev = [_ends_evidence("fell", ends, drop=ends.drop)]
        if self.gaps:
            ev.append(self._gap_evidence())
        if self.facts.get("eval_falling"):
            ev.append(Evidence("eval_still_falling", dict(self.facts["eval_falling"])))
        return self._diagnosis("healthy", ev, [])


    def _gap_evidence(self) -> Evidence:
        """The final gap: within the limit (tracked); at or above it without growing (gap_held: the
        validation rows are harder); or grown while the eval loss still fell (gap_falling)."""
        (s0, g0), (s1, g1) = self.gaps[0], self.gaps[-1]
        best, best_step = self.facts["best_eval_loss"], self.facts["best_step"]
        if g1 < self.max_gap:
            return Evidence("tracked", {"best": best, "best_step": best_step, "gap": g1, "limit": self.max_gap})
        key = "gap_falling" if self.gap_grew else "gap_held"
        return Evidence(key, {"first_gap": g0, "first_step": s0, "gap": g1, "step": s1, "limit": self.max_gap,
                              **({"best": best, "best_step": best_step} if self.gap_grew else {})})


def _ends_evidence(key: str, ends: LossEnds, **extra: Any) -> Evidence:
    """`key`'s evidence of where the training loss started and ended: its single first and last
    losses, or (`key`_mean) the means over the steps they span, as the report's verdict says them."""
    return Evidence(key if ends.points == 1 else f"{key}_mean", {**ends.params(), **extra})


def _first_seen(f: Finding) -> int | None:
    """The step a guard finding was first seen at (evidence `at_step`, which its examples seen are
    counted at: an evaluation may judge it later), else its step."""
    at = (f.evidence or {}).get("at_step")
    return at if isinstance(at, int) and not isinstance(at, bool) else f.step


def _collapse_evidence(c: Finding) -> Evidence:
    """A LOSS_COLLAPSE error as evidence, linked to the audit findings it names."""
    linked = [x for x in (c.evidence or {}).get("audit_findings") or [] if isinstance(x, str)]
    params = {"step": _first_seen(c), "initial": c.evidence.get("initial_loss"), "loss": c.evidence.get("loss")}
    # Stores from before the guards counted what the model had seen say "in epoch 1".
    seen = "_seen" if isinstance(c.evidence.get("examples_seen"), int) and "passes" in c.evidence else ""
    if seen:
        params.update(examples=c.evidence["examples_seen"], passes=round(float(c.evidence["passes"]), 2))
    return Evidence(f"collapse_linked{seen}", {**params, "codes": linked}) if linked else Evidence(f"collapse{seen}", params)
