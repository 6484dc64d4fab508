"""The end of a run that trained: the adapter and tokenizer, the test metrics, the final state
with its event (finished, early-stopped, stopped, halted), the report, and the last line."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from tuneguard.catalog import TABLE, config_language, say
from tuneguard.context import RunContext
from tuneguard.data.pipeline import PreparedData
from tuneguard.dist import save_adapter
from tuneguard.errors import EXIT_FAIL, EXIT_OK
from tuneguard.events import EndPayload, Event
from tuneguard.store.run_store import RunStore
from tuneguard.train.build import ListDataset
from tuneguard.train.diskfull import DiskFull, is_disk_full

log = logging.getLogger(__name__)


def finish_run(ctx: RunContext, trainer: Any, data: PreparedData, tokenizer: Any, console: Console,
               seconds: float) -> int:
    """Save what the run made and record how it ended; the exit code of the contract."""
    reason = ctx.stop_reason  # as training ended: the test evaluation's callbacks do not change it
    if ctx.notifier is not None:
        ctx.notifier.ending()  # the last messages must not wait for a target with no network
    test_metrics = save_results(ctx, trainer, data, tokenizer, halted=reason == "halted")
    store = ctx.store
    if not ctx.is_main or store is None:
        return EXIT_FAIL if reason == "halted" else EXIT_OK
    from tuneguard.guard.qa import record_base_answers

    state = trainer.state
    record_base_answers(ctx, trainer.model, tokenizer, state.global_step, trainer.args)  # the report's before/after
    store.set_meta(best_checkpoint=state.best_model_checkpoint, best_step=state.best_global_step,
                   best_eval_loss=state.best_metric, ended=time.time(), train_seconds=seconds)
    times = store.times()  # over every process that trained the run, not this one alone
    summary: EndPayload = {"step": state.global_step, "max_steps": state.max_steps, "best_eval_loss": state.best_metric,
               "best_step": state.best_global_step,
               "test_metrics": {k: v for k, v in test_metrics.items() if v is not None},
               "started": times.first_started, "duration_s": times.wall_s, "train_s": times.train_s,
               "processes": times.processes, "adapter": str(ctx.run_dir / "adapter"),
               "checkpoint": state.best_model_checkpoint}
    code = record_end(ctx, store, state, summary, reason)
    write_report(ctx, console)
    write_adapter_card(ctx, store, tokenizer)
    if ctx.notifier is not None:
        # Flush now, so that what it reports (a failed delivery) comes before the last line.
        store.set_meta(notify_caller_seconds=round(getattr(ctx.notifier, "seconds", 0.0), 6))
        ctx.notifier.close(timeout=ctx.cfg.notify.flush_timeout_s)
    console.print(Text(end_line(ctx, store.state(), state.global_step, state.max_steps, state.best_metric)))
    for line in halted_next_lines(ctx, store):
        console.print(Text(line))
    return code


def end_line(ctx: RunContext, state: str | None, step: int, max_steps: int, best: float | None) -> str:
    """The run's last line (how it ended, its best eval loss, where the adapter is) in the run's language."""
    lang = config_language(ctx.cfg)
    evaluated = say("traincli.no_eval", lang) if best is None else say("traincli.best_eval", lang, loss=round(best, 4))
    word = state if lang == "en" or f"report.state.{state}" not in TABLE else say(f"report.state.{state}", lang)
    return say("traincli.end", lang, state=word, step=step, max_steps=max_steps, evaluated=evaluated,
               adapter=ctx.run_dir / "adapter")


def halted_next_lines(ctx: RunContext, store: Any) -> list[str]:
    """A halted run's next commands under its last line, as its halted message ends (`tuneguard
    fix` for data it must fix first, then `tuneguard next`): the terminal that ran it is where
    the user reads first. None for a run that did not halt."""
    from tuneguard.events import next_step_lines

    try:
        if store.state() != "halted":
            return []
        halts = store.events(Event.HALTED)
        steps = (halts[-1].get("payload") or {}).get("next_steps") if halts else None
        return next_step_lines(steps, config_language(ctx.cfg))
    except Exception:  # noqa: BLE001 - advice must never fail the run it ends
        log.debug("no next steps for the console", exc_info=True)
        return []


def write_adapter_card(ctx: RunContext, store: RunStore, tokenizer: Any) -> None:
    """RUN_DIR/adapter/README.md: tuneguard's model card instead of PEFT's empty template, so the
    adapter a user finds says which base it needs, where that is, and the prompt format."""
    from tuneguard.report.card import CardSource, model_card

    adapter = ctx.run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        return
    try:
        card = model_card(CardSource(ctx.cfg, tokenizer, ctx.run_dir, adapter, store.meta()), merged=False,
                          dtype=ctx.cfg.model.dtype, checkpoint=None)
        (adapter / "README.md").write_text(card, "utf-8")
    except Exception as exc:  # noqa: BLE001 - the adapter is saved; its card is a courtesy
        log.warning("could not write the model card %s: %s", adapter / "README.md", exc)


def save_results(ctx: RunContext, trainer: Any, data: PreparedData, tokenizer: Any, *, halted: bool) -> dict[str, Any]:
    """The adapter (every rank: gathering FSDP shards is a collective) and tokenizer, then the
    test split's metrics (none after a halt: the weights are what the guard stopped)."""
    adapter_dir = ctx.run_dir / "adapter"
    save_adapter(trainer, adapter_dir, ctx.is_main)
    if ctx.is_main:
        tokenizer.save_pretrained(adapter_dir)
    if data.test is None or halted:
        return {}
    m = trainer.evaluate(ListDataset(data.test.features), metric_key_prefix="test")
    loss = m.get("test_loss")
    test_metrics = {"eval_loss": loss, "perplexity": math.exp(loss) if loss is not None and loss < 50 else None}
    if ctx.store is not None:
        ctx.store.log_metrics(trainer.state.global_step, "test", test_metrics)
    return test_metrics


def record_end(ctx: RunContext, store: RunStore, state: Any, summary: EndPayload, reason: str | None) -> int:
    """The final state and its event, by why training ended; the exit code."""
    step = state.global_step
    # The step it ended at, which a stop, a halt or a pause between two logs is ahead of the
    # last logged row: `status` and the report say it, as the terminal and the messages do.
    store.set_meta(step=step)
    if reason == "halted":
        f = ctx.halt_finding
        store.set_state("halted", exit_reason=f"{f.code}: {f.message}" if f else "halted by a guard")
        ctx.event(Event.HALTED, {**summary, "code": f.code if f else None, "message": f.message if f else None,
                             "finding": f.to_dict() if f else None, "next_steps": next_steps(ctx.run_dir)},
                  step=step)
        return EXIT_FAIL
    if reason == "stopped":
        stops = [r for r in store.control_requests() if r["action"] == "stop" and r["status"] == "done"]
        ctx.stop_detail = ctx.stop_detail or (f"stop requested by {stops[-1]['requested_by']}" if stops else None)
        summary["requested_by"] = stops[-1]["requested_by"] if stops else None
        summary["checkpoint"] = str(ctx.run_dir / "checkpoints" / f"checkpoint-{step}")
        store.set_state("stopped", exit_reason=ctx.stop_detail or "stopped on request")
        ctx.event(Event.STOPPED, {**summary, "reason": ctx.stop_detail}, step=step)
        return EXIT_OK
    early = reason == "early_stop" or (step < state.max_steps and state.max_steps > 0)
    store.set_state("finished", exit_reason="early stop" if early else "completed")
    if early:
        ctx.event(Event.EARLY_STOP, {**summary, "reason": "patience exhausted"}, step=step)
    ctx.event(Event.FINISHED, summary, step=step)
    return EXIT_OK


def next_steps(run_dir: Path, run: Any = None) -> list[dict[str, str]]:
    """The commands to run after this run (`tuneguard fix` / `tuneguard next`), for the
    messages that end it; none when they cannot be worked out (they help, they never fail a run)."""
    try:
        from tuneguard.report.next_steps import next_steps as commands
        from tuneguard.report.rundata import load_run

        return commands(run if run is not None else load_run(run_dir))
    except Exception:  # noqa: BLE001
        log.debug("no next steps for %s", run_dir, exc_info=True)
        return []


def write_report(ctx: RunContext, console: Console) -> None:
    """report.html and report.md, the diagnosis line and the `report` event; a failure is a
    warning (a report must not fail a finished run) unless the disk is full."""
    try:
        from tuneguard.report.html import write_report as write_html
    except ImportError:
        return
    try:
        path = write_html(ctx.run_dir)
        from tuneguard.report.recommend import diagnose_run
        from tuneguard.report.rundata import load_run
        from tuneguard.report.verdict import compute_verdict

        run = load_run(ctx.run_dir)
        verdict, diagnosis = compute_verdict(run), diagnose_run(run)
    except Exception as exc:  # noqa: BLE001 - a report failure must not fail a finished run
        if is_disk_full(exc, ctx.run_dir):  # ... unless the disk is full: the user must act
            raise DiskFull("the report (report.html, report.md)", exc) from exc
        log.warning("could not write the report: %s", ctx.scrub(str(exc)))
        return
    # The verdict with its counts: "inconclusive" next to a healthy diagnosis reads as a
    # contradiction unless the line says the criteria that could not be judged (no QA probes, no test split).
    lang = config_language(ctx.cfg)  # the run's, like its report
    console.print(Text(f"{diagnosis.line(lang)}\n{say('traincli.report', lang, path=path, verdict=verdict.summary_line(lang))}"))
    ctx.event(Event.REPORT, {"path": str(path), "verdict": verdict.overall, "summary": verdict.summary_line(),
                             "criteria": [{"name": c.name, "status": c.status, "checked": c.checked}
                                          for c in verdict.criteria],
                             "diagnosis": diagnosis.to_dict(), "next_steps": next_steps(ctx.run_dir, run)})
