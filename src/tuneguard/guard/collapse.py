"""LOSS_COLLAPSE: the training loss falls toward zero before the end of epoch 1.

Why this is not overfitting: the Trainer scores each batch before it trains on it, and in
epoch 1 every row is seen at most once (unless the data holds duplicates), so the epoch-1
training loss is a loss on unseen rows. A near-zero loss there means the supervised tokens
are predictable from the data itself: duplicated or templated rows, validation rows leaked
from training, padding or prompt tokens in the labels, pad == eos masking, answers already
in the prompt. The finding says so and links the data-audit findings of the same run.
"""

from __future__ import annotations

import logging
import math
from typing import Iterable

from tuneguard.findings import Finding
from tuneguard.guard.episode import Episode, is_finite

log = logging.getLogger(__name__)

# Audit codes that explain a collapse, with the words used to link them.
RELATED_AUDIT_CODES: dict[str, str] = {
    "DUPLICATE_EXACT": "exact duplicates",
    "DUPLICATE_NEAR": "near-duplicates",
    "LOW_DIVERSITY": "low-diversity (templated) rows",
    "TRAIN_VAL_LEAKAGE": "validation rows leaked from training",
    "PAD_IS_EOS": "pad == eos (EOS masked out of the labels)",
    "PAD_IN_LABELS": "padding in the labels",
    "PROMPT_NOT_MASKED": "prompt tokens in the labels",
    "EMPTY_LABELS": "rows without supervised tokens",
    "ANSWER_IN_PROMPT": "answers contained in their prompts",
}

SUSPECTED_CAUSES = (
    "exact or near-duplicate rows (deduplicate before sampling)",
    "templated, low-diversity responses",
    "validation rows leaked from training",
    "pad == eos with a collator that masks padding (EOS never learned) or padding counted in the labels",
    "prompt tokens not masked out of the labels",
    "answers contained in the prompt",
)


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


def audit_links(audit_findings: Iterable[Finding]) -> tuple[list[str], list[str]]:
    """Codes of the related audit findings and one phrase per code, e.g.
    "the audit found 38% exact duplicates: see DUPLICATE_EXACT"."""
    codes: list[str] = []
    phrases: list[str] = []
    for f in audit_findings:
        if f.code not in RELATED_AUDIT_CODES or f.code in codes:
            continue
        codes.append(f.code)
        share = _share(f.evidence or {})
        what = RELATED_AUDIT_CODES[f.code]
        phrases.append(f"the audit found {f'{share:.0%} ' if share is not None else ''}{what}: see {f.code}")
    return codes, phrases


class LossCollapseDetector:
    """Feed every logged training loss; returns a LOSS_COLLAPSE finding when the loss falls
    below `floor` or below `ratio` x the first logged loss while epoch < 1.

    Exactly 0.0 and non-finite losses are left to NON_FINITE (they point at NaN or fully
    masked batches, not at a predictable dataset).
    """

    code = "LOSS_COLLAPSE"

    def __init__(self, floor: float, ratio: float, audit_findings: Iterable[Finding] = (),
                 steps_per_epoch: int = 0) -> None:
        self.floor = floor
        self.ratio = ratio
        self.audit_findings = list(audit_findings)
        self.steps_per_epoch = steps_per_epoch
        self.initial: float | None = None
        self.initial_step: int | None = None
        self.episode = Episode()

    def update(self, step: int, epoch: float | None, loss: float | None) -> Finding | None:
        if not is_finite(loss) or loss <= 0.0:
            return None
        if self.initial is None:
            # The floor applies from the first logged loss on: an untrained model that already
            # predicts the labels almost perfectly says the same about the data.
            self.initial, self.initial_step = loss, step
        if epoch is None and self.steps_per_epoch > 0:
            epoch = step / self.steps_per_epoch
        in_epoch1 = epoch is not None and epoch < 1.0
        below_floor = loss < self.floor
        below_ratio = loss < self.ratio * self.initial
        if not self.episode.update(in_epoch1 and (below_floor or below_ratio)):
            return None
        return self._finding(step, epoch, loss, self.initial, below_floor, below_ratio)

    def _finding(self, step: int, epoch: float, loss: float, initial: float, below_floor: bool,
                 below_ratio: bool) -> Finding:
        codes, links = audit_links(self.audit_findings)
        rule = " and ".join(
            ([f"below the floor {self.floor:g}"] if below_floor else [])
            + ([f"below {self.ratio:.0%} of the initial loss"] if below_ratio else []))
        change = (f"fell from {initial:.4g} to {loss:.4g}" if step != self.initial_step
                  else f"is already {loss:.4g} at the first logged step")
        message = (f"Training loss {change} ({rule}) at step {step}, only "
                   f"{epoch:.1%} into epoch 1: unless rows repeat, each row has been seen at most once so far, so a "
                   f"loss this low on rows the model has not trained on means the data or labels are predictable "
                   f"(duplicates, templates, leakage, masking faults), not ordinary overfitting.")
        audit = ("; ".join(links) + ". ") if links else \
            "Run `tuneguard audit CONFIG`: it checks each of these. "
        recommendation = (f"Fix the data, not the learning rate (a lower one only slows the collapse). {audit}"
                          f"Suspected causes: {'; '.join(SUSPECTED_CAUSES)}.")
        evidence = {
            "initial_loss": initial,
            "initial_step": self.initial_step,
            "loss": loss,
            "perplexity": math.exp(loss),
            "step": step,
            "epoch": epoch,
            "epoch1_share": epoch,
            "collapse_floor": self.floor,
            "collapse_ratio": self.ratio,
            "loss_ratio": loss / initial,
            "audit_findings": codes,
        }
        return Finding(code=self.code, severity="error", message=message, evidence=evidence,
                       recommendation=recommendation, step=step, source="guard")
