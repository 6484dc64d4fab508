"""`tuneguard demo`: the embedded default (offline, CPU, a few minutes), then a tour of the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tuneguard.cli.common import EXIT_USAGE, console, fail, note, setup_logging, styled


def demo(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Where the demo run goes.")] = Path("tuneguard-demo"),
    model: Annotated[str, typer.Option("--model", help="auto (SmolLM2-135M if installed, else tiny), smollm2, tiny.")] = "auto",
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Optimizer steps (default: sized for a laptop CPU).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """Run a complete fine-tune on this machine, offline, then show what happened and where."""
    setup_logging(debug)
    if model not in ("auto", "smollm2", "tiny"):
        fail(f"--model must be auto, smollm2 or tiny, got {model!r}", EXIT_USAGE)
    from tuneguard.cli.errors import user_errors
    from tuneguard.demo import check_demo_dirs, choose_model, demo_config

    c = console()
    with user_errors():  # DemoRefused: a run directory that is not an earlier demo's
        try:
            preset, why = choose_model(model)
            check_demo_dirs(run_dir.resolve())
            cfg, _ = demo_config(run_dir.resolve(), preset, steps)
        except RuntimeError as exc:  # no usable demo model
            fail(str(exc), EXIT_USAGE)
        except OSError as exc:
            fail(f"cannot write the demo's data next to {run_dir}: {exc.strerror or exc}", EXIT_USAGE)
    if why:
        note(why)
    c.rule("tuneguard demo")
    c.print(styled("LoRA fine-tune of ", (cfg.model.name, "bold"), f" on {cfg.data.train_file}"))
    c.print("(a generated instruction set: numbers in words, initials, dates in ISO format)")
    c.print(f"{cfg.train.max_steps} steps on the CPU; the data audit, the guards, QA probes and the report are on.")
    from tuneguard.cli.errors import show_outcome
    from tuneguard.train.run import run_training

    from tuneguard.store.invocation import Invocation

    # The demo's config exists only in memory: the run directory's config.yaml (no secrets in it) resumes it.
    invocation = Invocation.given(str(run_dir / "config.yaml"))
    code = show_outcome(run_training(cfg, run_dir, resume=False, force=False, overwrite=True, console=c,
                                     invocation=invocation))
    if code == 2:
        raise typer.Exit(code)
    _tour(run_dir, c)
    raise typer.Exit(code)


def _tour(run_dir: Path, c) -> None:  # noqa: ANN001 - rich Console
    from tuneguard.catalog import say
    from tuneguard.demo import tour_answers
    from tuneguard.store.run_store import RunStore

    with RunStore(run_dir) as store:
        s = store.summary()
        evals = [(m["step"], m["eval_loss"]) for m in store.metrics("eval")]
        test = store.metrics("test")
    lines: list[Any] = [styled("state: ", (s["state"], "bold"), f" at step {s['step']}/{s['max_steps']}")]
    if len(evals) == 1:
        lines.append(say("report.demo.val_one", loss=f"{evals[0][1]:.3f}", step=evals[0][0]))
    elif evals:
        lines.append(say("report.demo.val_many", first=f"{evals[0][1]:.3f}", first_step=evals[0][0],
                         last=f"{evals[-1][1]:.3f}", last_step=evals[-1][0]))
    if test and test[-1].get("eval_loss") is not None:
        lines.append(say("report.demo.test", loss=f"{test[-1]['eval_loss']:.3f}"))
    errors = [f for f in s["findings"] if f["severity"] == "error"]
    lines.append(say("report.demo.findings", n=len(s["findings"]), errors=len(errors), run=run_dir))
    lines += tour_answers(run_dir)  # model output: the console prints it verbatim
    lines += ["", say("report.demo.run_dir", run=run_dir)] + _path_hint() + [say("report.demo.next")]
    commands = ((f"tuneguard report {run_dir}", "report"), (f"tuneguard next {run_dir}", "next"),
                (f"tuneguard generate {run_dir} \"Write 64 in words.\"", "generate"))
    width = max(len(cmd) for cmd, _ in commands) + 2
    lines += [f"  {cmd:<{width}}# {say(f'report.demo.next.{what}')}" for cmd, what in commands]
    c.rule("what happened")
    for line in lines:
        c.print(line)


def _path_hint() -> list[str]:
    """A line when `tuneguard` typed in this shell would not run this installation (the README's
    `.venv/bin/tuneguard demo`, no virtual environment active): the commands the tour and the
    run print would fail when pasted."""
    import os
    import shutil
    import sys

    from tuneguard.catalog import say

    bin_dir = Path(sys.executable).parent
    found = shutil.which("tuneguard")
    if found is not None and Path(found).parent.resolve() == bin_dir.resolve():
        return []
    program = bin_dir / "tuneguard"
    if not program.is_file():
        return [say("report.demo.program", program=f"{sys.executable} -m tuneguard")]

    def short(p: Path) -> str:
        try:
            rel = os.path.relpath(p)
        except ValueError:  # another drive (Windows)
            return str(p)
        return str(p) if rel.startswith("..") else rel

    activate = bin_dir / "activate"
    if activate.is_file():
        return [say("report.demo.activate", activate=short(activate), program=short(program))]
    return [say("report.demo.program", program=short(program))]
