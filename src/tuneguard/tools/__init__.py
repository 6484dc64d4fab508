"""Before and after a run: plan it (steps, time, memory, cost), then talk to the trained
model, evaluate it on any file, and export or publish it.

Each module has one job: `plan` (the schedule and the calibration run), `generate`
(prompt formats, streaming generation, the chat session), `evaluate` (loss, perplexity
and QA probes, base versus fine-tuned), `export` (adapter or merged weights with a model
card, and the hub upload). `checkpoints` is what they share: which adapter of a run to
use and loading it onto its base model.
"""


class ToolError(Exception):
    """A problem the user can act on; `code` is the exit code (1 failure, 2 usage/config/data)."""

    code = 1

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class ToolUsageError(ToolError):
    """Wrong arguments, a missing run directory or checkpoint, bad data: exit 2."""

    code = 2
