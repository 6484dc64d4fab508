"""What every command shares: the consoles, config loading with exit code 2, error exits
(`fail`, from tuneguard.cli.errors).

Every console here prints strings verbatim (tuneguard.verbatim: no markup, no emoji codes),
because user text (paths, data, messages quoting them, model output) reaches nearly every
line; tuneguard's own colours go through `styled`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tuneguard.cli.errors import fail
from tuneguard.config.load import ConfigError, load_config
from tuneguard.config.schema import Config
from tuneguard.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from tuneguard.verbatim import error_line, make_console, one_line, styled


__all__ = ["EXIT_OK", "EXIT_FAIL", "EXIT_USAGE", "console", "err_console", "fail", "note", "load_or_exit",
           "run_language", "setup_logging", "print_json", "styled", "error_line", "one_line"]


def console() -> Console:
    """stdout; prints every string verbatim."""
    return make_console()


def err_console() -> Console:
    """stderr; prints every string verbatim."""
    return make_console(stderr=True)


def note(message: str, language: str = "en") -> None:
    """One `note:` line on stderr: something tuneguard decided for the user that they should know;
    its label in `language`, the language `message` is said in."""
    from tuneguard.catalog import say

    err_console().print(styled((say("configcli.note", language), "yellow"), " ", one_line(message)))


def run_language(run_dir: Path) -> str:
    """The language of the run in `run_dir` (its recorded config's), which the commands about it
    speak; English where the directory holds no readable run (the command then says why)."""
    import sqlite3

    from tuneguard.catalog import config_language
    from tuneguard.store.run_store import open_for_reading

    try:
        with open_for_reading(run_dir) as store:
            return config_language(store.get_meta("config") or {})
    except (OSError, sqlite3.Error, ValueError):
        return "en"


def load_or_exit(source: str, overrides: list[str] | None, *, json_out: bool = False) -> Config:
    """The validated config, its adjustments printed as notes; exit 2 with every problem listed."""
    notes: list[str] = []
    try:
        cfg = load_config(source, overrides or [], notes=notes)
    except ConfigError as exc:
        if len(exc.problems) == 1:
            fail(f"invalid config: {exc.problems[0]}", EXIT_USAGE, json_out=json_out)
        if json_out:
            print_json({"error": f"invalid config ({len(exc.problems)} problems)", "problems": exc.problems})
        c = err_console()
        c.print(error_line(f"invalid config ({len(exc.problems)} problems):"))
        for p in exc.problems:
            c.print(f"  - {one_line(p)}")
        raise typer.Exit(EXIT_USAGE) from None
    for n in notes:
        note(n)
    return cfg


class PlainStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """One line per record on whatever sys.stderr is now: for a pipe or a log file, where
    Rich's log layout would wrap each record (and the paths in it) at 80 columns."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler sets it; the current stderr is used instead
        pass


def setup_logging(debug: bool) -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    if any(isinstance(h, (RichHandler, PlainStderrHandler)) for h in root.handlers):
        return
    errc = err_console()
    handler: logging.Handler = (RichHandler(console=errc, show_path=debug, rich_tracebacks=debug, markup=False)
                                if errc.is_terminal else PlainStderrHandler())
    if not debug:
        # apprise reports every failed delivery and unknown URL in its own words; tuneguard's
        # notifier says it once per outage with the reason (notify-test: its one line), and
        # records each failure in the run store.
        handler.addFilter(lambda r: not r.name.startswith("apprise"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    _one_line_per_record()
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "apprise"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not debug:
        import transformers
        import warnings

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="torch")
        # peft looks for a config.json beside a GGUF base model (SmolLM2 demo) and warns.
        warnings.filterwarnings("ignore", message="Could not find a config file")


def _one_line_per_record() -> None:
    """huggingface_hub gives its logger a stderr handler of its own and lets records propagate
    too, so with ours on the root each of its warnings (a retry of a hub request without
    network: "Retrying in 1s [Retry 1/5].") came out twice, once bare and once through ours.
    Its own handler goes: its records are said once, through the root's handler."""
    try:
        import huggingface_hub.utils.logging  # noqa: F401 - adds the handler when first imported
    except ImportError:
        return
    hub = logging.getLogger("huggingface_hub")
    for h in list(hub.handlers):
        if type(h) is logging.StreamHandler:
            hub.removeHandler(h)


def print_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
