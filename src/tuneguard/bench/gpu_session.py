"""Every GPU measurement of GPT-J-6B LoRA in one call (run by bench/gpu_gptj.sh).

GPU time is lent in short sessions, so the whole measurement is one prepared command that
first ran on the CPU (`--selftest`: the same steps, a small model, bf16 on the CPU). Each
step is a subprocess with its own time limit inside one overall budget; a step that fails
or runs out of time is recorded and the next one still runs; the summary says which, and
the command exits 1 if any failed (nothing hides a failed step).

Steps, in order (what the GPU issue accepts on comes first, so a budget cut short takes the
optional figures, not those):
1. model       GPT-J-6B with random weights saved as a model folder (bf16 safetensors and a
               tokenizer), so that the real `tuneguard train` loads it as a user's model.
2. train       `tuneguard train` on it with the v2 preset (LoRA r16 on q, k, v, out) and
               generated instruction data (median about 180 tokens), evaluation and
               checkpoints included; killed (SIGKILL) once a checkpoint is complete.
3. resume      `tuneguard train --resume auto`: the loss curve must continue (the steps
               logged twice, before the kill and after the resume, compared).
4. calibrate   `tuneguard plan --calibrate`: its step time and peak memory against the
               measured ones of the train run.
5. four_bit    `tuneguard train` with the base in 4-bit (bitsandbytes): a few steps (on the
               CPU: the same command line, refused for want of CUDA as it must be).
   train_levers `tuneguard train` with the levers that `auto` leaves off until a GPU has
               measured them turned on (bf16 adapters, fused linear cross-entropy,
               padding-free rows with the attention auto picks: flex on CUDA): the recipe's
               speed and memory with them, and its losses against the train step's.
6. bench       the throughput bench: tuneguard's pipeline against the notebook pipeline,
               MFU, peak memory, the final losses, a profile summary (tuneguard.bench.throughput).
   loss_match  on the bench's base: the bf16 per-step losses of the notebook pipeline and of
               tuneguard's (its plan, and its plan with the levers) on the same examples, in
               the same batches, from the same LoRA weights, compared step by step within a
               stated tolerance (tuneguard.bench.loss_match).
   levers      each speed lever alone (bf16 adapters, fused linear cross-entropy,
               padding-free rows with flex attention, LoRA dropout 0) against the same run
               without it (tuneguard.bench.levers).
   memory_estimate  the activation-memory estimate against measured peaks at batch 4 and
               8 of 512 tokens, checkpointing off (measured by the levers step's process).
7. cuda_tests  the CUDA lane of the test suite (`pytest -m cuda tests/cuda`).
8. compile     the compiled-layers lever against its own same-run baseline, last: its
               compile time is unknown until a GPU has run it.

Results under OUT: summary.json (every figure and each step's status), summary.md (the
figures as Markdown tables for docs/BENCHMARKS.md), log.txt, and details.tar.gz (each step's
full output and config); all rewritten after every step.

    python -m tuneguard.bench.gpu_session --out OUT [--budget-s 500] [--selftest]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

# Each step's own limit in seconds on the GPU; the budget (500 s by default) cuts the later ones.
# Measured on nothing yet: sized from the H200 anchors (GPT-J-6B built in bf16 on the card in
# about 20 s; 2,000-10,000 real tokens/s) so the whole script stays near 8 minutes. Each
# `tuneguard` command starts a Python (about 10 s of imports) and reads 12 GB of weights.
# levers: memory's two runs, the same-run baseline and four levers; the padding-free run's flex
# attention compiles its kernel twice (static, then dynamic lengths) inside it.
# bench: the loss check after the throughput runs adds three 10-step runs on the same base (the
# levers' one compiles flex attention and liger's kernels); loss_match uses its own limit only
# when run alone (a Python, a GPT-J-6B build and the three runs).
STEP_LIMITS = {"model": 80, "train": 110, "resume": 90, "calibrate": 75, "four_bit": 100, "train_levers": 90,
               "bench": 170, "loss_match": 100, "levers": 140, "memory_estimate": 60, "cuda_tests": 60,
               "compile": 150}


class Session:
    """The steps' shared state: where things are, the clock, the results."""

    def __init__(self, out: Path, work: Path, budget_s: float, selftest: bool):
        self.out, self.work, self.selftest = out, work, selftest
        self.deadline = time.monotonic() + budget_s
        self.results: dict[str, dict[str, Any]] = {}
        self.log = open(out / "log.txt", "a", encoding="utf-8")  # noqa: SIM115 - closed in main
        self.python = sys.executable
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        self.model_dir = work / "gptj-6b-random"
        self.run_dir = work / "run"
        self.data: dict[str, Any] = {}
        self.before: dict[str, Any] = {}  # the train run's store when it was killed
        self.after: dict[str, Any] = {}  # ... and after the resume
        # The train run's schedule: a few dozen steps with evaluations and checkpoints on the
        # GPU; on the CPU fewer and shorter rows (the same code path, at a CPU's speed).
        self.steps, self.every, self.kill_after = (12, 4, 8) if selftest else (30, 10, 20)
        self.rows, self.median_words = (240, 60) if selftest else (1200, 160)

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        print(line, flush=True)  # noqa: T201 - this tool's output is its report
        self.log.write(line + "\n")
        self.log.flush()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def limit(self, name: str) -> float:
        """The step's time limit: its own (four times that on a busy CPU), within what is left."""
        return max(5.0, min(STEP_LIMITS[name] * (4.0 if self.selftest else 1.0), self.left() - 5))

    def run(self, name: str, cmd: list[str], limit: float, *, stdout_only: bool = False) -> tuple[int, str]:
        """Run `cmd` (its own process group) for at most `limit` seconds; (rc, output).
        `stdout_only`: return stdout alone (a command's JSON), stderr still goes to the log."""
        path = self.work / f"{name}.log"
        out_path = self.work / f"{name}.stdout"
        with open(path, "wb") as f, open(out_path, "wb") as o:
            proc = subprocess.Popen(cmd, stdout=o if stdout_only else f, stderr=f, env=self.env, cwd=os.getcwd(),
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                rc = 124
        return rc, (out_path if stdout_only else path).read_text("utf-8", "replace")

    def config_args(self) -> list[str]:
        return [str(self.work / "config.yaml")]


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def tail(text: str, n: int = 25) -> str:
    return "\n".join(text.splitlines()[-n:])


# --- the steps -----------------------------------------------------------------------------

def step_cuda_tests(s: Session) -> dict[str, Any]:
    rc, out = s.run("cuda_tests", [s.python, "-m", "pytest", "-q", "-m", "cuda", "tests/cuda", "-p",
                                   "no:cacheprovider", "-rs"], s.limit("cuda_tests"))
    last = next((ln for ln in reversed(out.splitlines()) if " passed" in ln or " skipped" in ln or " failed" in ln), "")
    return {"ok": rc == 0, "rc": rc, "result": last.strip("= ")}


def model_args(s: Session) -> list[str]:
    """The bench modules' model options: GPT-J-6B on the GPU, the tiny GPT-J in bf16 with the
    chunked loss forced on in the selftest (the GPU's mixed-precision path)."""
    if s.selftest:
        return ["--model", "tiny", "--device", "cpu", "--dtype", "bf16", "--chunked-loss", "on"]
    return ["--model", "gptj-6b", "--memory-budget-gb", "40"]


def step_bench(s: Session) -> dict[str, Any]:
    """The throughput bench, then, on the same base (one GPT-J-6B build less), the loss
    equivalence check (tuneguard.bench.loss_match) into loss_match.json for its own step."""
    if s.selftest:
        args = ["--steps", "6", "--warmup", "2", "--repeats", "1", "--batch", "8"]
    else:
        args = ["--steps", "20", "--warmup", "3", "--batch", "8", "--accum", "2", "--baseline-checkpointing"]
    rc, out = s.run("bench", [s.python, "-m", "tuneguard.bench.throughput", *model_args(s), *args, "--json",
                              "--out", str(s.out / "gptj_throughput.json"), "--profile-dir", str(s.out),
                              "--profile-steps", "3", "--loss-match-out", str(s.work / "loss_match.json")],
                    s.limit("bench"))
    res: dict[str, Any] = {"ok": rc == 0, "rc": rc}
    path = s.out / "gptj_throughput.json"
    if path.exists():  # written before the loss check: a check cut short keeps these figures
        r = json.loads(path.read_text())
        for k in ("baseline", "tuneguard"):
            p = r[k]
            res[k] = {x: p.get(x) for x in ("tokens_per_s", "pad_fraction", "peak_memory_gb", "peak_reserved_gb",
                                             "peak_rss_growth_gb", "mfu", "attention", "gradient_checkpointing",
                                             "chunked_loss", "dtype", "final_loss")}
        res["ratio_tokens_per_s"] = r["ratio_tokens_per_s"]
        res["matmul_peak_tflops"] = r.get("matmul_peak_tflops")
    if rc != 0:
        res["tail"] = tail(out)
    return res


def step_loss_match(s: Session) -> dict[str, Any]:
    """The bf16 loss curves of the notebook pipeline and tuneguard's (its plan, and its plan
    with the levers) on the same examples, batches and start, step by step within
    loss_match.TOLERANCE_REL: the bench step ran the check; alone (ONLY=loss_match) this step
    runs it."""
    path = s.work / "loss_match.json"
    res: dict[str, Any] = {"ok": True}
    if "bench" not in s.results:
        rc, out = s.run("loss_match", [s.python, "-m", "tuneguard.bench.loss_match", *model_args(s), "--out", str(path)],
                        s.limit("loss_match"))
        res = {"ok": rc == 0, "rc": rc, **({} if rc == 0 else {"tail": tail(out)})}
    if not path.exists():
        return {**res, "ok": False, "error": "no loss_match.json (see the bench step)"}
    r = json.loads(path.read_text())
    res.update({k: r.get(k) for k in ("tolerance_rel", "tolerance_of_drop", "steps", "batch", "accum", "learning_rate", "dtype")})
    res["runs"] = {n: {k: x[k] for k in ("attention", "chunked_loss", "adapter_dtype", "fused_linear_loss",
                                         "padding_free", "pad_fraction", "wall_s", "error") if k in x}
                   for n, x in r.get("runs", {}).items()}
    res["comparisons"] = r.get("comparisons", {})
    res["ok"] = res["ok"] and bool(r.get("pass"))
    return res


def levers_args(s: Session) -> list[str]:
    if s.selftest:
        return [*model_args(s), "--steps", "6", "--warmup", "2", "--batch", "8", "--compile-backend", "aot_eager",
                "--batches", "2,4"]
    return [*model_args(s), "--steps", "14", "--warmup", "3", "--batch", "8", "--accum", "2", "--batches", "4,8",
            "--max-length", "512"]


def step_levers(s: Session) -> dict[str, Any]:
    """Each speed lever alone against the same run without it, and (first, in the same process,
    on the same base: one GPT-J-6B build less) the memory estimate's runs (tuneguard.bench.levers)."""
    # In details.tar.gz; the figures go into summary.json (8 files come back at most).
    path, memory = s.work / "levers.json", s.work / "memory_estimate.json"
    rc, out = s.run("levers", [s.python, "-m", "tuneguard.bench.levers", "all", *levers_args(s), "--out", str(path),
                               "--memory-out", str(memory), "--levers",
                               "adapter_dtype,fused_linear_loss,padding_free,lora_dropout_0"],
                    s.limit("levers"))
    return levers_result(rc, out, path)


def step_compile(s: Session) -> dict[str, Any]:
    """The compile lever alone against its own same-run baseline, last: its compile time is the
    one figure no CPU run predicts, so it takes whatever time the other steps left."""
    path = s.work / "compile_lever.json"
    rc, out = s.run("compile", [s.python, "-m", "tuneguard.bench.levers", "levers", *levers_args(s), "--out",
                                str(path), "--levers", "compile"], s.limit("compile"))
    return levers_result(rc, out, path)


def levers_result(rc: int, out: str, path: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"ok": rc == 0, "rc": rc}
    if path.exists():  # rewritten after every run: what finished before a timeout is kept
        r = json.loads(path.read_text())
        res["ratio_to_none"] = r.get("ratio_to_none")
        res["runs"] = {n: {k: x.get(k) for k in ("tokens_per_s", "peak_memory_gb", "final_loss", "wall_s",
                                                  "lora_dropout", "adapter_dtype", "compiled_layers", "compiled_graphs",
                                                  "fused_linear_loss", "padding_free", "attention", "pad_fraction",
                                                  "error")}
                       for n, x in r.get("runs", {}).items()}
        res["ok"] = res["ok"] and not any(x.get("error") for x in res["runs"].values())
    if not res["ok"]:
        res["tail"] = tail(out)
    return res


def step_memory_estimate(s: Session) -> dict[str, Any]:
    """The activation-memory estimate behind `gradient_checkpointing: auto` against measured
    peaks at two batch sizes of 512-token rows, checkpointing off: the levers step measured
    them; alone (ONLY=memory_estimate) this step runs them."""
    path = s.work / "memory_estimate.json"
    res: dict[str, Any] = {"ok": True}
    if "levers" not in s.results:
        rc, out = s.run("memory_estimate", [s.python, "-m", "tuneguard.bench.levers", "memory", *levers_args(s),
                                            "--out", str(path)], s.limit("memory_estimate"))
        res = {"ok": rc == 0, "rc": rc, **({} if rc == 0 else {"tail": tail(out)})}
    if not path.exists():
        return {**res, "ok": False, "error": "no memory_estimate.json (see the levers step)"}
    r = json.loads(path.read_text())
    res["runs"] = {b: {k: x.get(k) for k in ("estimated_peak_gb", "peak_memory_gb", "error_pct", "error")}
                   for b, x in r.get("runs", {}).items()}
    res["max_abs_error_pct"], res["within_10pct"] = r.get("max_abs_error_pct"), r.get("within_10pct")
    res["ok"] = res["ok"] and bool(res["runs"]) and not any(x.get("error") for x in res["runs"].values())
    return res


def model_code(selftest: bool, folder: Path) -> str:
    """The subprocess that writes the model folder: GPT-J-6B (GPTJConfig's defaults) with
    random weights in bf16 on the GPU, or a small GPT-J-architecture model for the selftest
    (the 6B vocabulary, so the chunked loss turns itself on), and tuneguard's tiny tokenizer
    (no hub: a real GPT-J tokenizer is not at hand; only the length of the rows matters)."""
    conf = "GPTJConfig(n_layer=2, n_embd=256, n_head=4, rotary_dim=16, initializer_range=0.05)" if selftest \
        else "GPTJConfig()"
    device = "cpu" if selftest else "cuda"
    return (
        "import torch\n"
        "from transformers import AutoModelForCausalLM, GPTJConfig\n"
        "from tuneguard.model.load import build_tiny_tokenizer\n"
        "torch.manual_seed(0)\n"
        f"with torch.device({device!r}):\n"
        f"    m = AutoModelForCausalLM.from_config({conf}, dtype=torch.bfloat16)\n"
        f"m.save_pretrained({str(folder)!r})\n"
        f"build_tiny_tokenizer().save_pretrained({str(folder)!r})\n"
        "print('params', sum(p.numel() for p in m.parameters()))\n"
    )


def step_model(s: Session) -> dict[str, Any]:
    folder = s.model_dir
    rc, out = s.run("model", [s.python, "-c", model_code(s.selftest, folder)], s.limit("model"))
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) if folder.exists() else 0
    return {"ok": rc == 0, "rc": rc, "folder": str(folder), "weights_gb": round(size / 1024**3, 2),
            **({} if rc == 0 else {"tail": tail(out)})}


def write_data(path: Path, n: int, median_words: float, seed: int = 0) -> dict[str, Any]:
    """Instruction rows of the bench's length mix: log-normal word counts (the tiny tokenizer
    makes about 1.15 tokens per word with the prompt template: 160 words give a median near 180 tokens),
    clipped below data.max_length, a prompt of 20-50% of the words."""
    from tuneguard.model.load import _TINY_WORDS

    rng = random.Random(seed)
    words = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            total = max(12, min(400, int(rng.lognormvariate(math.log(median_words), 0.65))))
            prompt = max(3, int(total * rng.uniform(0.2, 0.5)))
            words.append(total)
            f.write(json.dumps({"instruction": f"{i}: " + " ".join(rng.choice(_TINY_WORDS) for _ in range(prompt)),
                                "output": " ".join(rng.choice(_TINY_WORDS) for _ in range(total - prompt))}) + "\n")
    return {"rows": n, "median_words": statistics.median(words)}


def train_settings(s: Session) -> list[str]:
    return [f"model.name={s.model_dir}", f"data.train_file={s.work / 'train.jsonl'}", "data.eval_samples=64",
            f"train.max_steps={s.steps}", "train.logging_steps=2", f"eval.steps={s.every}",
            f"train.save_steps={s.every}",
            "train.save_total_limit=3", "eval.early_stopping_patience=null", "notify.urls=[]",
            *(["train.batch_size=4", "train.gradient_accumulation_steps=2"] if s.selftest else
              ["train.batch_size=8", "train.gradient_accumulation_steps=2"])]


def write_config(s: Session) -> Path:
    """The v2 preset with this session's model, data and schedule, as a config file (so that
    train, resume and plan read exactly the same one)."""
    from tuneguard.config.load import dump_yaml, load_config, redacted_dict

    cfg = load_config("gptj-6b-v2", [*train_settings(s), *(["model.dtype=bf16"] if s.selftest else [])])
    path = s.work / "config.yaml"
    path.write_text(dump_yaml(redacted_dict(cfg)), "utf-8")
    return path


def read_run(run_dir: Path) -> dict[str, Any]:
    from tuneguard.store.run_store import RunStore

    if not (run_dir / "run.db").exists():
        return {}
    with RunStore(run_dir, readonly=True) as st:
        train = st.metrics("train")
        return {"state": st.state(), "exit_reason": st.get_meta("exit_reason"),
                "loss": {int(m["step"]): m["loss"] for m in train if m.get("loss") is not None},
                "tokens_per_s": [m.get("tokens_per_s") for m in train], "step_time_s": [m.get("step_time_s") for m in train],
                "mem_peak_gb": max((m.get("mem_peak_gb") or 0.0 for m in train), default=0.0),
                "eval_loss": {int(m["step"]): m["eval_loss"] for m in st.metrics("eval")},
                "performance": st.get_meta("performance"), "hardware": st.get_meta("hardware")}


def steady(values: list[float | None], skip: int = 2) -> float | None:
    """Median of the logged values after the first `skip` logs (warm-up, first compiles)."""
    vals = [v for v in values[skip:] if v] or [v for v in values if v]
    return round(statistics.median(vals), 4) if vals else None


def step_train(s: Session) -> dict[str, Any]:
    """`tuneguard train`, killed with SIGKILL once the checkpoint at `s.kill_after` is
    complete and a later step is logged."""
    from tuneguard.checkpoints import MARKER

    s.data = write_data(s.work / "train.jsonl", s.rows, s.median_words)
    write_config(s)
    run = s.run_dir
    ckpt = run / "checkpoints" / f"checkpoint-{s.kill_after}" / MARKER
    log = open(s.work / "train.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([s.python, "-m", "tuneguard", "train", *s.config_args(), "--run-dir", str(run)],
                            stdout=log, stderr=subprocess.STDOUT, env=s.env, start_new_session=True)
    end = time.monotonic() + s.limit("train")
    killed_at = None
    while time.monotonic() < end and proc.poll() is None:
        if ckpt.exists() and max(read_run(run).get("loss", {0: 0}), default=0) > s.kill_after:
            killed_at = max(read_run(run)["loss"])
            kill_group(proc)
            break
        time.sleep(0.2)
    if proc.poll() is None:
        kill_group(proc)
    log.close()
    before = read_run(run)
    s.before = before
    res = {"ok": killed_at is not None, "killed_after_step": killed_at, "data": s.data,
           "tokens_per_s": steady(before.get("tokens_per_s", [])), "step_time_s": steady(before.get("step_time_s", [])),
           "mem_peak_gb": before.get("mem_peak_gb"), "performance": before.get("performance"),
           "hardware": before.get("hardware"), "eval_loss": before.get("eval_loss")}
    if killed_at is None:
        res["why"] = f"the run ended or ran out of time before checkpoint-{s.kill_after} was complete"
        res["tail"] = tail((s.work / "train.log").read_text("utf-8", "replace"))
    return res


def step_resume(s: Session) -> dict[str, Any]:
    rc, out = s.run("resume", [s.python, "-m", "tuneguard", "train", *s.config_args(), "--run-dir", str(s.run_dir),
                               "--resume", "auto"], s.limit("resume"))
    after = read_run(s.run_dir)
    s.after = after
    before = s.before.get("loss", {})
    both = sorted(k for k in set(before) & set(after.get("loss", {})) if k > s.kill_after)
    diffs = [abs(after["loss"][k] - before[k]) / max(abs(before[k]), 1e-9) for k in both]
    res: dict[str, Any] = {"rc": rc, "state": after.get("state"), "steps_logged_twice": both,
                           "max_rel_loss_diff": round(max(diffs), 5) if diffs else None,
                           "loss_before_kill": {k: before[k] for k in both}, "loss_after_resume": {k: after["loss"][k] for k in both},
                           "tokens_per_s": steady(after.get("tokens_per_s", [])),
                           "step_time_s": steady(after.get("step_time_s", [])), "mem_peak_gb": after.get("mem_peak_gb")}
    # The resumed run continues the same curve: equal on the CPU, within a few percent on a
    # GPU (nondeterministic kernels).
    res["ok"] = rc == 0 and after.get("state") == "finished" and bool(both) and max(diffs) <= 0.05
    if rc != 0:
        res["tail"] = tail(out)
    return res


def step_calibrate(s: Session) -> dict[str, Any]:
    rc, out = s.run("calibrate", [s.python, "-m", "tuneguard", "plan", *s.config_args(), "--calibrate", "6",
                                  "--json"], s.limit("calibrate"), stdout_only=True)
    res: dict[str, Any] = {"ok": rc == 0, "rc": rc}
    if rc != 0:
        res["tail"] = tail((s.work / "calibrate.log").read_text("utf-8", "replace"))
        return res
    cal = json.loads(out)["calibration"]
    measured_step = steady(s.after.get("step_time_s", [])) or steady(s.before.get("step_time_s", []))
    measured_peak = max(s.after.get("mem_peak_gb") or 0.0, s.before.get("mem_peak_gb") or 0.0)
    res.update(predicted_step_s=round(cal["seconds_per_step"], 4), measured_step_s=measured_step,
               predicted_peak_gb=round(cal["scaled_peak_gb"], 2), calibration_peak_gb=round(cal["peak_gb"], 2),
               measured_peak_gb=measured_peak, performance=cal.get("performance"), memory_kind=cal["memory_kind"])
    if measured_step:
        res["step_time_error"] = round(cal["seconds_per_step"] / measured_step - 1, 4)
    if measured_peak:
        res["peak_error"] = round(cal["scaled_peak_gb"] / measured_peak - 1, 4)
    res["within_target"] = (abs(res.get("step_time_error", 1)) <= 0.15 and abs(res.get("peak_error", 1)) <= 0.10)
    return res


def step_four_bit(s: Session) -> dict[str, Any]:
    """GPT-J-6B in 4-bit for a few steps. Without CUDA the same command line runs and must be
    refused for that reason alone (the options parse, the config validates)."""
    import torch

    run = s.work / "run4bit"
    rc, out = s.run("four_bit", [s.python, "-m", "tuneguard", "train", *s.config_args(), "--run-dir", str(run),
                                 "--set", "model.load_in_4bit=true", "--set", "train.max_steps=6", "--set",
                                 "eval.steps=6", "--set", "train.save_steps=6"], s.limit("four_bit"))
    if not torch.cuda.is_available():
        refused = rc != 0 and "need a CUDA GPU" in out
        return {"ok": refused, "rc": rc, "skipped": "no CUDA: 4-bit loading needs bitsandbytes on a GPU",
                **({} if refused else {"tail": tail(out)})}
    r = read_run(run)
    losses = list(r.get("loss", {}).values())
    return {"ok": rc == 0 and r.get("state") == "finished" and all(math.isfinite(x) for x in losses), "rc": rc,
            "loss": r.get("loss"), "mem_peak_gb": r.get("mem_peak_gb"), "tokens_per_s": steady(r.get("tokens_per_s", []), 1),
            "hardware": r.get("hardware"), **({} if rc == 0 else {"tail": tail(out)})}


# The speed levers turned on in `tuneguard train` (train_levers): those plan_performance chooses
# under `auto` once a GPU measurement says they pay; the attention left to auto so that
# padding-free rows get flex attention on CUDA (the preset configures sdpa).
TRAIN_LEVERS = ["model.adapter_dtype=base", "train.fused_linear_loss=true", "train.padding_free=true",
                "model.attn_implementation=auto"]


def step_train_levers(s: Session) -> dict[str, Any]:
    """`tuneguard train` with TRAIN_LEVERS, no evaluation or checkpoint on the way: its speed and
    memory, what the plan made of each lever, and its losses against the train step's at the
    same steps (same data, same order, same schedule: the levers change the arithmetic only)."""
    run = s.work / "run_levers"
    sets = [*TRAIN_LEVERS, f"train.max_steps={s.steps}", "eval.steps=1000", "train.save_steps=1000"]
    rc, out = s.run("train_levers", [s.python, "-m", "tuneguard", "train", *s.config_args(), "--run-dir", str(run),
                                     *[x for kv in sets for x in ("--set", kv)]], s.limit("train_levers"))
    r = read_run(run)
    loss, before = r.get("loss", {}), s.before.get("loss", {})
    both = sorted(set(loss) & set(before))
    diffs = [abs(loss[k] - before[k]) / max(abs(before[k]), 1e-9) for k in both]
    perf = r.get("performance") or {}
    return {"ok": rc == 0 and r.get("state") == "finished", "rc": rc, "settings": TRAIN_LEVERS,
            "tokens_per_s": steady(r.get("tokens_per_s", [])), "step_time_s": steady(r.get("step_time_s", [])),
            "mem_peak_gb": r.get("mem_peak_gb"), "max_rel_loss_diff_vs_train": round(max(diffs), 5) if diffs else None,
            "plan": {k: perf.get(k) for k in ("attention", "adapter_dtype", "fused_linear_loss", "fused_linear_loss_reason",
                                              "padding_free", "padding_free_reason", "gradient_checkpointing")},
            "performance": perf, **({} if rc == 0 else {"tail": tail(out)})}


STEPS = [("model", step_model), ("train", step_train), ("resume", step_resume), ("calibrate", step_calibrate),
         ("four_bit", step_four_bit), ("train_levers", step_train_levers), ("bench", step_bench),
         ("loss_match", step_loss_match), ("levers", step_levers), ("memory_estimate", step_memory_estimate),
         ("cuda_tests", step_cuda_tests), ("compile", step_compile)]
NEEDS = {"train": "model", "resume": "train", "calibrate": "resume", "four_bit": "model", "train_levers": "model"}


def write_summary(out: Path, selftest: bool, results: dict[str, dict[str, Any]]) -> list[str]:
    """summary.json (every step's figures and status so far) and summary.md (the same as
    Markdown tables); returns the failed steps."""
    failed = [n for n, r in results.items() if not r.get("ok")]
    summary = {"selftest": selftest, "failed": failed, "steps": results}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str), "utf-8")
    try:
        from tuneguard.bench.gpu_summary import write_markdown

        write_markdown(out, selftest, results)
    except Exception as exc:  # noqa: BLE001 - summary.json holds every figure; the tables are a convenience
        (out / "summary.md").write_text(f"summary.md could not be written: {type(exc).__name__}: {exc}\n", "utf-8")
    return failed


def write_details(out: Path, work: Path) -> None:
    """details.tar.gz: every step's full output and JSON so far and the config, rewritten after
    every step like summary.json (a session killed from outside keeps the logs of the steps it
    finished)."""
    tmp = out / ".details.tar.gz"
    with tarfile.open(tmp, "w:gz") as tar:
        for p in sorted(work.glob("*.log")) + sorted(work.glob("*.stdout")) + sorted(work.glob("*.json")) + \
                [work / "config.yaml"]:
            if p.exists():
                tar.add(p, arcname=p.name)
    os.replace(tmp, out / "details.tar.gz")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default=None, help="scratch folder (model weights, runs); default OUT/../tg-work")
    ap.add_argument("--budget-s", type=float, default=500)
    ap.add_argument("--selftest", action="store_true", help="the same steps on the CPU with a small model, bf16")
    ap.add_argument("--only", default=None, help="comma-separated step names")
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch folder (model, runs)")
    o = ap.parse_args(argv)
    out = Path(o.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(o.work) if o.work else Path("/tmp") / f"tg-gpu-work-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    s = Session(out, work, o.budget_s, o.selftest)
    only = set(o.only.split(",")) if o.only else None
    for name, fn in STEPS:
        if only and name not in only:
            continue
        need = NEEDS.get(name)
        if need and not s.results.get(need, {}).get("ok") and not (name == "calibrate" and s.results.get("train", {}).get("ok")):
            s.results[name] = {"ok": False, "skipped": f"needs {need}"}
            s.say(f"SKIP {name}: needs {need}")
            continue
        if s.left() < 20:
            s.results[name] = {"ok": False, "skipped": "out of time"}
            s.say(f"SKIP {name}: out of time")
            continue
        s.say(f"START {name} (limit {s.limit(name):.0f} s, {s.left():.0f} s left)")
        t0 = time.monotonic()
        try:
            res = fn(s)
        except Exception as exc:  # noqa: BLE001 - recorded; the next step still runs
            res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        res["seconds"] = round(time.monotonic() - t0, 1)
        s.results[name] = res
        s.say(f"{'PASS' if res.get('ok') else 'FAIL'} {name} ({res['seconds']} s): "
              + json.dumps({k: v for k, v in res.items() if k not in ("tail", "performance", "hardware", "loss")},
                           default=str)[:600])
        if res.get("tail"):
            s.say("    " + res["tail"].replace("\n", "\n    "))
        write_summary(out, o.selftest, s.results)  # after every step: a session cut short keeps what it measured
        write_details(out, work)
    failed = write_summary(out, o.selftest, s.results)
    write_details(out, work)
    s.say("ALL STEPS PASSED" if not failed else f"FAILED STEPS: {', '.join(failed)}")
    s.log.close()
    if not o.keep_work:
        shutil.rmtree(work, ignore_errors=True)  # the model folder alone is 12 GB on the GPU machine
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
