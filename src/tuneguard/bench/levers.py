"""Each speed lever alone against the same run without it, and the activation-memory estimate
against measured peaks; one JSON object (run by bench/gpu_gptj.sh's `levers` and
`memory_estimate` steps).

    python -m tuneguard.bench.levers levers --model gptj-6b --out levers.json
    python -m tuneguard.bench.levers memory --model gptj-6b --batches 4,8 --out memory.json
    python -m tuneguard.bench.levers all ... --out levers.json --memory-out memory.json   # one base, both

The JSON is rewritten after every run, so a run cut short by a time limit keeps the runs
before it; the compile run goes last (its compilations are the slowest part).

levers: tuneguard's pipeline (tuneguard.bench.throughput, the same examples, the same base
model in one process) first with no lever (`none`, the same-run baseline), then with each of
`adapter_dtype` (bf16 LoRA weights), `compile` (compiled decoder layers, lengths padded to 4
buckets), `fused_linear_loss` (liger-kernel), `padding_free` (flattened rows; flex attention
on CUDA, the attention chosen otherwise) and `lora_dropout_0` (LoRA dropout 0 instead of the
run's) alone; the ratio of each to `none` in real tokens/s,
and peak memory. A lever whose run fails is recorded with its error; the others still run.
The compile run gets more untimed warm-up steps, so that its compilations (two per bucket:
tuneguard.train.levers.compile_layers) fall before the clock starts; its graph count is
reported. The padding-free run gets two more: flex attention compiles its kernel on the
first call and once more, for dynamic lengths, on the second.

memory: every example `--max-length` tokens long, so each batch is exactly batch x max_length;
gradient checkpointing off; for each batch size the plan's estimated peak
(tuneguard.train.perf, behind `gradient_checkpointing: auto`) against the measured peak (CUDA:
max allocated; the CPU's peak RSS growth says nothing about it) and the error in percent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tuneguard.bench import throughput as tp

log = logging.getLogger(__name__)

# lora_dropout_0: the recipe's LoRA dropout (0.1 in the bench) set to 0, where PEFT skips the
# dropout kernel and its saved mask; a choice of the config (it regularises), not of the plan:
# measured so that docs/PERFORMANCE.md can say what dropout costs.
# The order they run in: the quick ones first, then those that compile kernels on their first
# steps (liger-kernel's Triton kernels, flex attention), compile last.
LEVERS = {"adapter_dtype": {"adapter_dtype": "base"}, "lora_dropout_0": {"lora_dropout": 0.0},
          "fused_linear_loss": {"fused_linear_loss": True}, "padding_free": {"padding_free": True},
          "compile": {"train_compile": True}}


def _options(argv: list[str]) -> tuple[argparse.Namespace, str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["levers", "memory", "all"])
    ap.add_argument("--memory-out", default=None, help="all: where the memory JSON goes")
    ap.add_argument("--levers", default=",".join(LEVERS), help="comma-separated, of " + ", ".join(LEVERS))
    ap.add_argument("--batches", default="4,8", help="memory: the batch sizes")
    ap.add_argument("--compile-warmup", type=int, default=None, help="levers: untimed steps of the compile run")
    ap.add_argument("--compile-backend", default="inductor", help="levers: aot_eager for a quick CPU selftest")
    own, rest = ap.parse_known_args(argv)
    tparser = tp._parser()
    o = tparser.parse_args(rest)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if o.device == "auto" else o.device
    o.levers, o.mode, o.batches, o.compile_warmup = own.levers, own.mode, own.batches, own.compile_warmup
    o.compile_backend, o.memory_out = own.compile_backend, own.memory_out
    tp._resolve_defaults(o, tparser, device)
    return o, device, tparser


class Bench:
    """What the runs share: options, device, tokenizer, the one base model, where JSON goes."""

    def __init__(self, o: argparse.Namespace, device: str):
        from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token

        self.o, self.device = o, device
        self.tok = build_tiny_tokenizer()
        setup_pad_token(self.tok, "auto")
        self.vocab = -(-len(self.tok) // 64) * 64
        self.data_vocab = len(self.tok) if o.model == "tiny" else 50400
        self.base = tp.build_base(o.model, self.vocab, device, o.seed, o.torch_dtype)

    def examples(self, n: int, median: float | None = None) -> list[dict[str, Any]]:
        return tp.make_examples(n, self.o.max_length, self.data_vocab, self.tok.pad_token_id, self.tok.eos_token_id,
                                seed=self.o.seed, median=median)


def write(result: dict[str, Any], path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2, default=str), "utf-8")


def _run(b: Bench, examples: list[dict[str, Any]], workdir: Path, batch: int, accum: int, warmup: int,
         **overrides: Any) -> dict[str, Any]:
    opts = argparse.Namespace(**{**vars(b.o), **overrides})
    return tp.run_pipeline("tuneguard", base=b.base, tokenizer=b.tok, examples=examples, batch=batch, accum=accum,
                           device=b.device, warmup=warmup, workdir=workdir, opts=opts)


def _keep(info: dict[str, Any]) -> dict[str, Any]:
    return {k: info.get(k) for k in ("tokens_per_s", "peak_memory_gb", "peak_reserved_gb", "peak_rss_growth_gb",
                                     "pad_fraction", "final_loss", "lora_dropout", "adapter_dtype", "compiled_layers",
                                     "compile_buckets", "fused_linear_loss", "padding_free", "chunked_loss", "gradient_checkpointing",
                                     "attention", "timed_steps", "estimated_peak_gb") if k in info}


def measure_levers(b: Bench, out: str | None) -> dict[str, Any]:
    o = b.o
    names = [n for n in o.levers.split(",") if n]
    unknown = [n for n in names if n not in LEVERS]
    if unknown:
        raise SystemExit(f"unknown lever(s) {unknown}: choose from {', '.join(LEVERS)}")
    names.sort(key=list(LEVERS).index)  # compile last
    examples = b.examples(o.steps * o.batch * o.accum)
    result: dict[str, Any] = {"benchmark": "levers", "model": o.model, "device": _device_name(b.device),
                              "batch": o.batch, "accum": o.accum, "steps": o.steps, "warmup": o.warmup, "runs": {},
                              "ratio_to_none": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["none", *names]:
            warmup = (o.compile_warmup or min(o.steps - 2, 2 * o.warmup + 2)) if name == "compile" else \
                min(o.steps - 2, o.warmup + 2) if name == "padding_free" else o.warmup
            try:
                from torch._dynamo.utils import counters

                counters.clear()
                start = time.perf_counter()
                info = _keep(_run(b, examples, Path(tmp), o.batch, o.accum, warmup, **LEVERS.get(name, {})))
                # The whole run, warm-up included: the compile run's excess over none's is its compile time.
                info["wall_s"] = round(time.perf_counter() - start, 1)
                if name == "compile":
                    info["compiled_graphs"] = counters["stats"]["unique_graphs"]
                    info["warmup_steps"] = warmup
            except Exception as exc:  # noqa: BLE001 - recorded; the next lever still runs
                log.exception("lever %s failed", name)
                info = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            result["runs"][name] = info
            none = result["runs"]["none"].get("tokens_per_s")
            if name != "none" and none and info.get("tokens_per_s"):
                result["ratio_to_none"][name] = round(info["tokens_per_s"] / none, 3)
            log.info("%s: %s", name, info)
            write(result, out)
    return result


def measure_memory(b: Bench, out: str | None) -> dict[str, Any]:
    o = b.o
    batches = [int(x) for x in o.batches.split(",") if x]
    steps = 3  # the peak is reached in the first step; 3 give the clock a warm-up and two timed steps
    result: dict[str, Any] = {"benchmark": "memory_estimate", "model": o.model, "device": _device_name(b.device),
                              "seq_len": o.max_length, "gradient_checkpointing": False, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in batches:
            # Every example max_length tokens: each batch is exactly batch x max_length.
            examples = b.examples(steps * batch, median=10 * o.max_length)
            try:
                info = _keep(_run(b, examples, Path(tmp), batch, 1, 1, gradient_checkpointing=False))
                est, got = info.get("estimated_peak_gb"), info.get("peak_memory_gb")
                if est and got:
                    info["error_pct"] = round(100 * (est / got - 1), 1)
            except Exception as exc:  # noqa: BLE001 - recorded; the next batch size still runs
                log.exception("batch %d failed", batch)
                info = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            result["runs"][str(batch)] = info
            log.info("batch %d: %s", batch, info)
            if b.device == "cuda":
                torch.cuda.empty_cache()
            errors = [r["error_pct"] for r in result["runs"].values() if "error_pct" in r]
            result["max_abs_error_pct"] = max((abs(e) for e in errors), default=None)
            result["within_10pct"] = bool(errors) and max(abs(e) for e in errors) <= 10
            write(result, out)
    return result


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import sys

    import transformers

    o, device, _ = _options(list(sys.argv[1:] if argv is None else argv))
    transformers.logging.set_verbosity_error()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if o.threads:
        torch.set_num_threads(o.threads)
    b = Bench(o, device)
    result: dict[str, Any] = {}
    if o.mode in ("memory", "all"):  # memory first: quick, and it needs no compilation
        result["memory_estimate"] = measure_memory(b, o.out if o.mode == "memory" else o.memory_out)
    if o.mode in ("levers", "all"):
        result["levers"] = measure_levers(b, o.out)
    print(json.dumps(result, indent=2, default=str))  # noqa: T201 - this command's output is its JSON
    return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
