"""`tuneguard plan`: what a run will take, before it is started.

Without training: the data after filtering (the same `prepare_data` as `train`), real
tokens per epoch, steps per epoch and in total (`steps_plan`, the Trainer's arithmetic),
and the steps at which the Trainer will evaluate and save (its DefaultFlowCallback rules).

With a calibration run: N real optimizer steps of the same model, LoRA, collator and batch
settings in a throwaway Trainer (a temporary directory; nothing reaches a run directory),
measuring the time per step without the first (warm-up) step, tokens/s, one evaluation,
one checkpoint save, and peak memory. Those turn the schedule into an end time and a cost,
and on a GPU into a warning, with the knob to turn, when the run will not fit.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import torch

from tuneguard.config.schema import Config
from tuneguard.data.pipeline import PreparedData
from tuneguard.tools import ToolError, ToolUsageError
from tuneguard.model import load as model_lib
from tuneguard.train.memfit import memory_knobs as _memory_knobs
from tuneguard.errors import UsageError
from tuneguard.train.build import ListDataset, load_tokenizer_and_data, steps_plan

log = logging.getLogger(__name__)

GB = 1024**3
EVAL_BATCHES_TIMED = 20  # an evaluation is timed on at most this many batches, then scaled
FIT_HEADROOM = 0.95  # allocator fragmentation: a peak above 95% of the device rarely survives


@dataclasses.dataclass
class Plan:
    """The schedule of a run as the Trainer will execute it (no model needed)."""

    model: str
    world_size: int
    data_format: str
    rows_read: int
    rows_skipped: int
    sizes: dict[str, int]
    tokens_per_epoch: int
    supervised_tokens_per_epoch: int
    validation_tokens: int
    mean_tokens_per_example: float
    longest_example: int
    truncated_examples: int
    batch_size: int
    gradient_accumulation_steps: int
    examples_per_step: int
    steps_per_epoch: int
    total_steps: int
    epochs: float
    eval_strategy: str
    eval_steps: list[int]
    eval_batches: int
    test_batches: int
    save_steps: list[int]
    checkpoints_kept: int
    # Chat data: multi_turn_rows, earlier_turns, turns_fallback of the training split (TokenizeStats).
    chat_turns: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "world_size": self.world_size,
            "data": {"format": self.data_format, "rows_read": self.rows_read, "rows_skipped": self.rows_skipped,
                     **self.sizes, **({"chat_turns": self.chat_turns} if self.chat_turns else {})},
            "tokens": {"per_epoch": self.tokens_per_epoch, "supervised_per_epoch": self.supervised_tokens_per_epoch,
                       "validation": self.validation_tokens, "mean_per_example": round(self.mean_tokens_per_example, 2),
                       "longest_example": self.longest_example, "truncated_examples": self.truncated_examples},
            "steps": {"batch_size": self.batch_size, "gradient_accumulation_steps": self.gradient_accumulation_steps,
                      "world_size": self.world_size, "examples_per_step": self.examples_per_step,
                      "steps_per_epoch": self.steps_per_epoch, "total": self.total_steps,
                      "epochs": round(self.epochs, 4)},
            "evaluations": {"strategy": self.eval_strategy, "count": len(self.eval_steps), "steps": self.eval_steps,
                            "batches_each": self.eval_batches},
            "checkpoints": {"count": len(self.save_steps), "steps": self.save_steps, "kept": self.checkpoints_kept},
        }


@dataclasses.dataclass
class Calibration:
    """What N real optimizer steps measured."""

    steps: int
    device: str
    on_gpu: bool
    load_s: float
    warmup_step_s: float
    seconds_per_step: float
    tokens_per_step: float
    tokens_per_s: float
    eval_s: float
    eval_batches_timed: int
    qa_s: float
    checkpoint_s: float
    memory_kind: str  # cuda_max_allocated | process_rss
    base_gb: float
    peak_gb: float
    total_gb: float
    longest_batch_seen: int
    longest_batch_possible: int
    scaled_peak_gb: float
    performance: dict[str, Any] = dataclasses.field(default_factory=dict)  # the run's automatic choices
    activation_growth: float = 1.0  # the widest possible batch's activations over the widest seen's

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in d.items()}


@dataclasses.dataclass
class Estimate:
    """Calibration x schedule: how long the run takes and when each event comes."""

    train_s: float
    evals_s: float
    checkpoints_s: float
    test_s: float
    load_s: float
    warmup_s: float
    total_s: float
    start: float
    end: float
    evaluations: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    cost: float | None
    price_per_hour: float | None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["end_iso"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.end))
        d["hours"] = round(self.total_s / 3600, 4)
        return d


# --- the schedule --------------------------------------------------------------------

def prepare(cfg: Config) -> tuple[Any, PreparedData]:
    """The tokenizer and the data exactly as `train` builds them (DataError on bad data)."""
    try:
        return load_tokenizer_and_data(cfg)
    except UsageError as exc:
        raise ToolUsageError(str(exc)) from None


def eval_schedule(cfg: Config, steps_per_epoch: int, total: int) -> list[int]:
    """Steps at which the Trainer evaluates: every eval.steps and at the last step (steps),
    or at each epoch's end, the last one cut short by max_steps (epoch)."""
    strategy = cfg.eval.strategy
    if strategy == "steps":
        out = list(range(cfg.eval.steps, total + 1, cfg.eval.steps))
        return out if out and out[-1] == total else out + [total]
    if strategy == "epoch":
        return epoch_ends(steps_per_epoch, total)
    return []


def epoch_ends(steps_per_epoch: int, total: int) -> list[int]:
    return sorted({min(k * steps_per_epoch, total) for k in range(1, math.ceil(total / steps_per_epoch) + 1)})


def save_schedule(cfg: Config, steps_per_epoch: int, total: int) -> list[int]:
    """Steps at which a checkpoint is written; mirrors `training_arguments`' save strategy
    (the eval strategy under load_best_model_at_end, else every train.save_steps) and the
    Trainer's save at the last step under the steps strategy."""
    e = cfg.eval
    strategy = e.strategy if (e.load_best_model_at_end and e.strategy != "no") else "steps"
    if strategy == "epoch":
        return epoch_ends(steps_per_epoch, total)
    out = list(range(cfg.train.save_steps, total + 1, cfg.train.save_steps))
    return out if out and out[-1] == total else out + [total]


def make_plan(cfg: Config, data: PreparedData, world_size: int = 1) -> Plan:
    """The schedule from prepared data; pure arithmetic (see `steps_plan`)."""
    train = data.train
    lengths = [len(f["input_ids"]) for f in train.features]
    spe, total = steps_plan(len(train.features), cfg, world_size)
    eval_bs = (cfg.train.eval_batch_size or cfg.train.batch_size) * world_size
    stats = train.stats
    return Plan(
        model=cfg.model.name, world_size=world_size, data_format=data.format, rows_read=data.rows_read,
        rows_skipped=len(data.problems), sizes=data.sizes(),
        tokens_per_epoch=sum(lengths), supervised_tokens_per_epoch=stats.supervised_tokens,
        validation_tokens=sum(len(f["input_ids"]) for f in data.validation.features),
        mean_tokens_per_example=sum(lengths) / max(len(lengths), 1), longest_example=max(lengths, default=0),
        truncated_examples=stats.rows_truncated,
        batch_size=cfg.train.batch_size, gradient_accumulation_steps=cfg.train.gradient_accumulation_steps,
        examples_per_step=cfg.train.batch_size * cfg.train.gradient_accumulation_steps * world_size,
        steps_per_epoch=spe, total_steps=total, epochs=total / spe,
        eval_strategy=cfg.eval.strategy, eval_steps=eval_schedule(cfg, spe, total),
        eval_batches=math.ceil(len(data.validation.features) / eval_bs),
        test_batches=math.ceil(len(data.test.features) / eval_bs) if data.test is not None else 0,
        save_steps=save_schedule(cfg, spe, total), checkpoints_kept=cfg.train.save_total_limit,
        chat_turns={"multi_turn_rows": stats.multi_turn_rows, "earlier_turns": stats.earlier_turns,
                    "turns_fallback": stats.turns_fallback} if data.format == "chat" else {},
    )


# --- calibration ---------------------------------------------------------------------

class _WidthRecorder:
    """Wraps the training collator: counts real tokens and records the widest batch."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.tokens = 0
        self.widest = 0

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        self.tokens += sum(len(f["input_ids"]) for f in features)
        batch = self.inner(features)
        self.widest = max(self.widest, int(batch["input_ids"].shape[1]))
        return batch


def _sync(on_gpu: bool) -> None:
    if on_gpu:
        torch.cuda.synchronize()


def _rss_peak_gb() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak, which sampling could miss.
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, psutil.Process().memory_info().rss) / GB


def _step_clock(on_gpu: bool, recorder: Any) -> Any:
    """`recorder()`: the training collator's _WidthRecorder (built after the clock)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """Wall time and token count at each optimizer step's end (device synchronised)."""

        def __init__(self) -> None:
            self.start = 0.0
            self.ends: list[float] = []
            self.tokens: list[int] = []

        def on_train_begin(self, args, state, control, **kwargs):
            _sync(on_gpu)
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            _sync(on_gpu)
            self.ends.append(time.perf_counter())
            self.tokens.append(recorder().tokens)

    return StepClock()


def possible_width(plan: Plan, cfg: Config) -> int:
    """The widest batch the data can produce: the longest example padded like the collator."""
    mult = max(1, cfg.data.pad_to_multiple_of)
    width = -(-plan.longest_example // mult) * mult
    return max(plan.longest_example, min(width, cfg.data.max_length))


def possible_row(plan: Plan, cfg: Config, data: PreparedData) -> int:
    """The longest padding-free row the data can produce: the batch_size longest examples together."""
    lengths = sorted((len(f["input_ids"]) for f in data.train.features), reverse=True)
    return max(plan.longest_example, sum(lengths[:cfg.train.batch_size]))


def scale_peak(base_gb: float, peak_gb: float, growth: float) -> float:
    """Peak memory at the widest batch: the activations (the peak above the weights and
    optimizer state, which do not grow) times `growth` (see `activation_growth`)."""
    if growth <= 1.0:
        return peak_gb
    return base_gb + max(peak_gb - base_gb, 0.0) * growth


def activation_growth(model: Any, choices: dict[str, Any], seen: int, possible: int, batch_size: int) -> float:
    """How many times the activations of the widest batch the data can make (`possible`
    tokens wide: padded width, or a padding-free row) are those of the widest the calibration
    ran (`seen`), by the memory estimate's arithmetic (tuneguard.train.perf.activation_bytes)
    under the run's choices: linear in the tokens, quadratic in eager's scores and in a
    padding-free row's masks."""
    from tuneguard.train import perf

    if seen <= 0 or possible <= seen:
        return 1.0
    packed = bool(choices.get("padding_free"))
    m = perf.unwrap(model)
    kw: dict[str, Any] = dict(
        attention=str(choices.get("attention") or "sdpa"), checkpointing=bool(choices.get("gradient_checkpointing")),
        chunked_loss=bool(choices.get("chunked_loss")), packed=packed,
        fused_gelu=bool(choices.get("fused_gelu")) or not perf.has_unfused_gelu(m),
        bf16_adapters=choices.get("adapter_dtype") == "bfloat16")
    shape, rows = perf.model_shape(m.config), 1 if packed else batch_size
    return perf.activation_bytes(shape, rows, possible, **kw) / perf.activation_bytes(shape, rows, seen, **kw)


def calibrate(cfg: Config, tokenizer: Any, data: PreparedData, plan: Plan, steps: int) -> Calibration:
    """Run `steps` optimizer steps in a throwaway Trainer and measure them.

    Raises ToolError (exit 1) when the device runs out of memory, naming the knobs.
    """
    if steps < 2:
        raise ToolUsageError(f"--calibrate needs at least 2 steps (the first is a warm-up that is not counted), "
                             f"got {steps}")
    try:
        return _calibrate(cfg, tokenizer, data, plan, steps)
    except torch.cuda.OutOfMemoryError:
        gc.collect()
        torch.cuda.empty_cache()
        knobs = memory_knobs(cfg, plan)
        raise ToolError("the calibration ran out of GPU memory: the run will not fit as configured; "
                        + "; ".join(knobs)) from None


def _calibrate(cfg: Config, tokenizer: Any, data: PreparedData, plan: Plan, steps: int) -> Calibration:
    from transformers import set_seed

    from tuneguard.train.preflight import PreflightRefusal, preflight

    use_cpu = cfg.train.use_cpu or not torch.cuda.is_available()
    on_gpu = not use_cpu
    # The same pipeline as `train` (the hardware checks, model loading, the performance plan,
    # length-bucketed batches, the chunked loss: tuneguard.train.build.build_run_trainer), with
    # its schedule replaced: N steps, no evaluation or checkpoint inside the loop (both are
    # timed separately below).
    try:
        longest = sorted((len(f["input_ids"]) for f in data.train.features), reverse=True)[:cfg.train.batch_size]
        hw = preflight(cfg, lambda: model_lib.model_config(cfg, tokenizer),
                       max_example_length=plan.longest_example or None, longest=longest)
    except PreflightRefusal as exc:
        raise ToolUsageError(str(exc)) from None
    set_seed(cfg.train.seed)
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory(prefix="tuneguard-plan-") as tmp:
        measured = _measure(cfg, tokenizer, data, plan, steps, hw.device_map, Path(tmp), use_cpu)
        gc.collect()
        if on_gpu:
            torch.cuda.empty_cache()
    scaled = scale_peak(measured["base_gb"], measured["peak_gb"], measured["activation_growth"])
    return Calibration(steps=steps, on_gpu=on_gpu, memory_kind="cuda_max_allocated" if on_gpu else "process_rss",
                       scaled_peak_gb=scaled, **measured)


def _calibration_config(cfg: Config, steps: int) -> Config:
    """`cfg` for N steps: no evaluation, checkpoint or tracker inside the loop."""
    c = cfg.model_copy(deep=True)
    c.train.max_steps = steps
    c.train.report_to = []
    c.eval.strategy = "no"
    c.eval.load_best_model_at_end = False
    return c


def _measure(cfg: Config, tokenizer: Any, data: PreparedData, plan: Plan, steps: int, device_map: Any,
             tmp: Path, use_cpu: bool) -> dict[str, Any]:
    """Load the model, train `steps` steps, time an evaluation, QA and a checkpoint: the
    Calibration's measured fields."""
    from transformers.trainer_utils import SaveStrategy

    from tuneguard.train.build import build_run_trainer, load_model_for_training
    from tuneguard.train.metrics import TokenCounter

    on_gpu = not use_cpu
    t0 = time.perf_counter()
    model, _ = load_model_for_training(cfg, tokenizer, device_map=device_map)
    recorders: list[_WidthRecorder] = []

    def record(inner: Any) -> _WidthRecorder:
        recorders.append(_WidthRecorder(inner))
        return recorders[-1]

    clock = _step_clock(on_gpu, lambda: recorders[0])
    trainer, perf_plan = build_run_trainer(_calibration_config(cfg, steps), model, tokenizer, data, tmp,
                                           use_cpu=use_cpu, steps_per_epoch=plan.steps_per_epoch, callbacks=[clock],
                                           counter=TokenCounter(), wrap_collator=record)
    trainer.args.save_strategy = SaveStrategy.NO
    _sync(on_gpu)
    load_s = time.perf_counter() - t0
    dev = torch.cuda.current_device() if on_gpu else None
    base_gb = torch.cuda.memory_allocated(dev) / GB if on_gpu else psutil.Process().memory_info().rss / GB
    log.debug("calibrating: %d optimizer steps of %s", steps, cfg.model.name)
    trainer.train()
    warmup, sps, tokens_per_step = _step_times(clock, steps)
    peak_gb, total_gb = _peak_and_total_gb(on_gpu, dev)
    eval_s, timed_batches = _time_eval(trainer, data, cfg, plan, on_gpu)
    out = dict(device=torch.cuda.get_device_name(dev) if on_gpu else "cpu", load_s=load_s, warmup_step_s=warmup,
               seconds_per_step=sps, tokens_per_step=tokens_per_step,
               tokens_per_s=tokens_per_step / sps if sps > 0 else 0.0, eval_s=eval_s, eval_batches_timed=timed_batches,
               qa_s=_time_qa(trainer.model, tokenizer, cfg, on_gpu),
               checkpoint_s=_time_checkpoint(trainer, tmp / "checkpoint", on_gpu), base_gb=base_gb, peak_gb=peak_gb,
               total_gb=total_gb, longest_batch_seen=recorders[0].widest,
               longest_batch_possible=possible_row(plan, cfg, data) if perf_plan.padding_free else
               possible_width(plan, cfg), performance=perf_plan.as_dict())
    out["activation_growth"] = activation_growth(model, out["performance"], out["longest_batch_seen"],
                                                 out["longest_batch_possible"], cfg.train.batch_size)
    if perf_plan.loss_func is not None:
        perf_plan.loss_func.close()
    return out


def _step_times(clock: Any, steps: int) -> tuple[float, float, float]:
    """(the first step's seconds, seconds per later step, tokens per later step)."""
    ends, toks = clock.ends, clock.tokens
    if len(ends) < 2:
        raise ToolError(f"the calibration ran {len(ends)} step(s) of {steps}; cannot measure a step time")
    measured = len(ends) - 1
    return ends[0] - clock.start, (ends[-1] - ends[0]) / measured, (toks[-1] - toks[0]) / measured


def _peak_and_total_gb(on_gpu: bool, dev: Any) -> tuple[float, float]:
    if on_gpu:
        return torch.cuda.max_memory_allocated(dev) / GB, torch.cuda.get_device_properties(dev).total_memory / GB
    return _rss_peak_gb(), psutil.virtual_memory().total / GB


def _time_eval(trainer: Any, data: PreparedData, cfg: Config, plan: Plan, on_gpu: bool) -> tuple[float, int]:
    """One evaluation's time (the run's evaluation collator: build_run_trainer sets it): at
    most EVAL_BATCHES_TIMED batches, scaled to the full set."""
    if plan.eval_batches == 0:
        return 0.0, 0
    per_batch = cfg.train.eval_batch_size or cfg.train.batch_size
    subset = data.validation.features[: per_batch * EVAL_BATCHES_TIMED]
    timed = math.ceil(len(subset) / per_batch)
    _sync(on_gpu)
    t0 = time.perf_counter()
    trainer.evaluate(ListDataset(subset))
    _sync(on_gpu)
    seconds = time.perf_counter() - t0
    return seconds * plan.eval_batches / max(timed, 1), timed


def _time_qa(model: Any, tokenizer: Any, cfg: Config, on_gpu: bool) -> float:
    """The QA probes run at every evaluation: time one, count them all."""
    probes = cfg.eval.qa_probes
    if not probes:
        return 0.0
    from tuneguard.guard.qa import generate_probe

    _sync(on_gpu)
    t0 = time.perf_counter()
    generate_probe(model, tokenizer, probes[0].prompt, probes[0].keywords, cfg.eval.qa_max_new_tokens)
    _sync(on_gpu)
    return (time.perf_counter() - t0) * len(probes)


def _time_checkpoint(trainer: Any, folder: Path, on_gpu: bool) -> float:
    """A checkpoint's main costs: the adapter and the optimizer state on disk."""
    _sync(on_gpu)
    t0 = time.perf_counter()
    trainer.save_model(str(folder))
    if trainer.optimizer is not None:
        torch.save(trainer.optimizer.state_dict(), folder / "optimizer.pt")
    return time.perf_counter() - t0


# --- estimate and advice ---------------------------------------------------------------

def estimate(plan: Plan, cal: Calibration, price_per_hour: float | None = None,
             start: float | None = None) -> Estimate:
    """End time and cost: load + the first step's extra warm-up time + steps x time per
    step + evaluations (with QA probes) + checkpoints + the test set's evaluation."""
    start = time.time() if start is None else start
    per_eval = cal.eval_s + cal.qa_s
    per_batch = cal.eval_s / plan.eval_batches if plan.eval_batches else 0.0
    test_s = per_batch * plan.test_batches
    evals, ckpts = set(plan.eval_steps), set(plan.save_steps)
    warmup = max(cal.warmup_step_s - cal.seconds_per_step, 0.0)  # the real run pays it too
    overhead = cal.load_s + warmup  # time spent outside training steps so far
    eval_rows, ckpt_rows = [], []
    for step in sorted(evals | ckpts):
        # At a step the Trainer evaluates first, then saves; each row says when it starts.
        if step in evals:
            eval_rows.append({"step": step, "at_s": round(overhead + step * cal.seconds_per_step, 3)})
            overhead += per_eval
        if step in ckpts:
            ckpt_rows.append({"step": step, "at_s": round(overhead + step * cal.seconds_per_step, 3)})
            overhead += cal.checkpoint_s
    train_s = plan.total_steps * cal.seconds_per_step
    evals_s = len(evals) * per_eval
    ckpt_s = len(ckpts) * cal.checkpoint_s
    total = cal.load_s + warmup + train_s + evals_s + ckpt_s + test_s
    cost = total / 3600 * price_per_hour if price_per_hour is not None else None
    for row in eval_rows + ckpt_rows:
        row["at_iso"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start + row["at_s"]))
    return Estimate(train_s=train_s, evals_s=evals_s, checkpoints_s=ckpt_s, test_s=test_s, load_s=cal.load_s,
                    warmup_s=warmup, total_s=total, start=start, end=start + total, evaluations=eval_rows, checkpoints=ckpt_rows,
                    cost=cost, price_per_hour=price_per_hour)


def eval_cost_warning(cfg: Config, plan: Plan, language: str = "en") -> str | None:
    """A warning when the evaluations would run more batches than training does: a big file's
    default 10% validation split, evaluated every eval.steps, can cost many times the training
    it checks. None when evaluation is the smaller part. In `language` (catalog tools.plan.eval_cost)."""
    from tuneguard.catalog import say

    train_batches = plan.total_steps * plan.gradient_accumulation_steps
    evals = len(plan.eval_steps)
    total = evals * plan.eval_batches
    if not total or total <= train_batches:
        return None
    eval_bs = cfg.train.eval_batch_size or cfg.train.batch_size
    # Rows for evaluations worth about a fifth of the training batches, at least 64.
    rows = max(64, train_batches // (5 * evals) * eval_bs)
    return say("tools.plan.eval_cost", language, evals=evals, total=total, each=plan.eval_batches,
               validation=plan.sizes.get("validation", 0), train=train_batches, rows=rows)


def memory_knobs(cfg: Config, plan: Plan | None = None) -> list[str]:
    """The config changes that lower peak memory, as `--set` lines, cheapest first."""
    return _memory_knobs(cfg, plan.longest_example if plan else 0)


def memory_warnings(cfg: Config, plan: Plan, cal: Calibration) -> list[str]:
    """On a GPU: a warning when the peak at the widest batch will not fit (or leaves less
    headroom than guard.memory_fraction), with the knobs that fix it."""
    if not cal.on_gpu or cal.total_gb <= 0:
        return []
    need, have = cal.scaled_peak_gb, cal.total_gb
    if need > FIT_HEADROOM * have:
        head = (f"will not fit: the peak GPU memory at the widest batch ({cal.longest_batch_possible} tokens) is "
                f"about {need:.1f} GB of {have:.1f} GB")
    elif need > cfg.guard.memory_fraction * have:
        head = (f"tight on memory: about {need:.1f} GB of {have:.1f} GB at the widest batch, above "
                f"guard.memory_fraction ({cfg.guard.memory_fraction:.0%}; MEMORY_HIGH will fire)")
    else:
        return []
    return [f"{head}; to fix: " + "; or ".join(memory_knobs(cfg, plan))]


def multi_process_note(world_size: int) -> str | None:
    if world_size > 1:
        return (f"the calibration ran on one process; with {world_size} processes a step takes about as long "
                "(plus gradient communication) and the schedule above already has the fewer steps")
    return None
