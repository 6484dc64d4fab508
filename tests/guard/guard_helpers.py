"""Helpers of the guard tests: a RunContext on a real RunStore, tiny random-token rows,
and args/state/control for calling callbacks directly."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from transformers import TrainerControl, TrainerState

from tuneguard.config.load import read_source, validate_config
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
