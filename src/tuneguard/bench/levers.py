"""Each speed lever alone against the same run without it, and the activation-memory estimate
against measured peaks; one JSON object (run by bench/gpu_gptj.sh's `levers` and
`memory_estimate` steps).

    python -m tuneguard.bench.levers levers --model gptj-6b --out levers.json
    python -m tuneguard.bench.levers memory --model gptj-6b --batches 4,8 --out memory.json

levers: tuneguard's pipeline (tuneguard.bench.throughput, the same examples, the same base
model in one process) first with no lever (`none`, the same-run baseline), then with each of
`adapter_dtype` (bf16 LoRA weights), `compile` (compiled decoder layers, lengths padded to 4
buckets) and `fused_linear_loss` (liger-kernel) alone; the ratio of each to `none` in real
tokens/s, and peak memory. A lever whose run fails is recorded with its error; the others
still run. The compile run gets more untimed warm-up steps, so that its compilations (one per
bucket) fall before the clock starts; its compile count is reported.

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
from pathlib import Path
from typing import Any

import torch

from tuneguard.bench import throughput as tp

log = logging.getLogger(__name__)

LEVERS = {"adapter_dtype": {"adapter_dtype": "base"}, "compile": {"train_compile": True},
          "fused_linear_loss": {"fused_linear_loss": True}}


def _options(argv: list[str]) -> tuple[argparse.Namespace, str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["levers", "memory"])
    ap.add_argument("--levers", default=",".join(LEVERS), help="comma-separated, of " + ", ".join(LEVERS))
    ap.add_argument("--batches", default="4,8", help="memory: the batch sizes")
    ap.add_argument("--compile-warmup", type=int, default=None, help="levers: untimed steps of the compile run")
    ap.add_argument("--compile-backend", default="inductor", help="levers: aot_eager for a quick CPU selftest")
    own, rest = ap.parse_known_args(argv)
    tparser = tp._parser()
    o = tparser.parse_args(rest)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if o.device == "auto" else o.device
    o.levers, o.mode, o.batches, o.compile_warmup = own.levers, own.mode, own.batches, own.compile_warmup
    o.compile_backend = own.compile_backend
    tp._resolve_defaults(o, tparser, device)
    return o, device, tparser


def _setup(o: argparse.Namespace, device: str, examples_of: Any) -> tuple[Any, list[dict[str, Any]], Any, int]:
    from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token

    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "auto")
    vocab = -(-len(tok) // 64) * 64
    examples = examples_of(tok)
    base = tp.build_base(o.model, vocab, device, o.seed, o.torch_dtype)
    return tok, examples, base, vocab


def _run(o: argparse.Namespace, tok: Any, examples: list[dict[str, Any]], base: Any, device: str, workdir: Path,
         batch: int, accum: int, warmup: int, **overrides: Any) -> dict[str, Any]:
    opts = argparse.Namespace(**{**vars(o), **overrides})
    return tp.run_pipeline("tuneguard", base=base, tokenizer=tok, examples=examples, batch=batch, accum=accum,
                           device=device, warmup=warmup, workdir=workdir, opts=opts)


def _keep(info: dict[str, Any]) -> dict[str, Any]:
    return {k: info.get(k) for k in ("tokens_per_s", "peak_memory_gb", "peak_reserved_gb", "peak_rss_growth_gb",
                                     "pad_fraction", "final_loss", "adapter_dtype", "compiled_layers",
                                     "compile_buckets", "fused_linear_loss", "chunked_loss", "gradient_checkpointing",
                                     "attention", "timed_steps", "estimated_peak_gb") if k in info}


def measure_levers(o: argparse.Namespace, device: str) -> dict[str, Any]:
    names = [n for n in o.levers.split(",") if n]
    unknown = [n for n in names if n not in LEVERS]
    if unknown:
        raise SystemExit(f"unknown lever(s) {unknown}: choose from {', '.join(LEVERS)}")
    effective = o.batch * o.accum
    tok, examples, base, vocab = _setup(o, device, lambda t: tp.make_examples(
        o.steps * effective, o.max_length, len(t) if o.model == "tiny" else 50400, t.pad_token_id, t.eos_token_id,
        seed=o.seed))
    result: dict[str, Any] = {"benchmark": "levers", "model": o.model, "device": _device_name(device),
                              "batch": o.batch, "accum": o.accum, "steps": o.steps, "warmup": o.warmup, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["none", *names]:
            b = base if base is not None else tp.build_base(o.model, vocab, device, o.seed, o.torch_dtype)
            warmup = (o.compile_warmup or min(o.steps - 2, 2 * o.warmup + 2)) if name == "compile" else o.warmup
            try:
                from torch._dynamo.utils import counters

                counters.clear()
                info = _keep(_run(o, tok, examples, b, device, Path(tmp), o.batch, o.accum, warmup,
                                  **LEVERS.get(name, {})))
                if name == "compile":
                    info["compiled_graphs"] = counters["stats"]["unique_graphs"]
                    info["warmup_steps"] = warmup
            except Exception as exc:  # noqa: BLE001 - recorded; the next lever still runs
                log.exception("lever %s failed", name)
                info = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            result["runs"][name] = info
            log.info("%s: %s", name, info)
    none = result["runs"]["none"].get("tokens_per_s")
    result["ratio_to_none"] = {n: round(r["tokens_per_s"] / none, 3) for n, r in result["runs"].items()
                               if n != "none" and none and r.get("tokens_per_s")}
    return result


def measure_memory(o: argparse.Namespace, device: str) -> dict[str, Any]:
    batches = [int(x) for x in o.batches.split(",") if x]
    steps = max(o.steps, 3)
    tok, _, base, vocab = _setup(o, device, lambda t: [])
    result: dict[str, Any] = {"benchmark": "memory_estimate", "model": o.model, "device": _device_name(device),
                              "seq_len": o.max_length, "gradient_checkpointing": False, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in batches:
            # Every example max_length tokens: each batch is exactly batch x max_length.
            examples = tp.make_examples(steps * batch, o.max_length, len(tok) if o.model == "tiny" else 50400,
                                        tok.pad_token_id, tok.eos_token_id, seed=o.seed, median=10 * o.max_length)
            b = base if base is not None else tp.build_base(o.model, vocab, device, o.seed, o.torch_dtype)
            try:
                info = _keep(_run(o, tok, examples, b, device, Path(tmp), batch, 1, 1, gradient_checkpointing=False,
                                  steps=steps))
                est, got = info.get("estimated_peak_gb"), info.get("peak_memory_gb")
                if est and got:
                    info["error_pct"] = round(100 * (est / got - 1), 1)
            except Exception as exc:  # noqa: BLE001 - recorded; the next batch size still runs
                log.exception("batch %d failed", batch)
                info = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            result["runs"][str(batch)] = info
            log.info("batch %d: %s", batch, info)
            if device == "cuda":
                torch.cuda.empty_cache()
    errors = [r["error_pct"] for r in result["runs"].values() if "error_pct" in r]
    result["max_abs_error_pct"] = max((abs(e) for e in errors), default=None)
    result["within_10pct"] = bool(errors) and max(abs(e) for e in errors) <= 10
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
    result = measure_levers(o, device) if o.mode == "levers" else measure_memory(o, device)
    text = json.dumps(result, indent=2, default=str)
    if o.out:
        Path(o.out).parent.mkdir(parents=True, exist_ok=True)
        Path(o.out).write_text(text, "utf-8")
    print(text)  # noqa: T201 - this command's output is its JSON
    return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
