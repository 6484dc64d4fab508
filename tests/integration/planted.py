"""Faults planted in the real recipe, for the end-to-end tests of the guards.

`tuneguard train` runs in this process (`tests.conftest.invoke`: the real Typer app, so
the exit code is the command's own). The recipe loads its base model through
`tuneguard.model.load.load_base_model`; `planted(...)` wraps that loader while a `with`
block lasts and registers forward hooks on the model it returns. Everything else (data,
audit, LoRA, Trainer, callbacks, store, notifier, report) is the product's own code.

The hooks only plant what a real run can meet: a NaN or a jump in the loss at a known
step, steps that become slow, generations that stop emitting EOS.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest


class Plant:
    """A forward hook on the base causal LM that knows what each forward is for.

    Training forwards are counted (with gradient accumulation 1, the tests' setting, the
    k-th is step k). Generations (QA probes) are told apart from evaluation forwards by the
    `generate` call they run in, and grouped in rounds: a round is the generations between
    two training steps, i.e. one evaluation's probes. A plant changes the logits, which the
    loss is computed from whether the model or the Trainer computes it.
    """

    def __init__(self) -> None:
        self.train_calls = 0
        self.generation_round = 0
        self.generating = False
        self._trained = True

    def hook(self, module: Any, args: Any, output: Any) -> Any:
        if module.training:
            self.train_calls += 1
            self._trained = True
            return self.on_train(self.train_calls, output)
        if self.generating:
            return self.on_generate(self.generation_round, output)
        return output

    def wrap_generate(self, generate: Any) -> Any:
        def wrapped(*a: Any, **kw: Any) -> Any:
            if self._trained:
                self.generation_round += 1
                self._trained = False
            self.generating = True
            try:
                return generate(*a, **kw)
            finally:
                self.generating = False
        return wrapped

    def on_train(self, k: int, output: Any) -> Any:
        return output

    def on_generate(self, round_: int, output: Any) -> Any:
        return output


class NanAt(Plant):
    """The logits of training step `k` become NaN, and with them its loss and gradients, as
    an fp16 overflow makes them."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def on_train(self, k: int, output: Any) -> Any:
        if k == self.k:
            output.logits = output.logits * float("nan")
        return output


class ScaleLogitsAt(Plant):
    """The logits of training step `k` are multiplied by `factor`: over-confident wrong
    predictions, so the loss and the gradient norm jump at that step, as an outlier batch
    or a bad update makes them."""

    def __init__(self, k: int, factor: float) -> None:
        super().__init__()
        self.k, self.factor = k, factor

    def on_train(self, k: int, output: Any) -> Any:
        if k == self.k:
            output.logits = output.logits * self.factor
        return output


class SlowSteps(Plant):
    """Training steps `first`..`last` each take `times` x longer (a competing process,
    throttling): tokens/s falls by that factor, whatever the machine's own speed. The
    normal step time is measured here, between the training forwards before `first`."""

    def __init__(self, first: int, last: int, times: float = 10.0) -> None:
        super().__init__()
        self.first, self.last, self.times = first, last, times
        self._t: list[float] = []

    def on_train(self, k: int, output: Any) -> Any:
        self._t.append(time.perf_counter())
        if self.first <= k <= self.last:
            gaps = sorted(b - a for a, b in zip(self._t[1:self.first - 1], self._t[2:self.first], strict=False))
            time.sleep(self.times * gaps[len(gaps) // 2])
        return output


class StopsEmittingEos(Plant):
    """QA generations emit EOS at once at the first evaluation and never after it: the
    symptom of a model that is losing the ability to stop."""

    def __init__(self, eos_id: int) -> None:
        super().__init__()
        self.eos_id = eos_id

    def on_generate(self, round_: int, output: Any) -> Any:
        logits = output.logits.clone()
        logits[..., self.eos_id] = 1e4 if round_ <= 1 else -1e4
        output.logits = logits
        return output


@contextlib.contextmanager
def planted(*plants: Plant) -> Iterator[list[Any]]:
    """While the block lasts, the recipe's base model carries `plants` as forward hooks;
    yields the list of models they were attached to."""
    from tuneguard.model import load as model_lib

    real = model_lib.load_base_model
    models: list[Any] = []

    def load_base_model(*a: Any, **kw: Any) -> Any:
        model = real(*a, **kw)
        for p in plants:
            model.register_forward_hook(p.hook)
            # An instance attribute: PEFT's generate reaches the base model's through it.
            model.generate = p.wrap_generate(model.generate)
        models.append(model)
        return model

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model_lib, "load_base_model", load_base_model)
        yield models
