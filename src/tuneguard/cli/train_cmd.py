"""`tuneguard train`: one run, with the exit codes of the contract (0 / 1 / 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tuneguard.cli.common import EXIT_USAGE, console, fail, load_or_exit, setup_logging
from tuneguard.cli.errors import show_outcome


def default_run_dir(config: str) -> Path:
    """runs/ and the config's name (tuneguard.store.invocation.Invocation.default_run_dir)."""
    from tuneguard.store.invocation import Invocation

    return Path(Invocation(config=config, cwd="").default_run_dir())


def train(
    config: Annotated[str, typer.Argument(help="YAML config file or preset name.")],
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Run directory (default runs/<config name>).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: section.key=value (YAML value).")] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Optimizer steps to train: "
                                                     "short for --set train.max_steps=N.")] = None,
    resume: Annotated[Optional[str], typer.Option("--resume", help="'auto': continue from the newest complete checkpoint.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Train even when the audit finds errors.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a previous run in --run-dir.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Fine-tune with LoRA: audit the data, train with guards, write the adapter and report."""
    setup_logging(debug)
    if resume not in (None, "auto"):
        fail(f"--resume takes 'auto', got {resume!r}", EXIT_USAGE)
    if max_steps is not None:  # after the --set options, so it wins over a --set of the same key
        set_ = [*(set_ or []), f"train.max_steps={max_steps}"]
    cfg = load_or_exit(config, set_)
    from tuneguard.catalog import T, config_language, render
    from tuneguard.config.load import secret_values
    from tuneguard.store.invocation import Invocation, resume_advice
    from tuneguard.train.run import DistInfo, run_training

    target = run_dir or default_run_dir(config)
    # Kept in the run store: every later "continue it with" prints this command (secrets left out).
    invocation = Invocation.given(config, set_, force=force, secrets=secret_values(cfg))
    outcome = run_training(cfg, target, resume=resume == "auto", force=force, overwrite=overwrite, console=console(),
                           invocation=invocation)
    # `tuneguard stop`, SIGTERM, Ctrl-C: the run is meant to go on. Said once, by rank 0 (which
    # says the rest of the run's end) under a launcher, not once per process.
    if outcome.state == "stopped" and DistInfo.from_env().is_main:
        spec = T("resume.continue", resume=resume_advice(invocation, target))
        console().print(render(spec, config_language(cfg)), markup=False)  # the run's language
    raise typer.Exit(show_outcome(outcome))
