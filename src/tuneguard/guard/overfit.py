"""Rules on the evaluation curve: OVERFITTING, EVAL_DIVERGENCE and PLATEAU.

Each detector gets the evaluation loss and the training loss per token since the previous
evaluation (tuneguard.guard.train_loss: one logging window's loss is too noisy to hold against
an evaluation) at every evaluation, numbers the Trainer already has, so they cost nothing on
the device. `basis` (how that average was made: steps, tokens, logs, since which step) goes
into the evidence.

Their unit is the evaluation: an evaluation is itself a point of training that the user chose
(eval.steps), and a trend ("rose at 3 evaluations in a row") is counted in evaluations. What
they compare is independent of the logging cadence and of the batch split: the eval loss, and
the training loss per token over every step since the previous evaluation. The examples
seen at each evaluation are in the evidence (tuneguard.guard.callbacks).
"""

from __future__ import annotations

import logging

from tuneguard.catalog import J, Spec, T
from tuneguard.findings import Finding
from tuneguard.guard.episode import Episode, is_finite

log = logging.getLogger(__name__)


class OverfittingDetector:
    """OVERFITTING: eval loss rose at `rising_evals` consecutive evaluations while the training
    loss fell over the same evaluations, or eval loss - training loss > `gap`.

    "Rose at k evaluations in a row" means k rises, so k + 1 evaluations; "training loss fell"
    compares the latest training loss at the first and the last of those evaluations (the
    logged training loss is noisy, a step-by-step fall would almost never hold).

    A gap while the eval loss still falls (below every earlier evaluation, or at the first one
    below the run's first training loss, `initial`) is not memorising: on a run of a few dozen
    steps the training loss falls faster than the eval loss long before the eval loss turns,
    and overfitting shows as the eval loss bottoming out and then rising while the gap widens
    (alpaca-lora #381: validation bottomed at epoch 5 of 10). Such a gap is said once, at info (no phone message, no policy action), in
    words that claim no memorising; when the eval loss then stops falling while the gap holds,
    the warning that the model memorises follows, once per gap. The eval loss then rising at
    `rising_evals` evaluations in a row inside that gap is said too (once per episode, trigger
    `rising`): it is the evidence a policy halts on (docs/POLICIES.md), and a gap already open
    must not hide it.

    No gap is judged in the first pass (`first_pass`: the average distinct training row seen at
    most once): the Trainer scores each batch before it trains on it, so the training loss is
    then a loss on rows new to the model, and a gap between it and the eval loss is two sets of
    rows differing, not memorising (EVAL_DIVERGENCE speaks for a validation set unlike the
    training rows). SmolLM2-135M defining WordNet words, 4 rows a step over 800 rows with a
    validation file of its own: eval loss 4.439 against 3.883 since step 0 at step 6, 24 rows
    seen once each, was said as "the model is memorising the training rows". The eval loss
    rising while the training loss falls (`rising`) is still judged.

    Nothing is said while the eval loss and the training loss are both above the run's first
    training loss (`initial`): a model worse than untrained is not memorising (a learning rate 75x too high
    took the tiny preset's eval loss to 28 against a first loss of 6.5, and "the model is
    memorising the training rows" was said of it in the first pass).
    """

    code = "OVERFITTING"

    def __init__(self, rising_evals: int, gap: float) -> None:
        self.rising_evals = rising_evals
        self.gap = gap
        self.history: list[tuple[int, float, float | None]] = []  # (step, eval_loss, train_loss)
        self.episode = Episode()
        self.memorising = False  # the open episode's warning is said
        self.rising_said = False  # the open episode's warning named the eval loss rising

    def _before(self, initial: float | None) -> tuple[float, Spec] | None:
        """The loss the eval loss must be below to still be falling, with its words: the best
        earlier evaluation, else the run's first training loss; None when neither is known."""
        if self.history:
            best_step, best, _ = min(self.history, key=lambda h: h[1])
            return best, T("OVERFITTING.from_eval", loss=best, step=best_step)
        if is_finite(initial):
            return float(initial), T("OVERFITTING.from_initial", loss=initial)  # type: ignore[arg-type]
        return None

    def update(self, step: int, eval_loss: float | None, train_loss: float | None,
               basis: dict | None = None, initial: float | None = None, first_pass: bool = False) -> Finding | None:
        if not is_finite(eval_loss):
            return None
        train = train_loss if is_finite(train_loss) else None
        before = self._before(initial)
        self.history.append((step, eval_loss, train))
        window = self.history[-(self.rising_evals + 1):]
        # The eval loss and the training loss both above the run's first training loss, what the
        # data cost the untrained model: the model is worse than untrained on every row (a learning
        # rate far too high), not memorising; LOSS_SPIKE, GRAD_NORM_HIGH and NON_FINITE speak for
        # that. Both, because one easy first batch can put the first loss below an ordinary eval loss.
        untrained = (is_finite(initial) and eval_loss > initial  # type: ignore[operator]
                     and train is not None and train > initial)  # type: ignore[operator]
        rising = (not untrained and len(window) == self.rising_evals + 1
                  and all(b[1] > a[1] for a, b in zip(window, window[1:], strict=False))
                  and window[0][2] is not None and window[-1][2] is not None
                  and window[-1][2] < window[0][2])
        gap = not untrained and not first_pass and train is not None and eval_loss - train > self.gap
        started = self.episode.update(rising or gap)
        if started:
            self.memorising = self.rising_said = False
        if not (rising or gap):
            return None
        falling = before if not rising and before is not None and eval_loss < before[0] else None
        # Said already: the gap while the eval loss falls, or the warning. The eval loss rising
        # inside an open gap episode is news (the `rising` trigger a policy halts on): said once.
        newly_rising = rising and not self.rising_said
        if not started and not newly_rising and (falling is not None or self.memorising):
            return None
        self.memorising = falling is None
        self.rising_said = self.rising_said or rising
        return self._finding(step, eval_loss, train, window, rising, gap, falling, basis)

    def _finding(self, step: int, eval_loss: float, train: float | None, window: list[tuple[int, float, float | None]],
                 rising: bool, gap: bool, falling: tuple[float, Spec] | None, basis: dict | None) -> Finding:
        triggers = (["rising"] if rising else []) + (["gap"] if gap else [])
        parts = []
        if rising:
            parts.append(T("OVERFITTING.rising", n=self.rising_evals, first=window[0][1], first_step=window[0][0],
                           eval_loss=eval_loss, step=step, train_first=window[0][2], train_last=window[-1][2]))
        if gap:
            assert train is not None  # a gap needs the training loss
            parts.append(T("OVERFITTING.gap", eval_loss=eval_loss, train=train, gap=eval_loss - train, limit=self.gap))
        best_step, best_eval, _ = min(self.history, key=lambda h: h[1])
        evidence = {
            "step": step, "eval_loss": eval_loss, "train_loss": train,
            "gap": None if train is None else eval_loss - train, "overfit_gap": self.gap,
            "overfit_evals": self.rising_evals, "triggers": triggers,
            "evaluations": [{"step": s, "eval_loss": e, "train_loss": t} for s, e, t in window],
            "best_eval_step": best_step, "best_eval_loss": best_eval, "eval_falling": falling is not None,
            **(basis or {}),
        }
        if falling is not None:
            message = T("OVERFITTING.widening", step=step, parts=J("join.and", parts), since=falling[1],
                        eval_loss=eval_loss)
            return Finding.said(self.code, "info", message, T("OVERFITTING.widening.rec"), evidence, step=step,
                                source="guard")
        message = T("OVERFITTING.found", step=step, parts=J("join.and", parts))
        recommendation = T("OVERFITTING.found.rec", best=best_eval, best_step=best_step,
                           memorise=T("OVERFITTING.memorise"))
        return Finding.said(self.code, "warning", message, recommendation, evidence, step=step, source="guard")


class EvalDivergenceDetector:
    """EVAL_DIVERGENCE (warning): eval loss > `ratio` x the training loss since the previous
    evaluation, and above it by more than `min_gap`: near zero a ratio alone fires on noise
    (0.32 against 0.13 is 2.5x, yet a small eval set and a few batches differ that much).

    Not judged when `held_out`: the training loss is then itself a loss on unseen rows of the
    validation rows' distribution (the first pass, whose batches the Trainer scores before it
    trains on them, with the validation rows split at random from the same file), so a gap is
    two samples of one skewed per-row loss differing, not the model doing better on rows it
    trained on. SmolLM2-135M on docstring extraction (replayed in tests/guard/test_first_pass_gap.py):
    0.445 on 24 eval rows against 0.137 over the 20 training rows since the previous evaluation
    (3.2x, 0.31 apart) at step 20 of a run whose eval loss fell at every evaluation (0.556, 0.487,
    0.449, 0.445) and whose held-out answers were all right. A fault that makes training rows
    predictable in the first pass is LOSS_COLLAPSE's to judge, with the audit.

    Against a validation file of its own in the first pass (`first_pass`), the gap must hold at
    two evaluations in a row: the training loss since the previous evaluation is then an
    average over a few dozen new rows, and early in an ordinary run one such window of easy rows
    sits 3x below the eval loss by chance (the docstring run above, against its own file: 0.445
    against 0.137 at step 20, 1.3x at step 15, while the eval loss fell at every evaluation). Two
    windows of different rows both far below the eval loss are a validation set unlike the
    training rows, the news the finding is for; a gap at one evaluation is not said.
    """

    code = "EVAL_DIVERGENCE"

    def __init__(self, ratio: float, min_gap: float = 0.0) -> None:
        self.ratio = ratio
        self.min_gap = min_gap
        self.episode = Episode()
        self.previous: tuple[int, float, float] | None = None  # (step, eval, train) of the last evaluation over the limits

    def update(self, step: int, eval_loss: float | None, train_loss: float | None,
               basis: dict | None = None, held_out: bool = False, first_pass: bool = False) -> Finding | None:
        """`first_pass`: no training row seen twice yet (against a validation file of its own):
        the gap is news only when it held at the previous evaluation too, and it is not
        memorising: the advice says so instead of regularising."""
        ok = is_finite(eval_loss) and is_finite(train_loss) and train_loss > 0 and not held_out
        over_limits = ok and eval_loss > self.ratio * train_loss and eval_loss - train_loss > self.min_gap
        previous, self.previous = self.previous, (step, eval_loss, train_loss) if over_limits else None
        if not self.episode.update(over_limits and (previous is not None or not first_pass)):
            return None
        r = eval_loss / train_loss
        over: Spec | str = ""
        if basis:
            per = T("EVAL_DIVERGENCE.per_token" if basis.get("since_eval_weighting") == "tokens"
                    else "EVAL_DIVERGENCE.average")
            over = T("EVAL_DIVERGENCE.over", per=per, steps=basis["train_steps_since_eval"], since=basis["since_step"])
        message = T("EVAL_DIVERGENCE.found", eval_loss=eval_loss, ratio=r, train=train_loss, over=over, step=step,
                    limit=self.ratio)
        if first_pass and previous is not None:
            message = T("EVAL_DIVERGENCE.held", found=message, step=previous[0], eval_loss=previous[1],
                        train=previous[2])
        recommendation = (T("EVAL_DIVERGENCE.first_pass.rec") if first_pass
                          else T("EVAL_DIVERGENCE.found.rec", memorise=T("OVERFITTING.memorise")))
        evidence = {"step": step, "eval_loss": eval_loss, "train_loss": train_loss, "ratio": r,
                    "divergence_ratio": self.ratio, "divergence_min_gap": self.min_gap, **(basis or {})}
        if first_pass:
            evidence["first_pass"] = True
        return Finding.said(self.code, "warning", message, recommendation, evidence, step=step, source="guard")


class PlateauDetector:
    """PLATEAU: eval loss moved less than `rel_change` (relative to the first of the window)
    over the last `evals` evaluations, and over at least `min_share` of the planned steps.

    Severity warning when this happens in the first half of the planned steps and the eval loss
    has not fallen clearly below the run's first training loss (`initial`): learning stalled
    (too low a learning rate, frozen parameters, masked labels). Info later, or once the loss has
    fallen by `LEARNED_FALL` of its start: the model has learned and the curve is flat for now
    (long runs go through plateaus), or it has converged; further steps buy little.

    Why the window also spans a share of the run: with an evaluation every 500 steps of a
    100,000-step run, three evaluations are 1.5% of it, and a healthy loss falling 0.3% per
    thousand steps moved less than 0.1% between them (a warning at step 9,000 of a healthy run).
    """

    code = "PLATEAU"
    LEARNED_FALL = 0.1  # eval loss this share below the first training loss: the model has learned

    def __init__(self, evals: int, rel_change: float, min_share: float = 0.0) -> None:
        self.evals = evals
        self.rel_change = rel_change
        self.min_share = min_share
        self.history: list[tuple[int, float]] = []
        self.episode = Episode()

    def _window(self, step: int, max_steps: int | None) -> list[tuple[int, float]] | None:
        """The evaluations judged: the last `evals`, reaching back `min_share` of the planned steps
        (None until the history reaches that far)."""
        span = self.min_share * max_steps if max_steps else 0.0
        start = max(0, len(self.history) - self.evals)
        while start > 0 and self.history[start][0] > step - span:
            start -= 1
        window = self.history[start:]
        return window if len(window) >= self.evals and window[0][0] <= step - span else None

    def update(self, step: int, eval_loss: float | None, max_steps: int | None = None,
               initial: float | None = None) -> Finding | None:
        if not is_finite(eval_loss):
            return None
        self.history.append((step, eval_loss))
        window = self._window(step, max_steps)
        values = [e for _, e in window or self.history[-self.evals:]]
        first = values[0]
        rel = (max(values) - min(values)) / abs(first) if first != 0 else None
        if not self.episode.update(window is not None and rel is not None and rel < self.rel_change):
            return None
        assert window is not None  # the episode opened on a full window
        learned = is_finite(initial) and initial > 0 and max(values) < (1 - self.LEARNED_FALL) * initial
        early = bool(max_steps) and step < 0.5 * max_steps and not learned
        message = T("PLATEAU.found", rel=rel, n=len(window), first_step=window[0][0], step=step, low=min(values),
                    high=max(values))
        recommendation = (T("PLATEAU.early.rec") if early else
                          T("PLATEAU.learned.rec", initial=initial, fall=1 - max(values) / initial) if learned
                          else T("PLATEAU.late.rec"))
        evidence = {"step": step, "eval_loss": eval_loss, "rel_change": rel, "plateau_rel_change": self.rel_change,
                    "plateau_evals": self.evals, "plateau_min_share": self.min_share,
                    "evaluations": [{"step": s, "eval_loss": e} for s, e in window],
                    "max_steps": max_steps, "initial_loss": initial}
        return Finding.said(self.code, "warning" if early else "info", message, recommendation, evidence, step=step,
                            source="guard")
