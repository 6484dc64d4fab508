"""A SIGTERM that arrives while the run evaluates stops it at that evaluation's step.

The Trainer evaluates after a step's callbacks and saves after the evaluation; the signal,
sent from inside the evaluation loop (the event, not a timer), must be taken when the
evaluation ends, so the checkpoint is of the evaluated step and no further step trains.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from control_helpers import checkpoint_steps
from transformers import TrainerCallback

from tests.helpers.cli import tiny_config
from tests.helpers.reliability import train_inproc
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow


class SigtermDuringEval(TrainerCallback):
    """Sends SIGTERM to this process at the first prediction batch of the evaluation at `step`."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.sent_at: int | None = None

    def on_prediction_step(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step == self.step and self.sent_at is None:
            self.sent_at = state.global_step
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_during_evaluation_checkpoints_that_step_and_trains_no_further(tmp_path: Path, train_file: Path):
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 8, "save_steps": 100, "logging_steps": 1},
                      eval={"steps": 2, "load_best_model_at_end": False})
    run_dir = tmp_path / "run"
    sender = SigtermDuringEval(4)
    before = signal.getsignal(signal.SIGTERM)
    assert train_inproc(cfg, run_dir, extra_callbacks=[sender]) == 0
    assert sender.sent_at == 4
    assert signal.getsignal(signal.SIGTERM) == before
    assert checkpoint_steps(run_dir) == [4]
    with RunStore(run_dir) as store:
        summary = store.summary()
        assert (summary["state"], summary["step"]) == ("stopped", 4)
        (req,) = store.control_requests()
        assert (req["action"], req["arg"], req["status"], req["handled_step"]) == ("stop", "SIGTERM", "done", 4)
        assert [r["step"] for r in store.metrics("eval")] == [2, 4]
        assert max(r["step"] for r in store.metrics("train")) == 4
