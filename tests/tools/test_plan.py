"""`tuneguard plan`: the schedule without training, and a calibration run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.helpers.cli import cli, tiny_config
from tests.helpers.tools import invoke, one_line_error
from tuneguard.config.load import load_config
from tuneguard.tools import plan as planner


@pytest.mark.slow
def test_plan_calibrate_reports_steps_and_measured_time(tmp_path, train_file, trained_run):
    cfg = tiny_config(tmp_path, train_file)
    r = cli("plan", str(cfg), "--calibrate", "5", "--set", "train.gradient_accumulation_steps=2",
            "--price-per-hour", "3", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    # 400 rows, 10% split off for validation; batch 8 x accumulation 2 x 1 process.
    assert (out["data"]["train"], out["data"]["validation"]) == (360, 40)
    steps = out["steps"]
    assert (steps["batch_size"], steps["gradient_accumulation_steps"], steps["world_size"]) == (8, 2, 1)
    assert steps["steps_per_epoch"] == math.ceil(360 / (8 * 2)) == 23
    assert steps["total"] == 60  # the tiny preset's train.max_steps
    assert out["evaluations"]["steps"] == [20, 40, 60]
    assert out["checkpoints"]["steps"] == [20, 40, 60]
    assert out["tokens"]["per_epoch"] > out["tokens"]["supervised_per_epoch"] > 0

    cal = out["calibration"]
    assert cal["steps"] == 5 and cal["device"] == "cpu" and cal["memory_kind"] == "process_rss"
    assert cal["seconds_per_step"] > 0 and cal["tokens_per_s"] > 0 and cal["eval_s"] > 0
    assert 0 < cal["peak_gb"] <= cal["total_gb"]
    est = out["estimate"]
    assert est["train_s"] == pytest.approx(60 * cal["seconds_per_step"], rel=1e-3)
    assert est["total_s"] > est["train_s"]
    assert est["cost"] == pytest.approx(est["total_s"] / 3600 * 3, rel=1e-6)
    assert [e["step"] for e in est["evaluations"]] == [20, 40, 60]
    assert out["warnings"] == []  # on a CPU there is no GPU fit check

    # The calibration measured the pipeline `train` runs (length buckets, token-weighted loss,
    # fused GELU, the same attention and checkpointing), not a plain Trainer: the run of the
    # same data and preset recorded the same automatic choices.
    from tuneguard.store.run_store import RunStore

    with RunStore(trained_run) as store:
        trained = store.meta()["performance"]
    keys = ("attention", "gradient_checkpointing", "fused_gelu", "chunked_loss", "token_weighted_loss")
    assert {k: cal["performance"][k] for k in keys} == {k: trained[k] for k in keys}
    assert cal["performance"]["token_weighted_loss"] is True and cal["performance"]["fused_gelu"] == 2


def test_plan_text_without_calibration(tmp_path, train_file):
    cfg = tiny_config(tmp_path, train_file)
    r = invoke("plan", str(cfg))
    assert r.exit_code == 0, r.stderr
    assert "steps per epoch: 45 (ceil(360 / (batch 8 x accumulation 1 x 1)))" in r.stdout
    assert "steps in total: 60" in r.stdout
    assert "evaluations: 3 (steps) at steps 20, 40, 60" in r.stdout
    assert "calibration" not in r.stdout
    # docs/TOOLS.md shows this plan (the tiny preset on these 400 rows): the same lines before its calibration.
    text = (Path(__file__).resolve().parents[2] / "docs" / "TOOLS.md").read_text("utf-8")
    sample = text.split("$ tuneguard plan config.yaml", 1)[1].split("```", 1)[0].splitlines()[1:]
    shown = sample[:[ln.startswith("calibration:") for ln in sample].index(True)]
    assert [ln.replace(str(cfg), "config.yaml") for ln in r.stdout.splitlines()] == shown
    # Two training processes: half the steps per epoch.
    r = invoke("plan", str(cfg), "--world-size", "2")
    assert r.exit_code == 0, r.stderr
    assert "steps per epoch: 23 (ceil(360 / (batch 8 x accumulation 1 x 2)))" in r.stdout
    assert "warning" not in r.stdout
    # Evaluating the 40 validation rows after each of 4 steps: 20 batches against 4 of training.
    r = invoke("plan", str(cfg), "--set", "train.max_steps=4", "--set", "eval.steps=1", "--set", "train.save_steps=1")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1] == (
        "warning: the 4 evaluations run 20 batches (5 each over 40 validation rows), more than the 4 training batches: "
        "set data.eval_samples (a seeded sample of the validation rows, e.g. --set data.eval_samples=64) or evaluate "
        "less often (eval.steps)")


def test_plan_data_and_usage_errors_exit_2(tmp_path, train_file):
    cfg = tiny_config(tmp_path, tmp_path / "missing.jsonl")
    r = invoke("plan", str(cfg))
    assert r.exit_code == 2
    assert "missing.jsonl does not exist" in one_line_error(r.stderr)
    cfg = tiny_config(tmp_path, train_file)
    r = invoke("plan", str(cfg), "--calibrate", "1")
    assert r.exit_code == 2
    assert "at least 2 steps" in one_line_error(r.stderr)


# --- pure parts: schedules, estimate, memory advice ---------------------------------------

def test_schedules_follow_the_trainer_rules():
    cfg = load_config("tiny", ["eval.steps=25", "train.save_steps=50", "train.max_steps=110"])
    assert planner.eval_schedule(cfg, 45, 110) == [25, 50, 75, 100, 110]  # and the last step
    assert planner.save_schedule(cfg, 45, 110) == [50, 100, 110]
    cfg = load_config("tiny", ["eval.strategy=epoch", "train.max_steps=110"])
    assert planner.eval_schedule(cfg, 45, 110) == [45, 90, 110]  # the last epoch cut short
    assert planner.save_schedule(cfg, 45, 110) == [45, 90, 110]  # saves follow evals (load best)
    # A bare `no` is YAML 1.1 for false: quote it.
    cfg = load_config("tiny", ["eval.strategy='no'", "eval.load_best_model_at_end=false", "train.save_steps=40"])
    assert planner.eval_schedule(cfg, 45, 60) == []
    assert planner.save_schedule(cfg, 45, 60) == [40, 60]


PLAN = {"model": "m", "world_size": 1, "data_format": "instruction", "rows_read": 100, "rows_skipped": 0,
        "sizes": {"train": 90, "validation": 10}, "tokens_per_epoch": 9000, "supervised_tokens_per_epoch": 3000,
        "validation_tokens": 1000, "mean_tokens_per_example": 100.0, "longest_example": 500,
        "truncated_examples": 0, "batch_size": 8, "gradient_accumulation_steps": 1, "examples_per_step": 8,
        "steps_per_epoch": 12, "total_steps": 100, "epochs": 8.3, "eval_strategy": "steps", "eval_steps": [50, 100],
        "eval_batches": 2, "test_batches": 4, "save_steps": [50, 100], "checkpoints_kept": 3}
CAL = {"steps": 5, "device": "GPU", "on_gpu": True, "load_s": 10.0, "warmup_step_s": 3.0, "seconds_per_step": 2.0,
       "tokens_per_step": 800.0, "tokens_per_s": 400.0, "eval_s": 6.0, "eval_batches_timed": 2, "qa_s": 1.0,
       "checkpoint_s": 4.0, "memory_kind": "cuda_max_allocated", "base_gb": 20.0, "peak_gb": 50.0, "total_gb": 80.0,
       "longest_batch_seen": 256, "longest_batch_possible": 512, "scaled_peak_gb": 80.0}


def _plan(**kw):
    return planner.Plan(**{**PLAN, **kw})


def _cal(**kw):
    return planner.Calibration(**{**CAL, **kw})


def test_estimate_adds_steps_evaluations_checkpoints_and_test():
    est = planner.estimate(_plan(), _cal(), price_per_hour=36.0, start=1000.0)
    # 10 load + 1 extra for the warm-up step + 100 x 2 train + 2 x (6 + 1) evals + 2 x 4 saves
    # + 4 test batches x 3 s
    assert est.warmup_s == pytest.approx(1.0)
    assert est.total_s == pytest.approx(10 + 1 + 200 + 14 + 8 + 12)
    assert est.end == pytest.approx(1000 + est.total_s)
    assert est.cost == pytest.approx(est.total_s / 3600 * 36)
    # Each starts after the steps before it, the earlier evaluations and saves.
    assert [(e["step"], e["at_s"]) for e in est.evaluations] == [(50, 111.0), (100, 222.0)]
    assert [(c["step"], c["at_s"]) for c in est.checkpoints] == [(50, 118.0), (100, 229.0)]


def test_peak_scales_to_the_widest_batch():
    assert planner.scale_peak(20.0, 50.0, 2.0) == pytest.approx(80.0)  # only the activations grow
    assert planner.scale_peak(20.0, 50.0, 1.0) == 50.0


def test_activations_grow_by_the_estimates_arithmetic_quadratic_in_a_padding_free_rows_masks():
    """From the widest batch seen to the widest possible: padded sdpa batches grow with their
    width; a padding-free sdpa row grows faster (its masks are quadratic in its length), by
    exactly what `activation_bytes` puts on each row."""
    from tests.perf.test_perf import gptj, lora
    from tuneguard.train import perf

    m = lora(gptj(attn="sdpa"))
    base = {"attention": "sdpa", "gradient_checkpointing": False, "chunked_loss": False, "fused_gelu": 1,
            "adapter_dtype": "float32"}
    padded = planner.activation_growth(m, {**base, "padding_free": False}, 256, 512, 8)
    packed = planner.activation_growth(m, {**base, "padding_free": True}, 1024, 2048, 8)
    shape = perf.model_shape(perf.unwrap(m).config)
    kw = dict(attention="sdpa", checkpointing=False, chunked_loss=False, fused_gelu=True, packed=True)
    assert packed == perf.activation_bytes(shape, 1, 2048, **kw) / perf.activation_bytes(shape, 1, 1024, **kw)
    assert packed > padded > 1.9
    assert planner.activation_growth(m, base, 512, 512, 8) == 1.0


def test_gpu_warning_names_the_knobs_cpu_has_none():
    cfg = load_config("tiny", ["model.gradient_checkpointing=false"])
    warnings = planner.memory_warnings(cfg, _plan(longest_example=100), _cal(scaled_peak_gb=90.0))
    assert len(warnings) == 1 and warnings[0].startswith("will not fit")
    text = warnings[0]
    for knob in ("--set train.batch_size=4 --set train.gradient_accumulation_steps=2",
                 "model.gradient_checkpointing=true", "data.max_length=100", "model.load_in_4bit=true"):
        assert knob in text, text
    assert "train.padding_free=false" not in text  # padded already
    packed = planner.memory_warnings(load_config("tiny", ["train.padding_free=true"]), _plan(), _cal(scaled_peak_gb=90.0))
    assert "(--set train.padding_free=false)" in packed[0]
    tight = planner.memory_warnings(cfg, _plan(), _cal(scaled_peak_gb=74.0))  # > 0.9 x 80, < 0.95 x 80
    assert len(tight) == 1 and tight[0].startswith("tight on memory")
    assert planner.memory_warnings(cfg, _plan(), _cal(scaled_peak_gb=40.0)) == []
    assert planner.memory_warnings(cfg, _plan(), _cal(on_gpu=False, scaled_peak_gb=900.0)) == []


def test_plan_counts_truncated_rows_once(tmp_path):
    """A row whose prompt and answer max_length both cut is one truncated row (as the audit counts rows)."""
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    short = make_instruction_rows(30, seed=1)
    long_prompt = [{"instruction": f"Summarise item {i}: " + "alpha beta gamma delta " * 60, "output": "short."}
                   for i in range(3)]
    long_both = [{"instruction": f"Explain item {i}: " + "alpha beta gamma delta " * 60,
                  "output": "epsilon zeta eta theta " * 60} for i in range(2)]
    train = write_jsonl(short + long_prompt + long_both, tmp_path / "train.jsonl")
    val = write_jsonl(make_instruction_rows(8, seed=2), tmp_path / "val.jsonl")
    cfg = tiny_config(tmp_path, train, data={"validation_file": str(val)})
    r = invoke("plan", str(cfg), "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["data"]["train"] == 35
    assert out["tokens"]["truncated_examples"] == 5
