"""Policies: when a guard fires, act as an experienced engineer would, under rules the
config sets (policy.rules, policy.max_actions, policy.min_lr/max_lr): warn, halt,
checkpoint, scale the learning rate, or roll back to a checkpoint and skip the offending
batches. `tuneguard set-lr` and `tuneguard rollback` use the same mechanism. See
docs/POLICIES.md.

- policy.py: the rules, the decisions and their records (PolicyEngine);
- lr.py: learning-rate scaling composed with the schedule, with bounds;
- rollback.py: restoring a checkpoint inside one run and skipping batches;
- callback.py: the TrainerCallback that binds the engine to the Trainer.

Importing this package is cheap (the CLI parses set-lr values through it); torch and
transformers load only when a run builds its policy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)

__all__ = ["build_policy_callbacks", "train_with_policy"]


def build_policy_callbacks(ctx: RunContext) -> list[Any]:
    """The run's PolicyEngine (made reachable as `ctx.policy` for the guards' act() and the
    control callback) and its callback; nothing when policy.enabled is false."""
    if not ctx.cfg.policy.enabled:
        return []
    from tuneguard.policy.callback import PolicyCallback
    from tuneguard.policy.policy import PolicyEngine

    engine = PolicyEngine(ctx)
    ctx.policy = engine
    return [PolicyCallback(engine)]


def train_with_policy(trainer: Any, ctx: RunContext, checkpoint: Path | None) -> Any:
    """`trainer.train(resume_from_checkpoint=...)`, again from a checkpoint after each rollback."""
    from tuneguard.policy.rollback import train_with_policy as run

    return run(trainer, ctx, checkpoint)
