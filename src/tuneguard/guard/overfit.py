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

from tuneguard.findings import Finding
from tuneguard.guard.episode import Episode, is_finite

log = logging.getLogger(__name__)

_MEMORISE = ("Keep the best checkpoint (eval.load_best_model_at_end: true) and stop near the best step "
             "(eval.early_stopping_patience); regularise: fewer epochs, a lower train.learning_rate, "
             "lora.dropout 0.05-0.1, train.weight_decay, or more varied data.")


class OverfittingDetector:
    """OVERFITTING (warning): eval loss rose at `rising_evals` consecutive evaluations while
    the training loss fell over the same evaluations, or eval loss - training loss > `gap`.

    "Rose at k evaluations in a row" means k rises, so k + 1 evaluations; "training loss fell"
    compares the latest training loss at the first and the last of those evaluations (the
    logged training loss is noisy, a step-by-step fall would almost never hold).
    """

    code = "OVERFITTING"

    def __init__(self, rising_evals: int, gap: float) -> None:
        self.rising_evals = rising_evals
        self.gap = gap
        self.history: list[tuple[int, float, float | None]] = []  # (step, eval_loss, train_loss)
        self.episode = Episode()

    def update(self, step: int, eval_loss: float | None, train_loss: float | None,
               basis: dict | None = None) -> Finding | None:
        if not is_finite(eval_loss):
            return None
        train = train_loss if is_finite(train_loss) else None
        self.history.append((step, eval_loss, train))
        window = self.history[-(self.rising_evals + 1):]
        rising = (len(window) == self.rising_evals + 1
                  and all(b[1] > a[1] for a, b in zip(window, window[1:], strict=False))
                  and window[0][2] is not None and window[-1][2] is not None
                  and window[-1][2] < window[0][2])
        gap = train is not None and eval_loss - train > self.gap
        if not self.episode.update(rising or gap):
            return None
        triggers = (["rising"] if rising else []) + (["gap"] if gap else [])
        parts = []
        if rising:
            parts.append(f"eval loss rose at {self.rising_evals} evaluations in a row ({window[0][1]:.4g} at step "
                         f"{window[0][0]} to {eval_loss:.4g} at step {step}) while the training loss fell "
                         f"({window[0][2]:.4g} to {window[-1][2]:.4g})")
        if gap:
            parts.append(f"eval loss {eval_loss:.4g} exceeds the training loss {train:.4g} by "
                         f"{eval_loss - train:.3g} (more than {self.gap:g})")
        best_step, best_eval, _ = min(self.history, key=lambda h: h[1])
        message = f"Overfitting at step {step}: {' and '.join(parts)}; the model is memorising the training rows."
        evidence = {
            "step": step, "eval_loss": eval_loss, "train_loss": train,
            "gap": None if train is None else eval_loss - train, "overfit_gap": self.gap,
            "overfit_evals": self.rising_evals, "triggers": triggers,
            "evaluations": [{"step": s, "eval_loss": e, "train_loss": t} for s, e, t in window],
            "best_eval_step": best_step, "best_eval_loss": best_eval, **(basis or {}),
        }
        recommendation = f"The best eval loss so far was {best_eval:.4g} at step {best_step}. {_MEMORISE}"
        return Finding(code=self.code, severity="warning", message=message, evidence=evidence,
                       recommendation=recommendation, step=step, source="guard")


class EvalDivergenceDetector:
    """EVAL_DIVERGENCE (warning): eval loss > `ratio` x the training loss since the previous
    evaluation, and above it by more than `min_gap`: near zero a ratio alone fires on noise
    (0.32 against 0.13 is 2.5x, yet a small eval set and a few batches differ that much)."""

    code = "EVAL_DIVERGENCE"

    def __init__(self, ratio: float, min_gap: float = 0.0) -> None:
        self.ratio = ratio
        self.min_gap = min_gap
        self.episode = Episode()

    def update(self, step: int, eval_loss: float | None, train_loss: float | None,
               basis: dict | None = None) -> Finding | None:
        ok = is_finite(eval_loss) and is_finite(train_loss) and train_loss > 0
        if not self.episode.update(ok and eval_loss > self.ratio * train_loss and eval_loss - train_loss > self.min_gap):
            return None
        r = eval_loss / train_loss
        over = ""
        if basis:
            per = "per token" if basis.get("since_eval_weighting") == "tokens" else "average"
            over = f" ({per} over the {basis['train_steps_since_eval']} steps since step {basis['since_step']})"
        message = (f"Eval loss {eval_loss:.4g} is {r:.2f}x the training loss {train_loss:.4g}{over} at step {step} "
                   f"(limit {self.ratio:g}x): the model does much better on training rows than on validation rows.")
        recommendation = ("Check that the validation rows come from the same source and format as the training rows "
                          "(same prompt template, same label masking). If they do, the model memorises: "
                          f"{_MEMORISE} A training loss far below the eval loss early in epoch 1 points at "
                          "duplicated or templated training rows instead (see LOSS_COLLAPSE and the audit).")
        evidence = {"step": step, "eval_loss": eval_loss, "train_loss": train_loss, "ratio": r,
                    "divergence_ratio": self.ratio, "divergence_min_gap": self.min_gap, **(basis or {})}
        return Finding(code=self.code, severity="warning", message=message, evidence=evidence,
                       recommendation=recommendation, step=step, source="guard")


class PlateauDetector:
    """PLATEAU: eval loss moved less than `rel_change` (relative to the first of the window)
    over the last `evals` evaluations.

    Severity warning when this happens in the first half of the planned steps (learning
    stalled: too low a learning rate, frozen parameters, masked labels), info later (the
    model has converged; further steps buy little).
    """

    code = "PLATEAU"

    def __init__(self, evals: int, rel_change: float) -> None:
        self.evals = evals
        self.rel_change = rel_change
        self.history: list[tuple[int, float]] = []
        self.episode = Episode()

    def update(self, step: int, eval_loss: float | None, max_steps: int | None = None) -> Finding | None:
        if not is_finite(eval_loss):
            return None
        self.history.append((step, eval_loss))
        window = self.history[-self.evals:]
        values = [e for _, e in window]
        first = values[0]
        rel = (max(values) - min(values)) / abs(first) if first != 0 else None
        if not self.episode.update(len(window) == self.evals and rel is not None and rel < self.rel_change):
            return None
        early = bool(max_steps) and step < 0.5 * max_steps
        message = (f"Eval loss has changed by only {rel:.3%} over the last {self.evals} evaluations (steps "
                   f"{window[0][0]}-{step}, {min(values):.4g} to {max(values):.4g}).")
        if early:
            recommendation = ("Learning stalled in the first half of the run: check that the learning rate is not "
                              "too low or already decayed, that the LoRA parameters are trainable and that the "
                              "labels are not all masked; then raise train.learning_rate.")
        else:
            recommendation = ("The model has converged on this data and further steps buy little: stop early "
                              "(eval.early_stopping_patience) to save compute, or add data.")
        evidence = {"step": step, "eval_loss": eval_loss, "rel_change": rel, "plateau_rel_change": self.rel_change,
                    "plateau_evals": self.evals, "evaluations": [{"step": s, "eval_loss": e} for s, e in window],
                    "max_steps": max_steps}
        return Finding(code=self.code, severity="warning" if early else "info", message=message, evidence=evidence,
                       recommendation=recommendation, step=step, source="guard")
