"""Live terminal display of a run: step, loss, eval loss, tokens/s, ETA.

A Rich progress bar on a terminal; one plain line per log otherwise (CI logs, notebooks,
`nohup`), so output stays readable in every place a run is watched from.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from transformers import TrainerCallback

from tuneguard.fmt import fmt_duration, num


def _f(v: Any, nd: int = 4) -> str:
    return num(v, nd)


class DisplayCallback(TrainerCallback):
    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task: Any = None
        self.eval_loss: float | None = None
        self.best: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.console.is_terminal:
            self.progress = Progress(TextColumn("train", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}", markup=False), TimeElapsedColumn(),
                                     console=self.console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        logs = logs or {}
        if "eval_loss" in logs:
            self.eval_loss = logs["eval_loss"]
            self.best = self.eval_loss if self.best is None else min(self.best, self.eval_loss)
            line = f"step {state.global_step}/{state.max_steps}  eval_loss {_f(self.eval_loss)}  best {_f(self.best)}"
        elif "loss" in logs:
            line = (f"step {state.global_step}/{state.max_steps}  loss {_f(logs.get('loss'))}  "
                    f"lr {_f(logs.get('learning_rate'), 3)}  {_f(logs.get('tokens_per_s'), 4)} tok/s  "
                    f"eval {_f(self.eval_loss)}  ETA {fmt_duration(logs.get('eta_s'))}")
        else:
            return
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, info=line.split("  ", 1)[1])
        else:
            self.console.print(Text(line))

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
