"""The errors a user can cause, in one hierarchy: each carries the exit code of the contract
and a hint that says how to fix it. The CLI maps them to one `error:` line and that code in
one place (tuneguard.cli.errors); library code raises them and never exits."""

from __future__ import annotations

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class TuneguardError(Exception):
    """A problem tuneguard explains: `message` says what is wrong, `hint` how to fix it (may be
    empty when the message already says it), `exit_code` the contract's code."""

    exit_code = EXIT_FAIL
    hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def line(self) -> str:
        """The one line the CLI prints after `error: `."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(TuneguardError):
    """Something the user must change before a command can do its work (exit 2)."""

    exit_code = EXIT_USAGE
