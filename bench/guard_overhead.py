"""Guard overhead: the same tiny LoRA run trained with all guards on and with none, in one
process, alternating the two to spread machine noise evenly; prints one JSON object.

"On" is what `train` runs for the guards: the metrics callback (which writes each log to the
store and hands the guards every step's loss, gradient norm and supervised tokens), the step
recorder on the Trainer (tuneguard.train.steps), the token-counting collator, and the guard
callbacks.

    python bench/guard_overhead.py [--steps 200] [--rounds 3] [--threads 1] [--device cpu|cuda]
    python bench/guard_overhead.py --compare on,watch --logging-steps 10 [--device cuda]

`--compare A,B` picks the two setups timed against each other: `off` (no guards), `on` (the
guards judging at logs only: guard.watch_steps 0) and `watch` (every step judged as it ends:
guard.watch_steps = all the steps, the loss read from the device at each step's end, one
synchronisation per step). `on,watch` is what watching the first steps costs per step;
`step_end_us_per_step` is the time spent in the callbacks' on_step_end, the peek included.

Besides the wall-clock ratio (noisy on a shared machine: a 200-step tiny run lasts
seconds) it reports the ratio of process CPU time (less sensitive to other processes) and
the time spent inside the guard callbacks per training log, measured directly, which is
the figure both ratios estimate. Guards run only when the Trainer logs
(logging_steps 1 here, the worst case) and read numbers it has already synchronised.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def rows(n: int, length: int, seed: int = 0) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = [rng.randrange(1, 590) for _ in range(length)]
        out.append({"input_ids": ids, "attention_mask": [1] * length, "labels": list(ids)})
    return out


def timed(cb: Any, totals: dict[str, float]) -> Any:
    """Wrap a callback's event methods to sum the time spent inside them."""
    for name in ("on_log", "on_evaluate", "on_save", "on_train_begin", "on_step_end"):
        fn = getattr(cb, name, None)
        if fn is None:
            continue

        def wrapper(*a: Any, _fn: Any = fn, _name: str = name, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return _fn(*a, **kw)
            finally:
                totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - t
        setattr(cb, name, wrapper)
    return cb


def guarded(mode: str, steps: int, workdir: Path, model: Any, tokenizer: Any, totals: dict[str, float],
            metrics_totals: dict[str, float]) -> tuple[list[Any], Any, Any, Any]:
    """What `train` adds for the guards in `mode` (on: judged at logs; watch: every step at its
    end), each callback timed: (callbacks, collator, step recorder, store)."""
    from transformers import default_data_collator

    from tuneguard.config.load import read_source, validate_config
    from tuneguard.context import RunContext
    from tuneguard.findings import GUARD_CODES
    from tuneguard.guard import build_guard_callbacks
    from tuneguard.store.run_store import RunStore
    from tuneguard.train.metrics import CountingCollator, MetricsCallback, TokenCounter
    from tuneguard.train.steps import StepRecorder

    raw = read_source("tiny")[0]
    raw["guard"] = {"actions": {c: "warn" for c in GUARD_CODES},  # every run trains all its steps
                    "watch_steps": steps if mode == "watch" else 0}
    store = RunStore(workdir / "run", create=True)
    store.init_run(config=raw, max_steps=steps)
    ctx = RunContext(cfg=validate_config(raw), run_dir=workdir / "run", store=store)
    counter = TokenCounter()
    recorder = StepRecorder(counter)
    counter.watch(model)
    callbacks = [timed(MetricsCallback(ctx, counter, recorder), metrics_totals),
                 *(timed(cb, totals) for cb in build_guard_callbacks(ctx, tokenizer))]
    return callbacks, CountingCollator(default_data_collator, counter), recorder, store


def train_once(mode: str, steps: int, device: str, workdir: Path, tokenizer: Any,
               logging_steps: int = 1) -> dict[str, Any]:
    """One run: `mode` off (no guards), on (guards at logs) or watch (every step judged at its end)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, PrinterCallback, TrainingArguments, default_data_collator

    from tuneguard.model.load import tiny_model_config
    from tuneguard.train.trainer import RunTrainer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_model_config(640))
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                  "out_proj"], task_type="CAUSAL_LM"))
    totals: dict[str, float] = {}
    metrics_totals: dict[str, float] = {}
    callbacks: list[Any] = []
    collator: Any = default_data_collator
    recorder = store = None
    if mode != "off":
        callbacks, collator, recorder, store = guarded(mode, steps, workdir, model, tokenizer, totals, metrics_totals)
    args = TrainingArguments(output_dir=str(workdir / "out"), max_steps=steps, per_device_train_batch_size=8,
                             learning_rate=1e-3, logging_steps=logging_steps, logging_first_step=True,
                             logging_nan_inf_filter=False, save_strategy="no", eval_strategy="no",
                             report_to="none", disable_tqdm=True, use_cpu=device == "cpu", seed=0)
    # The Trainer train runs (its random batches here), recording every step when the guards are on.
    trainer = RunTrainer(length_buckets=False, recorder=recorder, model=model, args=args,
                         train_dataset=rows(steps * 8, 64), data_collator=collator, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # it prints every log to stdout
    t, c = time.perf_counter(), time.process_time()
    trainer.train()
    if device == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    logs = sum(1 for h in trainer.state.log_history if "loss" in h)
    findings = [f.code for f in store.findings()] if store is not None else []
    if store is not None:
        store.close()
    return {"wall_s": wall, "cpu_s": cpu, "steps": trainer.state.global_step, "logs": logs,
            "guard_callback_s": sum(totals.values()), "metrics_callback_s": sum(metrics_totals.values()),
            "step_end_s": totals.get("on_step_end", 0.0) + metrics_totals.get("on_step_end", 0.0),
            "findings": findings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids oversubscription)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--logging-steps", type=int, default=1)
    ap.add_argument("--compare", default="off,on", help="two of off, on, watch (module docstring)")
    a = ap.parse_args()
    base_mode, test_mode = a.compare.split(",")

    import logging

    import torch
    import transformers

    from tuneguard.model.load import build_tiny_tokenizer

    logging.disable(logging.WARNING)  # findings on random data are expected; keep stdout to the JSON
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(a.threads)
    tok = build_tiny_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        train_once("off", 20, a.device, base / "warmup", tok)  # imports, allocator, kernels
        runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
        for r in range(a.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for which in order:
                mode = base_mode if which == "off" else test_mode
                runs[which].append(train_once(mode, a.steps, a.device, base / f"{which}{r}", tok, a.logging_steps))
    off = statistics.median(x["wall_s"] for x in runs["off"])
    on = statistics.median(x["wall_s"] for x in runs["on"])
    cpu_off = statistics.median(x["cpu_s"] for x in runs["off"])
    cpu_on = statistics.median(x["cpu_s"] for x in runs["on"])
    logs = runs["on"][0]["logs"]
    per_log = statistics.median(x["guard_callback_s"] for x in runs["on"]) / max(logs, 1)
    step_end = {k: statistics.median(x["step_end_s"] for x in v) / a.steps * 1e6 for k, v in runs.items()}
    print(json.dumps({
        "benchmark": "guard_overhead", "device": a.device, "torch_threads": a.threads, "steps": a.steps,
        "logging_steps": a.logging_steps, "rounds": a.rounds, "compare": [base_mode, test_mode],
        "step_end_us_per_step": {base_mode: round(step_end["off"], 1), test_mode: round(step_end["on"], 1)},
        "step_s": {base_mode: round(off / a.steps, 5), test_mode: round(on / a.steps, 5)},
        "guards_off_s": round(off, 4), "guards_on_s": round(on, 4), "ratio": round(on / off, 4),
        "overhead_pct": round(100 * (on / off - 1), 2),
        "ratio_of_fastest": round(min(x["wall_s"] for x in runs["on"]) / min(x["wall_s"] for x in runs["off"]), 4),
        "cpu_off_s": round(cpu_off, 4), "cpu_on_s": round(cpu_on, 4), "cpu_ratio": round(cpu_on / cpu_off, 4),
        "guard_time_per_log_us": round(per_log * 1e6, 1),
        "metrics_time_per_log_us": round(statistics.median(x["metrics_callback_s"] for x in runs["on"])
                                         / max(logs, 1) * 1e6, 1),
        "guard_share_of_on_run_pct": round(100 * per_log * logs / on, 3),
        "off_runs_s": [round(x["wall_s"], 4) for x in runs["off"]],
        "on_runs_s": [round(x["wall_s"], 4) for x in runs["on"]],
        "findings_on_random_data": sorted(set(runs["on"][0]["findings"])),
    }, indent=2))


if __name__ == "__main__":
    main()
