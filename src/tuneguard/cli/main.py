"""The `tuneguard` command's entry point, `run` (the console script and `python -m tuneguard`).

This module imports nothing heavy: the command group (`tuneguard.cli.commands`: Typer, Rich,
pydantic, the config schema) takes a second or two to import, and `run` imports it inside the
guard that turns Ctrl-C into one line and exit 130, so that a Ctrl-C during those imports reads
like a Ctrl-C later, not like a Python traceback. `app` and `OneLineErrors` are still found
here (`from tuneguard.cli.main import app`), imported when asked for.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from typing import Any

EXIT_INTERRUPTED = 130  # tuneguard.errors.EXIT_INTERRUPTED, not imported: this module stays light


def run() -> None:
    """`tuneguard ARGS`: the command group, with every way out one line and an exit code."""
    try:
        _run()
    except KeyboardInterrupt:
        interrupted()
    finally:
        # Everything is said and written: spare the interpreter's shutdown its rounds of
        # garbage collection over the objects a run leaves (the model, the Trainer, the
        # data), which kept a finished `train` from returning for 6-8 s after its last line.
        gc.freeze()


def interrupted() -> None:
    """Ctrl-C that nothing below handled: one `error:` line, exit 130. A second Ctrl-C while
    saying so is ignored (the process is ending anyway)."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread (an embedding program's): nothing to ignore there
        pass
    from tuneguard.catalog import say
    from tuneguard.verbatim import print_error

    print_error(say("input.interrupted"))
    sys.exit(EXIT_INTERRUPTED)


def _run() -> None:
    # Tokenization (audit, data preparation) runs before any DataLoader worker forks, so
    # the Rust tokenizer may use every core; it disables itself in forked workers.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    if not sys.stderr.isatty() and "--debug" not in sys.argv:
        # Libraries' tqdm bars (GGUF conversion, downloads) redraw with carriage returns: in a
        # pipe or a log file each becomes one line of kilobytes. tqdm reads this at import.
        os.environ.setdefault("TQDM_DISABLE", "1")
    from tuneguard.cli.commands import app
    from tuneguard.verbatim import print_error

    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if "--debug" in sys.argv:
            raise
        print_error(f"internal error: {type(exc).__name__}: {exc} (run the command again with --debug "
                    "for the traceback, and please report it)")
        sys.exit(1)


def __getattr__(name: str) -> Any:
    """`app`, `config_app` and `OneLineErrors`, from the command group (imported on first use)."""
    if name in ("app", "config_app", "OneLineErrors"):
        from tuneguard.cli import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
