"""Helpers of the policy tests: the unmodified learning-rate schedule, planting garbage
batches in the real recipe, spying on the Trainer, and live runs in a subprocess."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from transformers import TrainerCallback

from tests.live import END_TIMEOUT, START_TIMEOUT, LiveProcess, poll, read_store  # noqa: F401 - re-exported



def schedule(max_steps: int, peak: float = 1e-2, warmup_ratio: float = 0.1, name: str = "cosine") -> dict[int, float]:
    """{step: learning rate the Trainer uses at that step} of an unmodified schedule."""
    import math

    import torch
    from transformers import get_scheduler

    warmup = int(warmup_ratio) if warmup_ratio >= 1 else math.ceil(max_steps * warmup_ratio)  # as the Trainer
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=max_steps)
    out = {}
    for step in range(1, max_steps + 1):
        out[step] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    return out


def garbage(features: list[dict[str, Any]], seed: int = 0) -> None:
    """Turn these examples into random tokens, all supervised, in place (same lengths, so the
    batches stay as they are): from now on the dataset holds garbage there."""
    rng = random.Random(seed)
    for f in features:
        ids = [rng.randrange(10, 600) for _ in f["input_ids"]]
        f["input_ids"], f["labels"] = ids, list(ids)
        if "attention_mask" in f:
            f["attention_mask"] = [1] * len(ids)


def poisoning_collator(calls: set[int]) -> type:
    """A wrapper of the training collator (the recipe's `wrap_collator`) that turns the examples
    of its k-th training batches (k in `calls`) into garbage; `seen_again` counts later batches
    that contain one of them."""

    class Poisoning:
        count = 0
        poisoned: ClassVar[list[dict[str, Any]]] = []
        seen_again = 0
        dataset: Any = None  # the training dataset, set by the test

        def __init__(self, inner: Callable[[list[dict[str, Any]]], Any]) -> None:
            self.inner = inner

        def __call__(self, features: list[dict[str, Any]]) -> Any:
            cls = type(self)
            cls.count += 1
            if cls.count in calls:
                garbage(features, seed=cls.count)
                cls.poisoned.extend(features)
            elif any(f is p for f in features for p in cls.poisoned):
                cls.seen_again += 1
            return self.inner(features)

    return Poisoning


class Spy(TrainerCallback):
    """Records the optimizer's learning rate for each step and what a resumed pass loaded."""

    def __init__(self, on_begin: Callable[..., None] | None = None) -> None:
        self.lr: dict[int, float] = {}
        self.passes: list[int] = []
        self.on_begin = on_begin

    def on_train_begin(self, args, state, control, **kw):
        self.passes.append(state.global_step)
        if self.on_begin is not None:
            self.on_begin(args, state, **kw)

    def on_step_begin(self, args, state, control, optimizer=None, **kw):
        self.lr[state.global_step + 1] = optimizer.param_groups[0]["lr"]


class LiveRun(LiveProcess):
    """`python -m tuneguard train tiny` in its own process group (killed in `close`)."""

    def __init__(self, run_dir: Path, data: Path, max_steps: int, settings: list[str] | None = None):
        sets = [f"data.train_file={data}", f"train.max_steps={max_steps}", "train.logging_steps=1",
                "guard.enabled=false", 'eval.strategy="no"', "eval.load_best_model_at_end=false",
                "train.save_total_limit=10", *(settings or [])]
        self.sets = sets
        cmd = [sys.executable, "-m", "tuneguard", "train", "tiny", "--force", "--run-dir", str(run_dir)]
        for s in sets:
            cmd += ["--set", s]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200"}
        self._start(run_dir, run_dir.parent / f"{run_dir.name}.log", cmd, env)

    def wait_step(self, step: int, timeout: float = START_TIMEOUT) -> int:
        poll(lambda: read_store(self.run_dir, lambda s: s.state()) == "running" and self.step() >= step,
             timeout, f"step >= {step}", alive=self.check_alive)
        return self.step()


