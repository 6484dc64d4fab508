"""The one place where the CLI turns what went wrong into what the user sees: one `error:`
line on stderr (and `{"error": ...}` on stdout for a command asked for JSON) and the exit code
of the contract. Library code raises `tuneguard.errors.TuneguardError` subclasses (each knows
its exit code and hint) or returns an outcome; commands let them through to here."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from tuneguard.errors import EXIT_FAIL, EXIT_USAGE, TuneguardError
from tuneguard.verbatim import make_console, one_line, print_error

log = logging.getLogger(__name__)

T = TypeVar("T")


def fail(message: str, code: int = EXIT_FAIL, *, json_out: bool = False) -> NoReturn:
    """One clear line on stderr and an exit code; never a traceback (see --debug).

    `json_out`: the command was asked for JSON, so stdout also gets `{"error": MESSAGE}`:
    a program that asked for JSON gets JSON, whatever happened."""
    if json_out:
        from tuneguard.cli.common import print_json

        print_json({"error": one_line(message)})
    print_error(message, make_console(stderr=True))
    raise typer.Exit(code)


def exit_for(exc: TuneguardError, *, json_out: bool = False) -> NoReturn:
    """The error's line and its exit code."""
    fail(exc.line(), exc.exit_code, json_out=json_out)


@contextlib.contextmanager
def user_errors(*, json_out: bool = False, debug: bool = False) -> Iterator[None]:
    """Around a command's work: a TuneguardError becomes its line and exit code (with the
    traceback in the log under --debug)."""
    try:
        yield
    except TuneguardError as exc:
        if debug:
            log.exception("%s failed", type(exc).__name__)
        exit_for(exc, json_out=json_out)


def run_guarded(action: Callable[[], T], run_dir: Path, what: str, *, json_out: bool = False,
                language: str = "en") -> T:
    """Run a command's reader or writer of the run in `run_dir`; the errors a user can cause become one
    line and an exit code (`{"error": ...}` on stdout too under --json): no run store or one that cannot
    be read exit 2; a write that fails (a full disk, a read-only directory: the run is fine, `what`, the
    page: a catalog key, configcli.the_report, is not written) exits 1, said in `language` (the run's,
    once it is read)."""
    from tuneguard.catalog import say
    from tuneguard.store.run_store import describe_store_error

    try:
        with user_errors(json_out=json_out):
            return action()
    except FileNotFoundError as exc:
        fail(str(exc), EXIT_USAGE, json_out=json_out)
    except sqlite3.Error as exc:
        fail(describe_store_error(run_dir, exc), EXIT_USAGE, json_out=json_out)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        fail(say("configcli.cannot_write", language, what=say(what, language), reason=exc.strerror or exc, where=where),
             EXIT_FAIL, json_out=json_out)


def show_outcome(outcome: Any) -> int:
    """A run's outcome (tuneguard.train.run.Outcome): its error line, if any; its exit code."""
    if outcome.error:
        print_error(outcome.error, make_console(stderr=True))
    return int(outcome.exit_code)
