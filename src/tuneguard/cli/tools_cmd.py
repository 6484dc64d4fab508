"""`tuneguard plan | generate | chat | evaluate | export`: before and after a run.

The work lives in tuneguard.tools; these functions parse options, map the errors a user can
cause to one line and an exit code (2 usage/config/data, 1 failure), and render results.
The main CLI registers them: `app.command("plan")(tools_cmd.plan)` and so on.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from tuneguard.cli.common import (
    EXIT_FAIL,
    EXIT_USAGE,
    console,
    err_console,
    fail,
    load_or_exit,
    print_json,
    run_language,
    setup_logging,
    styled,
)

DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
RunDirArg = Annotated[Path, typer.Argument(help="Run directory of a tuneguard train run.")]
CheckpointOpt = Annotated[str, typer.Option("--checkpoint", help="best, last, or a step number (checkpoints/checkpoint-STEP).")]
TemperatureOpt = Annotated[float, typer.Option("--temperature", help="Sampling temperature; 0 is greedy.")]
TopPOpt = Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")]


def _fail(message: str, code: int) -> NoReturn:
    fail(message, code)


def _setup(debug: bool) -> None:
    """Logging as every command has it, and no weight-loading progress bars (they would
    interleave with streamed replies) unless --debug."""
    setup_logging(debug)
    if not debug:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


@contextlib.contextmanager
def user_errors(debug: bool) -> Iterator[None]:
    """Errors a user can cause become one line and an exit code; others too, unless --debug."""
    from tuneguard.cli.errors import exit_for
    from tuneguard.errors import TuneguardError

    try:
        yield
    except typer.Exit:
        raise
    except TuneguardError as exc:
        exit_for(exc)
    except KeyboardInterrupt:  # the line and code of a Ctrl-C anywhere (tuneguard.cli.main)
        from tuneguard.catalog import say
        from tuneguard.errors import EXIT_INTERRUPTED

        _fail(say("input.interrupted"), EXIT_INTERRUPTED)
    except Exception as exc:
        if debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        _fail(f"{type(exc).__name__}: {first} (--debug shows the traceback)", EXIT_FAIL)


def _dur(seconds: float, lang: str = "en") -> str:
    """A measured time in the unit that reads best (ms, s, min, h), in `lang`."""
    from tuneguard.catalog import say

    if seconds < 1:
        return say("tools.ms", lang, v=seconds * 1000)
    if seconds < 120:
        return say("tools.s", lang, v=seconds)
    if seconds < 7200:
        return say("tools.min", lang, v=seconds / 60)
    return say("tools.h", lang, v=seconds / 3600)


def _steps_list(steps: list[int], show: int = 8) -> str:
    if len(steps) <= show:
        return ", ".join(map(str, steps))
    return ", ".join(map(str, steps[: show - 2])) + f", ..., {steps[-2]}, {steps[-1]}"


# --- plan ------------------------------------------------------------------------------

def plan(
    config: Annotated[str, typer.Argument(help="YAML config file or preset name.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: section.key=value (YAML value).")] = None,
    calibrate: Annotated[int | None, typer.Option("--calibrate", help="Measure N real optimizer steps (discarded).")] = None,
    price_per_hour: Annotated[float | None, typer.Option("--price-per-hour", help="Machine price per hour, for a cost line.")] = None,
    world_size: Annotated[int | None, typer.Option("--world-size", help="Training processes (GPUs); default WORLD_SIZE or 1.")] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Plan a run without training: data sizes, tokens, steps, evaluations and checkpoints;
    with --calibrate N also time per step, tokens/s, end time, peak memory and cost."""
    import os

    from tuneguard.catalog import config_language, say
    from tuneguard.tools import plan as planner

    _setup(debug)
    cfg = load_or_exit(config, set_)
    lang = "en" if json_ else config_language(cfg)  # the config's language; --json stays English
    ws = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE") or 1)
    if ws < 1:
        _fail(f"--world-size must be >= 1, got {ws}", EXIT_USAGE)
    if price_per_hour is not None and price_per_hour < 0:
        _fail(f"--price-per-hour must be >= 0, got {price_per_hour}", EXIT_USAGE)
    if calibrate is not None and calibrate < 2:
        _fail(f"--calibrate needs at least 2 steps (the first is a warm-up that is not counted), got {calibrate}",
              EXIT_USAGE)
    with user_errors(debug):
        tokenizer, data = planner.prepare(cfg)
        p = planner.make_plan(cfg, data, ws)
        cal = est = None
        warnings: list[str] = [w for w in (planner.eval_cost_warning(cfg, p, lang),) if w]
        if calibrate:
            with err_console().status(Text(say("tools.plan.calibrating", lang, n=calibrate))):
                cal = planner.calibrate(cfg, tokenizer, data, p, calibrate)
            est = planner.estimate(p, cal, price_per_hour)
            warnings += planner.memory_warnings(cfg, p, cal)
            note = planner.multi_process_note(ws)
            if note:
                warnings.append(note)
        elif price_per_hour is not None:
            warnings.append(say("tools.plan.price_needs_calibrate", lang))
    if json_:
        print_json({**p.to_dict(), "calibration": cal.to_dict() if cal else None,
                    "estimate": est.to_dict() if est else None, "warnings": warnings})
        return
    _print_plan(config, p, warnings, lang)
    if cal is not None:
        _print_calibration(cal, lang)
    if est is not None:
        _print_estimate(est, lang)
    for w in warnings:
        console().print(styled((say("tools.warning", lang), "bold yellow"), " ", w))


def _print_plan(config: str, p: Any, warnings: list[str], lang: str) -> None:
    """The plan's lines, in the config's language `lang`."""
    from tuneguard.catalog import say

    c = console()
    procs = say("tools.plan.procs.many" if p.world_size > 1 else "tools.plan.procs.one", lang, n=p.world_size)
    c.print(styled((say("tools.plan", lang), "bold"), say("tools.plan.head", lang, config=config, model=p.model,
                                                           procs=procs)))
    sizes = ", ".join(say(f"auditcli.size.{k}", lang, n=f"{v:,}") for k, v in p.sizes.items())
    skipped = say("tools.plan.skipped", lang, n=p.rows_skipped) if p.rows_skipped else ""
    c.print(say("tools.plan.data", lang, format=p.data_format, rows=p.rows_read, skipped=skipped, sizes=sizes),
            markup=False)
    c.print(say("tools.plan.tokens", lang, tokens=p.tokens_per_epoch, supervised=p.supervised_tokens_per_epoch,
                mean=p.mean_tokens_per_example, longest=p.longest_example, truncated=p.truncated_examples), markup=False)
    if p.chat_turns.get("multi_turn_rows") or p.chat_turns.get("turns_fallback"):
        t = p.chat_turns
        fell = say("tools.plan.chat_fallback", lang, n=t["turns_fallback"]) if t["turns_fallback"] else ""
        c.print(say("tools.plan.chat", lang, rows=t["multi_turn_rows"], earlier=t["earlier_turns"], fell=fell),
                markup=False)
    c.print(say("tools.plan.steps_per_epoch", lang, steps=p.steps_per_epoch, train=p.sizes["train"], batch=p.batch_size,
                accum=p.gradient_accumulation_steps, world=p.world_size), markup=False)
    c.print(say("tools.plan.steps_total", lang, steps=p.total_steps, epochs=p.epochs), markup=False)
    if p.eval_steps:
        c.print(say("tools.plan.evals", lang, n=len(p.eval_steps), strategy=p.eval_strategy,
                    steps=_steps_list(p.eval_steps), batches=p.eval_batches), markup=False)
    else:
        c.print(say("tools.plan.no_evals", lang), markup=False)
    c.print(say("tools.plan.checkpoints", lang, n=len(p.save_steps), steps=_steps_list(p.save_steps),
                kept=p.checkpoints_kept), markup=False)


def _print_calibration(cal: Any, lang: str) -> None:
    """What --calibrate measured: time per step and per evaluation, peak memory."""
    from tuneguard.catalog import say

    c = console()
    c.print(styled((say("tools.plan.calibration", lang), "bold"),
                   say("tools.plan.calibration_head", lang, n=cal.steps, device=cal.device,
                       warmup=_dur(cal.warmup_step_s, lang))))
    c.print(say("tools.plan.step_time", lang, time=_dur(cal.seconds_per_step, lang), tps=cal.tokens_per_s,
                tokens=cal.tokens_per_step), markup=False)
    qa = say("tools.plan.qa_time", lang, time=_dur(cal.qa_s, lang)) if cal.qa_s else ""
    c.print(say("tools.plan.eval_time", lang, eval=_dur(cal.eval_s, lang), qa=qa,
                checkpoint=_dur(cal.checkpoint_s, lang), load=_dur(cal.load_s, lang)), markup=False)
    c.print(say("tools.plan.memory.gpu" if cal.on_gpu else "tools.plan.memory.rss", lang, peak=cal.peak_gb,
                total=cal.total_gb, scaled=cal.scaled_peak_gb, possible=cal.longest_batch_possible,
                seen=cal.longest_batch_seen), markup=False)


def _print_estimate(est: Any, lang: str) -> None:
    """How long the run would take, when it would end, and what it would cost."""
    from tuneguard.catalog import say

    c = console()
    test = say("tools.plan.estimate_test", lang, time=_dur(est.test_s, lang)) if est.test_s else ""
    c.print(styled((say("tools.plan.estimate", lang), "bold"),
                   say("tools.plan.estimate_parts", lang, total=_dur(est.total_s, lang), train=_dur(est.train_s, lang),
                       evals=_dur(est.evals_s, lang), checkpoints=_dur(est.checkpoints_s, lang), test=test,
                       load=_dur(est.load_s + est.warmup_s, lang))))
    c.print(say("tools.plan.ends", lang, when=time.strftime("%Y-%m-%d %H:%M", time.localtime(est.end))), markup=False)
    if est.evaluations:
        starts = ", ".join(say("tools.plan.eval_start", lang, step=r["step"], time=_dur(r["at_s"], lang))
                           for r in est.evaluations[:6])
        c.print(say("tools.plan.eval_starts", lang, list=starts + (", ..." if len(est.evaluations) > 6 else "")),
                markup=False)
    if est.cost is not None:
        c.print(styled((say("tools.plan.cost", lang), "bold"),
                       say("tools.plan.cost_line", lang, cost=est.cost, price=est.price_per_hour,
                           hours=est.total_s / 3600)))


# --- generate and chat ------------------------------------------------------------------

def _load(run_dir: Path, checkpoint: str, lang: str) -> Any:
    """The run's model; a transient spinner on a terminal while it loads (minutes for a large model)."""
    from tuneguard.catalog import say
    from tuneguard.tools.checkpoints import load_run_model

    with err_console().status(Text(say("tools.loading", lang, run_dir=run_dir, checkpoint=checkpoint))):
        return load_run_model(run_dir, checkpoint)


def generate(
    run_dir: RunDirArg,
    prompt: Annotated[str, typer.Argument(help="The instruction (wrapped in the run's prompt format unless --raw).")],
    checkpoint: CheckpointOpt = "best",
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Most tokens to generate.")] = 256,
    temperature: TemperatureOpt = 0.7,
    top_p: TopPOpt = 0.9,
    raw: Annotated[bool, typer.Option("--raw", help="Send the prompt verbatim, without a template.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Generate a reply from the base model + the run's adapter, streamed as it comes."""
    from tuneguard.catalog import say
    from tuneguard.tools.generate import Sampling, prompt_format, stream

    _setup(debug)
    opts = Sampling(max_new_tokens, temperature, top_p)
    lang = run_language(run_dir)
    with user_errors(debug):
        opts.check()
        run = _load(run_dir, checkpoint, lang)
        fmt = prompt_format(run.tokenizer, run.cfg, run.meta.get("data_format"), raw)
        err_console().print(say("tools.prompt_format", lang, mode=fmt.mode.replace("_", " ")), style="dim", markup=False)
        text = fmt.render([{"role": "user", "content": prompt}])
        for piece in stream(run.model, run.tokenizer, text, opts, run.device):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()


def chat(
    run_dir: RunDirArg,
    checkpoint: CheckpointOpt = "best",
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Most tokens per reply.")] = 256,
    temperature: TemperatureOpt = 0.7,
    top_p: TopPOpt = 0.9,
    raw: Annotated[bool, typer.Option("--raw", help="Send each line verbatim, without a template.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Chat with the trained model: `you> ` prompts, streamed replies; /reset clears the
    history, /quit or Ctrl-D ends."""
    from tuneguard.catalog import say
    from tuneguard.tools.generate import ChatSession, Sampling, prompt_format

    _setup(debug)
    opts = Sampling(max_new_tokens, temperature, top_p)
    lang = run_language(run_dir)
    with user_errors(debug):
        opts.check()
        run = _load(run_dir, checkpoint, lang)
        fmt = prompt_format(run.tokenizer, run.cfg, run.meta.get("data_format"), raw)
        session = ChatSession(run.model, run.tokenizer, fmt, opts, run.device)
        c = console()
        turns = say("tools.chat.whole" if fmt.multi_turn else "tools.chat.last", lang)
        c.print(say("tools.chat.banner", lang, adapter=run.adapter_dir, mode=fmt.mode.replace("_", " "), turns=turns),
                style="dim", markup=False)
        while True:
            try:
                line = input("you> ")
            except (EOFError, KeyboardInterrupt):
                sys.stdout.write("\n")
                break
            cmd = line.strip()
            if not cmd:
                continue
            if cmd in ("/quit", "/exit", "/q"):
                break
            if cmd == "/reset":
                session.reset()
                c.print(say("tools.chat.cleared", lang), style="dim", markup=False)
                continue
            sys.stdout.write("model> ")
            sys.stdout.flush()
            try:
                for piece in session.reply(line):
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            except KeyboardInterrupt:
                pass  # a long reply was cut short: back to the prompt
            sys.stdout.write("\n")
            sys.stdout.flush()


# --- evaluate --------------------------------------------------------------------------

def evaluate(
    run_dir: RunDirArg,
    data: Annotated[Path, typer.Option("--data", help="Data file (JSONL, JSON, CSV, Parquet or a dataset folder).")],
    checkpoint: CheckpointOpt = "best",
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Eval batch size (default the run's).")] = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Loss, perplexity and the run's QA probes on a data file: base versus fine-tuned."""
    from tuneguard.catalog import say
    from tuneguard.tools.evaluate import evaluate_run

    _setup(debug)
    if batch_size is not None and batch_size < 1:
        _fail(f"--batch-size must be >= 1, got {batch_size}", EXIT_USAGE)
    if not data.exists():
        _fail(f"--data {data} does not exist", EXIT_USAGE)
    lang = "en" if json_ else run_language(run_dir)  # the run's language; --json stays English
    with user_errors(debug):
        run = _load(run_dir, checkpoint, lang)
        with err_console().status(Text(say("tools.evaluating", lang, data=data))):
            report = evaluate_run(run, data, batch_size)
    if json_:
        print_json(report.to_dict())
        return
    _print_evaluation(report, lang)


def _print_evaluation(report: Any, lang: str) -> None:
    """Base versus fine-tuned: the table of losses and QA scores, then each probe's two answers."""
    from tuneguard.catalog import say

    c = console()
    d = report.data
    skipped = say("tools.eval.skipped", lang, n=d.skipped) if d.skipped else ""
    c.print(say("tools.eval.head", lang, path=d.path, n=len(d.split.features), format=d.format,
                tokens=d.split.stats.supervised_tokens, skipped=skipped, adapter=report.adapter), markup=False)
    t = Table("", *(say(f"tools.eval.col.{k}", lang) for k in ("base", "tuned", "change")))

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"

    t.add_row("loss", num(report.base.loss), num(report.tuned.loss), f"{report.tuned.loss - report.base.loss:+.4f}")
    bp, tp = report.base.perplexity, report.tuned.perplexity
    t.add_row("perplexity", num(bp), num(tp), f"{(tp - bp) / bp:+.1%}" if bp and tp else "-")
    if report.probes:
        def mean(rs: list[Any]) -> float | None:
            s = [r.keyword_score for r in rs if r.keyword_score is not None]
            return sum(s) / len(s) if s else None

        kb, kt = mean([p.base for p in report.probes]), mean([p.tuned for p in report.probes])
        t.add_row(say("tools.eval.row.keyword", lang), num(kb), num(kt), f"{kt - kb:+.2f}" if kb is not None and kt is not None else "-")
        eb = sum(p.base.emitted_eos for p in report.probes) / len(report.probes)
        et = sum(p.tuned.emitted_eos for p in report.probes) / len(report.probes)
        t.add_row(say("tools.eval.row.eos", lang), f"{eb:.0%}", f"{et:.0%}", f"{et - eb:+.0%}")
        judged = [p for p in report.probes if p.base.correct is not None]
        if judged:
            rb, rt = sum(bool(p.base.correct) for p in judged), sum(bool(p.tuned.correct) for p in judged)
            t.add_row(say("tools.eval.row.right", lang), say("tools.eval.of", lang, k=rb, n=len(judged)),
                      say("tools.eval.of", lang, k=rt, n=len(judged)), f"{rt - rb:+d}")
    c.print(t)
    for p in report.probes:
        c.print(styled((say("tools.eval.probe", lang), "bold"), f" {p.prompt.strip()[:80]}",
                       say("tools.eval.keywords", lang, keywords=", ".join(p.keywords) or "-")))
        c.print(say("tools.eval.base", lang, score=num(p.base.keyword_score), output=p.base.output.strip()[:160]),
                markup=False)
        c.print(say("tools.eval.tuned", lang, score=num(p.tuned.keyword_score), output=p.tuned.output.strip()[:160]),
                markup=False)


# --- export ----------------------------------------------------------------------------

def _creatable(out: Path) -> None:
    """Make --out now (an empty folder is what the export accepts), so that a folder that cannot
    be written is said in one line before the base model loads, not minutes later."""
    if out.exists():
        return
    try:
        out.mkdir(parents=True)
    except OSError as exc:
        _fail(f"--out {out} cannot be created ({exc.strerror or exc}): choose a folder you can write", EXIT_USAGE)


def export(
    run_dir: RunDirArg,
    out: Annotated[Path, typer.Option("--out", help="Folder to write (new or empty).")],
    merge: Annotated[bool, typer.Option("--merge", help="Merge the adapter into the base weights (plain transformers model).")] = False,
    dtype: Annotated[str | None, typer.Option("--dtype", help="bf16, fp16 or fp32 (default: the run's).")] = None,
    checkpoint: CheckpointOpt = "best",
    push_to_hub: Annotated[str | None, typer.Option(
        "--push-to-hub", help="Upload to this hub repo (user/name); token from HF_TOKEN.")] = None,
    private: Annotated[bool, typer.Option("--private", help="With --push-to-hub: create the repo private.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace what --out holds.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Export the adapter (or, with --merge, the merged model) with the tokenizer and a model card."""
    from tuneguard.catalog import say
    from tuneguard.tools import export as exporter

    _setup(debug)
    token = None
    lang = run_language(run_dir)
    with user_errors(debug):
        exporter.parse_dtype(dtype)
        if push_to_hub:
            # Before the export, which can take minutes for a large model.
            token = exporter.hub_token()
            if not token:
                _fail("--push-to-hub needs a Hugging Face token: set HF_TOKEN to a write token "
                      "(https://huggingface.co/settings/tokens)", EXIT_FAIL)
        exporter.check_out_dir(out, run_dir, overwrite)
        _creatable(out)
        with err_console().status(Text(say("tools.exporting", lang, run_dir=run_dir, out=out))):
            result = exporter.export_run(run_dir, out, checkpoint=checkpoint, merge=merge, dtype=dtype,
                                         overwrite=overwrite)
        c = console()
        c.print(say("tools.exported.merged" if result.merged else "tools.exported.adapter", lang, dtype=result.dtype,
                    source=result.adapter_dir, out=result.out, files=", ".join(result.files)), markup=False)
        if push_to_hub and token:
            url = exporter.push_to_hub(result.out, push_to_hub, token, private)
            c.print(say("tools.uploaded", lang, url=url), markup=False)
