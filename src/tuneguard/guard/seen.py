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

A run resumed on another number of processes (or, for runs that allow it, another batch or
accumulation) takes a different number of examples per step from the resumed step on: the
steps before it keep the layout they ran with. `SeenHistory` holds each layout with the step
it started after, and is saved in every checkpoint (SEEN_FILE), so the mapping from a step to
the examples seen stays exact across any number of resumes and rollbacks.

Pure: numbers in, numbers out (reading and writing SEEN_FILE aside).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from tuneguard.catalog import T, render
from tuneguard.fmt import times as _num

log = logging.getLogger(__name__)

# In each checkpoint folder: the layouts the run had taken up to that checkpoint's step.
SEEN_FILE = "tuneguard_seen.json"


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


def plan_from_trainer(args: Any, train_dataloader: Any, distinct_rows: int | None) -> SeenPlan | None:
    """Examples per optimizer step and per epoch, as this Trainer will run them: the training
    rows, batch_size x accumulation x processes, and the steps per epoch (the dataloader's
    length per process over the accumulation, rounded up, as the Trainer computes it)."""
    try:
        rows = len(train_dataloader.dataset)
        batches = len(train_dataloader)
    except (AttributeError, TypeError):
        return None
    accum = max(1, int(getattr(args, "gradient_accumulation_steps", 1) or 1))
    world = max(1, int(getattr(args, "world_size", 1) or 1))
    per_step = int(args.per_device_train_batch_size) * accum * world
    return SeenPlan(rows=rows, examples_per_step=per_step, steps_per_epoch=max(1, math.ceil(batches / accum)),
                    distinct_rows=distinct_rows)


@dataclasses.dataclass(frozen=True)
class SeenHistory:
    """Examples seen per optimizer step over every layout a run has trained with.

    `segments`: (start, plan) pairs, oldest first, the first starting at 0: steps start+1 up
    to the next segment's start ran with `plan`. Each segment counts what its own Trainer fed:
    a Trainer resumed at step `start` places itself in its epochs by its own steps per epoch,
    so segment steps add `plan.examples(step) - plan.examples(start)`. The rows and distinct
    rows of the newest plan are the ones passes and exposures are counted over. Answers what
    SeenPlan answers, so the guards take either."""

    segments: tuple[tuple[int, SeenPlan], ...]

    @classmethod
    def of(cls, plan: SeenPlan) -> SeenHistory:
        return cls(((0, plan),))

    @property
    def current(self) -> SeenPlan:
        return self.segments[-1][1]

    @property
    def rows(self) -> int:
        return self.current.rows

    @property
    def distinct(self) -> int:
        return self.current.distinct

    @property
    def examples_per_step(self) -> int:
        return self.current.examples_per_step

    def resumed(self, step: int, plan: SeenPlan) -> SeenHistory:
        """This history up to `step`, then `plan` (a resume or rollback to `step`). The same
        layout as the one running at `step` continues that segment."""
        kept = [(s, p) for s, p in self.segments if s < step] or [(0, plan)]
        if _same_layout(kept[-1][1], plan):
            kept[-1] = (kept[-1][0], plan)
        else:
            kept.append((int(step), plan))
        return SeenHistory(tuple(kept))

    def examples(self, step: int) -> int:
        total = 0
        for i, (start, plan) in enumerate(self.segments):
            if step <= start:
                break
            end = self.segments[i + 1][0] if i + 1 < len(self.segments) else step
            upto = min(int(step), end)
            total += plan.examples(upto) - plan.examples(start)
        return total

    def at(self, step: int, tokens: int | None = None) -> Seen:
        return Seen(int(step), self.examples(step), self.rows, self.distinct, tokens)

    def steps_for(self, examples: float) -> int:
        return self.current.steps_for(examples)

    def to_json(self) -> dict[str, Any]:
        return {"segments": [{"from_step": s, "rows": p.rows, "examples_per_step": p.examples_per_step,
                              "steps_per_epoch": p.steps_per_epoch, "distinct_rows": p.distinct_rows}
                             for s, p in self.segments]}

    @classmethod
    def from_json(cls, data: Any) -> SeenHistory | None:
        """None when `data` is not a history this module wrote."""
        try:
            segments = tuple((int(d["from_step"]), SeenPlan(int(d["rows"]), int(d["examples_per_step"]),
                                                            int(d["steps_per_epoch"]),
                                                            int(d["distinct_rows"]) if d.get("distinct_rows") else None))
                             for d in data["segments"])
        except (KeyError, TypeError, ValueError):
            return None
        if not segments or segments[0][0] != 0 or any(a[0] >= b[0] for a, b in zip(segments, segments[1:], strict=False)):
            return None
        return cls(segments)

    def save(self, checkpoint: Path) -> None:
        """Into `checkpoint`/SEEN_FILE, atomically (a kill leaves the old file or none)."""
        tmp = checkpoint / (SEEN_FILE + ".tmp")
        tmp.write_text(json.dumps(self.to_json()), "utf-8")
        os.replace(tmp, checkpoint / SEEN_FILE)

    @classmethod
    def load(cls, checkpoint: Path) -> SeenHistory | None:
        """The history saved in `checkpoint` (None: none, e.g. a checkpoint from before it was saved)."""
        try:
            return cls.from_json(json.loads((checkpoint / SEEN_FILE).read_text("utf-8")))
        except (OSError, ValueError):
            return None


def _same_layout(a: SeenPlan, b: SeenPlan) -> bool:
    return (a.rows, a.examples_per_step, a.steps_per_epoch) == (b.rows, b.examples_per_step, b.steps_per_epoch)


def history_at_start(output_dir: str | Path, step: int, plan: SeenPlan) -> SeenHistory:
    """The history of a Trainer starting at `step` with `plan`: new at step 0, else the resumed
    checkpoint's (output_dir/checkpoint-STEP) continued with `plan`. A checkpoint without one
    (written before histories were saved) counts every earlier step with `plan`, as then."""
    if step <= 0:
        return SeenHistory.of(plan)
    saved = SeenHistory.load(Path(output_dir) / f"checkpoint-{step}")
    if saved is None:
        log.info("checkpoint-%d holds no %s: the examples seen before it are counted with the current layout "
                 "(%d per step)", step, SEEN_FILE, plan.examples_per_step)
        return SeenHistory.of(plan)
    return saved.resumed(step, plan)


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

