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


def _dur(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


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

    from tuneguard.tools import plan as planner

    _setup(debug)
    cfg = load_or_exit(config, set_)
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
        warnings: list[str] = [w for w in (planner.eval_cost_warning(cfg, p),) if w]
        if calibrate:
            with err_console().status(Text(f"calibrating: {calibrate} optimizer steps")):
                cal = planner.calibrate(cfg, tokenizer, data, p, calibrate)
            est = planner.estimate(p, cal, price_per_hour)
            warnings += planner.memory_warnings(cfg, p, cal)
            note = planner.multi_process_note(ws)
            if note:
                warnings.append(note)
        elif price_per_hour is not None:
            warnings.append("--price-per-hour needs --calibrate N to measure the time a step takes")
    if json_:
        print_json({**p.to_dict(), "calibration": cal.to_dict() if cal else None,
                    "estimate": est.to_dict() if est else None, "warnings": warnings})
        return
    _print_plan(config, p, cal, est, warnings)


def _print_plan(config: str, p: Any, cal: Any, est: Any, warnings: list[str]) -> None:
    c = console()
    procs = f"{p.world_size} process{'es' if p.world_size > 1 else ''}"
    c.print(styled(("plan", "bold"), f" {config}: model {p.model}, {procs}"))
    sizes = ", ".join(f"{k} {v:,}" for k, v in p.sizes.items())
    skipped = f", {p.rows_skipped} skipped as malformed" if p.rows_skipped else ""
    c.print(f"data ({p.data_format}): {p.rows_read:,} rows read{skipped} -> {sizes}", markup=False)
    c.print(f"tokens per epoch: {p.tokens_per_epoch:,} ({p.supervised_tokens_per_epoch:,} supervised); per example "
            f"mean {p.mean_tokens_per_example:.0f}, longest {p.longest_example}; {p.truncated_examples} truncated",
            markup=False)
    if p.chat_turns.get("multi_turn_rows") or p.chat_turns.get("turns_fallback"):
        t = p.chat_turns
        fell = (f"; {t['turns_fallback']:,} supervise only their last answer (the chat template is not "
                "prefix-consistent)" if t["turns_fallback"] else "")
        c.print(f"chat: {t['multi_turn_rows']:,} multi-turn rows supervise every assistant turn "
                f"({t['earlier_turns']:,} answers before the last){fell}", markup=False)
    c.print(f"steps per epoch: {p.steps_per_epoch:,} (ceil({p.sizes['train']:,} / (batch {p.batch_size} x "
            f"accumulation {p.gradient_accumulation_steps} x {p.world_size})))", markup=False)
    c.print(f"steps in total: {p.total_steps:,} ({p.epochs:.2f} epochs)", markup=False)
    if p.eval_steps:
        c.print(f"evaluations: {len(p.eval_steps)} ({p.eval_strategy}) at steps {_steps_list(p.eval_steps)}; "
                f"{p.eval_batches} batches each", markup=False)
    else:
        c.print("evaluations: none (eval.strategy: no)", markup=False)
    c.print(f"checkpoints: {len(p.save_steps)} at steps {_steps_list(p.save_steps)}; {p.checkpoints_kept} kept",
            markup=False)
    if cal is not None:
        mem = "peak GPU memory (max allocated)" if cal.on_gpu else "peak process memory (RSS)"
        where = "the GPU" if cal.on_gpu else "the machine"
        c.print(styled(("calibration", "bold"), f": {cal.steps} steps on {cal.device} (the first, {_dur(cal.warmup_step_s)}, "
                f"is a warm-up and not counted)"))
        c.print(f"  time per step: {_dur(cal.seconds_per_step)}; {cal.tokens_per_s:,.0f} tokens/s "
                f"({cal.tokens_per_step:,.0f} tokens per step)", markup=False)
        c.print(f"  one evaluation: {_dur(cal.eval_s)}" + (f" + QA probes {_dur(cal.qa_s)}" if cal.qa_s else "")
                + f"; one checkpoint: {_dur(cal.checkpoint_s)}; model load: {_dur(cal.load_s)}", markup=False)
        c.print(f"  {mem}: {cal.peak_gb:.2f} GB of {cal.total_gb:.1f} GB on {where}; about {cal.scaled_peak_gb:.2f} GB "
                f"at the widest batch ({cal.longest_batch_possible} tokens; {cal.longest_batch_seen} seen)", markup=False)
    if est is not None:
        c.print(styled(("estimate", "bold"), f": {_dur(est.total_s)} = training {_dur(est.train_s)} + evaluations "
                f"{_dur(est.evals_s)} + checkpoints {_dur(est.checkpoints_s)}"
                + (f" + test {_dur(est.test_s)}" if est.test_s else "")
                + f" + load and warm-up {_dur(est.load_s + est.warmup_s)}"))
        c.print(f"  ends about {time.strftime('%Y-%m-%d %H:%M', time.localtime(est.end))} if started now", markup=False)
        if est.evaluations:
            c.print("  evaluations start at: " + ", ".join(f"step {r['step']} +{_dur(r['at_s'])}"
                                                          for r in est.evaluations[:6])
                    + (", ..." if len(est.evaluations) > 6 else ""), markup=False)
        if est.cost is not None:
            c.print(styled(("cost", "bold"), f": {est.cost:,.2f} at {est.price_per_hour:,.2f} per hour "
                    f"({est.total_s / 3600:.2f} h)"))
    for w in warnings:
        c.print(styled(("warning:", "bold yellow"), " ", w))


# --- generate and chat ------------------------------------------------------------------

def _load(run_dir: Path, checkpoint: str) -> Any:
    """The run's model; a transient spinner on a terminal while it loads (minutes for a large model)."""
    from tuneguard.tools.checkpoints import load_run_model

    with err_console().status(Text(f"loading the model of {run_dir} (--checkpoint {checkpoint})")):
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
    from tuneguard.tools.generate import Sampling, prompt_format, stream

    _setup(debug)
    opts = Sampling(max_new_tokens, temperature, top_p)
    with user_errors(debug):
        opts.check()
        run = _load(run_dir, checkpoint)
        fmt = prompt_format(run.tokenizer, run.cfg, run.meta.get("data_format"), raw)
        err_console().print(f"prompt format: {fmt.mode.replace('_', ' ')}", style="dim", markup=False)
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
    from tuneguard.tools.generate import ChatSession, Sampling, prompt_format

    _setup(debug)
    opts = Sampling(max_new_tokens, temperature, top_p)
    with user_errors(debug):
        opts.check()
        run = _load(run_dir, checkpoint)
        fmt = prompt_format(run.tokenizer, run.cfg, run.meta.get("data_format"), raw)
        session = ChatSession(run.model, run.tokenizer, fmt, opts, run.device)
        c = console()
        turns = "the whole conversation" if fmt.multi_turn else "the last message only"
        c.print(f"{run.adapter_dir} · {fmt.mode.replace('_', ' ')} ({turns}) · /reset clears the history, "
                "/quit or Ctrl-D ends", style="dim", markup=False)
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
                c.print("(history cleared)", style="dim", markup=False)
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
    from tuneguard.tools.evaluate import evaluate_run

    _setup(debug)
    if batch_size is not None and batch_size < 1:
        _fail(f"--batch-size must be >= 1, got {batch_size}", EXIT_USAGE)
    if not data.exists():
        _fail(f"--data {data} does not exist", EXIT_USAGE)
    with user_errors(debug):
        run = _load(run_dir, checkpoint)
        with err_console().status(Text(f"evaluating {data}")):
            report = evaluate_run(run, data, batch_size)
    if json_:
        print_json(report.to_dict())
        return
    c = console()
    d = report.data
    c.print(f"{d.path}: {len(d.split.features):,} examples ({d.format}), "
            f"{d.split.stats.supervised_tokens:,} supervised tokens"
            + (f", {d.skipped} rows skipped" if d.skipped else "") + f" · adapter {report.adapter}")
    t = Table("", "base", "fine-tuned", "change")

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
        t.add_row("QA keyword score", num(kb), num(kt), f"{kt - kb:+.2f}" if kb is not None and kt is not None else "-")
        eb = sum(p.base.emitted_eos for p in report.probes) / len(report.probes)
        et = sum(p.tuned.emitted_eos for p in report.probes) / len(report.probes)
        t.add_row("QA stops (EOS)", f"{eb:.0%}", f"{et:.0%}", f"{et - eb:+.0%}")
        judged = [p for p in report.probes if p.base.correct is not None]
        if judged:
            rb, rt = sum(bool(p.base.correct) for p in judged), sum(bool(p.tuned.correct) for p in judged)
            t.add_row("QA expected answers right", f"{rb} of {len(judged)}", f"{rt} of {len(judged)}", f"{rt - rb:+d}")
    c.print(t)
    for p in report.probes:
        c.print(styled(("probe", "bold"), f" {p.prompt.strip()[:80]}  keywords: {', '.join(p.keywords) or '-'}"))
        c.print(f"  base  ({num(p.base.keyword_score)}): {p.base.output.strip()[:160]}", markup=False)
        c.print(f"  tuned ({num(p.tuned.keyword_score)}): {p.tuned.output.strip()[:160]}", markup=False)


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
    from tuneguard.tools import export as exporter

    _setup(debug)
    token = None
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
        with err_console().status(Text(f"exporting {run_dir} to {out}")):
            result = exporter.export_run(run_dir, out, checkpoint=checkpoint, merge=merge, dtype=dtype,
                                         overwrite=overwrite)
        c = console()
        kind = "merged model" if result.merged else "adapter"
        c.print(f"exported the {kind} ({result.dtype}, from {result.adapter_dir}) to {result.out}: "
                f"{', '.join(result.files)}", markup=False)
        if push_to_hub and token:
            url = exporter.push_to_hub(result.out, push_to_hub, token, private)
            c.print(f"uploaded to {url}", markup=False)
