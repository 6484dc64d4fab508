"""The same run split differently: scenarios and variants of the guard matrix
(test_same_diagnosis.py), shared by the runs in the test's process and by the two-process
worker (matrix_worker.py).

A scenario is data, settings and planted faults; a variant is how the global batch of 8
examples per optimizer step is made (8 x 1 or 4 x 2 on one process, 4 x 1 on each of two)
and how often the Trainer logs (every step or every 5). Everything else (data, seed, steps,
evaluations) is the same, so the guards must say the same thing at the same point of
training.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tests.integration.planted import Plant

GLOBAL_BATCH = 8
LOG_EVERY = (1, 5)
THREE_TEXTS = ("The quick brown fox jumps over the lazy dog near the river bank.",
               "A journey of a thousand miles begins with a single step forward.",
               "To be or not to be, that is the question we all must answer.")


class ScaleLogitsAtStep(Plant):
    """The logits of every micro-batch of optimizer step `step` are multiplied by `factor` (an
    outlier batch or a bad update): the same step whatever the micro-batches or processes."""

    def __init__(self, step: int, factor: float, accum: int) -> None:
        super().__init__()
        self.step, self.factor, self.accum = step, factor, accum

    def on_train(self, k: int, output: Any) -> Any:
        if (k - 1) // self.accum + 1 == self.step:
            output.logits = output.logits * self.factor
        return output


@dataclasses.dataclass(frozen=True)
class Variant:
    processes: int
    batch: int
    accum: int
    log_every: int

    @property
    def name(self) -> str:
        return f"p{self.processes}-b{self.batch}x{self.accum}-log{self.log_every}"

    def settings(self) -> list[str]:
        return [f"train.batch_size={self.batch}", f"train.gradient_accumulation_steps={self.accum}",
                f"train.logging_steps={self.log_every}"]


ONE_PROCESS = [Variant(1, b, a, n) for b, a in ((8, 1), (4, 2)) for n in LOG_EVERY]
TWO_PROCESSES = [Variant(2, 4, 1, n) for n in LOG_EVERY]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    settings: tuple[str, ...]
    force: bool = False
    spike_at: int | None = None  # optimizer step whose logits are scaled 30x

    def plants(self, accum: int) -> tuple[Plant, ...]:
        return (ScaleLogitsAtStep(self.spike_at, 30.0, accum),) if self.spike_at else ()


def write_data(folder: Path) -> dict[str, Path]:
    """The scenarios' data files: three texts repeated 40 times each (the planted collapse), and
    600 instruction rows of the synthetic set (the other scenarios)."""
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    folder.mkdir(parents=True, exist_ok=True)
    three = folder / "three.jsonl"
    three.write_text("".join(json.dumps({"text": t}) + "\n" for _ in range(40) for t in THREE_TEXTS), "utf-8")
    return {"three": three, "rows": write_jsonl(make_instruction_rows(600, seed=0), folder / "rows.jsonl")}


# Shared by every scenario: short runs, evaluations every 5 steps, no checkpoint but the
# ones a halt writes, and no policy (the matrix is about what the guards find, not what a
# rollback does next).
COMMON = ("eval.steps=5", "train.save_steps=1000", "eval.load_best_model_at_end=false", "policy.enabled=false",
          "guard.throughput_min_window_s=1000")  # tokens/s of a shared CPU is not the matrix's subject


def scenarios(data: dict[str, Path]) -> list[Scenario]:
    return [
        Scenario("collapse", (f"data.train_file={data['three']}", "train.max_steps=40"),
                 force=True),
        Scenario("spike", (f"data.train_file={data['rows']}", "train.max_steps=30"), spike_at=17),
        Scenario("clean", (f"data.train_file={data['rows']}", "train.max_steps=30")),
        Scenario("plateau", (f"data.train_file={data['rows']}", "train.max_steps=40", "train.learning_rate=1e-9")),
    ]


def train_args(scenario: Scenario, variant: Variant, run_dir: Path) -> list[str]:
    """`tuneguard train` arguments of one scenario in one variant."""
    args = ["train", "tiny", "--run-dir", str(run_dir), *(["--force"] if scenario.force else [])]
    for s in (*COMMON, *scenario.settings, *variant.settings()):
        args += ["--set", s]
    return args
