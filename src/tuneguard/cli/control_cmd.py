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

ACTIONS = ("stop", "pause", "continue", "checkpoint")  # what each does: catalog `control.what.ACTION`


def requested_by() -> str:
    """Who sent a request, as the store records it: user@host pid N."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = "user"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _language(meta: dict[str, Any]) -> str:
    """The run's language (report.language, else notify.language): what concerns the run is said in it."""
    from tuneguard.catalog import config_language

    return config_language(meta.get("config"))


def _open_live(run_dir: Path) -> tuple[Any, str]:
    """The store of the live run in `run_dir`, writable, and the run's language; exit 1 with
    one line when there is no live run there."""
    from tuneguard.catalog import say
    from tuneguard.store.run_store import (LIVE_STATES, NotARunStore, RunStore, describe_store_error, open_for_reading,
                                           process_spec)

    try:
        # Read-only first: a directory that holds no live run is left exactly as it was.
        with open_for_reading(run_dir) as reader:
            live = reader.is_live()
            m = reader.meta()
        store = RunStore(run_dir) if live else None
    except NotARunStore as exc:
        fail(say("control.no_live", "en", run_dir=str(run_dir), reason=str(exc)))
    except FileNotFoundError:
        fail(say("control.no_store", "en", run_dir=str(run_dir)))
    except (sqlite3.Error, OSError) as exc:
        fail(say("control.no_live", "en", run_dir=str(run_dir), reason=describe_store_error(run_dir, exc)))
    language = _language(m)
    if store is None:
        from tuneguard.catalog import T, render
        from tuneguard.store.invocation import Invocation, resume_advice

        state = m.get("state") or "unknown"
        if state in LIVE_STATES:
            process = process_spec(m)
            key = "resume.gone_unknown" if process["key"] == "run.process_unknown" else "resume.gone"
            fail(render(T(key, run_dir=str(run_dir), state=state, process=process,
                          resume=resume_advice(Invocation.from_meta(m), run_dir)), language))
        fail(say("control.not_live", language, run_dir=str(run_dir), state=state))
    return store, language


def send_request(run_dir: Path, action: str, wait: bool = False, timeout: float | None = None) -> int:
    """Insert a request for a live run; with `wait`, follow it to its outcome. Returns the exit code."""
    from tuneguard.catalog import T

    store, language = _open_live(run_dir)
    with store:
        _refuse_pointless(store, action, run_dir, language)
        rid = store.request_control(action, requested_by=requested_by())
        what = T(f"control.what.{action}", **({"run_dir": str(run_dir)} if action == "pause" else {}))
        return after_request(store, rid, action, run_dir, what, wait, timeout, language)


def _refuse_pointless(store: Any, action: str, run_dir: Path, language: str = "en") -> None:
    """`continue` a run that is not paused, or `pause` one that is: the trainer would only reject
    the request, while this command said it was accepted (exit 0) and what it would do. Said
    now, exit 1, nothing queued. A `continue` right after a `pause` the trainer has not reached
    yet is a real request and goes through."""
    from tuneguard.catalog import T, say

    state = store.state()
    pending = {r["action"] for r in store.pending_control()}
    step = store.get_meta("step")
    at = T("control.at_step", step=step) if isinstance(step, int) else ""
    if action == "continue" and state != "paused" and "pause" not in pending:
        fail(say("control.not_paused", language, run_dir=str(run_dir), state=state, at=at), EXIT_FAIL)
    if action == "pause" and state == "paused":
        fail(say("control.already_paused", language, run_dir=str(run_dir), at=at), EXIT_FAIL)


EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


def after_request(store: Any, rid: int, action: str, run_dir: Path, what: Any, wait: bool,
                  timeout: float | None, language: str = "en") -> int:
    """Say what was requested (`what`: a catalog spec or text); with `wait`, follow it to its
    outcome. Ctrl-C at any point here leaves the request queued, and says so in one line."""
    from tuneguard.catalog import say

    name = action.replace("_", "-")
    try:
        console().print(say("control.requested", language, action=name, run_dir=str(run_dir), rid=rid, what=what),
                        markup=False)
        if not wait:
            return EXIT_OK
        return _follow(store, rid, action, run_dir, timeout, language)
    except KeyboardInterrupt:
        err_console().print(error_line(say("control.interrupted", language, rid=rid, action=action)))
        return EXIT_INTERRUPTED


def _wait_handled(store: Any, rid: int, timeout: float | None, language: str) -> dict[str, Any] | None:
    """The request once the trainer handled it; None (said in one line) when the run ended
    first or `timeout` passed."""
    from tuneguard.catalog import say

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        req = next(r for r in store.control_requests() if r["id"] == rid)
        if req["status"] != "pending":
            return dict(req)
        if not store.is_live():
            err_console().print(error_line(say("control.ended_first", language, state=store.view_state()[0], rid=rid)))
            return None
        if deadline is not None and time.monotonic() > deadline:
            err_console().print(error_line(say("control.still_pending", language, rid=rid, timeout=f"{timeout:g}")))
            return None
        time.sleep(0.2)


def _follow(store: Any, rid: int, action: str, run_dir: Path, timeout: float | None, language: str = "en") -> int:
    from tuneguard.catalog import T, render, say

    c = console()
    started = time.monotonic()
    req = _wait_handled(store, rid, timeout, language)
    if req is None:
        return EXIT_FAIL
    status = T(f"control.status.{req['status']}") if req["status"] in ("done", "rejected") else req["status"]
    key = "control.handled_note" if req["note"] else "control.handled"
    c.print(say(key, language, action=action, status=status, step=req["handled_step"], note=req["note"] or ""),
            markup=False)
    if req["status"] != "done":
        return EXIT_FAIL
    if action == "stop":
        # Done means the checkpoint is written; the run still loads the best model, saves the
        # adapter and writes its report before it ends.
        while store.is_live():
            if timeout is not None and time.monotonic() - started > timeout:
                return EXIT_OK
            time.sleep(0.2)
        from tuneguard.store.invocation import Invocation, resume_advice

        resume = resume_advice(Invocation.from_meta(store.meta()), run_dir)
        c.print(render(T("resume.ended", state=store.state(), resume=resume), language), markup=False)
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
        from tuneguard.catalog import say
        from tuneguard.cli.common import run_language

        err_console().print(say("control.stopped_watching", run_language(run_dir)), markup=False)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the control and watch commands to the `tuneguard` app."""
    app.command("stop")(stop)
    app.command("pause")(pause)
    app.command("continue")(continue_)
    app.command("checkpoint")(checkpoint)
    app.command("watch")(watch)
