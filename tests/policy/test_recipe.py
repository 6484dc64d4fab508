"""The policy in the real recipe (run_training, in this process, tiny preset on CPU), with
garbage batches planted at known steps:

- a loss spike rolls back to the checkpoint before it, skips the batch, goes on at half
  the learning rate and ends close to a run without the garbage;
- a second spike after the rollback halts (LOSS_SPIKE: rollback once, then halt);
- a policy that would act more than max_actions times halts with POLICY_LIMIT;
- a run stopped after a rollback and resumed continues exactly as if never stopped.

360 training rows make 45 steps per epoch; the runs stop at 40, so a batch that is skipped
is never seen again. The garbage is written into the dataset's own examples, so a rollback
that did not skip their batch would meet it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from policy_helpers import Spy, poisoning_collator, read_store, schedule
from rich.console import Console
from transformers import TrainerCallback
from typer.testing import CliRunner

from tuneguard.cli.main import app
from tuneguard.config.load import load_config
from tuneguard.train.run import run_training
from tests.helpers.threads import one_torch_thread

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

MAX_STEPS = 40
SPIKE = 25  # the garbage batch's step; checkpoints every 10 steps, so the rollback goes to 20
SETTINGS = [f"train.max_steps={MAX_STEPS}", "train.logging_steps=1", "train.save_steps=10", "eval.steps=10",
            # Without best-model loading, the weights a resumed pass starts from can only come
            # from the rollback's checkpoint (see check_restored).
            "eval.load_best_model_at_end=false"]


class Recorded(TrainerCallback):
    """Remembers the training dataset, to name the examples of the planted batch."""

    def __init__(self) -> None:
        self.dataset: Any = None

    def on_train_begin(self, args, state, control, train_dataloader=None, **kw):
        self.dataset = self.dataset or train_dataloader.dataset


def train(run_dir: Path, data: Path, *, poison: set[int] = frozenset(), settings: list[str] = (),
          spy: Spy | None = None, resume: bool = False) -> tuple[int, type]:
    """One run of the recipe; `poison`: the training batches (counted from the first) made garbage."""
    collator, recorded = poisoning_collator(set(poison)), Recorded()
    cfg = load_config("tiny", [f"data.train_file={data}", *SETTINGS, *settings])
    outcome = run_training(cfg, run_dir, overwrite=not resume, resume=resume, force=True, console=Console(quiet=True),
                           extra_callbacks=[recorded] + ([spy] if spy is not None else []), wrap_collator=collator)
    collator.dataset = recorded.dataset
    return outcome.exit_code, collator


def check_restored(results: dict[str, Any]):
    """Spy hook: on a resumed pass, compare the live model, optimizer and scheduler with the
    checkpoint it resumed from (and with the weights just before the rollback)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    def on_begin(args, state, model=None, optimizer=None, lr_scheduler=None, **kw):
        if state.global_step == 0:
            return
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        saved = load_file(ckpt / "adapter_model.safetensors")
        live = {k: v.detach() for k, v in get_peft_model_state_dict(model).items()}
        results["weight_keys_equal"] = set(saved) == set(live)
        results["weights_equal"] = all(torch.equal(saved[k], live[k]) for k in saved)
        before = results.get("weights_before_rollback", {})
        results["weights_changed"] = any(not torch.equal(before[k], live[k]) for k in before)
        opt_saved = torch.load(ckpt / "optimizer.pt", weights_only=True)["state"]
        opt_live = optimizer.state_dict()["state"]
        results["optimizer_equal"] = set(opt_saved) == set(opt_live) and all(
            torch.equal(opt_saved[i]["exp_avg"], opt_live[i]["exp_avg"]) for i in opt_saved)
        results["scheduler_step"] = lr_scheduler.last_epoch

    return on_begin


class SnapshotAt(Spy):
    """A Spy that also keeps the adapter weights at the end of one step."""

    def __init__(self, step: int, results: dict[str, Any]):
        super().__init__(check_restored(results))
        self.step, self.results = step, results

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step == self.step and "weights_before_rollback" not in self.results:
            from peft import get_peft_model_state_dict

            self.results["weights_before_rollback"] = {k: v.detach().clone()
                                                       for k, v in get_peft_model_state_dict(model).items()}


@pytest.fixture(scope="module")
def spike_runs(tmp_path_factory, policy_train_file):
    """The baseline (no garbage) and the planted-spike run, trained once for the module."""
    with one_torch_thread():
        root = tmp_path_factory.mktemp("spike")
        base_code, _ = train(root / "base", policy_train_file)
        results: dict[str, Any] = {}
        spy = SnapshotAt(SPIKE, results)
        code, collator = train(root / "spike", policy_train_file, poison={SPIKE}, spy=spy)
    return {"base": root / "base", "base_code": base_code, "run": root / "spike", "code": code,
            "collator": collator, "spy": spy, "restored": results}


def eval_losses(run_dir: Path) -> dict[int, float]:
    return read_store(run_dir, lambda s: {r["step"]: r["eval_loss"] for r in s.metrics("eval")})


def train_rows(run_dir: Path) -> list[dict[str, Any]]:
    return read_store(run_dir, lambda s: s.metrics("train"))


def test_planted_spike_rolls_back_skips_the_batch_and_halves_the_lr(spike_runs):
    run, collator, spy, restored = spike_runs["run"], spike_runs["collator"], spike_runs["spy"], spike_runs["restored"]
    assert spike_runs["base_code"] == 0 and spike_runs["code"] == 0
    assert read_store(run, lambda s: s.state()) == "finished"

    # The spike was found at its step, and the default policy rolled back to checkpoint-20.
    spikes = read_store(run, lambda s: [f for f in s.findings() if f.code == "LOSS_SPIKE"])
    assert [f.step for f in spikes] == [SPIKE]
    (ev,) = read_store(run, lambda s: s.events("action"))
    p = ev["payload"]
    assert (ev["step"], p["code"], p["action"], p["from"], p["to"]) == (SPIKE, "LOSS_SPIKE", "rollback", SPIKE, 20)
    assert p["skipped_steps"] == [SPIKE] and p["skipped_batches"] == 1
    assert (p["lr_scale_from"], p["lr_scale_to"]) == (1.0, 0.5)
    assert p["lr_to"] == pytest.approx(p["lr_from"] * 0.5)
    # The examples it skipped are exactly the planted ones, and no batch held them again.
    planted = sorted(i for i, f in enumerate(collator.dataset.features) if any(f is q for q in collator.poisoned))
    assert len(planted) == 8 and p["skipped_examples"] == planted
    assert collator.seen_again == 0

    # The resumed pass started from the checkpoint: weights (changed since), optimizer, scheduler.
    assert spy.passes == [0, 20]
    assert restored["weight_keys_equal"] and restored["weights_equal"] and restored["weights_changed"]
    assert restored["optimizer_equal"] and restored["scheduler_step"] == 20

    # The optimizer's learning rate: the schedule up to step 20, half of it after.
    sched = schedule(MAX_STEPS)
    ratios = {s: spy.lr[s] / sched[s] for s in range(2, MAX_STEPS + 1)}
    assert all(r == pytest.approx(1.0) for s, r in ratios.items() if s <= 20), ratios
    assert all(r == pytest.approx(0.5) for s, r in ratios.items() if s > 20), ratios
    # ... and what the store logged agrees with the optimizer.
    rows = train_rows(run)
    assert [r["step"] for r in rows] == list(range(1, MAX_STEPS + 1))  # one row per step
    assert all(r["learning_rate"] == pytest.approx(spy.lr[r["step"]]) for r in rows)
    # After the rollback the data went on with the batch that followed the skipped one.
    base_rows = {r["step"]: r["loss"] for r in train_rows(spike_runs["base"])}
    assert rows[SPIKE - 1]["loss"] < 2 * base_rows[SPIKE]  # no garbage at step 25 any more

    # It ends close to the run that never saw the garbage.
    final, base_final = eval_losses(run)[MAX_STEPS], eval_losses(spike_runs["base"])[MAX_STEPS]
    assert abs(final - base_final) / base_final < 0.06, (final, base_final)


def test_the_planted_batch_is_skipped_with_padded_batching_too(tmp_path, policy_train_file):
    # data.batching padded: the Trainer's own loader and accelerate's seedable random sampler.
    code, collator = train(tmp_path / "run", policy_train_file, poison={SPIKE}, settings=["data.batching=padded"])
    assert code == 0
    (ev,) = read_store(tmp_path / "run", lambda s: s.events("action"))
    planted = sorted(i for i, f in enumerate(collator.dataset.features) if any(f is q for q in collator.poisoned))
    assert (ev["payload"]["to"], ev["payload"]["skipped_examples"]) == (20, planted)
    assert collator.seen_again == 0
    assert [r["step"] for r in train_rows(tmp_path / "run")] == list(range(1, MAX_STEPS + 1))


def test_the_action_is_in_status_and_on_the_loss_plot(spike_runs):
    run = spike_runs["run"]
    out = CliRunner().invoke(app, ["status", str(run), "--json"])
    assert out.exit_code == 0, out.output
    st = json.loads(out.output)
    assert [(a["step"], a["code"], a["action"], a["from"], a["to"]) for a in st["actions"]] == \
        [(SPIKE, "LOSS_SPIKE", "rollback", SPIKE, 20)]
    text = CliRunner().invoke(app, ["status", str(run)], env={"COLUMNS": "200"}).output
    assert "actions" in text and "rollback" in text and "checkpoint-20" in text
    html = (run / "report.html").read_text("utf-8")
    assert "rollback→20 at step 25" in html


def test_policy_state_travels_with_the_checkpoints(spike_runs):
    state = json.loads((spike_runs["run"] / "checkpoints" / "checkpoint-40" / "tuneguard_policy.json").read_text())
    assert state["lr_scale"] == 0.5
    assert state["skips"] == {"drops": {"0": [SPIKE - 1]}}  # epoch 0, the 25th batch
    assert state["history"] == [{"step": SPIKE, "code": "LOSS_SPIKE", "action": "rollback"}]
    # The abandoned timeline's checkpoints were removed at the rollback; the new ones are complete.
    assert sorted(p.name for p in (spike_runs["run"] / "checkpoints").glob("checkpoint-*")) == \
        ["checkpoint-20", "checkpoint-30", "checkpoint-40"]


def test_a_second_spike_after_the_rollback_halts(tmp_path, policy_train_file):
    # Batches 1-25 are steps 1-25 (and accelerate's loader collates one batch ahead, so the
    # first pass collates 26); after the rollback to 20, step s is batch 26 + (s - 20).
    code, _ = train(tmp_path / "run", policy_train_file, poison={SPIKE, 36}, settings=[
        "policy.rules={LOSS_SPIKE: {action: rollback, scale_lr: 0.5, times: 1, then: halt}}"])
    run = tmp_path / "run"
    assert code == 1
    assert read_store(run, lambda s: s.state()) == "halted"
    acts = read_store(run, lambda s: [(e["step"], e["payload"]["action"]) for e in s.events("action")])
    assert acts == [(SPIKE, "rollback"), (30, "halt")]
    halted = read_store(run, lambda s: s.events("halted"))[-1]["payload"]
    assert halted["code"] == "LOSS_SPIKE" and halted["step"] == 30
    reason = read_store(run, lambda s: s.events("action"))[-1]["payload"]["reason"]
    assert "times: 1" in reason and "then: halt" in reason
    assert (run / "checkpoints" / "checkpoint-30" / "tuneguard_complete.json").exists()


def test_more_actions_than_max_actions_halts_with_a_finding(tmp_path, policy_train_file):
    spy = Spy()
    code, _ = train(tmp_path / "run", policy_train_file, poison={20, 27, 34}, spy=spy,
                    settings=["policy.max_actions=2", "policy.rules={LOSS_SPIKE: {scale_lr: 0.5}}"])
    run = tmp_path / "run"
    assert code == 1
    st = json.loads(CliRunner().invoke(app, ["status", str(run), "--json"]).output)
    assert st["state"] == "halted" and st["step"] == 34
    assert [(a["step"], a["action"]) for a in st["actions"]] == [(20, "scale_lr"), (27, "scale_lr"), (34, "halt")]
    (limit,) = [f for f in st["findings"] if f["code"] == "POLICY_LIMIT"]
    assert limit["severity"] == "error" and limit["step"] == 34
    assert "more than policy.max_actions (2)" in limit["message"]
    assert [a["step"] for a in limit["evidence"]["actions_taken"]] == [20, 27]
    assert read_store(run, lambda s: s.get_meta("exit_reason")).startswith("POLICY_LIMIT")
    assert "POLICY_LIMIT" in (run / "report.html").read_text("utf-8")  # the report copes with the new code
    # Each scale_lr really changed the optimizer: x0.5 after step 20, x0.25 after step 27.
    sched = schedule(MAX_STEPS)
    for s in range(2, 35):
        want = 1.0 if s <= 20 else 0.5 if s <= 27 else 0.25
        assert spy.lr[s] / sched[s] == pytest.approx(want), s


def test_resume_after_a_rollback_continues_exactly(tmp_path, policy_train_file, spike_runs):
    """Stop the planted-spike run after its rollback, resume it in a new recipe call: the lr
    scale and the skipped batch come back with the checkpoint, so the losses are the ones of
    the uninterrupted run."""

    class StopAt(Spy):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 33:
                control.should_save = control.should_training_stop = True

    code, _ = train(tmp_path / "run", policy_train_file, poison={SPIKE}, spy=StopAt())
    assert code == 0
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-33" / "tuneguard_policy.json").exists()
    spy = Spy()
    code, _ = train(tmp_path / "run", policy_train_file, spy=spy, resume=True)
    assert code == 0 and spy.passes == [33]
    sched = schedule(MAX_STEPS)
    assert all(spy.lr[s] / sched[s] == pytest.approx(0.5) for s in range(34, MAX_STEPS + 1))
    resumed = {r["step"]: r["loss"] for r in train_rows(tmp_path / "run")}
    whole = {r["step"]: r["loss"] for r in train_rows(spike_runs["run"])}
    assert sorted(resumed) == list(range(1, MAX_STEPS + 1))
    for s in range(34, MAX_STEPS + 1):
        assert resumed[s] == pytest.approx(whole[s], rel=1e-4), s
