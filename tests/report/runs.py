"""Run stores built by hand (no training): a healthy run, a halted collapse run, and
healthy runs with another learning rate or eval gap, written through the real RunStore."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tuneguard.config.load import read_source, redacted_dict, validate_config
from tuneguard.findings import Finding
from tuneguard.store.run_store import RunStore

PROBES = [
    ("What is the capital of France?", ["Paris"]),
    ("Name a primary colour.", ["red", "blue", "yellow"]),
]
ENV = {"python": "3.11.2", "torch": "2.13.0", "transformers": "5.24.0", "peft": "0.17.1", "device": "cpu"}


def tiny_config(**overrides: Any) -> dict[str, Any]:
    raw, _ = read_source("tiny")
    raw.setdefault("data", {})["train_file"] = "/data/train.jsonl"
    for dotted, value in overrides.items():
        node = raw
        *parts, last = dotted.split(".")
        for p in parts:
            node = node.setdefault(p, {})
        node[last] = value
    return redacted_dict(validate_config(raw))


def _train_row(step: int, loss: float, lr: float, epoch: float) -> dict[str, Any]:
    scale = lr / 3e-3
    return {"loss": loss, "learning_rate": lr, "epoch": epoch, "grad_norm": (1.5 + 0.3 * math.sin(step)) * scale ** 0.5,
            "tokens_per_s": 5200 + 40 * (step % 7) + 300 * (1 - scale), "step_time_s": 0.21 + 0.01 * (step % 3),
            "rss_gb": 1.1 + step / 600, "eta_s": (60 - step) * 0.21}


def build_healthy(run_dir: Path, lr: float = 3e-3, test: float | None = None, qa: bool = True,
                  gap: float | None = None, decay: float = 0.025, config: dict[str, Any] | None = None,
                  findings: list[Finding] | None = None, stalled: bool = False) -> Path:
    """60 steps, loss 3.4 -> ~1.7, evals every 20 steps `gap` above it, QA samples per eval;
    `test` a test loss logged at the end; `stalled`: the last eval loss the one before it (the
    eval loss stopped falling)."""
    cfg = tiny_config(**{"train.learning_rate": lr, **(config or {})})
    gap = 0.08 + 0.04 * (lr / 3e-3) if gap is None else gap
    with RunStore(run_dir, create=True) as s:
        s.init_run(config=cfg, max_steps=60, run_id="healthy01")
        s.set_meta(environment=ENV, started=1_700_000_000.0, ended=1_700_000_095.0,
                   best_checkpoint=str(run_dir / "checkpoints" / "checkpoint-60"), best_step=60,
                   exit_reason="finished")
        s.set_state("running")
        s.add_event("started", {"max_steps": 60}, step=0)
        for step in range(5, 61, 5):
            loss = 1.1 + 2.5 * math.exp(-decay * step * (lr / 3e-3))
            s.log_metrics(step, "train", _train_row(step, loss, lr * min(1.0, step / 6), step / 60))
            if step % 20 == 0:
                held = 1.1 + 2.5 * math.exp(-decay * 40 * (lr / 3e-3)) if stalled and step == 60 else loss
                s.log_metrics(step, "eval", {"eval_loss": held + gap, "epoch": step / 60})
                if qa:
                    good = step >= 40
                    s.add_qa_sample(step, PROBES[0][0],
                                    "The capital of France is Paris." if good else "The capital of of of the",
                                    PROBES[0][1], 1.0 if good else 0.0, good, 1.0 if good else 0.6)
                    s.add_qa_sample(step, PROBES[1][0], "Red is a primary colour." if good else "colour colour",
                                    PROBES[1][1], 1.0 if good else 0.0, good, 1.0 if good else 0.0)
        if test is not None:
            s.log_metrics(60, "test", {"eval_loss": test, "perplexity": math.exp(test)})
        for f in findings or []:
            s.add_finding(f)
        s.add_event("checkpoint", {"path": "checkpoints/checkpoint-60"}, step=60)
        s.add_event("finished", {"reason": "max_steps"}, step=60)
        s.set_state("finished")
    return run_dir


def build_collapse(run_dir: Path) -> Path:
    """Loss 3.6 -> 0.005 by step 12; the guard halted it (LOSS_COLLAPSE); the audit had
    found exact duplicates."""
    cfg = tiny_config(**{"train.logging_steps": 1})
    losses = [3.6, 3.1, 2.4, 1.6, 0.9, 0.42, 0.2, 0.09, 0.04, 0.02, 0.01, 0.005]
    with RunStore(run_dir, create=True) as s:
        s.init_run(config=cfg, max_steps=60, run_id="collapse01")
        s.set_meta(environment=ENV, started=1_700_000_000.0, ended=1_700_000_012.0, exit_reason="halted: LOSS_COLLAPSE")
        s.replace_audit_findings([Finding(
            code="DUPLICATE_EXACT", severity="error",
            message="412 of 1000 training rows are exact duplicates of another row.",
            evidence={"duplicate_rows": 412, "groups": 37, "example_rows": [3, 17, 44, 91]},
            recommendation="Deduplicate the training file.")])
        s.set_state("running")
        for step, loss in enumerate(losses, start=1):
            s.log_metrics(step, "train", _train_row(step, loss, 3e-3, step / 60))
        s.log_metrics(10, "eval", {"eval_loss": 3.9, "epoch": 10 / 60})
        s.add_qa_sample(10, PROBES[0][0], "France France France France France", PROBES[0][1], 0.0, False, 0.25)
        s.add_finding(Finding(
            code="LOSS_COLLAPSE", severity="error", step=12, source="guard",
            message="Training loss fell from 3.6 to 0.005 (0.14% of its first value) at 20% of epoch 1.",
            evidence={"initial_loss": 3.6, "loss": 0.005, "epoch": 0.2},
            recommendation="Audit the data for duplicates and leakage; the model is memorising."))
        s.add_event("halted", {"code": "LOSS_COLLAPSE"}, step=12)
        s.set_state("halted")
    return run_dir
