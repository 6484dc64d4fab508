"""Before and after a run: plan it (steps, time, memory, cost), then talk to the trained
model, evaluate it on any file, and export or publish it.

Each module has one job: `plan` (the schedule and the calibration run), `generate`
(prompt formats, streaming generation, the chat session), `evaluate` (loss, perplexity
and QA probes, base versus fine-tuned), `export` (adapter or merged weights with a model
card, and the hub upload). `checkpoints` is what they share: which adapter of a run to
use and loading it onto its base model.
"""


from tuneguard.errors import EXIT_FAIL, EXIT_USAGE, TuneguardError


class ToolError(TuneguardError):
    """A problem the user can act on; `exit_code` 1 (a failure) unless given (2: usage/config/data)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.exit_code = code

    @property
    def code(self) -> int:
        return self.exit_code


class ToolUsageError(ToolError):
    """Wrong arguments, a missing run directory or checkpoint, bad data: exit 2."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message, EXIT_USAGE if code is None else code)


__all__ = ["EXIT_FAIL", "ToolError", "ToolUsageError"]
