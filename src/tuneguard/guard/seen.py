"""What the model has seen: the unit every guard's windows and thresholds are counted in.

An optimizer step is not a unit of training: it holds batch_size x accumulation x processes
examples, so the same step number means twice as much training on two processes, and an
epoch boundary moves with each of those settings. A logging window is not one either: it is
as many steps as `train.logging_steps` says. What stays the same whatever the split is what
the model has been shown:

- examples seen: examples per optimizer step (batch_size x gradient_accumulation_steps x
  processes; token_budget batching keeps batch_size examples per batch, see
  tuneguard.data.batching) times the steps, each epoch counting at most its rows (the last
  step of an epoch may be short). Known on every rank from the plan alone: no collective.
- passes: examples seen / training rows (the Trainer's epoch, counted in examples).
- exposures: examples seen / distinct rows, where distinct rows are the training rows with
  the audit's exact and near duplicate groups each counted once: how many times the average
  distinct row has been seen. Without duplicates, exposures = passes; three texts repeated
  900 times each have 3 distinct rows, so after 100 examples each has been seen 33 times.
- tokens seen: supervised tokens (the ones the loss is averaged over), counted by the
  collator (tuneguard.train.metrics.CountingCollator) as batches reach the model.

Pure: numbers in, numbers out.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tuneguard.catalog import T, render
from tuneguard.fmt import times as _num


@dataclasses.dataclass(frozen=True)
class Seen:
    """What the model has seen after optimizer step `step`."""

    step: int
    examples: int
    rows: int
    distinct_rows: int
    tokens: int | None = None  # supervised tokens, when counted

    @property
    def passes(self) -> float:
        return self.examples / self.rows if self.rows else 0.0

    @property
    def exposures(self) -> float:
        return self.examples / self.distinct_rows if self.distinct_rows else 0.0

    @property
    def repeats(self) -> float:
        """Rows per distinct row (1.0: no duplicates)."""
        return self.rows / self.distinct_rows if self.distinct_rows else 1.0

    def evidence(self) -> dict[str, Any]:
        """The units a finding's evidence states (the report and notifications read them)."""
        return {"examples_seen": self.examples, "tokens_seen": self.tokens, "passes": round(self.passes, 4),
                "exposures": round(self.exposures, 4), "rows": self.rows, "distinct_rows": self.distinct_rows}

    def describe(self) -> str:
        """"after 1,240 examples (0.41 passes over the 3,000 rows)", and with duplicates
        "... over the 2,700 rows, which hold 3 distinct rows: each seen 373 times on average)"."""
        return render(self.spec())

    def spec(self) -> dict[str, Any]:
        """`describe` as a catalog spec (tuneguard.catalog), for a finding's text in any language."""
        if self.distinct_rows < self.rows:
            if self.distinct_rows == 1:
                return T("seen.after_one", examples=self.examples, passes=_num(self.passes), rows=self.rows,
                         exposures=_num(self.exposures))
            return T("seen.after_repeats", examples=self.examples, passes=_num(self.passes), rows=self.rows,
                     distinct=self.distinct_rows, exposures=_num(self.exposures))
        return T("seen.after", examples=self.examples, passes=_num(self.passes), rows=self.rows)


@dataclasses.dataclass(frozen=True)
class SeenPlan:
    """Examples seen per optimizer step, known before training starts on every rank.

    `steps_per_epoch` is the Trainer's (the training dataloader's length per process divided
    by the accumulation, rounded up); `examples_per_step` is batch_size x accumulation x
    processes. A step of a new epoch starts counting that epoch's rows from zero, so the short
    last step of an epoch counts only what it holds.
    """

    rows: int
    examples_per_step: int
    steps_per_epoch: int
    distinct_rows: int | None = None

    @property
    def distinct(self) -> int:
        return self.distinct_rows if self.distinct_rows else self.rows

    def examples(self, step: int) -> int:
        if step <= 0 or self.rows <= 0:
            return 0
        spe = max(1, self.steps_per_epoch)
        epochs, within = divmod(int(step), spe)
        return epochs * self.rows + min(within * self.examples_per_step, self.rows)

    def at(self, step: int, tokens: int | None = None) -> Seen:
        return Seen(int(step), self.examples(step), self.rows, self.distinct, tokens)

    def steps_for(self, examples: float) -> int:
        """The optimizer steps that hold `examples` examples (at least 1): how a window given
        in examples reads in steps, for the messages."""
        return max(1, math.ceil(examples / max(1, self.examples_per_step)))


def distinct_rows(rows: int, audit_stats: dict[str, Any] | None) -> int:
    """Training rows with the audit's exact and near duplicate groups each counted once.

    The audit may have looked at a sample (audit.max_rows): its distinct share is applied to
    all the rows. Exact copies count once (`duplicates_exact.distinct`); near copies are
    counted over distinct texts (`duplicates_near.extra_rows`: texts in clusters minus
    clusters), so the two do not overlap."""
    stats = audit_stats or {}
    exact = stats.get("duplicates_exact") or {}
    near = stats.get("duplicates_near") or {}
    audited = exact.get("rows")
    if not isinstance(audited, int) or audited <= 0 or rows <= 0:
        return rows
    distinct = int(exact.get("distinct", audited)) - int(near.get("extra_rows", 0) or 0)
    distinct = min(max(1, distinct), audited)
    return max(1, min(rows, round(rows * distinct / audited)))

