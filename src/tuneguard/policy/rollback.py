"""Rollback: back to a checkpoint, past the offending batches, inside one Trainer.

How a rollback runs (the recipe calls `train_with_policy` instead of `trainer.train`):

1. The policy decides at step k (a guard finding or a `tuneguard rollback` request) and
   asks the Trainer to stop without saving or evaluating (the state at k is the one we
   do not want on disk).
2. `trainer.train()` returns; `prepare_rollback` truncates the run store after the
   checkpoint's step c (one metrics row per step, as after a resume), deletes the
   checkpoints of the abandoned timeline (> c, so a later `--resume auto` can never pick
   one), resets the guards' state (their history is rebuilt from the checkpoint's log),
   and drops the optimizer and scheduler so the Trainer builds fresh ones.
3. `trainer.train(resume_from_checkpoint=checkpoint-c)`: the Trainer's own resume loads the
   adapter weights into the live PEFT model (`load_adapter`, in place), the optimizer,
   the scheduler, the RNG states, and fast-forwards the data loader past c steps.

Skipping batches (what PaLM did around its spikes: restart before the spike and skip the
data batches around it). `SkippingSampler` wraps the index sampler of the training data
loader; for every epoch it cuts the sampler's indices into batches, leaves out the batch
positions listed in `BatchSkips`, and - so that every epoch keeps its length and the
Trainer's step/epoch arithmetic (resume fast-forward, epoch boundaries, max_steps) stays
exact - replays the first clean batches of the epoch at its end in their place. The step
after c therefore sees the batches that followed the skipped ones. Positions refer to the
sampler's original order, which is seeded per epoch, so they hold after any number of
resumes (the skip list is saved with every checkpoint).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneguard.checkpoints import discard_after

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)


# --- which batches to skip ---------------------------------------------------------------

def epoch_order(n_batches: int, drops: set[int], short_last: bool) -> list[int]:
    """The original batch positions an epoch yields, given the dropped positions: the kept
    ones in order, then as many of the first kept full batches as were dropped (replayed, so
    the epoch keeps its length), then a short last batch where there is one."""
    if not drops:
        return list(range(n_batches))
    kept = [p for p in range(n_batches) if p not in drops]
    tail = [n_batches - 1] if short_last and (n_batches - 1) in kept else []
    if tail:
        kept.pop()
    need = n_batches - len(kept) - len(tail)
    fill = [kept[i % len(kept)] for i in range(need)] if kept else []
    return kept + fill + tail


@dataclasses.dataclass
class Layout:
    """How optimizer steps map to batches of the training data loader."""

    batches_per_epoch: int  # per process (len of the Trainer's data loader)
    grad_accum: int = 1
    world_size: int = 1

    @property
    def steps_per_epoch(self) -> int:
        return max(1, -(-self.batches_per_epoch // self.grad_accum))

    def positions(self, step: int) -> tuple[int, list[int]]:
        """(epoch, output positions in the index sampler's batch stream) of optimizer step `step` (1-based)."""
        epoch, within = divmod(step - 1, self.steps_per_epoch)
        first = within * self.grad_accum
        local = range(first, min(first + self.grad_accum, self.batches_per_epoch))
        return epoch, [j * self.world_size + r for j in local for r in range(self.world_size)]


class BatchSkips:
    """The batch positions to leave out, per epoch, and the indices of recent batches.

    Shared by the policy engine (which adds to it), every SkippingSampler the Trainer builds
    (which reads it) and the checkpoint file (which persists it).
    """

    def __init__(self) -> None:
        self.drops: dict[int, set[int]] = {}
        self.batch_size: int | None = None
        self.short_last = False
        self.n_batches: int | None = None  # batches per epoch of the index sampler
        self._seen: tuple[int, list[list[int]]] | None = None  # (epoch, its batches in original order)

    def order(self, epoch: int) -> list[int]:
        n = self.n_batches or 0
        return epoch_order(n, self.drops.get(epoch, set()), self.short_last)

    def skip_steps(self, steps: list[int], layout: Layout) -> list[dict[str, Any]]:
        """Leave out the batches of these optimizer steps; returns what was skipped, per batch
        (epoch, position, and the example indices when this epoch's order is known)."""
        out = []
        for step in steps:
            epoch, outs = layout.positions(step)
            order = self.order(epoch)
            for j in outs:
                if j >= len(order):
                    continue
                pos = order[j]
                entry: dict[str, Any] = {"step": step, "epoch": epoch, "position": pos}
                if self._seen is not None and self._seen[0] == epoch and pos < len(self._seen[1]):
                    entry["examples"] = list(self._seen[1][pos])
                out.append(entry)
        for e in out:  # after looking all up: positions refer to the order before this change
            self.drops.setdefault(e["epoch"], set()).add(e["position"])
        return out

    def remember(self, epoch: int, batches: list[list[int]]) -> None:
        self._seen = (epoch, batches)

    def state_dict(self) -> dict[str, Any]:
        return {"drops": {str(e): sorted(p) for e, p in self.drops.items() if p}}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.drops = {int(e): {int(x) for x in p} for e, p in (d.get("drops") or {}).items()}


class SkippingSampler:
    """Wraps an index sampler; yields its indices minus the skipped batches (see module doc).

    Mirrors the inner sampler's epoch (`epoch` attribute, as accelerate's seedable sampler and
    tuneguard's length-bucket sampler have) so positions refer to the order it generates.
    """

    def __init__(self, inner: Any, batch_size: int, skips: BatchSkips):
        self.inner = inner
        self.batch_size = batch_size
        self.skips = skips
        self._epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[int]:
        epoch = int(getattr(self.inner, "epoch", self._epoch))
        indices = list(iter(self.inner))
        bs = self.batch_size
        batches = [indices[i:i + bs] for i in range(0, len(indices), bs)]
        self.skips.batch_size = bs
        self.skips.n_batches = len(batches)
        self.skips.short_last = bool(batches) and len(batches[-1]) < bs
        self.skips.remember(epoch, batches)
        order = self.skips.order(epoch)
        if len(order) != len(batches):
            order = list(range(len(batches)))
        dropped = set(range(len(batches))) - set(order)
        if dropped:
            log.info("epoch %d: leaving out %d batch(es) at positions %s", epoch, len(dropped), sorted(dropped))
        if not hasattr(self.inner, "epoch"):
            self._epoch += 1
        for p in order:
            yield from batches[p]


def index_sampler_holder(dataloader: Any) -> Any:
    """The batch sampler that draws from the index sampler (through accelerate's wrappers)."""
    holder = getattr(dataloader, "batch_sampler", None)
    for _ in range(4):
        if holder is None or (hasattr(holder, "sampler") and hasattr(holder, "batch_size")):
            return holder
        holder = getattr(holder, "batch_sampler", None)
    return None


@dataclasses.dataclass
class PendingRollback:
    """A rollback decided at `from_step`, carried out when the Trainer has returned."""

    checkpoint: Path
    to_step: int
    from_step: int
    code: str
    requested_by: str
    skipped: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def prepare_rollback(trainer: Any, ctx: RunContext, rb: PendingRollback) -> None:
    """Everything between the interrupted pass and the resumed one (see the module doc)."""
    if ctx.is_main:
        if ctx.store is not None:
            ctx.store.truncate_after(rb.to_step)
        gone = discard_after(trainer.args.output_dir, rb.to_step)
        if gone:
            log.info("rollback: removed the checkpoints after step %d: %s", rb.to_step, ", ".join(gone))
    trainer.reset_for_rollback()  # tuneguard.train.trainer.RunTrainer
    log.warning("rolling back from step %d to %s", rb.from_step, rb.checkpoint.name)


def train_with_policy(trainer: Any, ctx: RunContext, checkpoint: Path | None) -> Any:
    """`trainer.train(resume_from_checkpoint=checkpoint)`, repeated from a checkpoint for as
    long as the policy asks for a rollback. Without a policy engine: one plain call."""
    engine = ctx.policy
    if engine is None:
        return trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    trainer.skip_batches(engine.skips)
    if checkpoint is not None:
        engine.load_checkpoint_state(checkpoint)
    resume = checkpoint
    while True:
        out = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        rb = engine.take_rollback()
        if rb is None:
            return out
        prepare_rollback(trainer, ctx, rb)
        resume = rb.checkpoint
