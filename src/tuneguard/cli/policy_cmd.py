"""`tuneguard set-lr RUN_DIR VALUE|xFACTOR` and `tuneguard rollback RUN_DIR [--to STEP]`.

Like the control commands (tuneguard.cli.control_cmd), these only insert a request into the
run store; the trainer's control callback hands it to the run's policy engine at the next
optimizer step (tuneguard.policy). Exit codes: 0 accepted by a live run (with --wait:
carried out), 1 no live run (with --wait: rejected, or the run ended first), 2 a value
that is not a learning rate, a factor or a step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tuneguard.catalog import Spec, T
from tuneguard.cli.common import EXIT_USAGE, fail
from tuneguard.cli.control_cmd import (
    TimeoutOpt,
    WaitOpt,
    _open_live,
    after_request,
    requested_by,
)
from tuneguard.policy.lr import parse_lr_request

RunDirArg = Annotated[Path, typer.Argument(help="Run directory of a live run.")]


def _send(run_dir: Path, action: str, arg: str, what: Spec, wait: bool, timeout: float | None) -> int:
    store, language = _open_live(run_dir)
    with store:
        rid = store.request_control(action, arg=arg, requested_by=requested_by())
        return after_request(store, rid, action, run_dir, what, wait, timeout, language)


def set_lr(
    run_dir: RunDirArg,
    value: Annotated[str, typer.Argument(help="New learning rate (1e-5) or a factor of the current one (x0.1).")],
    wait: WaitOpt = False,
    timeout: TimeoutOpt = None,
) -> None:
    """Change the learning rate of a live run from the next step; the schedule goes on from the new scale."""
    try:
        req = parse_lr_request(value)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    what = T("control.what.set_lr_factor" if req.relative else "control.what.set_lr", value=req.value)
    raise typer.Exit(_send(run_dir, "set_lr", str(req), what, wait, timeout))


def rollback(
    run_dir: RunDirArg,
    to: Annotated[int | None, typer.Option("--to", min=0, help="Step of the checkpoint to go back to "
                                           "(default: the newest before the current step).")] = None,
    skip_steps: Annotated[int, typer.Option("--skip-steps", min=0, help="Also skip the batches of the last N steps "
                                            "before the rollback.")] = 0,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = None,
) -> None:
    """Roll a live run back to a checkpoint (model, optimizer, scheduler, data position) and go on from there."""
    if to is not None:
        _check_checkpoint(run_dir, to)
    what = T("control.what.rollback_to" if to is not None else "control.what.rollback", step=to,
             skip=T("control.what.rollback_skip", n=skip_steps) if skip_steps else "")
    arg = json.dumps({"to": to, "skip_steps": skip_steps})
    raise typer.Exit(_send(run_dir, "rollback", arg, what, wait, timeout))


def _check_checkpoint(run_dir: Path, step: int) -> None:
    """Refuse `--to STEP` at once when the run has no complete checkpoint at STEP (exit 2),
    instead of a request that the trainer can only reject later, in its own log."""
    from tuneguard.checkpoints import complete_checkpoints

    from tuneguard.catalog import say

    store, language = _open_live(run_dir)  # no live run: exit 1 first, as for every control command
    store.close()
    have = complete_checkpoints(run_dir / "checkpoints")
    if step not in have:
        listed = ", ".join(str(s) for s in sorted(have)) or say("configcli.none_yet", language)
        fail(say("configcli.no_checkpoint", language, run_dir=run_dir, step=step, listed=listed), EXIT_USAGE)


def register(app: typer.Typer) -> None:
    """Add set-lr and rollback to the `tuneguard` app."""
    app.command("set-lr")(set_lr)
    app.command("rollback")(rollback)
