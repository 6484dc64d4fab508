"""Every guard code through a real `tuneguard train` run (tiny preset, CPU, in this
process), each with its planted condition: the finding in the run store, the action it
led to (warn, halt with a checkpoint, rollback, early stop) and its notification at a real
local HTTP server (apprise's json://).

Five runs cover the eleven codes; where one run can legitimately show several codes they
share it. Conditions are planted in the data (duplicated rows, a training set the model
memorises, validation rows it never sees), in the config (a learning rate too low to
learn, a memory limit below what the process uses), or by a hook on the base model
(tests/integration/planted.py: a NaN or a jump at a known step, slow steps, generations
that stop emitting EOS). The assertions name codes, actions and notifications, not the
exact step a rule fires at (the rules' thresholds will be revised).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.httpserver import Endpoint, http_server  # noqa: F401 - fixture
from tests.helpers.cli import invoke
from tests.helpers.threads import one_torch_thread
from tests.integration.planted import NanAt, ScaleLogitsAt, SlowSteps, StopsEmittingEos, planted
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.store.run_store import RunStore
from tuneguard.checkpoints import MARKER

pytestmark = pytest.mark.slow

PROBE = "### Instruction:\nWhat is 2 plus 3?\n\n### Response:\n"


@pytest.fixture(autouse=True)
def one_thread():
    with one_torch_thread():
        yield


def train(tmp_path: Path, ep: Endpoint, *settings: str, plants: tuple = (), options: tuple = (),
          data: Path | None = None) -> tuple[Any, Path]:
    """`tuneguard train tiny OPTIONS` notifying `ep`, one log per step; returns (result, run dir)."""
    data = data or write_jsonl(make_instruction_rows(400, seed=0), tmp_path / "train.jsonl")
    run = tmp_path / "run"
    sets = [f"data.train_file={data}", f'notify.urls=["json://127.0.0.1:{ep.port}/hook"]',
            "train.logging_steps=1", *settings]
    args = ["train", "tiny", "--run-dir", str(run), *options]
    for s in sets:
        args += ["--set", s]
    with planted(*plants):
        return invoke(*args), run


def findings(run: Path) -> dict[str, list[Any]]:
    """Guard findings by code."""
    out: dict[str, list[Any]] = {}
    with RunStore(run) as s:
        for f in s.findings("guard"):
            out.setdefault(f.code, []).append(f)
    return out


def actions(run: Path) -> list[tuple[str, str]]:
    with RunStore(run) as s:
        return [(e["payload"]["code"], e["payload"]["action"]) for e in s.events("action")]


def notified(ep: Endpoint, code: str, title: str = "Problem found") -> list[str]:
    """Messages of the notifications titled `title` that name `code` (Code: line)."""
    return [b["message"] for b in ep.bodies
            if b["title"].startswith(title) and f"Code: {code}" in b["message"].splitlines()]


def titles(ep: Endpoint) -> list[str]:
    return [b["title"].split(" · ")[0] for b in ep.bodies]


def test_nan_through_the_recipe_halts_with_non_finite_a_checkpoint_and_exit_1(tmp_path, http_server):  # noqa: F811
    """A NaN at step 5 of a real run: the Trainer's NaN filter is off (the recipe turns it
    off), so the NaN itself is logged, NON_FINITE halts at that step with a checkpoint, the
    finding names the checkpoint before the fault, and the phone hears of both."""
    ep = http_server()
    r, run = train(tmp_path, ep, "train.max_steps=12", "eval.steps=2", "train.save_steps=2",
                   plants=(NanAt(5),))
    assert r.returncode == 1, r.stdout + r.stderr
    with RunStore(run) as s:
        assert s.state() == "halted" and s.get_meta("exit_reason").startswith("NON_FINITE")
        losses = {m["step"]: m["loss"] for m in s.metrics("train")}
    assert sorted(losses) == [1, 2, 3, 4, 5] and math.isnan(losses[5])  # logged as NaN, not hidden as 0.0
    assert all(math.isfinite(losses[k]) for k in range(1, 5))
    (f,) = findings(run)["NON_FINITE"]
    assert (f.severity, f.step, f.evidence["kind"], f.evidence["window"]) == ("error", 5, "nan", [5, 5])
    assert math.isnan(float(f.evidence["loss"]))
    assert Path(f.evidence["checkpoint_before"]).name == "checkpoint-4"
    assert "Resume from" in f.recommendation and "checkpoint-4" in f.recommendation
    # The tiny model trains in fp32 on the CPU: the advice says precision is not the cause.
    assert f.evidence["dtype"] == "fp32" and f.recommendation.startswith("The run computes in fp32, not fp16")
    # The halt checkpoint: the state at the faulty step, complete.
    halt = run / "checkpoints" / "checkpoint-5"
    assert (halt / MARKER).exists()
    assert json.loads((halt / "trainer_state.json").read_text())["global_step"] == 5
    # The TrainingArguments the recipe built (saved by the Trainer with the checkpoint).
    args = torch.load(halt / "training_args.bin", weights_only=False)
    assert args.logging_nan_inf_filter is False and args.logging_steps == 1
    assert len(notified(ep, "NON_FINITE")) == 1
    (halted,) = notified(ep, "NON_FINITE", title="Training halted")
    assert "A guard halted the run at step 5." in halted.splitlines()
    assert titles(ep)[-1] == "Run report" and "Training finished" not in titles(ep)


def _readme_halt_sample() -> str:
    """The halt message the README shows (an indented block that starts "Training halted")."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    return "Training halted" + readme.split("\n\n    Training halted", 1)[1].split("\n\n", 1)[0]


def _shape(message: str) -> str:
    """A message with its numbers, paths and run name masked and its lines joined: what stays
    the same from one run (and README) to another."""
    lines = message.strip().splitlines()
    lines[0] = lines[0].split(" · ")[0]
    text = " ".join(ln for ln in lines if not ln.strip().startswith("Run: "))
    text = re.sub(r"\S*/\S*", "PATH", text)
    return " ".join(re.sub(r"\d[\d,.]*\d|\d", "N", text).split())


def test_duplicated_rows_collapse_and_halt_early_in_epoch_one(tmp_path, http_server):  # noqa: F811
    data = tmp_path / "dup.jsonl"
    data.write_text("".join(json.dumps({"instruction": "Say hello.", "output": "Hello there, friend."}) + "\n"
                            for _ in range(1200)))
    ep = http_server()
    sets = ("train.max_steps=-1", "train.num_epochs=1", "train.logging_steps=2")
    # Without --force the audit's errors refuse the run before a model loads.
    refused, run = train(tmp_path, ep, *sets, data=data)
    assert refused.returncode == 2 and "DUPLICATE_EXACT" in refused.stderr
    # The refusal names a command that runs as printed: the audit of this run's data and config.
    assert f"Run `tuneguard audit {run}` for the details" in refused.stderr
    details = invoke("audit", str(run), "--json")
    assert details.returncode == 1 and "DUPLICATE_EXACT" in {f["code"] for f in json.loads(details.stdout)["findings"]}
    assert not (run / "checkpoints").exists()
    r, run = train(tmp_path, ep, *sets, data=data, options=("--overwrite", "--force"))
    assert r.returncode == 1, r.stdout + r.stderr
    st = json.loads(invoke("status", str(run), "--json").stdout)
    assert st["state"] == "halted"
    (f,) = [x for x in st["findings"] if x["code"] == "LOSS_COLLAPSE"]
    assert f["severity"] == "error" and st["step"] == f["step"]  # halted at once
    # Counted in what the model saw: one distinct row, so its exposures are the examples seen.
    ev = f["evidence"]
    assert ev["passes"] < 0.2 and (ev["rows"], ev["distinct_rows"]) == (1080, 1)
    assert ev["exposures"] == ev["examples_seen"] == 8 * ev["at_step"] and ev["window"] == "repeats"
    assert f"which hold one distinct row, seen {ev['examples_seen']:,} times)" in f["message"]
    assert "the rows repeat" in f["message"]
    assert f["evidence"]["loss"] < f["evidence"]["collapse_floor"] or f["evidence"]["loss_ratio"] < 0.05
    assert "DUPLICATE_EXACT" in f["evidence"]["audit_findings"] and "see DUPLICATE_EXACT" in f["recommendation"]
    ckpt = run / "checkpoints" / f"checkpoint-{f['step']}"
    assert (ckpt / MARKER).exists() and (ckpt / "adapter_model.safetensors").exists()
    (msg,) = notified(ep, "LOSS_COLLAPSE")
    assert "Severity: error" in msg.splitlines()
    (halted,) = [b for b in ep.bodies if b["title"].startswith("Training halted")]
    # The README shows this message (its run on 3,000 copies, here 1,200): the same words.
    assert _shape(f"{halted['title']}\n{halted['message']}") == _shape(_readme_halt_sample()), (
        "README.md's halt message is not the one tuneguard sends: regenerate it with the command the README names")


def test_slow_steps_then_a_spike_throughput_drop_loss_spike_grad_norm(tmp_path, http_server):  # noqa: F811
    """Steps 7-9 thirty times slower (each about a second: the patience is a second of
    training, so a scheduling hiccup of this shared machine is not one), then the logits of
    step 16 thirty times too large: the slowdown warns, the spike rolls back to checkpoint-12
    at half the learning rate (the default policy), its gradient warns; the run then finishes.
    The memory limit is below what the process uses: MEMORY_HIGH once, not again after the
    rollback (the machine did not roll back with the weights)."""
    ep = http_server()
    r, run = train(tmp_path, ep, "train.max_steps=24", "eval.steps=12", "train.save_steps=12",
                   "guard.throughput_min_window_s=0", "guard.throughput_warmup_s=0", "guard.throughput_patience_s=1",
                   "guard.throughput_sustained_s=1",
                   "guard.memory_fraction=0.001", plants=(SlowSteps(7, 9, times=30.0), ScaleLogitsAt(16, 30.0)))
    assert r.returncode == 0, r.stdout + r.stderr
    found = findings(run)
    (drop,) = found["THROUGHPUT_DROP"]
    assert 7 <= drop.step <= 9 and drop.evidence["ratio"] < 0.5
    (spike,) = found["LOSS_SPIKE"]
    (grad,) = found["GRAD_NORM_HIGH"]
    assert spike.step == grad.step == 16 and grad.evidence["grad_norm"] > 10
    assert actions(run) == [("LOSS_SPIKE", "rollback")]
    with RunStore(run) as s:
        (ev,) = s.events("action")
        assert (ev["payload"]["to"], ev["payload"]["lr_scale_to"]) == (12, 0.5)
        assert s.state() == "finished"
        assert [m["step"] for m in s.metrics("train")] == list(range(1, 25))  # one row per step after the rollback
    (mem,) = found["MEMORY_HIGH"]
    assert mem.step == 1
    for code in ("THROUGHPUT_DROP", "LOSS_SPIKE", "GRAD_NORM_HIGH", "MEMORY_HIGH"):
        assert len(notified(ep, code)) == 1, code
    (rollback,) = notified(ep, "LOSS_SPIKE -> rollback")
    assert "Policy action: Rolling back from step 16 to checkpoint-12" in rollback


def test_memorised_training_rows_overfitting_eval_divergence_and_memory(tmp_path, http_server):  # noqa: F811
    """16 training rows learnt by heart, validated on 40 rows the model never sees: the
    eval loss stays far above the training loss, then rises at 3 evaluations in a row inside
    that gap. The memory limit is set below what the process uses. All three warn; the default
    policy halts on the rising eval loss, keeping the best checkpoint."""
    ep = http_server()
    small = write_jsonl(make_instruction_rows(16, seed=3), tmp_path / "small.jsonl")
    val = write_jsonl(make_instruction_rows(40, seed=4), tmp_path / "val.jsonl")
    r, run = train(tmp_path, ep, f"data.validation_file={val}", "train.max_steps=40", "eval.steps=4",
                   "train.save_steps=4", "guard.memory_fraction=0.001", data=small)
    assert r.returncode == 1, r.stdout + r.stderr
    # The verdict on the console comes with its counts and the criterion it failed.
    assert "(Verdict: FAIL (2 pass, 1 fail, 0 unknown, 2 not checked): failed Validation loss tracked training loss)" in r.stdout
    found = findings(run)
    # The gap opens while the eval loss still falls: said at info, without claiming memorising;
    # once the eval loss stops falling with the gap open, the warning says the model memorises;
    # when it then rises at 3 evaluations in a row, that is said too (the policy's trigger).
    watch, over, rising = found["OVERFITTING"]
    assert (watch.severity, watch.evidence["eval_falling"]) == ("info", True)
    assert "but the eval loss still falls" in watch.message and "memorising yet" in watch.message
    assert (over.severity, over.evidence["eval_falling"]) == ("warning", False) and over.step > watch.step
    assert over.message.endswith("; the model is memorising the training rows.")
    assert over.evidence["eval_loss"] > over.evidence["best_eval_loss"]
    (div,) = found["EVAL_DIVERGENCE"]
    assert over.evidence["gap"] > 0.5 and div.evidence["ratio"] > 1.5
    (mem,) = found["MEMORY_HIGH"]
    assert mem.step == 1 and mem.evidence["memory"] == "host" and mem.evidence["share"] > 0.001
    # OVERFITTING halts only when the eval loss rises (policy triggers: rising); a gap warns.
    assert "rising" not in over.evidence["triggers"]
    assert rising.evidence["triggers"] == ["rising", "gap"] and rising.step > over.step
    assert actions(run) == [("OVERFITTING", "halt")]
    with RunStore(run) as s:
        assert s.state() == "halted" and s.get_meta("exit_reason").startswith("OVERFITTING: ")
        # Epochs of two steps (16 rows, 8 per step): every log has its tokens/s.
        assert all(m["tokens_per_s"] > 0 for m in s.metrics("train"))
    for code in ("EVAL_DIVERGENCE", "MEMORY_HIGH"):
        assert len(notified(ep, code)) == 1, code
    assert len(notified(ep, "OVERFITTING")) == 2  # the gap warning and the rising eval loss
    assert "Training halted" in titles(ep)


def test_a_healthy_tiny_run_whose_gap_grows_in_its_first_pass_is_not_called_memorising(
        tmp_path, http_server):  # noqa: F811
    """40 steps of a tiny model evaluated every 5: the training loss falls faster than the eval
    loss, and the gap passed guard.overfit_gap (said at info) while the eval loss fell at every
    evaluation. The 320 rows seen are fewer than the 360 training rows: every training loss was scored on rows new
    to the model, so the gap is no memorising and nothing is said of it, on the console, in the
    store or on the phone (the gap's wording while the eval loss falls, past the first pass:
    tests/guard/test_detectors.py)."""
    ep = http_server()
    r, run = train(tmp_path, ep, "train.max_steps=40", "eval.steps=5", "train.save_steps=5")
    assert r.returncode == 0, r.stdout + r.stderr
    with RunStore(run) as s:
        evals = [m["eval_loss"] for m in s.metrics("eval")]
    assert all(b < a for a, b in zip(evals, evals[1:], strict=False)), evals  # a healthy curve
    assert findings(run).get("OVERFITTING", []) == []
    assert "memorising the training rows" not in r.stdout + r.stderr
    assert notified(ep, "OVERFITTING") == [] and actions(run) == []


def test_a_stalled_run_plateaus_stops_early_and_its_answers_degrade(tmp_path, http_server):  # noqa: F811
    """A learning rate too low to learn anything: the eval loss is flat (PLATEAU, early in
    the run: a warning) and early stopping ends the run (EARLY_STOP, exit 0). The QA probe's
    generations stop at once at the first evaluation and never after it (QA_DEGRADED)."""
    from tuneguard.model.load import build_tiny_tokenizer

    ep = http_server()
    probes = json.dumps([{"prompt": PROBE, "keywords": ["5"]}])
    r, run = train(tmp_path, ep, "train.max_steps=40", "train.learning_rate=1e-9", "eval.steps=2",
                   "train.save_steps=2", "eval.early_stopping_patience=2", "eval.early_stopping_threshold=0.01",
                   f"eval.qa_probes={probes}", "eval.qa_max_new_tokens=4",
                   plants=(StopsEmittingEos(build_tiny_tokenizer().eos_token_id),))
    assert r.returncode == 0, r.stdout + r.stderr
    found = findings(run)
    (plateau,) = found["PLATEAU"]
    (early,) = found["EARLY_STOP"]
    (qa,) = found["QA_DEGRADED"]
    assert plateau.severity == "warning" and plateau.step < 20  # in the first half: learning stalled
    assert early.severity == "info" and early.evidence["best_step"] == 2
    assert qa.evidence["triggers"] == ["eos"] and (qa.evidence["best_eos_share"], qa.evidence["eos_share"]) == (1.0, 0.0)
    with RunStore(run) as s:
        assert (s.state(), s.get_meta("exit_reason")) == ("finished", "early stop")
        assert s.get_meta("step") == early.step < 40
        eos = {q["step"]: q["emitted_eos"] for q in s.qa_samples()}
    assert eos[2] is True and all(v is False for k, v in eos.items() if k > 2)
    assert len(notified(ep, "PLATEAU")) == 1 and len(notified(ep, "QA_DEGRADED")) == 1
    # EARLY_STOP is an info finding: the phone hears of it as the early stop itself.
    assert notified(ep, "EARLY_STOP") == []
    (stopped,) = [b["message"] for b in ep.bodies if b["title"].startswith("Stopped early")]
    assert f"Stopped early at step {early.step}: the validation loss stopped improving." in stopped.splitlines()
