"""`tuneguard status RUN_DIR [--json]`: the run's state from its store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tuneguard.cli.common import EXIT_USAGE, console, fail, print_json, styled
from tuneguard.cli.run_clock import RunClock, clock_line, run_clock
from tuneguard.fmt import fmt_duration, num
from tuneguard.report.components import stopped_sentence
from tuneguard.store.run_store import describe_store_error
from tuneguard.events import Event

STATE_STYLE = {"running": "bold green", "paused": "bold yellow", "starting": "bold cyan", "finished": "bold green",
               "stopped": "bold yellow", "halted": "bold red", "failed": "bold red"}


def read_status(run_dir: Path) -> dict[str, Any]:
    """The status object of a run (`status --json`), its notification failures, actions and
    recent control requests; FileNotFoundError or sqlite3.Error when there is no readable store."""
    from tuneguard.store.run_store import open_for_reading

    with open_for_reading(run_dir) as store:
        s = store.summary()
        s["times"] = run_clock(store.times(), s["state"], s.get("eta_s")).to_json()
        s["config"] = store.get_meta("config") or {}
        failures = store.events(Event.NOTIFY_FAILED)
        s["notify_failures_detail"] = [e["payload"] for e in failures[-5:]]
        # Channels that take no more messages this run (LINE's monthly limit): said once each.
        s["notify_stopped"] = [{"step": e["step"], **{k: v for k, v in e["payload"].items() if k != "text"},
                                "message": stopped_sentence(e["payload"])} for e in store.events(Event.NOTIFY_STOPPED)]
        s["actions"] = [{"step": e["step"], **e["payload"]} for e in store.events(Event.ACTION)]  # tuneguard.policy
        s["control"] = store.control_requests()[-5:]
        s["rerun"] = _rerun(store.meta(), s["state"], run_dir)
    return s


def _rerun(meta: dict[str, Any], state: str, run_dir: Path) -> str | None:
    """The command that starts a run again which failed before its first step (a model that
    would not load, the audit's refusal): such a run has nothing to resume, and the same
    command, once its cause is fixed, replaces it. None for any other run."""
    from tuneguard.store.invocation import Invocation, rerun_command

    started = Invocation.from_meta(meta)
    if state != "failed" or meta.get("started") is not None or started is None:
        return None
    return rerun_command(started, run_dir)


def status(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show state, progress, latest metrics and findings of a run."""
    try:
        s = read_status(run_dir)
    except FileNotFoundError as exc:
        fail(str(exc), EXIT_USAGE, json_out=json_)
    except (sqlite3.Error, OSError) as exc:
        fail(describe_store_error(run_dir, exc), EXIT_USAGE, json_out=json_)
    control, config = s.pop("control"), s.pop("config")
    if json_:
        print_json(s)
        return
    c = console()
    pct = f" ({100 * s['step'] / s['max_steps']:.0f}%)" if s.get("max_steps") else ""
    c.print(styled((str(run_dir), "bold"), "  state ", (s["state"], STATE_STYLE.get(s["state"], "bold")),
                   f"  step {num(s['step'])}/{num(s['max_steps'], missing='?')}{pct}  epoch {num(s['epoch'], 3)}"))
    eta = fmt_duration(s.get("eta_s")) if s["state"] == "running" else "-"
    c.print(f"train loss {num(s['train_loss'])}  eval loss {num(s['eval_loss'])}  best eval {num(s['best_eval_loss'])}  "
            f"tokens/s {num(s.get('tokens_per_s'))}  ETA {eta}")
    c.print(clock_line(RunClock(**s["times"]), s["state"], config), markup=False, highlight=False)
    if s.get("exit_reason"):
        code = f" (exit {s['exit_code']})" if s.get("exit_code") is not None else ""
        c.print(f"ended{code}: {s['exit_reason']}", markup=False)
    if s.get("rerun"):
        from tuneguard.catalog import say
        from tuneguard.report.components import report_language

        c.print(say("status.rerun", report_language(config), command=s["rerun"]), markup=False)
    if s["findings"]:
        from tuneguard.cli.findings_view import print_findings

        c.print()
        c.print(styled((f"findings ({len(s['findings'])})", "bold")))
        print_findings(c, s["findings"])
    actions = s["actions"]
    if actions:
        t = Table("step", "code", "action", "from", "to", "what", title="actions")
        for a in actions:
            t.add_row(num(a.get("step")), str(a.get("code", "")), str(a.get("action", "")), num(a.get("from")),
                      num(a.get("to")), str(a.get("message", "")))
        c.print(t)
    failures = s["notify_failures_detail"]
    if failures:
        last = failures[-1]
        c.print(styled((f"{s['notify_failures']} notification(s) failed", "yellow"),
                       f"; last: {last.get('reason', last)}"))
    for stop in s["notify_stopped"]:
        c.print(styled(("notifications stopped", "yellow"), f" at step {num(stop.get('step'))}: {stop['message']}"))
    for r in control:
        c.print(f"control: {r['action']} by {r['requested_by']} -> {r['status']}")
