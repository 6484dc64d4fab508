"""The policy engine's decisions and its records, without training: rules and their bounds
(times/then, triggers, max_actions, learning-rate bounds), the config that sets them, and
set-lr/rollback requests through the control callback and the run store."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from transformers import TrainerControl, TrainerState, get_scheduler

from tuneguard.config.load import ConfigError, read_source, validate_config
from tuneguard.control.requests import ControlCallback
from tuneguard.findings import Finding
from tuneguard.guard.actions import act
from tuneguard.policy import build_policy_callbacks
from tuneguard.policy.policy import effective_rules
from tuneguard.store.run_store import RunStore
from tuneguard.context import RunContext
from tuneguard.checkpoints import MARKER


def config(**sections: dict[str, Any]):
    raw = read_source("tiny")[0]
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return validate_config(raw)


@pytest.fixture
def make_engine(tmp_path: Path):
    stores = []

    def make(step: int = 30, checkpoints: tuple[int, ...] = (), **sections: dict[str, Any]):
        store = RunStore(tmp_path / "run", create=True)
        stores.append(store)
        ctx = RunContext(cfg=config(**sections), run_dir=tmp_path / "run", store=store)
        (cb,) = build_policy_callbacks(ctx)
        out = tmp_path / "run" / "checkpoints"
        for s in checkpoints:
            (out / f"checkpoint-{s}").mkdir(parents=True, exist_ok=True)
            (out / f"checkpoint-{s}" / MARKER).write_text("{}")
        opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=ctx.cfg.train.learning_rate)
        sched = get_scheduler("constant", opt)
        state = TrainerState()
        state.global_step, state.max_steps = step, 100
        args = SimpleNamespace(output_dir=str(out), gradient_accumulation_steps=1)
        cb.on_train_begin(args, state, TrainerControl(), lr_scheduler=sched, optimizer=opt,
                          train_dataloader=list(range(45)))
        return ctx, cb.engine, opt, state

    yield make
    for s in stores:
        s.close()


def finding(code: str, step: int, **evidence: Any) -> Finding:
    return Finding(code=code, severity="warning", message=f"{code} at {step}", evidence=evidence, step=step,
                   source="guard")


def actions(ctx) -> list[tuple[int, str, str]]:
    return [(e["step"], e["payload"]["code"], e["payload"]["action"]) for e in ctx.store.events("action")]


# --- config -------------------------------------------------------------------------------

def test_default_rules():
    rules = effective_rules(config())
    assert {c: r.action for c, r in rules.items()} == {"NON_FINITE": "halt", "LOSS_COLLAPSE": "halt",
                                                       "LOSS_SPIKE": "rollback", "OVERFITTING": "halt",
                                                       "PLATEAU": "warn"}
    spike = rules["LOSS_SPIKE"]
    assert (spike.scale_lr, spike.times, spike.then, spike.skip_steps) == (0.5, 1, "warn", None)
    assert rules["OVERFITTING"].triggers == ["rising"] and rules["OVERFITTING"].keep_best


def test_old_guard_actions_configs_keep_their_meaning():
    cfg = config(guard={"actions": {"LOSS_SPIKE": "warn", "OVERFITTING": "halt"}})
    rules = effective_rules(cfg)
    assert rules["LOSS_SPIKE"].action == "warn"  # the config's guard.actions wins over a policy default
    assert rules["OVERFITTING"].triggers is None  # plain halt, as before
    assert cfg.guard.actions == {"LOSS_SPIKE": "warn", "OVERFITTING": "halt"}


def test_policy_rules_win_over_default_guard_actions_and_shorthands():
    cfg = config(policy={"rules": {"NON_FINITE": "rollback", "GRAD_NORM_HIGH": {"scale_lr": 0.5}}})
    assert cfg.guard.actions == {"LOSS_COLLAPSE": "halt"}  # NON_FINITE no longer halts before the policy acts
    rules = effective_rules(cfg)
    assert rules["NON_FINITE"].action == "rollback"
    assert (rules["GRAD_NORM_HIGH"].action, rules["GRAD_NORM_HIGH"].scale_lr) == ("scale_lr", 0.5)
    assert "LOSS_SPIKE" not in rules  # policy.rules set: only what it names


@pytest.mark.parametrize("sections, problem", [
    ({"guard": {"actions": {"NON_FINITE": "halt"}}, "policy": {"rules": {"NON_FINITE": "rollback"}}},
     "guard.actions.NON_FINITE (halt) and policy.rules.NON_FINITE (rollback) disagree"),
    ({"policy": {"rules": {"PLATEAU": {"action": "scale_lr"}}}}, "action scale_lr needs a factor"),
    ({"policy": {"rules": {"NOPE": "warn"}}}, "unknown guard code"),
    ({"policy": {"rules": {"PLATEAU": "explode"}}}, "policy.rules.PLATEAU.action"),
    ({"policy": {"min_lr": 1e-3, "max_lr": 1e-4}}, "policy.min_lr (0.001) must not exceed policy.max_lr (0.0001)"),
    ({"policy": {"max_actions": -1}}, "policy.max_actions"),
])
def test_config_problems(sections, problem):
    with pytest.raises(ConfigError) as exc:
        config(**sections)
    assert any(problem.lower() in p.lower() for p in exc.value.problems), exc.value.problems


def test_policy_disabled_leaves_guard_actions_alone_and_builds_nothing(tmp_path):
    cfg = config(policy={"enabled": False, "rules": {"NON_FINITE": "rollback"}})
    assert cfg.guard.actions["NON_FINITE"] == "halt"
    ctx = RunContext(cfg=cfg, run_dir=tmp_path)
    assert build_policy_callbacks(ctx) == [] and getattr(ctx, "policy", None) is None


# --- decisions ----------------------------------------------------------------------------

def test_plateau_warns_and_overfitting_halts_only_when_rising(make_engine):
    ctx, _engine, _, state = make_engine()
    state.best_model_checkpoint, state.best_metric, state.best_global_step = "/x/checkpoint-20", 1.25, 20
    control = TrainerControl()
    assert act(ctx, control, finding("PLATEAU", 30)) == "warn"
    assert act(ctx, control, finding("OVERFITTING", 30, triggers=["gap"])) == "warn"
    assert not control.should_training_stop and ctx.stop_reason is None
    assert act(ctx, control, finding("OVERFITTING", 40, triggers=["rising"])) == "halt"
    assert control.should_training_stop and control.should_save and ctx.stop_reason == "halted"
    assert ctx.halt_finding.code == "OVERFITTING"
    (ev,) = ctx.store.events("action")
    assert ev["payload"]["best_checkpoint"] == "/x/checkpoint-20" and ev["payload"]["best_eval_loss"] == 1.25
    assert "Best checkpoint: checkpoint-20" in ev["payload"]["message"]


def test_the_default_policy_halts_when_the_eval_loss_rises_inside_an_open_gap(make_engine):
    """The memorised run's curve through the detector and the default policy: the gap opens while
    the eval loss falls (info), the warning follows (gap: warn), then the eval loss rises at 3
    evaluations in a row inside the same gap: the `rising` trigger the OVERFITTING rule halts on."""
    from tuneguard.guard import OverfittingDetector

    ctx, _engine, _, _ = make_engine()
    det = OverfittingDetector(rising_evals=3, gap=0.5)
    control = TrainerControl()
    seq = [(12, 3.068, 2.9), (16, 2.867, 2.008), (20, 2.803, 1.545), (24, 2.789, 1.3), (28, 2.808, 1.087),
           (32, 2.814, 0.9), (36, 2.817, 0.8), (40, 2.819, 0.75)]
    done = []
    for step, ev, train in seq:
        f = det.update(step, ev, train)
        if f is not None and not control.should_training_stop:
            done.append((step, act(ctx, control, f)))
    assert done == [(16, "warn"), (28, "warn"), (36, "halt")]
    assert ctx.stop_reason == "halted" and ctx.halt_finding.evidence["triggers"] == ["rising", "gap"]


def test_guard_actions_halt_still_halts(make_engine):
    ctx, _engine, _, _ = make_engine()
    control = TrainerControl()
    assert act(ctx, control, finding("NON_FINITE", 30)) == "halt"
    assert ctx.stop_reason == "halted" and actions(ctx) == []  # guard.actions' own halt, as before


def test_checkpoint_and_scale_lr_act_at_once(make_engine):
    ctx, _engine, opt, _ = make_engine(policy={"rules": {"GRAD_NORM_HIGH": "checkpoint",
                                                        "THROUGHPUT_DROP": {"scale_lr": 0.3}}})
    control = TrainerControl()
    assert act(ctx, control, finding("GRAD_NORM_HIGH", 30)) == "checkpoint"
    assert control.should_save and not control.should_training_stop
    assert act(ctx, control, finding("THROUGHPUT_DROP", 31)) == "scale_lr"
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3e-2)
    ev = ctx.store.events("action")[-1]["payload"]
    assert (ev["from"], ev["to"], ev["lr_scale_to"]) == (pytest.approx(1e-2), pytest.approx(0.3e-2), 0.3)
    assert actions(ctx) == [(30, "GRAD_NORM_HIGH", "checkpoint"), (31, "THROUGHPUT_DROP", "scale_lr")]


def test_the_policy_line_on_the_terminal_is_in_the_run_language(make_engine, caplog):
    """`tuneguard train` logs each action of the policy ("policy: ..."): in the run's language,
    rendered from the spec that the event and the notification keep."""
    from tests.thai_sentences import english_sentences, kept_in_english
    from tuneguard.catalog import render

    ctx, _engine, _opt, _ = make_engine(policy={"rules": {"THROUGHPUT_DROP": {"scale_lr": 0.3}}},
                                        notify={"language": "th"})
    with caplog.at_level("WARNING", logger="tuneguard.policy.policy"):
        assert act(ctx, TrainerControl(), finding("THROUGHPUT_DROP", 31)) == "scale_lr"
    ev = ctx.store.events("action")[-1]["payload"]
    lines = [r.getMessage() for r in caplog.records if r.name == "tuneguard.policy.policy"]
    assert lines == [f"policy: {render(ev['text'], 'th')}"]
    assert lines == ["policy: คูณ learning rate ด้วย 0.3 ตั้งแต่ step 32 (0.01 -> 0.003) หลังพบ THROUGHPUT_DROP"]
    assert ev["message"] == render(ev["text"], "en")
    assert english_sentences(lines[0], kept_in_english()) == []


def test_scale_lr_at_the_bound_falls_back_to_then(make_engine):
    ctx, _engine, opt, _ = make_engine(policy={"rules": {"PLATEAU": {"scale_lr": 0.1, "then": "halt"}},
                                              "min_lr": 1e-3})
    assert act(ctx, TrainerControl(), finding("PLATEAU", 30)) == "scale_lr"
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)  # clamped to min_lr
    assert act(ctx, TrainerControl(), finding("PLATEAU", 40)) == "halt"
    assert "not possible" in ctx.store.events("action")[-1]["payload"]["reason"]


def test_rollback_picks_the_checkpoint_before_the_logging_window(make_engine):
    ctx, engine, opt, _ = make_engine(step=37, checkpoints=(10, 20, 30, 35))
    # The previous log was at step 30: the spike's loss is the mean of steps 31-37, so the bad
    # batch may be any of them and checkpoint-35 may already hold its update.
    engine.last_log_step = 30
    control = TrainerControl()
    control.should_save = control.should_evaluate = True  # a save/eval step
    assert act(ctx, control, finding("LOSS_SPIKE", 37)) == "rollback"
    assert control.should_training_stop and not control.should_save and not control.should_evaluate
    assert ctx.stop_reason is None  # not an end of the run: the recipe resumes
    rb = engine.pending
    assert (rb.to_step, rb.from_step, rb.checkpoint.name) == (30, 37, "checkpoint-30")
    p = ctx.store.events("action")[-1]["payload"]
    assert p["skipped_steps"] == list(range(31, 38)) and (p["from"], p["to"]) == (37, 30)
    assert p["lr_scale_to"] == 0.5 and opt.param_groups[0]["lr"] == pytest.approx(0.5e-2)
    # Another finding while it is pending only warns; then the recipe takes it over.
    assert act(ctx, TrainerControl(), finding("GRAD_NORM_HIGH", 37)) == "warn"
    assert engine.take_rollback() is rb and engine.pending is None


def test_a_spike_judged_steps_later_rolls_back_before_its_step(make_engine):
    """A LOSS_SPIKE that did not recover is judged guard.spike_recovery_steps after the spike
    (logs every step): the rollback goes to the checkpoint before the spike's step (`at_step`),
    not before the log that judged it, and skips the batches from the spike to that log."""
    ctx, engine, _opt, _ = make_engine(step=37, checkpoints=(30, 35))
    engine.last_log_step = 36
    assert act(ctx, TrainerControl(), finding("LOSS_SPIKE", 37, at_step=32)) == "rollback"
    p = ctx.store.events("action")[-1]["payload"]
    assert (p["from"], p["to"], p["skipped_steps"]) == (37, 30, [32, 33, 34, 35, 36, 37])


def test_rollback_skip_steps_and_no_checkpoint(make_engine):
    ctx, engine, _opt, _ = make_engine(step=37, checkpoints=(20,),
                                      policy={"rules": {"LOSS_SPIKE": {"action": "rollback", "skip_steps": 3}}})
    engine.last_log_step = 36
    act(ctx, TrainerControl(), finding("LOSS_SPIKE", 37))
    assert ctx.store.events("action")[-1]["payload"]["skipped_steps"] == [35, 36, 37]
    ctx2, engine2, opt2, _ = make_engine(step=8)  # no checkpoint yet: scale_lr instead (the rule has one)
    assert act(ctx2, TrainerControl(), finding("LOSS_SPIKE", 8)) == "scale_lr"
    assert engine2.pending is None and opt2.param_groups[0]["lr"] == pytest.approx(0.5e-2)


def test_rollback_then_warn_on_repeat_by_default(make_engine):
    """The default: one rollback, then a later spike (a hard batch, as often as not) only warns."""
    ctx, engine, _, _ = make_engine(checkpoints=(20,))
    assert act(ctx, TrainerControl(), finding("LOSS_SPIKE", 25)) == "rollback"
    engine.take_rollback()
    control = TrainerControl()
    assert act(ctx, control, finding("LOSS_SPIKE", 28)) == "warn"
    assert not control.should_training_stop and ctx.halt_finding is None
    assert actions(ctx)[0] == (25, "LOSS_SPIKE", "rollback") and (28, "LOSS_SPIKE", "halt") not in actions(ctx)


def test_rollback_then_halt_on_repeat(make_engine):
    ctx, engine, _, _ = make_engine(checkpoints=(20,), policy={"rules": {"LOSS_SPIKE": {
        "action": "rollback", "scale_lr": 0.5, "times": 1, "then": "halt"}}})
    assert act(ctx, TrainerControl(), finding("LOSS_SPIKE", 25)) == "rollback"
    engine.take_rollback()
    control = TrainerControl()
    assert act(ctx, control, finding("LOSS_SPIKE", 28)) == "halt"
    assert control.should_save and control.should_training_stop and ctx.halt_finding.step == 28
    assert actions(ctx) == [(25, "LOSS_SPIKE", "rollback"), (28, "LOSS_SPIKE", "halt")]


def test_max_actions(make_engine):
    ctx, _engine, _, _ = make_engine(policy={"rules": {"GRAD_NORM_HIGH": "checkpoint"}, "max_actions": 2})
    for step in (10, 20):
        assert act(ctx, TrainerControl(), finding("GRAD_NORM_HIGH", step)) == "checkpoint"
    control = TrainerControl()
    assert act(ctx, control, finding("GRAD_NORM_HIGH", 30)) == "halt"
    assert control.should_training_stop and ctx.stop_reason == "halted"
    f = ctx.halt_finding
    assert (f.code, f.severity, f.step) == ("POLICY_LIMIT", "error", 30)
    assert "more than policy.max_actions (2)" in f.message
    assert [x.code for x in ctx.store.findings()] == ["GRAD_NORM_HIGH"] * 3 + ["POLICY_LIMIT"]


# --- manual requests through the control table --------------------------------------------

def control_callback(ctx) -> ControlCallback:
    return ControlCallback(ctx, poll_interval_s=0.0)


def test_set_lr_request_changes_the_optimizer_and_is_recorded(make_engine):
    ctx, engine, opt, _ = make_engine()
    rid = ctx.store.request_control("set_lr", arg="x0.1", requested_by="tester")
    control_callback(ctx).decide(30)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    (req,) = ctx.store.control_requests()
    assert (req["id"], req["status"], req["handled_step"]) == (rid, "done", 30)
    assert "from step 31" in req["note"]
    p = ctx.store.events("action")[-1]["payload"]
    assert (p["code"], p["action"], p["requested_by"], p["to"]) == ("MANUAL", "set_lr", "tester", pytest.approx(1e-3))
    assert engine.total == 0  # manual actions do not count against max_actions
    ctx.store.request_control("set_lr", arg="5e-3", requested_by="tester")
    control_callback(ctx).decide(31)
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-3)


@pytest.mark.parametrize("kind, arg, note", [
    ("set_lr", "banana", "not a learning rate"),
    ("rollback", json.dumps({"to": 25}), "no complete checkpoint at step 25 (available: 10, 20)"),
    ("rollback", json.dumps({"to": 40}), "not before the current step"),
])
def test_bad_requests_are_rejected_with_a_reason(make_engine, kind, arg, note):
    ctx, engine, opt, _ = make_engine(checkpoints=(10, 20))
    ctx.store.request_control(kind, arg=arg, requested_by="tester")
    control_callback(ctx).decide(30)
    (req,) = ctx.store.control_requests()
    assert req["status"] == "rejected" and note in req["note"]
    assert engine.pending is None and opt.param_groups[0]["lr"] == pytest.approx(1e-2)


def test_rollback_request_hands_over_to_the_recipe(make_engine):
    ctx, engine, _, _ = make_engine(checkpoints=(10, 20))
    ctx.store.request_control("rollback", arg=json.dumps({"to": None, "skip_steps": 2}), requested_by="tester")
    control_callback(ctx).decide(30)
    (req,) = ctx.store.control_requests()
    assert req["status"] == "done" and "checkpoint-20" in req["note"]
    assert (engine.pending.to_step, engine.pending.from_step) == (20, 30)
    p = ctx.store.events("action")[-1]["payload"]
    assert (p["code"], p["skipped_steps"], p["requested_by"]) == ("MANUAL", [29, 30], "tester")
    control = TrainerControl()
    engine.apply_pending(control)  # PolicyCallback does this right after the control callback
    assert control.should_training_stop and not control.should_save


def test_requests_without_a_policy_engine_are_rejected(tmp_path):
    with RunStore(tmp_path, create=True) as store:
        ctx = RunContext(cfg=config(policy={"enabled": False}), run_dir=tmp_path, store=store)
        store.request_control("set_lr", arg="x0.5", requested_by="tester")
        control_callback(ctx).decide(3)
        (req,) = store.control_requests()
        assert req["status"] == "rejected" and "policy.enabled is false" in req["note"]


def test_no_checkpoint_to_roll_back_to_names_the_step_seen_and_the_checkpoints(make_engine):
    """A spike seen at step 9, logged every 4 steps (the previous log at step 5): the record said "no
    complete checkpoint before step 6", a step the user never saw named. It names the step the spike
    was seen at, where its logs began, and the complete checkpoints there are (checkpoint-8 may hold the
    bad update), in English and Thai."""
    from tuneguard.catalog import render

    ctx, engine, _opt, _ = make_engine(step=9, checkpoints=(8,),
                                       policy={"rules": {"LOSS_SPIKE": {"action": "rollback", "scale_lr": None}}})
    engine.last_log_step = 5
    assert act(ctx, TrainerControl(), finding("LOSS_SPIKE", 9)) == "warn"
    (e,) = ctx.store.events("action")
    assert e["payload"]["action"] == "rollback_impossible"
    assert e["payload"]["message"] == (
        "LOSS_SPIKE at step 9: no rollback possible, since the logs that showed LOSS_SPIKE at step 9 began at step 6, "
        "and no complete checkpoint precedes it (complete checkpoints: steps 8); warning only.")
    out = Path(engine.args.output_dir)
    assert e["payload"]["reason"] == ("the logs that showed LOSS_SPIKE at step 9 began at step 6, and no complete "
                                      "checkpoint precedes it (complete checkpoints: steps 8)")
    (out / "checkpoint-4").mkdir()
    (out / "checkpoint-4" / MARKER).write_text("{}")
    assert render(engine._no_checkpoint(finding("LOSS_SPIKE", 9), 9, 6)).endswith("(complete checkpoints: steps 4, 8)")
    engine.args = SimpleNamespace(output_dir=str(out.parent / "none"))
    assert render(engine._no_checkpoint(finding("LOSS_SPIKE", 9, at_step=7), 9, 6), "th") == (
        "บันทึกที่แสดง LOSS_SPIKE ที่ step 7 เริ่มที่ step 6 และไม่มี checkpoint ที่สมบูรณ์ก่อนหน้านั้น "
        "(checkpoint ที่สมบูรณ์: ยังไม่มี)")
