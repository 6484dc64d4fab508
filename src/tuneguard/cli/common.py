"""What every command shares: the consoles, config loading with exit code 2, error exits."""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from tuneguard.config.load import ConfigError, load_config
from tuneguard.config.schema import Config

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_FAIL) -> NoReturn:
    """One clear line on stderr and an exit code; never a traceback (see --debug)."""
    err_console().print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def load_or_exit(source: str, overrides: list[str] | None) -> Config:
    try:
        return load_config(source, overrides or [])
    except ConfigError as exc:
        c = err_console()
        c.print(f"[bold red]error:[/] invalid config ({len(exc.problems)} problem(s)):")
        for p in exc.problems:
            c.print(f"  - {p}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None


def setup_logging(debug: bool) -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    if any(isinstance(h, RichHandler) for h in root.handlers):
        return
    handler = RichHandler(console=err_console(), show_path=debug, rich_tracebacks=debug, markup=False)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
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


def print_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
