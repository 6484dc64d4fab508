"""`tuneguard status RUN_DIR [--json]`: the run's state from its store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuneguard.cli.common import EXIT_USAGE, console, fail, print_json
from tuneguard.fmt import fmt_duration


def _f(v: object) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def status(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show state, progress, latest metrics and findings of a run."""
    from tuneguard.store.run_store import RunStore

    try:
        store = RunStore(run_dir)
    except FileNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    with store:
        s = store.summary()
        failures = store.events("notify_failed")
        actions = [{"step": e["step"], **e["payload"]} for e in store.events("action")]  # tuneguard.policy
        control = store.control_requests()[-5:]
    if json_:
        s["notify_failures_detail"] = [e["payload"] for e in failures[-5:]]
        s["actions"] = actions
        print_json(s)
        return
    c = console()
    pct = f" ({100 * s['step'] / s['max_steps']:.0f}%)" if s.get("max_steps") else ""
    c.print(f"[bold]{run_dir}[/]  state [bold]{s['state']}[/]  step {s['step']}/{s['max_steps']}{pct}  "
            f"epoch {_f(s['epoch'])}")
    c.print(f"train loss {_f(s['train_loss'])}  eval loss {_f(s['eval_loss'])}  best eval {_f(s['best_eval_loss'])}  "
            f"tokens/s {_f(s.get('tokens_per_s'))}  ETA {fmt_duration(s.get('eta_s')) if s['state'] == 'running' else '-'}")
    if s.get("exit_reason"):
        c.print(f"ended: {s['exit_reason']}", markup=False)
    if s["findings"]:
        t = Table("step", "severity", "code", "message", title="findings")
        for f in s["findings"]:
            t.add_row("audit" if f["step"] is None else str(f["step"]), f["severity"], f["code"], f["message"])
        c.print(t)
    if actions:
        t = Table("step", "code", "action", "from", "to", "what", title="actions")
        for a in actions:
            t.add_row(_f(a.get("step")), str(a.get("code", "")), str(a.get("action", "")), _f(a.get("from")),
                      _f(a.get("to")), str(a.get("message", "")))
        c.print(t)
    if failures:
        c.print(f"[yellow]{len(failures)} notification(s) failed[/]; last: {failures[-1]['payload']}", markup=True)
    for r in control:
        c.print(f"control: {r['action']} by {r['requested_by']} -> {r['status']}", markup=False)
