"""LOSS_SPIKE and GRAD_NORM_HIGH: sudden jumps of the training loss and large gradients.

Both look at every optimizer step's loss and gradient norm (before clipping), recorded as
the Trainer computes them and handed over at each log (tuneguard.train.steps): a step's value
is judged the same whatever `train.logging_steps` is.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
from collections import deque
from typing import Any

from tuneguard.catalog import J, Spec, T
from tuneguard.config.diff import format_value
from tuneguard.diagnosis import diverged_lr, nice_lr, unstable_lr
from tuneguard.findings import Finding
from tuneguard.guard.episode import Episode, is_finite
from tuneguard.guard.seen import Seen

log = logging.getLogger(__name__)

MIN_PRIOR_POINTS = 5  # a median of fewer steps is not a baseline
GRAD_WINDOW_STEPS = 32  # the recent steps whose median gradient norm a spike's is held against


# MAD x 1.4826 estimates the standard deviation of a normal sample (its MAD is 0.6745 sigma).
MAD_TO_SD = 1.4826


def log_spread(values: list[float]) -> tuple[float, float]:
    """(median, robust spread) of the logs of `values` (all > 0): the spread is the median
    absolute deviation scaled to a standard deviation. Logs, because a step's loss swings by
    factors, not by nats: near zero a batch of four hard rows is ten times its neighbours, at 3
    nats a garbled batch is three times them; one spread in logs covers both regimes."""
    logs = [math.log(v) for v in values]
    mid = statistics.median(logs)
    return mid, MAD_TO_SD * statistics.median([abs(v - mid) for v in logs])


def quantile(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (linear between the nearest ranks)."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclasses.dataclass
class RunLR:
    """The run's learning rate as the LOSS_SPIKE / GRAD_NORM_HIGH advice names it.

    `config`: train.learning_rate, the peak of the schedule and the number the user edits;
    `now`: the rate the Trainer logged at step `now_step` (the schedule's warmup or decay at that
    point, times any change the run made); `scale`: the factor a policy action or `set-lr` put on
    the schedule (1 without one). The advice's new rate is for the config: a policy that already
    halved the rate and saw the loss spike again must not be told to go back to half the config's."""

    config: float | None
    now: float | None = None
    now_step: int | None = None
    scale: float = 1.0

    @property
    def peak(self) -> float | None:
        """The peak the run was on: train.learning_rate times the run's own change."""
        return nice_lr(self.config * self.scale) if self.config else None


def lr_advice(code: str, lr: RunLR | float | None, loss: float | None, initial: float | None) -> Spec:
    """The recommendation of a LOSS_SPIKE or GRAD_NORM_HIGH (`code`), naming the learning rate to
    set when the run's (`lr`) is known: the rule `tuneguard next` applies to the run
    (tuneguard.diagnosis.diverged_lr, unstable_lr; tuneguard.report.recommend), a tenth of
    train.learning_rate (at most 1e-3) when the step's loss is above the first step's, what the
    data cost before any training (the model got worse than untrained: the rate is far too high),
    else half of the peak the run was on (train.learning_rate, or the rate a policy action or
    `set-lr` had lowered it to). The learning rate the Trainer logged is named too: in the warmup
    or after a change it is not train.learning_rate."""
    run = lr if isinstance(lr, RunLR) else RunLR(lr)
    cfg = run.config
    if cfg is None or not cfg > 0:
        return T(f"{code}.found.rec")
    if loss is not None and initial is not None and loss > initial:
        said = T("guard.lr.diverged", new=format_value(diverged_lr(cfg)), lr=format_value(cfg), initial=initial)
    elif run.scale < 1.0 and run.peak:
        said = T("guard.lr.half_scaled", new=format_value(unstable_lr(run.peak)), lr=format_value(run.peak),
                 cfg=format_value(cfg), factor=f"{run.scale:.3g}")
    else:
        said = T("guard.lr.half", new=format_value(unstable_lr(cfg)), lr=format_value(cfg))
    if run.now is not None and run.now_step is not None:
        scaled = T("guard.lr.scaled", factor=f"{run.scale:.3g}") if run.scale != 1.0 else ""
        said = J("join.none", [said, T("guard.lr.now", now=format_value(float(f"{run.now:.3g}")), step=run.now_step,
                                       cfg=format_value(cfg), scaled=scaled)])
    return T(f"{code}.found.rec_lr", lr=said)


class LossSpikeDetector:
    """LOSS_SPIKE (warning): one step's loss far above the recent steps'.

    Fed every optimizer step's loss (tuneguard.train.steps) with the examples seen after it,
    so the logging cadence does not dilute a one-step jump (the mean of five steps hides a
    3x step) nor move the baseline. A spike is a loss that, against the steps of the last
    `window_examples` examples seen, and of no more than the later half of all the examples
    seen (early in a run the loss falls fast: the steps since the start sit far above it), at
    least 5 of them, is:

    - above `factor` x their median, and
    - above their `quantile` (0.95) by more than `min_jump`: above the high end of what those
      steps did, not just above their middle. With length-bucketed batches (the default) a
      step holds rows of one length, often one task of a mixed dataset, and step losses swing
      with the task drawn: steps of a hard task at 0.6 among steps of an easy one at 0.1 are
      6x the median, and no spike; a step above every task's range is. Near zero a ratio alone
      is noise too (a healthy SmolLM2 run at 0.02 had steps of 0.07, 3.5x);
    - and, in logs, more than `spread` (4.5) robust standard deviations (the median absolute
      deviation x 1.4826) of those steps above their median, or above the latest eval loss when
      that is higher: judged against the noise of ordinary steps at this batch size; or above
      `factor` x the first step's loss, what the data cost the model before any training. The
      first two rules are the floor (the research's ratio to the running median); this one says
      how far outside the usual swing a step is. Small batches of varied rows swing widely, and
      a few hard rows carry most of the loss: SmolLM2 on manual-page extraction, 4 rows per
      step, had a step at 1.72 among steps at 0.01-0.14 (43x their median, 6.8 spreads above
      it) while its eval loss, the average cost of fresh rows, was 0.24 and falling: 3.5 spreads
      above that, and 1.3x its first step's 1.31. A batch of garbled rows stands further out:
      the tiny model's, at 2.2-3x the median of steady steps, are 6.1-10 spreads; SmolLM2's
      (answers swapped for random tokens at step 18, bench/diagnosis.py) cost 14.8 nats, more
      than ln(vocabulary): 11x its first step's loss, though only 3.2 spreads above the eval
      loss while its steps still swung by factors of ten as the loss fell. `spread` 0 leaves
      the floor alone.

    A step judged a spike stays out of the window (unless the loss stays up for 5 steps in a
    row: a new level), so repeated garbled batches are each judged against ordinary steps.

    The window is counted in examples, not steps or logs: the same stretch of training
    whatever the batch x accumulation x processes split or the logging cadence.

    Before 5 steps make a baseline, a step is judged against the highest loss of every step
    before it, with `early_factor` (`_early`): a learning rate far too high blows the loss up in
    the first steps, before any window exists.

    The recommendation names the learning rate to set where the run's (`learning_rate`) is known
    (`lr_advice`).
    """

    code = "LOSS_SPIKE"

    def __init__(self, factor: float, window_examples: int, min_jump: float = 0.0, quantile: float = 0.5,
                 spread: float = 0.0, early_factor: float = 0.0, learning_rate: RunLR | float | None = None) -> None:
        self.factor = factor
        self.learning_rate = learning_rate  # the run's (RunLR: kept current by the GuardCallback), named in the advice
        self.early_factor = early_factor
        self.window_examples = window_examples
        self.min_jump = min_jump
        self.quantile = quantile
        self.spread = spread
        self.points: deque[tuple[int, float]] = deque()  # (examples seen, loss) of recent steps
        self.outliers = 0  # spikes in a row, kept out of `points`
        self.eval_loss: float | None = None  # the latest evaluation's: the mean loss per token of unseen rows
        self.initial: float | None = None  # the first step's loss: what the data cost before any training
        self.episode = Episode()

    def update_eval(self, eval_loss: float | None) -> None:
        """The latest eval loss: what a batch of fresh rows costs on average (see `update`)."""
        if eval_loss is not None and is_finite(eval_loss) and eval_loss > 0:
            self.eval_loss = eval_loss

    def _prior(self, examples: int) -> list[float]:
        """The losses of the recent steps before the one after `examples` examples: the last
        `window_examples`, and no more than the later half of all seen so far (early on the loss
        falls fast, and the steps since the start would sit far above the current loss)."""
        before = self.points[-1][0] if self.points else examples
        while self.points and self.points[0][0] <= before - self.window_examples:
            self.points.popleft()
        recent = [x for e, x in self.points if e > before / 2]
        return recent if len(recent) >= MIN_PRIOR_POINTS else [x for _, x in self.points][-MIN_PRIOR_POINTS:]

    def update(self, step: int, loss: float | None, seen: Seen | None = None) -> Finding | None:
        if loss is None or not is_finite(loss) or loss <= 0.0:  # NaN, Inf and 0.0 belong to NON_FINITE
            return None
        examples = seen.examples if seen is not None else step
        if self.initial is None:
            self.initial = loss
        prior = self._prior(examples)
        if len(prior) < MIN_PRIOR_POINTS:
            return self._early(step, loss, prior, examples, seen)
        med = statistics.median(prior)
        high = quantile(prior, self.quantile)
        mid, sd = log_spread(prior)
        # The middle the spread is counted from: the steps' median, or the latest eval loss when
        # higher. In epoch 1 a step's rows are as new to the model as the eval rows, so the eval
        # loss is what a step costs on average; when a few hard rows carry most of the loss (eval
        # 0.24 while the median step is 0.04) the median step sits far below that average, and a
        # batch that draws one hard row lands above it without anything being wrong.
        centre = max(mid, math.log(self.eval_loss)) if self.eval_loss is not None else mid
        # How many spreads above the usual; a window of equal losses has none, and any step above
        # it stands out (the floor rules decide then).
        z = (math.log(loss) - centre) / sd if sd > 0 else math.inf
        # Far outside the usual swing, or far above what the data cost before any training (a
        # garbled batch costs about ln(vocabulary), 10-12 nats, whatever the steps around it did).
        beyond = self.spread <= 0 or z > self.spread or loss > self.factor * self.initial
        spike = med > 0 and loss > self.factor * med and loss - high > self.min_jump and beyond
        # A spike is no part of the usual range: kept out of the baseline, a second garbled batch
        # a few steps later is judged against the ordinary steps, not against the first one. A
        # loss that stays up for MIN_PRIOR_POINTS steps in a row is a new level and joins it.
        self.outliers = self.outliers + 1 if spike else 0
        if not spike or self.outliers >= MIN_PRIOR_POINTS:
            self.points.append((examples, loss))
        if not self.episode.update(spike):
            return None
        return self._finding(step, loss, prior, (med, high, math.exp(centre)), z, sd, seen, centre > mid)

    def _early(self, step: int, loss: float, prior: list[float], examples: int, seen: Seen | None) -> Finding | None:
        """A step among the first ones, before MIN_PRIOR_POINTS steps make a baseline: a spike
        when its loss is above `early_factor` x the highest loss of every step before it (the
        first, untrained step included) and above it by more than `min_jump`.

        The highest, not the median or the minimum: the first steps of a healthy run swing with
        the rows drawn and fall fast (the demo's length-bucketed SmolLM2 run went 4.51, 4.31,
        1.27, 3.65: step 4 was 2.9x the minimum so far, the 1.5x-the-running-minimum rule of the
        research would have fired), but a step far above every step before it, the untrained
        model's included, is a model made worse than untrained, or a garbled batch. A learning
        rate 50x too high (SmolLM2 at 0.1) went 1.78, 1.30, 2.44, 18.9: 7.7x the highest before
        it. Length-bucketed batches of tasks the untrained model finds easy and hard can sit
        3.5x apart, hence a bar above `factor`. A spike here is kept out of the baseline as any
        other is (SpikeJudge then decides whether it waits to recover)."""
        top = max(prior) if prior else None
        spike = (self.early_factor > 0 and top is not None and loss > self.early_factor * top
                 and loss - top > self.min_jump)
        self.outliers = self.outliers + 1 if spike else 0
        if not spike or self.outliers >= MIN_PRIOR_POINTS:
            self.points.append((examples, loss))
        if not self.episode.update(spike) or top is None:
            return None
        message = T("LOSS_SPIKE.early", loss=loss, step=step, ratio=loss / top, top=top, n=len(prior),
                    limit=self.early_factor, initial=self.initial,
                    end=T("LOSS_SPIKE.seen_suffix", seen=seen.spec()) if seen is not None else T("end.period"))
        evidence = {"step": step, "loss": loss, "running_median": statistics.median(prior), "ratio": loss / top,
                    "running_high": top, "early": True, "eval_loss": self.eval_loss, "initial_loss": self.initial,
                    "spike_factor": self.factor, "spike_early_factor": self.early_factor,
                    "spike_min_jump": self.min_jump, "previous_losses": list(prior), "previous_steps": len(prior)}
        if seen is not None:
            evidence.update(seen.evidence())
        return Finding.said(self.code, "warning", message, lr_advice(self.code, self.learning_rate, loss, self.initial),
                            evidence, step=step, source="guard")

    def _finding(self, step: int, loss: float, prior: list[float], levels: tuple[float, float, float], z: float,
                 sd: float, seen: Seen | None, from_eval: bool) -> Finding:
        med, high, centre = levels
        end = T("LOSS_SPIKE.seen_suffix", seen=seen.spec()) if seen is not None else T("end.period")
        # Which of the rules beyond the floor the step broke (none is named with spread 0, or when
        # the recent steps were all equal and any step above them stands out).
        spread: Spec | str = ""
        if 0 < self.spread < z < math.inf:
            spread = (T("LOSS_SPIKE.spread", z=z, limit=self.spread, centre=centre) if from_eval
                      else T("LOSS_SPIKE.spread_median", z=z, limit=self.spread))
        elif self.spread > 0 and self.initial is not None and loss > self.factor * self.initial:
            spread = T("LOSS_SPIKE.initial", ratio=loss / self.initial, initial=self.initial, limit=self.factor)
        message = T("LOSS_SPIKE.found", loss=loss, step=step, ratio=loss / med, median=med, n=len(prior),
                    limit=self.factor, jump=loss - high, high=high, quantile=self.quantile, spread=spread, end=end)
        recommendation = lr_advice(self.code, self.learning_rate, loss, self.initial)
        evidence = {"step": step, "loss": loss, "running_median": med, "ratio": loss / med, "running_high": high,
                    "spreads_above": z if math.isfinite(z) else None, "log_spread": sd, "spread_centre": centre,
                    "eval_loss": self.eval_loss, "initial_loss": self.initial,
                    "spike_factor": self.factor, "spike_window_examples": self.window_examples,
                    "spike_min_jump": self.min_jump, "spike_quantile": self.quantile, "spike_spread": self.spread,
                    "previous_losses": prior[-20:], "previous_steps": len(prior)}
        if seen is not None:
            evidence.update(seen.evidence())
        return Finding.said(self.code, "warning", message, recommendation, evidence, step=step, source="guard")


class GradNormDetector:
    """GRAD_NORM_HIGH (warning): a step's gradient norm (before clipping) > `max_norm`. No
    window: a threshold on each optimizer step, so every step is looked at whatever the
    logging cadence (the Trainer logs only the last step's norm of each window).

    The run's first episode, inside the warmup (`warmup_steps`, ceil(train.warmup_ratio x the
    planned steps), set at train begin) at a loss not above the first step's (the model not
    made worse than untrained), is an info finding: the first steps of a fresh adapter take
    large gradients while the learning rate is still near 0, which is what the warmup is for,
    and a lower rate is not what `tuneguard next` proposes for such a run (the diagnosis notes
    it, `grad_norm_warmup`). A second episode, one after the warmup, or one whose loss is above
    the first step's warns as before."""

    code = "GRAD_NORM_HIGH"

    def __init__(self, max_norm: float, learning_rate: RunLR | float | None = None, warmup_steps: int = 0) -> None:
        self.max_norm = max_norm
        self.learning_rate = learning_rate  # the run's (RunLR: kept current by the GuardCallback), named in the advice
        self.warmup_steps = warmup_steps
        self.episodes = 0  # episodes found so far in this timeline
        self.episode = Episode()

    def update(self, step: int, grad_norm: float | None, loss: float | None = None,
               initial: float | None = None) -> Finding | None:
        """One step's norm; `initial`: the first step's loss (the advice's learning rate, lr_advice)."""
        if not is_finite(grad_norm):  # non-finite norms belong to NON_FINITE
            return None
        if not self.episode.update(grad_norm > self.max_norm):
            return None
        self.episodes += 1
        evidence = {"step": step, "grad_norm": grad_norm, "grad_norm_max": self.max_norm, "loss": loss}
        if (self.episodes == 1 and 0 < step <= self.warmup_steps and loss is not None and is_finite(loss)
                and initial is not None and loss <= initial):
            evidence.update(warmup_steps=self.warmup_steps, initial_loss=initial, in_warmup=True)
            message = T("GRAD_NORM_HIGH.warmup", norm=grad_norm, step=step, limit=self.max_norm,
                        warmup=self.warmup_steps, loss=loss, initial=initial)
            return Finding.said(self.code, "info", message, T("GRAD_NORM_HIGH.warmup.rec"), evidence, step=step,
                                source="guard")
        message = T("GRAD_NORM_HIGH.found", norm=grad_norm, step=step, limit=self.max_norm)
        recommendation = lr_advice(self.code, self.learning_rate, loss, initial)
        return Finding.said(self.code, "warning", message, recommendation, evidence, step=step, source="guard")


@dataclasses.dataclass
class HeldSpike:
    """A LOSS_SPIKE waiting to show whether it recovers: the finding, its step, its loss, and
    the level the loss must come back to (the recent steps' usual high, `running_high`)."""

    finding: Finding
    step: int
    loss: float
    level: float


class SpikeJudge:
    """What a LOSS_SPIKE means: an isolated spike that recovers on its own, or one to act on.

    Experienced engineers ignore a single spike that comes back on its own within a few steps
    (a hard batch, a rare row) and act on spikes that do not recover, that repeat or that grow
    (research: loss-collapse.md; PaLM and OPT restarted only for spikes that persisted or came
    back). A long healthy run draws such a batch now and then: a 100,000-step GPT-J-like run
    (bench/long_run.py) had single steps at 2.1x its running median that were back at the next
    step, and each one rolled the run back and failed its verdict.

    The detector (LossSpikeDetector) still finds every spike at its step. This judge then:

    - passes it on at once (a warning, as it always was) when the step's update is not known to
      be ordinary: its gradient norm is unknown, non-finite, above `grad_norm_max`, or more than
      `grad_ratio` (3) x the median norm of the last 32 steps (a garbage batch pushed the
      weights: the planted batches of the policy tests had norms 4-10x their neighbours', LR
      10x too high above grad_norm_max; the long run's hard batches 1.6-2.2x), when the loss is above
      `factor` x the first step's loss (what the data cost before any training: garbled rows),
      when another spike came within `repeat_examples` examples before it (spikes that repeat),
      or when `recovery_steps` is 0;
    - else holds it for up to `recovery_steps` steps: a step whose loss is back at or below the
      recent steps' usual high (`running_high`, the level it left) makes it an info finding at
      the spike's step, recovered (a fact, never an action, never a failed verdict); a step whose
      loss climbs above the spike's, or whose gradient norm is high or non-finite, and the end
      of the wait without recovery make it the warning. Either is judged at that step and names
      the spike's step (`at_step`): a rollback goes back before it, and a resume from a
      checkpoint between the two drops it with the steps after the checkpoint and judges again.
    """

    def __init__(self, recovery_steps: int, repeat_examples: int, grad_norm_max: float, factor: float,
                 grad_ratio: float = 3.0) -> None:
        self.recovery_steps = recovery_steps
        self.repeat_examples = repeat_examples
        self.grad_norm_max = grad_norm_max
        self.factor = factor
        self.grad_ratio = grad_ratio
        self.held: HeldSpike | None = None
        self.last_spike: int | None = None  # examples seen at the previous spike
        self.grads: deque[float] = deque(maxlen=GRAD_WINDOW_STEPS)  # recent finite gradient norms
        self._typical: float | None = None  # their median before the current step

    def _bad_update(self, grad_norm: float | None) -> bool:
        """The step's update is not an ordinary one: its gradient norm is unknown, non-finite,
        above grad_norm_max, or `grad_ratio` x the median of the recent steps' norms."""
        if grad_norm is None or not math.isfinite(grad_norm) or grad_norm > self.grad_norm_max:
            return True
        return self._typical is not None and grad_norm > self.grad_ratio * self._typical

    def _note_grad(self, grad_norm: float | None) -> None:
        self._typical = statistics.median(self.grads) if len(self.grads) >= MIN_PRIOR_POINTS else None
        if grad_norm is not None and math.isfinite(grad_norm):
            self.grads.append(grad_norm)

    def _acts_at_once(self, f: Finding, grad_norm: float | None, examples: int) -> str | None:
        """Why this new spike is acted on at once (None: it may wait to recover)."""
        ev = f.evidence if isinstance(f.evidence, dict) else {}
        initial = ev.get("initial_loss")
        if self.recovery_steps <= 0:
            return "no_wait"
        if self._bad_update(grad_norm):
            return "grad_norm"
        if initial is not None and ev.get("loss", 0.0) > self.factor * initial:
            return "above_initial"
        if self.last_spike is not None and examples - self.last_spike < self.repeat_examples:
            return "repeat"
        return None

    def update(self, step: int, loss: float | None, grad_norm: float | None, examples: int,
               found: Finding | None) -> Finding | None:
        """One step after the detector judged it (`found`: the detector's new spike, if any).
        Returns the finding to record now, if any."""
        self._note_grad(grad_norm)
        if found is not None:
            ev = found.evidence if isinstance(found.evidence, dict) else {}
            why = "repeat" if self.held is not None else self._acts_at_once(found, grad_norm, examples)
            self.last_spike = examples
            if why is not None:
                if self.held is not None:  # the loss came back up before it recovered: one episode since then
                    ev["at_step"] = self.held.step
                self.held = None
                ev["spike_acted"] = why
                return found
            self.held = HeldSpike(found, step, float(ev.get("loss", loss or 0.0)),
                                  float(ev.get("running_high", ev.get("running_median", 0.0))))
            return None
        held = self.held
        if held is None or step <= held.step:
            return None
        if loss is not None and math.isfinite(loss) and 0 < loss <= held.level:
            self.held = None
            return self._recovered(held, step, loss)
        grew = loss is not None and math.isfinite(loss) and loss > held.loss
        if grew or (grad_norm is not None and self._bad_update(grad_norm)) or step - held.step >= self.recovery_steps:
            self.held = None
            return self._unrecovered(held, step, "grew" if grew else "not_recovered")
        return None

    def take_held(self) -> Finding | None:
        """The spike still waiting when the run ends: it never came back (a warning)."""
        held, self.held = self.held, None
        return None if held is None else self._unrecovered(held, held.step, "run_ended")

    def _recovered(self, held: HeldSpike, step: int, loss: float) -> Finding:
        f = held.finding
        ev = dict(f.evidence) if isinstance(f.evidence, dict) else {}
        ev.update(spike_recovered_at=step, spike_recovered_loss=loss, spike_recovery_steps=self.recovery_steps,
                  at_step=held.step)
        return Finding.said(f.code, "info", T("LOSS_SPIKE.recovered", found=_said(f, "message"), back=step,
                                              loss=loss, level=held.level, n=step - held.step),
                            T("LOSS_SPIKE.recovered.rec"), ev, step=step, source=f.source)

    def _unrecovered(self, held: HeldSpike, step: int, why: str) -> Finding:
        f = held.finding
        ev = dict(f.evidence) if isinstance(f.evidence, dict) else {}
        ev.update(spike_acted=why, spike_recovery_steps=self.recovery_steps, at_step=held.step)
        return Finding.said(f.code, f.severity, T(f"LOSS_SPIKE.{why}", found=_said(f, "message"), step=step,
                                                  level=held.level, n=step - held.step),
                            _said(f, "recommendation"), ev, step=step, source=f.source)


def _said(f: Finding, field: str) -> Any:
    """A finding's message or recommendation as its catalog spec (its English text without one)."""
    spec = (f.text or {}).get(field)
    return spec if spec is not None else getattr(f, field)
