"""`tuneguard stop|pause|continue|checkpoint RUN_DIR` and `tuneguard watch RUN_DIR`.

A control command only inserts a request (who, when) into the run store; the trainer reads
it at the next optimizer step (tuneguard.control.requests). Exit codes: 0 the request was
accepted by a live run, 1 there is no live run (or the request could only be rejected:
`continue` of a run that is not paused, `pause` of a paused one). With `--wait` the command blocks until the
trainer has handled the request and exits 0 when it was carried out, 1 when it was
rejected or the run ended first.
"""

from __future__ import annotations

import getpass
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from tuneguard.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    console,
    err_console,
    error_line,
    fail,
)

RunDirArg = Annotated[Path, typer.Argument(help="Run directory of a live run.")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Block until the trainer has handled the request.")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", min=0, help="With --wait: give up after this many seconds.")]

_WHAT = {
    "stop": "the trainer saves a checkpoint and stops at the next optimizer step",
    "pause": "the trainer saves a checkpoint and pauses at the next optimizer step; "
             "`tuneguard continue {run_dir}` resumes it",
    "continue": "the paused trainer resumes",
    "checkpoint": "the trainer saves a checkpoint at the next optimizer step",
}


def requested_by() -> str:
    """Who sent a request, as the store records it: user@host pid N."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = "user"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _open_live(run_dir: Path) -> Any:
    from tuneguard.store.run_store import LIVE_STATES, NotARunStore, RunStore, describe_store_error, open_for_reading

    try:
        # Read-only first: a directory that holds no live run is left exactly as it was.
        with open_for_reading(run_dir) as reader:
            live = reader.is_live()
            m = reader.meta()
        store = RunStore(run_dir) if live else None
    except NotARunStore as exc:
        fail(f"no live run in {run_dir}: {exc}")
    except FileNotFoundError:
        fail(f"no live run in {run_dir}: there is no run store (run.db) there")
    except (sqlite3.Error, OSError) as exc:
        fail(f"no live run in {run_dir}: {describe_store_error(run_dir, exc)}")
    if store is None:
        from tuneguard.catalog import T, render
        from tuneguard.store.invocation import Invocation, resume_advice

        state = m.get("state") or "unknown"
        if state in LIVE_STATES:
            fail(render(T("resume.gone", run_dir=str(run_dir), state=state, pid=m.get("pid"), host=m.get("host"),
                          resume=resume_advice(Invocation.from_meta(m), run_dir))))
        fail(f"no live run in {run_dir}: state {state}")
    return store


def send_request(run_dir: Path, action: str, wait: bool = False, timeout: float | None = None) -> int:
    """Insert a request for a live run; with `wait`, follow it to its outcome. Returns the exit code."""
    store = _open_live(run_dir)
    with store:
        _refuse_pointless(store, action, run_dir)
        rid = store.request_control(action, requested_by=requested_by())
        return after_request(store, rid, action, run_dir, _WHAT[action].format(run_dir=run_dir), wait, timeout)


def _refuse_pointless(store: Any, action: str, run_dir: Path) -> None:
    """`continue` a run that is not paused, or `pause` one that is: the trainer would only reject
    the request, while this command said it was accepted (exit 0) and what it would do. Said
    now, exit 1, nothing queued. A `continue` right after a `pause` the trainer has not reached
    yet is a real request and goes through."""
    state = store.state()
    pending = {r["action"] for r in store.pending_control()}
    step = store.get_meta("step")
    at = f" at step {step}" if isinstance(step, int) else ""
    if action == "continue" and state != "paused" and "pause" not in pending:
        fail(f"{run_dir} is not paused (state {state}{at}): there is nothing to continue; "
             f"`tuneguard pause {run_dir}` pauses it", EXIT_FAIL)
    if action == "pause" and state == "paused":
        fail(f"{run_dir} is already paused{at}: `tuneguard continue {run_dir}` resumes it, "
             f"`tuneguard stop {run_dir}` ends it", EXIT_FAIL)


EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


def after_request(store: Any, rid: int, action: str, run_dir: Path, what: str, wait: bool,
                  timeout: float | None) -> int:
    """Say what was requested; with `wait`, follow it to its outcome. Ctrl-C at any point
    here leaves the request queued, and says so in one line."""
    try:
        console().print(f"{action.replace('_', '-')} requested for {run_dir} (request {rid}): {what}")
        if not wait:
            return EXIT_OK
        return _follow(store, rid, action, run_dir, timeout)
    except KeyboardInterrupt:
        err_console().print(error_line(f"interrupted while waiting: request {rid} ({action}) stays queued, and the "
                                       "trainer handles it at its next step; `tuneguard status` shows it"))
        return EXIT_INTERRUPTED


def _follow(store: Any, rid: int, action: str, run_dir: Path, timeout: float | None) -> int:
    c = console()
    deadline = None if timeout is None else time.monotonic() + timeout
    req: dict[str, Any] = {}
    while True:
        req = next(r for r in store.control_requests() if r["id"] == rid)
        if req["status"] != "pending":
            break
        if not store.is_live():
            err_console().print(error_line(f"the run ended (state {store.view_state()[0]}) before handling "
                                           f"request {rid}"))
            return EXIT_FAIL
        if deadline is not None and time.monotonic() > deadline:
            err_console().print(error_line(f"request {rid} still pending after {timeout:g} s "
                                           "(is the trainer in a long evaluation or save?)"))
            return EXIT_FAIL
        time.sleep(0.2)
    c.print(f"{action} {req['status']} at step {req['handled_step']}: {req['note'] or ''}".rstrip(": "), markup=False)
    if req["status"] != "done":
        return EXIT_FAIL
    if action == "stop":
        # Done means the checkpoint is written; the run still loads the best model, saves the
        # adapter and writes its report before it ends.
        while store.is_live():
            if deadline is not None and time.monotonic() > deadline:
                return EXIT_OK
            time.sleep(0.2)
        from tuneguard.catalog import T, render
        from tuneguard.store.invocation import Invocation, resume_advice

        resume = resume_advice(Invocation.from_meta(store.meta()), run_dir)
        c.print(render(T("resume.ended", state=store.state(), resume=resume)), markup=False)
    return EXIT_OK


def stop(run_dir: RunDirArg, wait: WaitOpt = False, timeout: TimeoutOpt = None) -> None:
    """Stop a live run: checkpoint now, end with state stopped (resume with --resume auto)."""
    raise typer.Exit(send_request(run_dir, "stop", wait, timeout))


def pause(run_dir: RunDirArg, wait: WaitOpt = False, timeout: TimeoutOpt = None) -> None:
    """Pause a live run after a checkpoint; it keeps the model loaded until `continue`."""
    raise typer.Exit(send_request(run_dir, "pause", wait, timeout))


def continue_(run_dir: RunDirArg, wait: WaitOpt = False, timeout: TimeoutOpt = None) -> None:
    """Resume a paused run."""
    raise typer.Exit(send_request(run_dir, "continue", wait, timeout))


def checkpoint(run_dir: RunDirArg, wait: WaitOpt = False, timeout: TimeoutOpt = None) -> None:
    """Save a checkpoint of a live run now; training goes on."""
    raise typer.Exit(send_request(run_dir, "checkpoint", wait, timeout))


def watch(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between refreshes.")] = 2.0,
) -> None:
    """Live dashboard of a run (progress, loss, eval loss, tokens/s, memory, findings, control)."""
    from tuneguard.cli.watch import watch_run

    from tuneguard.store.run_store import describe_store_error

    try:
        watch_run(run_dir, console(), interval)
    except FileNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    except sqlite3.Error as exc:
        fail(describe_store_error(run_dir, exc), EXIT_USAGE)
    except KeyboardInterrupt:
        err_console().print("stopped watching (the run goes on)", markup=False)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the control and watch commands to the `tuneguard` app."""
    app.command("stop")(stop)
    app.command("pause")(pause)
    app.command("continue")(continue_)
    app.command("checkpoint")(checkpoint)
    app.command("watch")(watch)
