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

from tuneguard.catalog import say
from tuneguard.fmt import fmt_duration, num


def _f(v: Any, nd: int = 4) -> str:
    return num(v, nd)


class DisplayCallback(TrainerCallback):
    """The progress bar and lines in `language` (the run's: catalog traincli.*)."""

    def __init__(self, console: Console, language: str = "en"):
        self.console = console
        self.language = language
        self.progress: Progress | None = None
        self.task: Any = None
        self.eval_loss: float | None = None
        self.best: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.console.is_terminal:
            bar = TextColumn(say("traincli.bar", self.language), style="bold", markup=False)
            self.progress = Progress(bar, BarColumn(), MofNCompleteColumn(),
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
            line = say("traincli.eval", self.language, eval=_f(self.eval_loss), best=_f(self.best))
        elif "loss" in logs:
            line = say("traincli.log", self.language, loss=_f(logs.get("loss")), lr=_f(logs.get("learning_rate"), 3),
                       tps=_f(logs.get("tokens_per_s"), 4), eval=_f(self.eval_loss), eta=fmt_duration(logs.get("eta_s")))
        else:
            return
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, info=line)
        else:
            step = say("traincli.step", self.language, step=state.global_step, max_steps=state.max_steps, line=line)
            self.console.print(Text(step))

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
