"""Helpers of the guard tests: a RunContext on a real RunStore, tiny random-token rows,
args/state/control for calling callbacks directly, and a recorded run replayed through the guards."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from transformers import TrainerControl, TrainerState

from tuneguard.config.load import read_source, validate_config
from tuneguard.findings import Finding
from tuneguard.store.run_store import RunStore
from tuneguard.context import RunContext


def make_ctx(tmp_path, **overrides: Any) -> RunContext:
    """RunContext on the tiny preset; `overrides` go into the raw config, e.g.
    guard={"actions": {...}} or eval={"qa_probes": [...]}."""
    raw = read_source("tiny")[0]
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return RunContext(cfg=validate_config(raw), run_dir=tmp_path, store=RunStore(tmp_path, create=True))


def random_rows(n: int, length: int = 16, vocab: tuple[int, int] = (1, 590), seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        ids = [rng.randrange(*vocab) for _ in range(length)]
        rows.append({"input_ids": ids, "attention_mask": [1] * length, "labels": list(ids)})
    return rows


def trainer_bits(step: int = 0, **args: Any) -> tuple[Any, TrainerState, TrainerControl]:
    """Args/state/control for calling callbacks directly, the way the Trainer does."""
    a = SimpleNamespace(output_dir=args.pop("output_dir", None), device="cpu", metric_for_best_model="eval_loss",
                        greater_is_better=False, load_best_model_at_end=True, eval_strategy="steps", fsdp="",
                        **args)
    state = TrainerState()
    state.global_step = step
    state.max_steps = 1000
    return a, state, TrainerControl()


def replay_run(tmp_path, steps: list[tuple[int, float, int]], evals: dict[int, float], rows: int, batch: int,
               grad_norm: float | None = 1.0, grad_norms: dict[int, float] | None = None,
               lrs: dict[int, float] | None = None, policy: Any = None, **overrides: Any) -> list[Finding]:
    """A recorded run through the GuardCallback as the Trainer feeds it: over `rows` training rows,
    `batch` rows a step on one process, a log every step with its record (`steps`: step, loss,
    supervised tokens), an evaluation where `evals` has one. No finding may stop it (the steps are
    the run's as recorded). Returns every finding stored; `overrides` go into the config (make_ctx).
    Each step's gradient norm is `grad_norms[step]`, else `grad_norm`; `lrs[step]`: the learning
    rate its log holds; `policy`: the run's policy engine (ctx.policy), if any."""
    from tuneguard.guard import GuardCallback
    from tuneguard.guard.records import StepRecord

    class Loader:  # what the GuardCallback reads of the Trainer's training dataloader: rows and batches
        dataset = [None] * rows

        def __len__(self) -> int:
            return -(-rows // batch)

    ctx = make_ctx(tmp_path, **overrides)
    ctx.policy = policy
    cb = GuardCallback(ctx)
    args, state, control = trainer_bits(0, per_device_train_batch_size=batch, gradient_accumulation_steps=1,
                                        world_size=1)
    cb.on_train_begin(args, state, control, train_dataloader=Loader())
    for step, loss, tokens in steps:
        norm = (grad_norms or {}).get(step, grad_norm)
        ctx.step_records = [StepRecord(step, loss, norm, tokens)]
        args, state, control = trainer_bits(step)
        logs = {"loss": loss, "grad_norm": norm}
        if lrs and step in lrs:
            logs["learning_rate"] = lrs[step]
        cb.on_log(args, state, control, logs=logs)
        if step in evals:
            ctx.step_records = []
            cb.on_evaluate(args, state, control, metrics={"eval_loss": evals[step]})
        assert not control.should_training_stop, step
    found = ctx.store.findings()
    ctx.store.close()
    return found
