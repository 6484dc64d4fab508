"""The GPU session's bookkeeping (tuneguard.bench.gpu_session), on the CPU with stand-in steps:
GPU time comes in one short call, so a step that fails, raises or finds no time left must not
lose the figures of the others, and everything measured so far must be under OUT after every
step (summary.json and details.tar.gz), in case the call is killed from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tuneguard.bench import gpu_session


def fake_steps(seen: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    def measure(s: gpu_session.Session) -> dict[str, Any]:
        (s.work / "measure.log").write_text("measured\n", "utf-8")
        return {"ok": True, "tokens_per_s": 1234.5}

    def crash(s: gpu_session.Session) -> dict[str, Any]:
        # What the earlier step left must already be under OUT when a later one dies.
        seen.append(json.loads((s.out / "summary.json").read_text("utf-8")))
        with tarfile.open(s.out / "details.tar.gz") as tar:
            seen.append({"details": tar.getnames()})
        raise RuntimeError("CUDA error: out of memory")

    def fail(s: gpu_session.Session) -> dict[str, Any]:
        return {"ok": False, "rc": 1, "tail": "Traceback ...\nValueError: bad"}

    return [("bench", measure), ("levers", crash), ("model", fail), ("train", measure)]


def test_a_failed_or_crashed_step_keeps_every_other_steps_figures(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(gpu_session, "STEPS", fake_steps(seen))
    out, work = tmp_path / "out", tmp_path / "work"
    rc = gpu_session.main(["--out", str(out), "--work", str(work), "--budget-s", "100", "--selftest"])
    assert rc == 1
    [before, details] = seen
    assert before["failed"] == [] and list(before["steps"]) == ["bench"]
    assert before["steps"]["bench"]["tokens_per_s"] == 1234.5 and details == {"details": ["measure.log"]}
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["failed"] == ["levers", "model", "train"]
    assert summary["steps"]["bench"]["tokens_per_s"] == 1234.5
    assert summary["steps"]["levers"]["error"] == "RuntimeError: CUDA error: out of memory"
    assert summary["steps"]["model"]["rc"] == 1
    assert summary["steps"]["train"] == {"ok": False, "skipped": "needs model"}
    assert sorted(p.name for p in out.iterdir()) == ["details.tar.gz", "log.txt", "summary.json", "summary.md"]
    assert "FAILED STEPS: levers, model, train" in (out / "log.txt").read_text("utf-8")


def test_steps_past_the_budget_are_skipped_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_session, "STEPS", fake_steps([])[:1])
    out = tmp_path / "out"
    assert gpu_session.main(["--out", str(out), "--work", str(tmp_path / "w"), "--budget-s", "10"]) == 1
    assert json.loads((out / "summary.json").read_text("utf-8"))["steps"] == {
        "bench": {"ok": False, "skipped": "out of time"}}


@pytest.mark.slow
def test_the_script_gives_the_steps_what_its_setup_left_of_the_budget(tmp_path: Path) -> None:
    """bench/gpu_gptj.sh selftest with no step chosen: the environment check and the session run,
    and the steps' budget is the script's less what the setup took."""
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PY": sys.executable, "ONLY": "none", "BUDGET_S": "300"}
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(["bash", str(root / "bench" / "gpu_gptj.sh"), "selftest"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    line = next(ln for ln in (out / "log.txt").read_text("utf-8").splitlines() if ln.startswith("setup took"))
    took = int(line.split()[2])
    assert line == f"setup took {took} s; the steps get {300 - took} s of the 300 s budget"
    assert json.loads((out / "summary.json").read_text("utf-8")) == {"selftest": True, "failed": [], "steps": {}}
    assert "torch" in (out / "env.txt").read_text("utf-8")


def test_calibrate_sets_the_plans_prediction_against_the_measured_run(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The calibrate step's figures (docs/BENCHMARKS.md: predicted step time and peak memory
    against the train run's, targets 15% and 10%), from `plan --calibrate --json`'s calibration."""
    out = tmp_path / "out"
    out.mkdir()
    s = gpu_session.Session(out, tmp_path, 100, selftest=False)
    s.before = {"step_time_s": [5.0, 4.0, 2.0, 2.0, 2.1], "mem_peak_gb": 30.0}  # the first two: warm-up
    s.after = {"step_time_s": [3.0, 2.5, 2.0, 2.0], "mem_peak_gb": 32.0}
    plan = {"calibration": {"seconds_per_step": 2.2, "scaled_peak_gb": 33.6, "peak_gb": 31.0,
                            "memory_kind": "cuda_max_allocated", "performance": {"attention": "sdpa"}}}
    calls = []

    def run(name: str, cmd: list[str], limit: float, *, stdout_only: bool = False) -> tuple[int, str]:
        calls.append((name, cmd[2:], stdout_only))
        return 0, json.dumps(plan)

    monkeypatch.setattr(s, "run", run)
    res = gpu_session.step_calibrate(s)
    assert calls == [("calibrate", ["tuneguard", "plan", str(tmp_path / "config.yaml"), "--calibrate", "6", "--json"],
                      True)]
    assert res == {"ok": True, "rc": 0, "predicted_step_s": 2.2, "measured_step_s": 2.0, "predicted_peak_gb": 33.6,
                   "calibration_peak_gb": 31.0, "measured_peak_gb": 32.0, "performance": {"attention": "sdpa"},
                   "memory_kind": "cuda_max_allocated", "step_time_error": 0.1, "peak_error": 0.05,
                   "within_target": True}


def test_summary_md_sets_the_acceptance_figures_out_as_tables(tmp_path: Path) -> None:
    """summary.md: the figures docs/BENCHMARKS.md takes, from summary.json's steps, with what
    the session could not measure shown as '-' (a call cut short)."""
    from tuneguard.bench.gpu_summary import write_markdown

    (tmp_path / "env.txt").write_text("NVIDIA H200, 143771 MiB, 580.159.04\ntorch 2.11.0\n", "utf-8")
    results = {"train": {"ok": True, "seconds": 61.0, "tokens_per_s": 21000.0, "mem_peak_gb": 38.5},
               "bench": {"ok": True, "baseline": {"tokens_per_s": 2100.0}, "tuneguard": {"tokens_per_s": 15000.0}},
               "levers": {"ok": False, "ratio_to_none": {"adapter_dtype": 1.31},
                          "runs": {"none": {"tokens_per_s": 10000.0, "final_loss": 10.5},
                                   "adapter_dtype": {"tokens_per_s": 13100.0, "final_loss": 10.50021},
                                   "padding_free": {"error": "RuntimeError: boom"}}},
               "compile": {"ok": False, "skipped": "out of time"}}
    write_markdown(tmp_path, False, results)
    md = (tmp_path / "summary.md").read_text("utf-8")
    assert "NVIDIA H200, 143771 MiB, 580.159.04" in md
    assert "| `tuneguard train` real tokens/s (v2 preset, 8 x 2) | 21,000 | >= 20,000 |" in md
    assert "| train / notebook | 10.00 | >= 9x |" in md
    assert ("| bf16 loss curve, tuneguard with the levers against the notebook: largest step difference | - | "
            "every step within 1% of the loss and 5% of how far it fell |") in md
    assert "| memory estimate: largest error at the two batch sizes | - | within 10% |" in md
    assert "| calibrate: predicted / measured step time - 1 | - | within 15% |" in md
    assert "| adapter_dtype | 13,100 | 1.31 | - | 10.50021 | - |  |" in md
    assert "| padding_free | - | - | - | - | - | RuntimeError: boom |" in md
    assert "| compile | skipped | - | out of time |" in md


def test_train_levers_runs_the_recipe_with_the_levers_on_and_compares_its_losses(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The train_levers step: `tuneguard train` with the levers `auto` leaves off until measured,
    its speed after the warm-up logs, and its losses against the train step's at the same steps."""
    out = tmp_path / "out"
    out.mkdir()
    s = gpu_session.Session(out, tmp_path, 100, selftest=False)
    s.before = {"loss": {2: 10.0, 4: 9.0, 6: 8.0}}
    calls = []

    def run(name: str, cmd: list[str], limit: float, *, stdout_only: bool = False) -> tuple[int, str]:
        calls.append(cmd[2:])
        return 0, ""

    store = {"state": "finished", "loss": {2: 10.0, 4: 9.09, 6: 7.96, 8: 7.5}, "tokens_per_s": [900.0, 1000.0, 2000.0, 2100.0],
             "step_time_s": [9.0, 4.0, 1.0, 1.0], "mem_peak_gb": 31.5,
             "performance": {"attention": "flex_attention", "adapter_dtype": "bfloat16", "padding_free": True}}
    monkeypatch.setattr(s, "run", run)
    monkeypatch.setattr(gpu_session, "read_run", lambda run_dir: store)
    res = gpu_session.step_train_levers(s)
    sets = [c for c in calls[0] if c.count("=") == 1]
    assert calls[0][:2] == ["tuneguard", "train"] and sets == [
        "model.adapter_dtype=base", "train.fused_linear_loss=true", "train.padding_free=true",
        "model.attn_implementation=auto", "train.max_steps=30", "eval.steps=1000", "train.save_steps=1000"]
    assert calls[0].count("--set") == len(sets)
    assert (res["ok"], res["tokens_per_s"], res["step_time_s"], res["mem_peak_gb"]) == (True, 2050.0, 1.0, 31.5)
    assert res["max_rel_loss_diff_vs_train"] == 0.01
    assert res["plan"]["attention"] == "flex_attention" and res["plan"]["padding_free"] is True
