"""Training throughput: tuneguard's pipeline against the notebook pipeline, same examples,
one process; prints one JSON object.

    python -m tuneguard.bench.throughput --model tiny [--steps 60] [--repeats 3] [--json]
    python -m tuneguard.bench.throughput --model gptj-6b --steps 12 --json      # a GPU

Both pipelines run the HF Trainer with LoRA (r 16 on q, k, v, out) over the same generated
examples (an instruction-like length mix: log-normal, median 180 tokens, clipped at 512;
for `tiny` the lengths are scaled to its max_length of 128) for the same number of examples
and optimizer steps (the same effective batch):

- baseline, the pipeline people copy from notebooks: batch 4 (gradient accumulation fills the
  effective batch), random order, transformers' DataCollatorForLanguageModeling padding to the
  longest example, eager attention, the model's loss (full logits), GELU as written in the
  model; gradient checkpointing with --baseline-checkpointing (the notebooks have it on).
- tuneguard: `RunTrainer` (length-bucketed batches, tuneguard.train.trainer), its padding
  collator (pad to a multiple of 8; 64 on CUDA), and `plan_performance` (attention auto,
  gradient checkpointing auto, fused GELU, chunked cross-entropy auto).

Reported per pipeline: real (non-pad) tokens per second over the timed steps (after
--warmup steps), the pad fraction of the batches, peak memory (CUDA: max allocated; CPU:
peak RSS growth), and on CUDA the MFU: 4 x non-embedding parameters FLOPs per real token
(forward plus the input-gradient backward of a frozen base) against a bf16 matmul peak
measured in the same run. `--ablation` adds tuneguard's pipeline at the baseline's batch
size, which separates the batching from the bigger batch. Repeats alternate the order of the
pipelines and the JSON holds the medians (and every run). `--loss-match-out PATH` then runs the
loss equivalence check (tuneguard.bench.loss_match) on the same base, after this JSON is
written: the final losses here come from different batches in a different order and say
nothing about equivalence.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


# --- data -----------------------------------------------------------------------------

def make_examples(n: int, max_length: int, vocab: int, pad_id: int, eos_id: int, seed: int = 0,
                  median: float | None = None) -> list[dict[str, Any]]:
    """Tokenized instruction-like examples: log-normal lengths (median 180 at max_length 512,
    scaled for shorter contexts), clipped to [16, max_length]; a prompt of 30-70% of the
    tokens is masked in `labels`; the last token is EOS."""
    rng = random.Random(seed)
    median = median or 180.0 * max_length / 512
    out = []
    for _ in range(n):
        length = int(round(rng.lognormvariate(math.log(median), 0.65)))
        length = max(min(16, max_length), min(max_length, length))
        ids = [rng.randrange(1, vocab) for _ in range(length)]
        ids = [i if i != pad_id else 1 for i in ids]
        ids[-1] = eos_id
        prompt = int(length * rng.uniform(0.3, 0.7))
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:], "length": length})
    return out


class RecordingCollator:
    """Counts real and padded positions of every batch it collates (in collate order): real
    from the examples, positions from the batch (rows x width; a padding-free row's width)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.real: list[int] = []
        self.total: list[int] = []

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        self.real.append(sum(len(f["input_ids"]) for f in features))
        self.total.append(int(batch["input_ids"].numel()))
        return batch


# --- measurement helpers --------------------------------------------------------------

class PeakRSS:
    """Peak resident memory growth of this process while running (sampled every 20 ms)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> "PeakRSS":
        self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join()

    @property
    def growth_gb(self) -> float:
        return (self.peak - self.start) / 1024**3


def matmul_peak_tflops(device: str, n: int = 8192, reps: int = 10) -> float | None:
    """bf16 matmul rate of this device, measured now (the MFU denominator)."""
    if device != "cuda":
        return None
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    del a, b
    torch.cuda.empty_cache()
    return 2 * n**3 / statistics.median(times) / 1e12


def non_embedding_params(model: Any) -> int:
    from tuneguard.train.perf import unwrap

    m = unwrap(model)
    skip = {id(p) for mod in (m.get_input_embeddings(), m.get_output_embeddings()) if mod is not None
            for p in mod.parameters()}
    return sum(p.numel() for n, p in m.named_parameters() if id(p) not in skip and "lora_" not in n)


# --- models ---------------------------------------------------------------------------

def bench_dtype(requested: str, device: str) -> torch.dtype:
    """--dtype: auto is bf16 on CUDA and fp32 on the CPU; bf16 on the CPU runs the same
    mixed-precision path as a GPU (the selftest of bench/gpu_gptj.sh)."""
    if requested == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return {"bf16": torch.bfloat16, "fp32": torch.float32}[requested]


def build_base(model_name: str, vocab: int, device: str, seed: int, dtype: torch.dtype | None = None) -> Any:
    from transformers import AutoModelForCausalLM, GPTJConfig

    from tuneguard.model.load import tiny_model_config

    torch.manual_seed(seed)
    dtype = dtype or bench_dtype("auto", device)
    if model_name == "tiny":
        return AutoModelForCausalLM.from_config(tiny_model_config(vocab), dtype=dtype).to(device)
    # GPT-J-6B from its config (GPTJConfig's defaults are the 6B model), random init, built
    # directly on the device: nothing is downloaded.
    conf = GPTJConfig()
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(conf, dtype=dtype)
    return model


def unfuse_gelu(model: Any) -> None:
    """Undo `perf.fuse_gelu` (the baseline runs the model's GELU as written)."""
    from torch import nn
    from transformers.activations import NewGELUActivation

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.GELU) and child.approximate == "tanh":
                setattr(parent, name, NewGELUActivation())


def wrap_lora(base: Any, r: int, dropout: float) -> Any:
    from peft import LoraConfig, get_peft_model

    return get_peft_model(base, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=dropout, target_modules=LORA_TARGETS,
                                           task_type="CAUSAL_LM"))


def adapter_weights(model: Any) -> dict[str, torch.Tensor]:
    """The LoRA weights of `model` (name -> fp32 copy on the CPU)."""
    return {n: p.detach().float().cpu().clone() for n, p in model.named_parameters() if "lora_" in n}


def load_adapter_weights(model: Any, weights: dict[str, torch.Tensor]) -> None:
    """Copy `weights` (from `adapter_weights`) into `model`'s LoRA weights, each in its own dtype."""
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing or len(weights) != sum(1 for n in params if "lora_" in n):
        raise ValueError(f"adapter weights do not match the model's LoRA weights (missing {missing[:3]})")
    with torch.no_grad():
        for n, w in weights.items():
            params[n].copy_(w.to(params[n].device, params[n].dtype))


# --- one pipeline ---------------------------------------------------------------------

def run_pipeline(kind: str, *, base: Any, tokenizer: Any, examples: list[dict[str, Any]], batch: int, accum: int,
                 device: str, warmup: int, workdir: Path, opts: argparse.Namespace,
                 profile_dir: Path | None = None, adapter_init: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Train `examples` once with the `kind` pipeline ("baseline" or "tuneguard").

    `adapter_init`: the LoRA weights to start from (name -> tensor), instead of PEFT's random
    ones. `opts.same_batches` (tuneguard.bench.loss_match): both pipelines take the examples
    in the given order, the baseline keeps their labels (pad to the longest, prompts masked as
    tokenized) and every step's loss is logged (`step_losses`)."""
    from transformers import PrinterCallback, Trainer

    from tuneguard.train.trainer import RunTrainer

    model = wrap_lora(base, opts.lora_r, opts.lora_dropout)
    if adapter_init is not None:
        load_adapter_weights(model, adapter_init)
    steps = len(examples) // (batch * accum)
    info: dict[str, Any] = {"batch": batch, "gradient_accumulation_steps": accum, "optimizer_steps": steps,
                            "examples": steps * batch * accum, "lora_dropout": opts.lora_dropout}
    if kind == "baseline":
        collator, checkpointing, plan = _baseline_setup(base, model, tokenizer, opts, info), opts.baseline_checkpointing, None
    else:
        collator, plan = _tuneguard_setup(model, tokenizer, examples, batch, device, opts, info)
        checkpointing = plan.gradient_checkpointing
    args = _arguments(kind, workdir, batch, accum, steps, device, checkpointing, opts)
    marks: dict[int, float] = {}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    callbacks, prof = _timing_callbacks(marks, sync, warmup, steps, device, opts, profile_dir)
    common = dict(model=model, args=args, train_dataset=examples, data_collator=collator, callbacks=callbacks)
    if plan is None:
        trainer = Trainer(**common)
    else:
        trainer = RunTrainer(length_buckets=not getattr(opts, "same_batches", False), compute_loss_func=plan.loss_func,
                             train_collate_wrapper=plan.train_collate_wrapper(), **common)
    trainer.remove_callback(PrinterCallback)
    if device == "cuda":
        import gc

        gc.collect()  # the previous run's Trainer (reference cycles) and its optimizer state, out of the peak
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as rss:
        if prof is not None:
            with prof:
                trainer.train()
        else:
            trainer.train()
    sync()
    _measured(info, trainer, collator, marks, warmup, steps, accum, device, rss, opts)
    if prof is not None and profile_dir is not None:
        write_profile(prof, profile_dir, device)
    _give_back(model, plan)
    return info


def _give_back(model: Any, plan: Any) -> None:
    """The base as it was before the pipeline (no adapter, hook, compiled layers or
    recomputation), for the next one."""
    if plan is not None and plan.loss_func is not None:
        plan.loss_func.close()  # the chunked loss's hook, before the base is reused
    if plan is not None and plan.compiled_layers:
        from tuneguard.train import levers

        levers.uncompile_layers(levers.decoder_layers(model))
    base = model.unload()
    if getattr(base, "is_gradient_checkpointing", False):
        base.gradient_checkpointing_disable()


def _baseline_setup(base: Any, model: Any, tokenizer: Any, opts: argparse.Namespace, info: dict[str, Any]) -> Any:
    """The notebook's pipeline: unfused GELU, its attention, padding to the longest, random order."""
    from tuneguard.data.collate import LanguageModelingCollator, PaddingCollator
    from tuneguard.train import perf

    unfuse_gelu(base)
    if opts.baseline_attn != perf.unwrap(model).config._attn_implementation:
        perf.apply_attention(model, opts.baseline_attn)
    same = getattr(opts, "same_batches", False)
    # The notebook's collator supervises every non-pad token (its labels are the inputs); the
    # loss comparison needs the same supervised tokens in both pipelines, so it keeps the
    # examples' labels and pads, as the notebook does, to the longest of the batch.
    inner = PaddingCollator(tokenizer.pad_token_id, 1) if same else \
        LanguageModelingCollator(tokenizer, pad_to_multiple_of=None)  # type: ignore[arg-type]
    collator = RecordingCollator(inner)
    adapter = next((p.dtype for p in model.parameters() if p.requires_grad), None)
    info.update(attention=perf.unwrap(model).config._attn_implementation,
                adapter_dtype=str(adapter).removeprefix("torch.") if adapter is not None else None,
                gradient_checkpointing=opts.baseline_checkpointing, chunked_loss=False, fused_gelu=0,
                pad_to_multiple_of=None, order="as given" if same else "random")
    return collator


def _tuneguard_setup(model: Any, tokenizer: Any, examples: list[dict[str, Any]], batch: int, device: str,
                     opts: argparse.Namespace, info: dict[str, Any]) -> tuple[Any, Any]:
    """tuneguard's pipeline: its automatic choices (train/perf.py) and its padding collator (or
    flattened rows, with padding_free)."""
    from tuneguard.config.schema import Config
    from tuneguard.data.collate import PaddingCollator, flattening_collator
    from tuneguard.train import perf

    cfg = Config()
    cfg.model.attn_implementation = opts.attn
    cfg.model.gradient_checkpointing = getattr(opts, "gradient_checkpointing", "auto")
    cfg.train.chunked_loss = {"on": True, "off": False}.get(opts.chunked_loss, "auto")
    # The speed levers (tuneguard.train.levers), off unless asked for: tuneguard.bench.levers
    # measures each one alone against the same run without it.
    cfg.model.adapter_dtype = getattr(opts, "adapter_dtype", "float32")
    cfg.train.compile = getattr(opts, "train_compile", False)
    cfg.train.compile_buckets = getattr(opts, "compile_buckets", 4)
    cfg.train.compile_backend = getattr(opts, "compile_backend", "inductor")
    cfg.train.fused_linear_loss = getattr(opts, "fused_linear_loss", False)
    cfg.train.padding_free = getattr(opts, "padding_free", False)
    cfg.train.batch_size = batch
    cfg.data.max_length = opts.max_length
    cfg.data.pad_to_multiple_of = opts.pad_multiple
    if opts.memory_budget_gb:
        cfg.train.memory_budget_gb = opts.memory_budget_gb
    lengths = sorted((e["length"] for e in examples), reverse=True)
    plan = perf.plan_performance(cfg, model, use_cpu=device == "cpu", max_example_length=lengths[0],
                                 row_tokens=sum(lengths[:batch]))
    collator = RecordingCollator(flattening_collator() if plan.padding_free else
                                 PaddingCollator(tokenizer.pad_token_id, opts.pad_multiple, opts.max_length))
    info.update(attention=plan.attention, gradient_checkpointing=plan.gradient_checkpointing,
                chunked_loss=plan.chunked_loss, fused_gelu=plan.fused_gelu, pad_to_multiple_of=opts.pad_multiple,
                order="as given" if getattr(opts, "same_batches", False) else "length-bucketed",
                estimated_peak_gb=plan.estimated_peak_gb, adapter_dtype=plan.adapter_dtype,
                compiled_layers=plan.compiled_layers, compile_buckets=plan.compile_buckets,
                fused_linear_loss=plan.fused_linear_loss, padding_free=plan.padding_free)
    return collator, plan


def _arguments(kind: str, workdir: Path, batch: int, accum: int, steps: int, device: str, checkpointing: bool,
               opts: argparse.Namespace) -> Any:
    from transformers import TrainingArguments

    same = getattr(opts, "same_batches", False)
    return TrainingArguments(
        output_dir=str(workdir / kind), per_device_train_batch_size=batch, gradient_accumulation_steps=accum,
        max_steps=steps, learning_rate=getattr(opts, "learning_rate", 1e-4), lr_scheduler_type="constant",
        optim="adamw_torch", logging_steps=1 if same else 10**6, save_strategy="no",
        train_sampling_strategy="sequential" if same else "random", eval_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=device == "cpu", bf16=opts.torch_dtype == torch.bfloat16, seed=opts.seed, data_seed=opts.seed,
        remove_unused_columns=False, dataloader_num_workers=0,
        gradient_checkpointing=checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        torch_compile=bool(opts.compile and kind == "tuneguard"))


def _timing_callbacks(marks: dict[int, float], sync: Any, warmup: int, last: int, device: str,
                      opts: argparse.Namespace, profile_dir: Path | None) -> tuple[list[Any], Any]:
    """A clock at the end of the warm-up and of the last step; the profiler's stepper when profiling."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):  # noqa: ANN001 - Trainer signature
            if state.global_step in (warmup, last):
                sync()
                marks[state.global_step] = time.perf_counter()

    callbacks: list[Any] = [Clock()]
    if profile_dir is None:
        return callbacks, None
    from torch.profiler import ProfilerActivity, profile, schedule

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    prof = profile(activities=acts, schedule=schedule(wait=max(0, warmup - 1), warmup=1, active=opts.profile_steps, repeat=1),
                   record_shapes=False)

    class Step(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):  # noqa: ANN001
            prof.step()

    callbacks.append(Step())
    return callbacks, prof


def _measured(info: dict[str, Any], trainer: Any, collator: Any, marks: dict[int, float], warmup: int, last: int,
              accum: int, device: str, rss: Any, opts: argparse.Namespace) -> None:
    """Real tokens per second over the timed steps, padding, the final loss, peak memory."""
    seconds = marks[last] - marks[warmup]
    timed = slice(warmup * accum, last * accum)
    real = sum(collator.real[timed])
    info["dtype"] = str(opts.torch_dtype).removeprefix("torch.")
    info.update(timed_steps=last - warmup, seconds=round(seconds, 4), real_tokens=real,
                tokens_per_s=round(real / seconds, 2), pad_fraction=round(1 - sum(collator.real) / sum(collator.total), 4),
                final_loss=trainer.state.log_history[-1].get("train_loss"))
    if getattr(opts, "same_batches", False):
        info["step_losses"] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    if device == "cuda":
        info["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
        info["peak_reserved_gb"] = round(torch.cuda.max_memory_reserved() / 1024**3, 2)
    else:
        info["peak_rss_growth_gb"] = round(rss.growth_gb, 3)


def write_profile(prof: Any, out: Path, device: str) -> None:
    """The profiler's top ops by device (or CPU) time, as a table and a category summary."""
    out.mkdir(parents=True, exist_ok=True)
    events = prof.key_averages()
    try:
        table = events.table(sort_by="self_device_time_total" if device == "cuda" else "self_cpu_time_total", row_limit=40)
    except (KeyError, AttributeError, ValueError):  # older torch names it self_cuda_time_total
        table = events.table(sort_by="self_cuda_time_total", row_limit=40)
    (out / "profile_ops.txt").write_text(table, "utf-8")
    cats = {"gemm": 0.0, "attention": 0.0, "elementwise/copy": 0.0, "softmax/loss": 0.0, "norm": 0.0, "other": 0.0}
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    for e in events:
        t = float(getattr(e, attr, 0.0) or 0.0)
        n = e.key.lower()
        if any(k in n for k in ("gemm", "matmul", "aten::mm", "addmm", "aten::bmm", "cutlass", "sm90_xmma", "nvjet")):
            cats["gemm"] += t
        elif any(k in n for k in ("flash", "attention", "fmha", "sdpa", "cudnn")):
            cats["attention"] += t
        elif any(k in n for k in ("softmax", "cross_entropy", "nll")):
            cats["softmax/loss"] += t
        elif "norm" in n:
            cats["norm"] += t
        elif any(k in n for k in ("elementwise", "mul", "add", "copy", "cast", "to_copy", "fill", "dropout",
                                  "gelu", "tanh", "pow", "where", "bernoulli")):
            cats["elementwise/copy"] += t
        else:
            cats["other"] += t
    total = sum(cats.values()) or 1.0
    summary = {k: round(100 * v / total, 1) for k, v in cats.items()}
    (out / "profile_summary.json").write_text(json.dumps({"share_pct_of_" + attr: summary}, indent=2), "utf-8")


# --- main -----------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["tiny", "gptj-6b"], default="tiny")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps of each pipeline (tiny 60, gptj-6b 12)")
    ap.add_argument("--batch", type=int, default=16, help="tuneguard's micro-batch")
    ap.add_argument("--accum", type=int, default=1, help="tuneguard's gradient accumulation")
    ap.add_argument("--baseline-batch", type=int, default=4)
    ap.add_argument("--baseline-checkpointing", action="store_true", help="the notebook's gradient checkpointing")
    ap.add_argument("--baseline-attn", default="eager")
    ap.add_argument("--attn", default="auto", help="tuneguard's model.attn_implementation")
    ap.add_argument("--pad-multiple", type=int, default=None, help="tuneguard's pad multiple (8; 64 on CUDA)")
    ap.add_argument("--max-length", type=int, default=None, help="tiny 128, gptj-6b 512")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-dropout", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=None, help="untimed first steps (tiny 5, gptj-6b 3)")
    ap.add_argument("--repeats", type=int, default=None, help="pipeline pairs, order alternating (tiny 3, gptj-6b 1)")
    ap.add_argument("--ablation", action="store_true", help="also tuneguard at the baseline's batch size")
    ap.add_argument("--compile", action="store_true", help="torch.compile tuneguard's model (Trainer torch_compile)")
    ap.add_argument("--memory-budget-gb", type=float, default=None)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--dtype", choices=["auto", "bf16", "fp32"], default="auto",
                    help="weights and mixed precision: auto is bf16 on CUDA, fp32 on the CPU")
    ap.add_argument("--chunked-loss", choices=["auto", "on", "off"], default="auto",
                    help="tuneguard's train.chunked_loss (auto: vocabularies >= 32,000; on forces it for tiny)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile-dir", default=None, help="write a torch.profiler summary of tuneguard steps here")
    ap.add_argument("--profile-steps", type=int, default=3)
    ap.add_argument("--out", default=None, help="also write the JSON to this file")
    ap.add_argument("--json", action="store_true", help="print only the JSON (default prints it too)")
    from tuneguard.bench.loss_match import add_options

    add_options(ap)
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = _parser()
    o = ap.parse_args(argv)

    import transformers

    from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token

    transformers.logging.set_verbosity_error()
    logging.basicConfig(level=logging.WARNING if o.json else logging.INFO, format="%(name)s: %(message)s")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if o.device == "auto" else o.device
    if o.threads:
        torch.set_num_threads(o.threads)
    _resolve_defaults(o, ap, device)
    effective = o.batch * o.accum
    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "auto")
    vocab = -(-len(tok) // 64) * 64
    tiny = o.model == "tiny"
    examples = make_examples(o.steps * effective, o.max_length, len(tok) if tiny else 50400,
                             tok.pad_token_id, tok.eos_token_id, seed=o.seed)
    peak = matmul_peak_tflops(device)
    base = build_base(o.model, vocab, device, o.seed, o.torch_dtype) if not tiny else None
    runs = _run_pipelines(o, tok, examples, base, vocab, device)
    result = _result(o, device, examples, runs)
    if peak is not None:
        flops_per_token = 4 * non_embedding_params(base)
        result["matmul_peak_tflops"] = round(peak, 1)
        result["flops_per_token"] = flops_per_token
        for k in runs:
            result[k]["mfu"] = round(result[k]["tokens_per_s"] * flops_per_token / (peak * 1e12), 4)
    text = json.dumps(result, indent=None if o.json else 2)
    if o.out:
        Path(o.out).parent.mkdir(parents=True, exist_ok=True)
        Path(o.out).write_text(json.dumps(result, indent=2), "utf-8")
    # The JSON on stdout is this command's output (a CLI entry point, not library code).
    print(text)  # noqa: T201
    if o.loss_match_out:  # after the throughput JSON is written: a check cut short keeps the figures above
        from tuneguard.bench import loss_match

        with tempfile.TemporaryDirectory() as tmp:
            loss_match.measure(base if base is not None else build_base(o.model, vocab, device, o.seed, o.torch_dtype),
                               tok, device, o, Path(tmp), o.loss_match_out)
    return result


def _resolve_defaults(o: argparse.Namespace, ap: argparse.ArgumentParser, device: str) -> None:
    """The model's defaults for the options left out; the checks between options."""
    o.torch_dtype = bench_dtype(o.dtype, device)
    tiny = o.model == "tiny"
    o.steps = o.steps or (60 if tiny else 12)
    o.max_length = o.max_length or (128 if tiny else 512)
    o.pad_multiple = o.pad_multiple or (64 if device == "cuda" else 8)
    o.warmup = o.warmup if o.warmup is not None else (5 if tiny else 3)
    o.repeats = o.repeats or (3 if tiny else 1)
    if (o.batch * o.accum) % o.baseline_batch:
        ap.error("--batch x --accum must be a multiple of --baseline-batch (the same effective batch)")
    if o.steps <= o.warmup:
        ap.error("--steps must exceed --warmup")


def _run_pipelines(o: argparse.Namespace, tok: Any, examples: list[dict[str, Any]], base: Any, vocab: int,
                   device: str) -> dict[str, list[dict[str, Any]]]:
    """Each pipeline `o.repeats` times, the order alternating; the profile run last."""
    effective = o.batch * o.accum
    baseline_accum = effective // o.baseline_batch
    shapes = {"baseline": ("baseline", o.baseline_batch, baseline_accum), "tuneguard": ("tuneguard", o.batch, o.accum),
              "tuneguard_baseline_batch": ("tuneguard", o.baseline_batch, baseline_accum)}
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "tuneguard": []}
    if o.ablation:
        runs["tuneguard_baseline_batch"] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(o.repeats):
            order = list(runs) if r % 2 == 0 else list(reversed(list(runs)))
            for kind in order:
                b = base if base is not None else build_base(o.model, vocab, device, o.seed, o.torch_dtype)
                pipeline, batch, accum = shapes[kind]
                res = run_pipeline(pipeline, base=b, tokenizer=tok, examples=examples, batch=batch, accum=accum,
                                   device=device, warmup=o.warmup, workdir=Path(tmp), opts=o)
                runs[kind].append(res)
                log.info("%s run %d: %.0f real tokens/s", kind, r, res["tokens_per_s"])
        if o.profile_dir:
            b = base if base is not None else build_base(o.model, vocab, device, o.seed, o.torch_dtype)
            sub = examples[: (o.warmup + o.profile_steps + 1) * effective]
            run_pipeline("tuneguard", base=b, tokenizer=tok, examples=sub, batch=o.batch, accum=o.accum, device=device,
                         warmup=o.warmup, workdir=Path(tmp), opts=o, profile_dir=Path(o.profile_dir))
    return runs


def _summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
    """One pipeline's runs: the median tokens/s, every run's, the highest memory."""
    med = statistics.median(x["tokens_per_s"] for x in rs)
    s = dict(rs[0])
    s.pop("seconds", None)
    s["tokens_per_s"] = round(med, 2)
    s["tokens_per_s_runs"] = [x["tokens_per_s"] for x in rs]
    for k in ("peak_memory_gb", "peak_reserved_gb", "peak_rss_growth_gb"):
        if k in rs[0]:
            s[k] = max(x[k] for x in rs)
    return s


def _result(o: argparse.Namespace, device: str, examples: list[dict[str, Any]],
            runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    import transformers

    lengths = sorted(e["length"] for e in examples)
    result: dict[str, Any] = {
        "benchmark": "throughput", "model": o.model, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__, "dtype": o.dtype,
        "torch_threads": torch.get_num_threads(), "repeats": o.repeats, "warmup_steps": o.warmup,
        "examples": len(examples), "effective_batch": o.batch * o.accum, "max_length": o.max_length,
        "length_median": statistics.median(lengths), "length_mean": round(statistics.fmean(lengths), 1),
        "length_max": lengths[-1], "lora_r": o.lora_r, "lora_dropout": o.lora_dropout,
    }
    for k, rs in runs.items():
        result[k] = _summary(rs)
    result["ratio_tokens_per_s"] = round(result["tuneguard"]["tokens_per_s"] / result["baseline"]["tokens_per_s"], 3)
    if o.ablation:
        result["ratio_same_batch"] = round(result["tuneguard_baseline_batch"]["tokens_per_s"]
                                           / result["baseline"]["tokens_per_s"], 3)
    return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
