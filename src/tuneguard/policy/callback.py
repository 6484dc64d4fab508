"""PolicyCallback: connects the run's PolicyEngine to the Trainer.

- on_train_begin (every pass, also after a rollback): hands the engine the new scheduler
  (the learning-rate factor is re-applied to it), the state and the data-loader layout;
- on_log / on_evaluate / on_step_end / on_epoch_end / on_save: while a rollback is pending,
  ends the pass without evaluating or saving the state that is about to be discarded;
- on_save: writes the policy's state (lr scale, actions so far, skipped batches) into the
  checkpoint, so `--resume auto` continues with them.

It must come after the control callback (which hands set_lr/rollback requests to the
engine at the end of a step) so a rollback asked for at step k ends the pass at step k.
Cost: attribute reads per step; nothing touches a tensor.
"""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from tuneguard.policy.policy import PolicyEngine

log = logging.getLogger(__name__)


class PolicyCallback(TrainerCallback):
    """Binds the PolicyEngine to the current Trainer objects and carries out its hand-over."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine

    def on_train_begin(self, args, state, control, **kwargs):
        self.engine.bind(args, state, kwargs.get("lr_scheduler"), kwargs.get("optimizer"),
                         kwargs.get("train_dataloader"))

    def on_step_end(self, args, state, control, **kwargs):
        self.engine.apply_pending(control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.engine.last_log_step = state.global_step
        self.engine.apply_pending(control)

    def on_evaluate(self, args, state, control, **kwargs):
        self.engine.apply_pending(control)

    def on_epoch_end(self, args, state, control, **kwargs):
        self.engine.apply_pending(control)

    def on_save(self, args, state, control, **kwargs):
        if self.engine.ctx.is_main:
            self.engine.save_checkpoint_state(Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        self.engine.apply_pending(control)
