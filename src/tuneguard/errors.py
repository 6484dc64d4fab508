"""The errors a user can cause, in one hierarchy. Each carries the exit code of the contract
(2: something to change before the command can work; 1: it failed) and a hint: how to fix
it, where the message itself does not already say so. The CLI turns them into one `error:`
line and that exit code in one place (`tuneguard.cli.errors`); library code raises them and
never prints or exits.

The concrete classes live with what they describe (config.load.ConfigError,
data.load.DataError, model.load.ModelError, train.preflight.PreflightRefusal, ...) and
derive from these.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


class TuneguardError(Exception):
    """A problem tuneguard explains: the message says what is wrong (and usually how to fix
    it), `hint` adds how to fix it when the message does not, `exit_code` is the contract's."""

    exit_code = EXIT_FAIL
    hint = ""

    def __init__(self, message: str = "", hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def line(self) -> str:
        """The one line the CLI prints after `error: `."""
        message = str(self)
        return f"{message} ({self.hint})" if self.hint else message


class UsageError(TuneguardError):
    """Something the user must change (config, data, arguments, run directory) before the
    command can do its work: exit 2, and nothing was started."""

    exit_code = EXIT_USAGE


class RefusedError(UsageError):
    """The command would replace or damage something it does not own; the message says what
    to pass (--force, another path) to go on."""
