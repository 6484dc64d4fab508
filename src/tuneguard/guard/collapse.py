"""LOSS_COLLAPSE: the training loss falls toward zero before the model could have learnt it.

Counted in what the model has seen (tuneguard.guard.seen), not in steps or epochs: an epoch
boundary moves with the number of processes, the batch size and the accumulation, and "in
epoch 1 each row is seen at most once" holds neither with duplicates nor past that boundary.

Why a low loss early is not overfitting: the Trainer scores each batch before it trains on it,
so while the average distinct row (the audit's exact and near duplicate groups each counted
once) has been seen at most once (`guard.collapse_exposures`, 1), the training loss is a loss on
rows the model has not trained on. A near-zero loss there means the supervised tokens are
predictable from the data itself: duplicated or templated rows, validation rows leaked from
training, padding or prompt tokens in the labels, pad == eos masking, answers already in the
prompt.

But a low loss is not by itself a fault: a pretrained model on an easy task (copying a span
of the input, say) starts low and may pass below the floor early while learning well.
So the guard halts only with evidence of a fault:

- an audit finding of severity error that explains a collapse (duplicates, templates, leakage,
  padding or label masking faults, answers in the prompt): error at once (halts). With such a
  cause the guard also watches past the rows' first exposure. When the audit found duplicates
  and at least `guard.collapse_repeats` (2) rows per distinct row, at any point of the run: the
  exposures are large from the first steps (three texts repeated 900 times: each seen 300 times
  after 900 examples), the copies are what the model memorises, and how fast it does so
  depends on the number of updates, not on the examples: the same three texts crossed the
  threshold at 0.6 passes on one process and at 1.12 passes on two (twice the examples per
  update), and after 2 passes with a batch twice as large again. With another cause, for as long as
  the run has gone over its rows at most `guard.collapse_passes` (2) times: these faults show
  within the first pass, and later ordinary memorisation is an explanation too;
- otherwise the loss alone is an info finding (a fact: the loss is low and the audit found no
  cause) and the next evaluation decides. The training loss per token since the previous
  evaluation (the number EVAL_DIVERGENCE uses too) is held against the eval loss on rows not
  seen in training: eval loss above guard.collapse_eval_ratio (4) times it, and above it by
  more than guard.collapse_floor, while the eval loss is still above guard.collapse_eval_kept
  (half) of the initial loss, means the training rows became predictable while unseen rows
  stayed about as hard as at the start: memory, not learning (error, halts). Otherwise the
  model is learning the task on rows it has never seen and the task is easy for it (info,
  saying so with the numbers). Why 4x: a fault makes the training rows far more
  predictable (the motivating run: 0.005 against about 1.5, 300x), while two small samples of
  a skewed per-row loss differ by 2-3x by chance (SmolLM2 on extraction: 0.13 over 25 training
  rows against 0.32 over 16 eval rows, and 0.038 against 0.31 five steps later, while the
  eval loss had fallen from the initial 1.31: a few hard eval rows in a small eval set).

The initial loss is the first optimizer step's, and every rule is applied to every step's loss
(tuneguard.train.steps), so neither the logging cadence nor the split of the global batch
changes where it fires.

The info findings are said once per run: the first low loss ("pending evaluation") and the
first evaluation's verdict ("easy task"). A healthy run's loss passes below the floor again and
again as it learns; every later episode is still judged at the next evaluation (a gap there is
an error as ever), but the same fact is not recorded and notified again.

Info findings never halt (guard.actions applies to warnings and errors), so an easy task
learned well finishes; a user who wants the old rule back sets guard.severity.LOSS_COLLAPSE:
error.
"""

from __future__ import annotations

import logging
import math
from typing import Iterable

from tuneguard.catalog import J, Spec, T
from tuneguard.findings import LABEL_CODES, Finding
from tuneguard.guard.episode import Episode, is_finite
from tuneguard.guard.seen import Seen

log = logging.getLogger(__name__)

# Audit codes that explain a collapse, with the words used to link them.
# The audit codes that can explain a collapse (their phrases: LOSS_COLLAPSE.related.CODE in the catalog).
RELATED_AUDIT_CODES = (
    "DUPLICATE_EXACT", "DUPLICATE_NEAR", "LOW_DIVERSITY", "TRAIN_VAL_LEAKAGE", "PAD_IS_EOS", "PAD_IN_LABELS",
    "PROMPT_NOT_MASKED", "EMPTY_LABELS", "ANSWER_IN_PROMPT",
)

# Audit causes that are rows repeating: with enough copies they explain a collapse at any point.
REPETITION_CODES = frozenset({"DUPLICATE_EXACT", "DUPLICATE_NEAR"})


def _share(evidence: dict) -> float | None:
    """The share of rows an audit finding concerns, when its evidence states one.

    A plain `share`/`fraction` key wins over suffixed ones such as
    `unique_response_share`, which measure something else."""
    def ok(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1

    for key in ("share", "fraction"):
        if ok(evidence.get(key)):
            return float(evidence[key])
    for k, v in evidence.items():
        key = str(k).lower()
        if (key.endswith("_fraction") or key.endswith("_share")) and ok(v):
            return float(v)
    return None


def _leak_share(f: Finding) -> float | None:
    """The leaked share of the worst split, as the audit's message states it ("22 of 24 validation
    rows (91.7%)"): the evidence's `share` counts the validation and test rows together (69%)."""
    splits = (f.evidence or {}).get("splits") or {}
    shares = [s.get("share") for s in splits.values() if isinstance(s, dict)]
    shares = [v for v in shares if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1]
    return max(shares) if shares else _share(f.evidence or {})


def explains_training_loss(f: Finding) -> bool:
    """Whether audit finding `f` can make the training rows predictable. Validation rows leaked
    from a separate file cannot: they make the eval loss an unfair measure, while the training
    rows stay what they were (the same rows without the leaked file train as a healthy run
    does). Leaked rows of a split drawn from the training file are copies inside it, and a
    finding stored before the audit said where the validation came from counts as such."""
    if f.code != "TRAIN_VAL_LEAKAGE":
        return f.code in RELATED_AUDIT_CODES
    ev = f.evidence or {}
    return bool(ev.get("validation_from_train", True)) and "validation" in (ev.get("splits") or {"validation": 1})


def audit_causes(audit_findings: Iterable[Finding]) -> list[Finding]:
    """The audit findings that explain a collapse by themselves: related codes at severity error
    that bear on the training rows (`explains_training_loss`)."""
    return [f for f in audit_findings if f.severity == "error" and explains_training_loss(f)]


def audit_links(audit_findings: Iterable[Finding]) -> tuple[list[str], list[Spec]]:
    """Codes of the related audit findings and one phrase per code (catalog specs), e.g.
    "the audit found 38% exact duplicates: see DUPLICATE_EXACT"."""
    codes: list[str] = []
    phrases: list[Spec] = []
    for f in audit_findings:
        if f.code not in RELATED_AUDIT_CODES or f.code in codes:
            continue
        codes.append(f.code)
        share = _leak_share(f) if f.code == "TRAIN_VAL_LEAKAGE" else _share(f.evidence or {})
        what = T(f"LOSS_COLLAPSE.related.{f.code}")
        phrases.append(T("LOSS_COLLAPSE.link", what=what, code=f.code) if share is None
                       else T("LOSS_COLLAPSE.link_share", share=share, what=what, code=f.code))
    return codes, phrases


class LossCollapseDetector:
    """LOSS_COLLAPSE: feed every step's training loss (`update`, with what the model has seen)
    and every evaluation (`update_eval`); returns a finding when the loss falls below `floor` or
    below `ratio` x the first loss while the rows are still new to the model (module
    docstring), at the severity the evidence supports.

    Exactly 0.0 and non-finite losses are left to NON_FINITE (they point at NaN or fully
    masked batches, not at a predictable dataset). Without `seen` (a caller with no plan) the
    logged epoch stands for both passes and exposures.
    """

    code = "LOSS_COLLAPSE"

    def __init__(self, floor: float, ratio: float, audit_findings: Iterable[Finding] = (), eval_ratio: float = 4.0,
                 eval_kept: float = 0.5, exposures: float = 1.0, cause_passes: float = 2.0,
                 repeats: float = 2.0, then: Spec | None = None) -> None:
        self.floor = floor
        # What a fault found at the next evaluation makes the run do (guard.actions.fault_consequence).
        self.then = then or T("guard.then.halt")
        self.ratio = ratio
        self.eval_ratio = eval_ratio
        self.eval_kept = eval_kept
        self.max_exposures = exposures
        self.cause_passes = cause_passes
        self.repeats = repeats
        self.audit_findings = list(audit_findings)
        self.initial: float | None = None
        self.initial_step: int | None = None
        self.episode = Episode()
        self.level: str | None = None  # severity reported in the current episode
        self.pending: dict | None = None  # the low loss waiting for an evaluation's verdict
        self._low_since_eval = False  # the loss was low (and judged) at some step since the previous evaluation
        self._low_first: tuple[int, Seen | None, float | None] | None = None  # the first such step, what was seen by then
        # The run's "easy task" verdict was given: later low-loss episodes are still judged at each
        # evaluation (a fault there is an error as ever), but saying "easy task" again is not news.
        self.easy_reported = False

    def window(self, seen: Seen | None, epoch: float | None, causes: Iterable[str] = ()) -> str | None:
        """Why a low loss at this point is judged, None when it is not:

        - "exposures": the average distinct row has been seen at most `max_exposures` times,
          so the loss is on rows the model has not trained on;
        - "repeats": the audit found duplicates (an error) and at least `repeats` rows per
          distinct row: the copies are memorised however the run goes over them, at any point;
        - "cause": another audit cause (or milder duplicates) and at most `cause_passes` passes
          over the rows.
        """
        causes = set(causes)
        if seen is not None:
            passes, exposures = seen.passes, seen.exposures
        elif epoch is not None:
            passes = exposures = epoch
        else:
            return "exposures"
        if exposures <= self.max_exposures:
            return "exposures"
        if causes & REPETITION_CODES and seen is not None and seen.repeats >= self.repeats:
            return "repeats"
        if causes and passes <= self.cause_passes:
            return "cause"
        return None

    def update(self, step: int, loss: float | None, seen: Seen | None = None,
               epoch: float | None = None) -> Finding | None:
        if not is_finite(loss) or loss <= 0.0:
            return None
        if self.initial is None:
            # The floor applies from the first loss on: an untrained model that already
            # predicts the labels almost perfectly says the same about the data.
            self.initial, self.initial_step = loss, step
        causes = audit_causes(self.audit_findings)
        why = self.window(seen, epoch, [f.code for f in causes])
        below_floor = loss < self.floor
        below_ratio = loss < self.ratio * self.initial
        low = why is not None and (below_floor or below_ratio)
        self._low_since_eval |= low
        if low and self._low_first is None:
            self._low_first = (step, seen, epoch)
        if not self.episode.update(low):
            if not low:
                self.level = None
            return None
        rule = J("join.and", ([T("LOSS_COLLAPSE.rule.floor", floor=self.floor)] if below_floor else [])
                 + ([T("LOSS_COLLAPSE.rule.ratio", ratio=self.ratio)] if below_ratio else []))
        if causes:
            self.level = "error"
            return self._fault(step, seen, epoch, loss, rule, [f.code for f in causes], why)
        self.level = "info"
        if self.pending is not None:
            return None  # already waiting for this evaluation's verdict: one fact is enough
        self.pending = {"step": step, "seen": seen, "epoch": epoch, "loss": loss, "rule": rule}
        if self.easy_reported:
            return None  # the low loss of an easy task, already said; the next evaluation still judges it
        return self._watching(step, seen, epoch, loss, rule)

    def update_eval(self, step: int, eval_loss: float | None, train_loss: float | None,
                    seen: Seen | None = None, epoch: float | None = None) -> Finding | None:
        """At an evaluation, with the training loss per token since the previous one: a low
        training loss far below the eval loss is a fault (error); one of the same order is an
        easy task (info, once per run: a healthy run's loss dips below the floor again and again,
        and an info finding at every evaluation saying the same thing buries the ones that are
        news). Nothing when the loss was not low since the previous evaluation."""
        was_low, self._low_since_eval = self._low_since_eval, False
        first, self._low_first = self._low_first, None
        pending, self.pending = self.pending, None
        low = train_loss
        if not (was_low or pending) or not is_finite(eval_loss) or not is_finite(low) or low <= 0 \
                or self.level == "error":
            return None
        # Memory, not learning: the training rows got far easier than unseen rows, which stayed
        # about as hard as they were for the model at the start.
        kept = self.initial is not None and eval_loss > self.eval_kept * self.initial
        far = eval_loss > self.eval_ratio * low and eval_loss - low > self.floor and kept
        if far:
            self.level = "error"
            return self._eval_fault(step, seen, epoch, eval_loss, low, first)
        if pending is not None and not self.easy_reported:
            self.easy_reported = True
            return self._easy(step, eval_loss, low, pending)
        return None

    # -- the findings ------------------------------------------------------------------------
    def _eval_only(self) -> list[str]:
        """Codes of the audit errors that concern only the evaluation rows (leaks from a
        separate validation or test file): not a cause of a training-loss collapse, but a
        reason to distrust the eval loss that judges it."""
        return list(dict.fromkeys(f.code for f in self.audit_findings if f.severity == "error"
                                  and f.code in RELATED_AUDIT_CODES and not explains_training_loss(f)))

    def _base_evidence(self, step: int, seen: Seen | None, epoch: float | None, loss: float) -> dict:
        ev = {
            "initial_loss": self.initial, "initial_step": self.initial_step, "loss": loss,
            "perplexity": math.exp(loss), "at_step": step, "epoch": seen.passes if seen is not None else epoch,
            "collapse_floor": self.floor, "collapse_ratio": self.ratio, "collapse_eval_ratio": self.eval_ratio,
            "collapse_exposures": self.max_exposures, "collapse_passes": self.cause_passes,
            "collapse_repeats": self.repeats,
            "loss_ratio": loss / self.initial if self.initial else None,
        }
        if seen is not None:
            ev.update(seen.evidence())
        return ev

    def _change(self, step: int, loss: float) -> Spec:
        return (T("LOSS_COLLAPSE.change.fell", initial=self.initial, loss=loss) if step != self.initial_step
                else T("LOSS_COLLAPSE.change.first", loss=loss))

    @staticmethod
    def _when(step: int, seen: Seen | None, epoch: float | None) -> Spec:
        if seen is not None:
            return T("LOSS_COLLAPSE.when.seen", step=step, seen=seen.spec())
        return T("LOSS_COLLAPSE.when.step", step=step) if epoch is None else \
            T("LOSS_COLLAPSE.when.epoch", step=step, epoch=epoch)

    def _fault(self, step: int, seen: Seen | None, epoch: float | None, loss: float, rule: Spec,
               causes: list[str], why: str | None) -> Finding:
        codes, links = audit_links(self.audit_findings)
        # Copies in the rows are what was memorised, whichever window judged the loss: "seen at
        # most once" on average is untrue of the row repeated hundreds of times among the others.
        repeated = set(causes) & REPETITION_CODES and seen is not None and seen.repeats >= self.repeats
        meaning = (T("LOSS_COLLAPSE.meaning.repeats") if why == "repeats" or repeated else
                   T("LOSS_COLLAPSE.meaning.cause", passes=self.cause_passes) if why == "cause" else
                   T("LOSS_COLLAPSE.meaning.once"))
        message = T("LOSS_COLLAPSE.fault", change=self._change(step, loss), rule=rule,
                    when=self._when(step, seen, epoch), causes=", ".join(causes), meaning=meaning)
        # The audit named the cause: the generic list of suspects would only add causes the data
        # does not have. A fault in how the labels are built is fixed in the config, not the rows.
        labels = bool(causes) and set(causes) <= set(LABEL_CODES)
        recommendation = T("LOSS_COLLAPSE.fault.rec.labels" if labels else "LOSS_COLLAPSE.fault.rec",
                           links=J("join.clauses", links))
        evidence = {**self._base_evidence(step, seen, epoch, loss), "audit_findings": codes, "audit_causes": causes,
                    "window": why, "verdict": "fault: audit"}
        return Finding.said(self.code, "error", message, recommendation, evidence, step=step, source="guard")

    def _watching(self, step: int, seen: Seen | None, epoch: float | None, loss: float, rule: Spec) -> Finding:
        codes, links = audit_links(self.audit_findings)
        eval_only, others = self._eval_only(), [c for c in codes if c not in self._eval_only()]
        parts = ([T("LOSS_COLLAPSE.audit.eval_only", codes=", ".join(eval_only))] if eval_only else []) + \
            ([T("LOSS_COLLAPSE.audit.not_errors", codes=", ".join(others))] if others else [])
        audit = J("join.and", parts) if parts else T("LOSS_COLLAPSE.audit.none")
        message = T("LOSS_COLLAPSE.watching", change=self._change(step, loss), rule=rule,
                    when=self._when(step, seen, epoch), exposures=self.max_exposures, audit=audit, then=self.then)
        recommendation = (T("LOSS_COLLAPSE.watching.rec_links", links=J("join.clauses", links)) if links
                          else T("LOSS_COLLAPSE.watching.rec"))
        evidence = {**self._base_evidence(step, seen, epoch, loss), "audit_findings": codes,
                    "window": "exposures", "verdict": "pending evaluation"}
        return Finding.said(self.code, "info", message, recommendation, evidence, step=step, source="guard")

    def _eval_fault(self, step: int, seen: Seen | None, epoch: float | None, eval_loss: float, low: float,
                    first: tuple[int, Seen | None, float | None] | None) -> Finding:
        codes, links = audit_links(self.audit_findings)
        suffix = T("LOSS_COLLAPSE.seen_suffix", seen=seen.spec()) if seen is not None else T("end.period")
        message = T("LOSS_COLLAPSE.eval_fault", step=step, eval_loss=eval_loss, ratio=eval_loss / low, low=low,
                    limit=self.eval_ratio, initial=self.initial, suffix=suffix)
        also = T("LOSS_COLLAPSE.also", links=J("join.clauses", links)) if links else ""
        recommendation = T("LOSS_COLLAPSE.eval_fault.rec", also=also, suspected=T("LOSS_COLLAPSE.suspected"))
        # Placed where the loss was first low since the previous evaluation (the evaluation judged it).
        at, at_seen, at_epoch = first if first is not None else (step, seen, epoch)
        evidence = {**self._base_evidence(at, at_seen, at_epoch, low), "eval_loss": eval_loss, "eval_step": step,
                    "train_loss_since_eval": low,
                    "eval_to_train": eval_loss / low, "collapse_eval_kept": self.eval_kept,
                    "audit_findings": codes, "verdict": "fault: eval far above"}
        return Finding.said(self.code, "error", message, recommendation, evidence, step=step, source="guard")

    def _easy(self, step: int, eval_loss: float, low: float, pending: dict) -> Finding:
        codes, _ = audit_links(self.audit_findings)
        eval_only = self._eval_only()
        audit = (T("LOSS_COLLAPSE.with_leak", codes=", ".join(eval_only)) if eval_only
                 else T("LOSS_COLLAPSE.with_codes", codes=", ".join(codes)) if codes else T("LOSS_COLLAPSE.with_clean"))
        message = T("LOSS_COLLAPSE.easy", loss=pending["loss"], loss_step=pending["step"], rule=pending["rule"],
                    eval_loss=eval_loss, step=step, low=low, limit=self.eval_ratio, audit=audit)
        recommendation = T("LOSS_COLLAPSE.easy.rec")
        evidence = {**self._base_evidence(pending["step"], pending["seen"], pending["epoch"], pending["loss"]),
                    "eval_loss": eval_loss, "eval_step": step, "train_loss_since_eval": low,
                    "eval_to_train": eval_loss / low, "audit_findings": codes, "verdict": "easy task"}
        return Finding.said(self.code, "info", message, recommendation, evidence, step=step, source="guard")
