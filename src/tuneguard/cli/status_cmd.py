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
from tuneguard.events import Event, next_step_lines

STATE_STYLE = {"running": "bold green", "paused": "bold yellow", "starting": "bold cyan", "finished": "bold green",
               "stopped": "bold yellow", "halted": "bold red", "failed": "bold red"}


def read_status(run_dir: Path) -> dict[str, Any]:
    """The status object of a run (`status --json`), its notification failures, actions and
    recent control requests; FileNotFoundError or sqlite3.Error when there is no readable store."""
    from tuneguard.store.run_store import open_for_reading

    from tuneguard.catalog import config_language

    with open_for_reading(run_dir) as store:
        s = store.summary()
        s["times"] = run_clock(store.times(), s["state"], s.get("eta_s")).to_json()
        # The last logged estimate means nothing once the run is paused or over: a script that
        # polls `status --json` of a stopped run read "26 s left".
        s["eta_s"] = s["times"]["eta_s"]
        s["config"] = store.get_meta("config") or {}
        # The reason the views make up (a process gone, no state recorded), said in the run's
        # language for a person; --json keeps the English.
        s["said_reason"] = store.view_state(language=config_language(s["config"]))[1]
        failures = store.events(Event.NOTIFY_FAILED)
        s["notify_failures_detail"] = [e["payload"] for e in failures[-5:]]
        # Channels that take no more messages this run (LINE's monthly limit): said once each.
        stopped = store.events(Event.NOTIFY_STOPPED)
        s["notify_stopped"] = [{"step": e["step"], **{k: v for k, v in e["payload"].items() if k != "text"},
                                "message": stopped_sentence(e["payload"])} for e in stopped]
        s["notify_stopped_payloads"] = [e["payload"] for e in stopped]  # said in the run's language; not in --json
        s["actions"] = [{"step": e["step"], **e["payload"]} for e in store.events(Event.ACTION)]  # tuneguard.policy
        s["control"] = store.control_requests()[-5:]
        s["rerun"] = _rerun(store.meta(), s["state"], run_dir)
        s["resume"], s["resume_advice"] = _resume(store.meta(), s["state"], run_dir)  # the advice: not in --json
        halts = store.events(Event.HALTED) if s["state"] == "halted" else []
        s["next_steps"] = ((halts[-1].get("payload") or {}).get("next_steps") or []) if halts else []
        # A halt, or the audit's refusal before training (a rerun): the data `tuneguard fix` cleaned.
        s["data_fixed"] = _data_fixed(store) if halts or s["rerun"] else None
        if s["data_fixed"] is not None:  # the fix is done: what is left is the next run, on its config
            from tuneguard.nextrun import next_command

            s["rerun"] = None  # the same command would read the faulty data again
            s["next_steps"] = [{"kind": "next", "command": next_command(run_dir)}]
    return s


def _data_fixed(store: Any) -> dict[str, str] | None:
    """The newest `tuneguard fix` of this run's data (its `data_fixed` event) whose config is still
    on disk: {"out", "config"}; `tuneguard next RUN_DIR` trains on that config. None without one."""
    from tuneguard.nextrun import DATA_FIXED_EVENT

    for e in reversed(store.events(DATA_FIXED_EVENT)):
        p = e.get("payload") or {}
        if isinstance(p.get("config"), str) and Path(p["config"]).is_file():
            return {"out": str(p.get("out") or Path(p["config"]).parent), "config": p["config"]}
    return None


RESUMABLE = ("stopped", "failed")  # a stop, a kill (a dead live run reads "failed"), a crash


def _resume(meta: dict[str, Any], state: str, run_dir: Path) -> tuple[str | None, Any]:
    """(the `tuneguard train ... --resume auto` that continues a run which trained and then
    stopped, was killed (SIGKILL, a preempted machine) or crashed, the same in words with the
    secret overrides it leaves out); (None, None) for any other run."""
    from tuneguard.store.invocation import Invocation, resume_advice, resume_command

    if state not in RESUMABLE or meta.get("started") is None:
        return None, None
    started = Invocation.from_meta(meta)
    return resume_command(started, run_dir), resume_advice(started, run_dir)


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
    control, config, stopped = s.pop("control"), s.pop("config"), s.pop("notify_stopped_payloads")
    said = s.pop("said_reason")
    advice = s.pop("resume_advice")
    if json_:
        print_json(s)
        return
    from tuneguard.catalog import config_language

    s["exit_reason"] = said
    _show(s, run_dir, config, config_language(config), control, stopped, advice)


def _exit_reason(s: dict[str, Any], lang: str) -> str:
    """The exit reason as the report says it in `lang` (a halt's finding message, the recipe's reasons)."""
    from types import SimpleNamespace

    from tuneguard.findings import Finding
    from tuneguard.report.components import exit_reason

    findings = [Finding.from_dict(f) for f in s["findings"] if isinstance(f, dict)]
    said = exit_reason(SimpleNamespace(meta={"exit_reason": s["exit_reason"]}, findings=findings), lang)  # type: ignore[arg-type]
    return str(said if said is not None else s["exit_reason"])


def _show(s: dict[str, Any], run_dir: Path, config: Any, lang: str, control: list[Any], stopped: list[Any],
          advice: Any = None) -> None:
    """The status for a person, in the run's language (`lang`); states, codes and actions as
    stored (the names `--json` and the config use); `advice`: how to continue the run (_resume)."""
    from tuneguard.catalog import TABLE, T, in_language, render, say

    c = console()
    pct = f" ({100 * s['step'] / s['max_steps']:.0f}%)" if s.get("max_steps") else ""
    c.print(styled((str(run_dir), "bold"), say("statuscli.state", lang), (s["state"], STATE_STYLE.get(s["state"], "bold")),
                   say("statuscli.progress", lang, step=num(s["step"]), max_steps=num(s["max_steps"], missing="?"),
                       pct=pct, epoch=num(s["epoch"], 3))))
    eta = fmt_duration(s.get("eta_s")) if s["state"] == "running" else "-"
    c.print(say("statuscli.metrics", lang, train=num(s["train_loss"]), eval=num(s["eval_loss"]),
                best=num(s["best_eval_loss"]), tps=num(s.get("tokens_per_s")), eta=eta))
    c.print(clock_line(RunClock(**s["times"]), s["state"], config), markup=False, highlight=False)
    if s["state"] == "unknown":
        c.print(s["exit_reason"], markup=False)  # what run.db lacks, not an end
    elif s.get("exit_reason"):
        code = say("statuscli.exit_code", lang, code=s["exit_code"]) if s.get("exit_code") is not None else ""
        c.print(say("statuscli.ended", lang, code=code, reason=_exit_reason(s, lang)), markup=False)
    if s.get("rerun"):
        c.print(say("status.rerun", lang, command=s["rerun"]), markup=False)
    if advice is not None:
        c.print(render(T("resume.continue", resume=advice), lang), markup=False)
    if s.get("data_fixed"):
        c.print(say("status.data_fixed", lang, **s["data_fixed"]), markup=False, highlight=False)
    for line in next_step_lines(s.get("next_steps"), lang):  # a halted run's fix / next commands
        c.print(line, markup=False, highlight=False)
    if s["findings"]:
        from tuneguard.cli.findings_view import print_findings

        c.print()
        c.print(styled((say("statuscli.findings", lang, n=len(s["findings"])), "bold")))
        print_findings(c, s["findings"], language=lang)
    if s["actions"]:
        heads = [say(f"statuscli.col.{k}", lang) for k in ("step", "code", "action", "from", "to", "what")]
        t = Table(*heads, title=say("statuscli.actions", lang))
        for a in s["actions"]:
            t.add_row(num(a.get("step")), str(a.get("code", "")), str(a.get("action", "")), num(a.get("from")),
                      num(a.get("to")), in_language(a.get("text"), str(a.get("message", "")), lang))
        c.print(t)
    failures = s["notify_failures_detail"]
    if failures:
        last = failures[-1]
        c.print(styled((say("statuscli.notify_failed", lang, n=s["notify_failures"]), "yellow"),
                       say("statuscli.notify_last", lang, reason=last.get("reason", last))))
    for stop, payload in zip(s["notify_stopped"], stopped, strict=False):
        c.print(styled((say("statuscli.notify_stopped", lang), "yellow"),
                       say("statuscli.notify_stopped_at", lang, step=num(stop.get("step")),
                           message=stopped_sentence(payload, lang))))
    for r in control:
        status = say(f"control.status.{r['status']}", lang) if f"control.status.{r['status']}" in TABLE else r["status"]
        c.print(say("statuscli.control", lang, action=r["action"], who=r["requested_by"], status=status))
