"""The callbacks, called the way the Trainer calls them: actions, once-per-episode through
the store, resume replay, early stopping's finding, and the callback list."""

from __future__ import annotations

import pytest
from guard_helpers import make_ctx, trainer_bits

from tuneguard.findings import Finding
from tuneguard.guard import GuardCallback, GuardedEarlyStopping, QAProbeCallback, build_guard_callbacks

NAN = float("nan")


def train_log(cb, ctx, step, loss, **extra):
    args, state, control = trainer_bits(step)
    cb.on_log(args, state, control, logs={"loss": loss, "grad_norm": extra.pop("grad_norm", 1.0),
                                          "learning_rate": 1e-4, "epoch": step / 1000, **extra})
    return control


def test_halt_on_non_finite_requests_checkpoint_and_stop(ctx):
    cb = GuardCallback(ctx)
    assert not train_log(cb, ctx, 1, 3.0).should_training_stop
    control = train_log(cb, ctx, 5, NAN, grad_norm=NAN)
    assert control.should_save and control.should_training_stop
    assert ctx.stop_reason == "halted" and ctx.halt_finding.code == "NON_FINITE" and ctx.halt_finding.step == 5
    [stored] = ctx.store.findings()
    assert (stored.code, stored.step, stored.severity, stored.source) == ("NON_FINITE", 5, "error", "guard")
    assert stored.evidence["loss"] == "nan"  # the store keeps non-finite numbers as strings


def test_fp16_skipped_step_does_not_halt_but_the_same_log_without_fp16_does(ctx, tmp_path):
    """The Trainer under fp16 logs an infinite gradient norm with a finite loss when the loss
    scaler skipped an overflowed step: no finding, no halt. Without fp16 it is NON_FINITE."""
    cb = GuardCallback(ctx)
    args, state, control = trainer_bits(0, fp16=True)
    cb.on_train_begin(args, state, control)
    for step in (1, 2, 3):
        args, state, control = trainer_bits(step, fp16=True)
        cb.on_log(args, state, control, logs={"loss": 6.0, "grad_norm": float("inf"), "epoch": step / 1000})
        assert not control.should_training_stop and not control.should_save
    assert ctx.stop_reason is None and ctx.store.findings() == []

    plain_ctx = make_ctx(tmp_path / "plain")
    plain = GuardCallback(plain_ctx)
    args, state, control = trainer_bits(0, fp16=False)
    plain.on_train_begin(args, state, control)
    control = train_log(plain, plain_ctx, 1, 6.0, grad_norm=float("inf"))
    assert control.should_training_stop and plain_ctx.halt_finding.code == "NON_FINITE"
    plain_ctx.store.close()


def test_warn_action_does_not_touch_control(ctx):
    cb = GuardCallback(ctx)
    for step, loss in [(1, 2.0), (2, 1.9), (3, 1.8), (4, 1.85), (5, 1.9)]:
        train_log(cb, ctx, step, loss)
    # A spike with an ordinary gradient norm waits guard.spike_recovery_steps (5) to show whether
    # it recovers; this one stays up, so it warns at step 11, naming step 6.
    for step in range(6, 12):
        control = train_log(cb, ctx, step, 4.0)
    assert not control.should_save and not control.should_training_stop and ctx.stop_reason is None
    [f] = ctx.store.findings()
    assert (f.code, f.severity, f.step, f.evidence["at_step"], f.evidence["spike_acted"]) == \
        ("LOSS_SPIKE", "warning", 11, 6, "not_recovered")


def test_one_finding_per_episode_in_the_store(tmp_path):
    ctx = make_ctx(tmp_path, guard={"actions": {"LOSS_COLLAPSE": "warn"}})
    cb = GuardCallback(ctx)
    train_log(cb, ctx, 1, 3.6)
    for step in range(2, 40):
        train_log(cb, ctx, step, 0.01)
    findings = ctx.store.findings()
    assert [(f.code, f.step) for f in findings] == [("LOSS_COLLAPSE", 2)]
    ctx.store.close()


def test_collapse_links_audit_findings_of_the_run(ctx):
    cb = GuardCallback(ctx)
    # The loop sets the audit findings after building the callbacks: on_train_begin refreshes them.
    ctx.audit_findings = [Finding("DUPLICATE_EXACT", "error", "38% duplicates", {"fraction": 0.38})]
    args, state, control = trainer_bits(0)
    cb.on_train_begin(args, state, control)
    train_log(cb, ctx, 1, 3.6)
    train_log(cb, ctx, 2, 0.05)
    f = ctx.halt_finding
    assert f.code == "LOSS_COLLAPSE" and f.evidence["audit_findings"] == ["DUPLICATE_EXACT"]
    assert "the audit found 38% exact duplicates: see DUPLICATE_EXACT" in f.recommendation


def test_eval_logs_and_summary_are_not_training_logs(ctx):
    cb = GuardCallback(ctx)
    args, state, control = trainer_bits(10)
    cb.on_log(args, state, control, logs={"eval_loss": NAN, "epoch": 0.1})
    cb.on_log(args, state, control, logs={"train_loss": 0.0, "train_runtime": 1.0})
    assert ctx.store.findings() == []


def test_eval_rules_use_the_training_loss_averaged_since_the_previous_evaluation(ctx):
    """The demo's case: one noisy window (0.92) right before an evaluation (1.40), between
    windows that ranged 0.83-1.57, is no divergence; the average since the previous
    evaluation (each window weighted by its steps) is what eval loss is held against."""
    cb = GuardCallback(ctx)
    for step, loss in [(10, 2.0), (20, 1.6)]:
        train_log(cb, ctx, step, loss)
    args, state, control = trainer_bits(20)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 1.7})
    for step, loss in [(25, 1.57), (30, 0.83), (35, 1.41), (40, 1.2), (42, 0.92)]:
        train_log(cb, ctx, step, loss)
    args, state, control = trainer_bits(42)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 1.40})
    assert ctx.store.findings() == []  # 1.40 / 0.92 = 1.52 would have been EVAL_DIVERGENCE
    for step, loss in [(50, 0.7), (60, 0.7)]:
        train_log(cb, ctx, step, loss)
    args, state, control = trainer_bits(60)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 1.4})
    assert sorted(f.code for f in ctx.store.findings()) == ["EVAL_DIVERGENCE", "OVERFITTING"]
    div = [f for f in ctx.store.findings() if f.code == "EVAL_DIVERGENCE"][0]
    assert div.evidence["train_loss"] == div.evidence["train_loss_since_eval"] == pytest.approx(0.7)
    assert (div.evidence["train_steps_since_eval"], div.evidence["train_logs_since_eval"],
            div.evidence["since_step"]) == (18, 2, 42)
    assert "average over the 18 steps since step 42" in div.message
    assert div.evidence["since_eval_weighting"] == "steps"  # logged windows without token counts
    assert not control.should_training_stop


def test_throughput_measures_the_log_after_an_evaluation_like_any_other(ctx):
    """Windows of 30 s: the first 60 s are the warm-up, then the median; slow logs for 300 s
    (guard.throughput_sustained_s) make a warning. The metrics callback leaves the evaluation's
    time out of the next log's window (tests/guard/test_metrics_speed.py), so that log counts."""
    cb = GuardCallback(ctx)
    for step in range(1, 16):
        train_log(cb, ctx, step, 2.0, tokens_per_s=1000.0, log_window_s=30.0)
    args, state, control = trainer_bits(16)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 2.0})
    cb.on_save(args, state, control)
    train_log(cb, ctx, 16, 2.0, tokens_per_s=1000.0, log_window_s=30.0)  # the speed of training alone
    for step in range(17, 26):
        train_log(cb, ctx, step, 2.0, tokens_per_s=100.0, log_window_s=30.0)
    assert ctx.store.findings() == []  # 270 s slow: not yet
    train_log(cb, ctx, 26, 2.0, tokens_per_s=100.0, log_window_s=30.0)
    [f] = ctx.store.findings()
    assert (f.code, f.severity, f.step, f.evidence["slow_for_s"]) == ("THROUGHPUT_DROP", "warning", 26, 300.0)
    assert cb.throughput.points[-11][1] == 1000.0  # the log after the evaluation is in the median


def test_resume_replays_history_without_recording(ctx):
    cb = GuardCallback(ctx)
    args, state, control = trainer_bits(30)
    state.log_history = ([{"loss": 3.6, "grad_norm": 1.0, "epoch": 0.001, "step": 1}]
                         + [{"loss": 0.01, "grad_norm": 1.0, "epoch": s / 1000, "step": s} for s in range(2, 31)]
                         + [{"eval_loss": 0.02, "step": 20}]
                         + [{"loss": 0.01, "epoch": 0.04, "step": 40}])  # after the checkpoint: ignored
    cb.on_train_begin(args, state, control)
    assert ctx.store.findings() == [] and ctx.stop_reason is None
    assert cb.collapse.initial == 3.6 and cb.collapse.episode.active
    train_log(cb, ctx, 31, 0.01)  # the same collapse episode: not recorded twice
    assert ctx.store.findings() == []


def _evaluate(cb, state, control, args, step, value):
    """One evaluation as the Trainer runs it: on_evaluate, then _determine_best_metric."""
    state.global_step = step
    cb.on_evaluate(args, state, control, metrics={"eval_loss": value})
    if state.best_metric is None or value < state.best_metric:
        state.best_metric, state.best_global_step = value, step
        state.best_model_checkpoint = f"{args.output_dir}/checkpoint-{step}"


def test_early_stop_names_best_step_and_loss(ctx, tmp_path):
    cb = GuardedEarlyStopping.for_run(ctx, patience=2, threshold=0.0)
    args, state, control = trainer_bits(0, output_dir=str(tmp_path / "ckpt"))
    cb.on_train_begin(args, state, control)
    for step, value in [(100, 1.2), (200, 1.0), (300, 1.1)]:
        _evaluate(cb, state, control, args, step, value)
        assert not control.should_training_stop
    _evaluate(cb, state, control, args, 400, 1.05)
    assert control.should_training_stop
    [f] = ctx.store.findings()
    assert (f.code, f.severity, f.step) == ("EARLY_STOP", "info", 400)
    assert f.evidence["best_step"] == 200 and f.evidence["best_metric"] == 1.0
    assert f.evidence["best_model_checkpoint"] == f"{tmp_path}/ckpt/checkpoint-200"
    assert "the best was 1 at step 200" in f.message
    assert ctx.stop_reason == "early_stop" and ctx.halt_finding is None


def test_early_stop_survives_trainer_callback_restore(ctx):
    cb = GuardedEarlyStopping.for_run(ctx, patience=3, threshold=0.01)
    saved = cb.state()
    restored = type(cb)(**saved["args"])  # what Trainer._load_callback_state does
    assert type(restored).ctx is ctx and type(restored).__name__ == "GuardedEarlyStopping"
    assert restored.early_stopping_patience == 3 and restored.early_stopping_threshold == 0.01


def test_build_guard_callbacks_order(tmp_path, tokenizer):
    ctx = make_ctx(tmp_path, eval={"early_stopping_patience": 2,
                                   "qa_probes": [{"prompt": "hello", "keywords": ["world"]}]})
    cbs = build_guard_callbacks(ctx, tokenizer)
    assert [type(c).__name__ for c in cbs] == ["GuardedEarlyStopping", "QAProbeCallback", "GuardCallback"]
    assert isinstance(cbs[0], GuardedEarlyStopping) and isinstance(cbs[1], QAProbeCallback)
    ctx.store.close()
    plain = make_ctx(tmp_path / "b")
    assert [type(c).__name__ for c in build_guard_callbacks(plain, tokenizer)] == ["GuardCallback"]
    off = make_ctx(tmp_path / "c", guard={"enabled": False})
    assert build_guard_callbacks(off, tokenizer) == []
    plain.store.close()
    off.store.close()


def test_guard_severity_overrides_decide_recording_and_halting(tmp_path):
    """guard.severity: off drops a code; below error it never halts, whatever guard.actions or
    policy.rules say; the default severity is kept in the evidence."""
    ctx = make_ctx(tmp_path, guard={"severity": {"LOSS_COLLAPSE": "warning", "NON_FINITE": "off",
                                                 "OVERFITTING": "info"}})
    ctx.audit_findings = [Finding("DUPLICATE_EXACT", "error", "38% duplicates", {"share": 0.38})]
    cb = GuardCallback(ctx)
    from tuneguard.policy import build_policy_callbacks

    build_policy_callbacks(ctx)  # the run's policy: OVERFITTING rising -> halt by default
    args, state, control = trainer_bits(0)
    cb.on_train_begin(args, state, control)
    train_log(cb, ctx, 1, 3.6)
    control = train_log(cb, ctx, 2, 0.05)  # a collapse with its audit cause: error, halts by default
    control = train_log(cb, ctx, 3, NAN, grad_norm=NAN)
    for step, ev, train in [(10, 1.0, 1.0), (20, 1.1, 0.95), (30, 1.2, 0.9), (40, 1.3, 0.85)]:
        train_log(cb, ctx, step, train)
        args, state, control = trainer_bits(step)
        cb.on_evaluate(args, state, control, metrics={"eval_loss": ev})
    found = {(f.code, f.severity) for f in ctx.store.findings()}
    assert ("NON_FINITE", "error") not in found and not any(c == "NON_FINITE" for c, _ in found)
    assert ("LOSS_COLLAPSE", "warning") in found and ("OVERFITTING", "info") in found
    [over] = [f for f in ctx.store.findings() if f.code == "OVERFITTING"]
    assert (over.step, over.evidence["triggers"]) == (40, ["rising"])  # the default policy's halt trigger
    collapse = [f for f in ctx.store.findings() if f.code == "LOSS_COLLAPSE"][0]
    assert collapse.evidence["severity_override"] == {"set_by": "guard.severity.LOSS_COLLAPSE", "default": "error"}
    assert ctx.stop_reason is None and ctx.halt_finding is None
    assert not control.should_training_stop


def test_easy_task_learned_well_finishes_and_a_gap_at_the_evaluation_halts(tmp_path):
    """The SmolLM2 extraction run through the callback with the default guard.actions
    (LOSS_COLLAPSE: halt): a low loss with an eval loss just as low never halts; the same low
    loss with an eval loss far above it halts at that evaluation."""
    def run(eval_losses):
        ctx = make_ctx(tmp_path / f"r{eval_losses[-1]}")
        cb = GuardCallback(ctx)
        args, state, control = trainer_bits(0)
        cb.on_train_begin(args, state, control)
        losses = {2: 0.64, 4: 0.52, 6: 0.47, 8: 0.44, 10: 0.41, 12: 0.31, 14: 0.2, 16: 0.13, 18: 0.094, 20: 0.088}
        for step, loss in losses.items():
            control = train_log(cb, ctx, step, loss)
            if step % 10 == 0:
                args, state, control = trainer_bits(step)
                cb.on_evaluate(args, state, control, metrics={"eval_loss": eval_losses[step // 10 - 1],
                                                              "epoch": step / 300})
        return ctx, control

    ctx, control = run([0.40, 0.097])
    assert [(f.code, f.severity, f.step) for f in ctx.store.findings()] == \
        [("LOSS_COLLAPSE", "info", 18), ("LOSS_COLLAPSE", "info", 20)]
    assert ctx.store.findings()[1].evidence["train_loss_since_eval"] == pytest.approx((0.31 + 0.2 + 0.13 + 0.094 + 0.088) / 5)
    assert ctx.store.findings()[1].evidence["verdict"] == "easy task"
    assert ctx.stop_reason is None and not control.should_training_stop
    ctx.store.close()
    ctx, control = run([0.40, 0.9])
    assert [(f.code, f.severity, f.step) for f in ctx.store.findings() if f.code == "LOSS_COLLAPSE"] == \
        [("LOSS_COLLAPSE", "info", 18), ("LOSS_COLLAPSE", "error", 20)]
    assert ctx.stop_reason == "halted" and ctx.halt_finding.evidence["verdict"] == "fault: eval far above"
    assert control.should_training_stop and control.should_save
    ctx.store.close()


def test_after_a_rollback_the_guards_start_again_but_the_machine_detectors_remember(ctx):
    """RunTrainer.reset_for_rollback asks each callback to reset itself (no callback swapped
    in the Trainer's list): the loss guards forget the abandoned timeline, memory and
    throughput (the machine did not roll back) keep their state."""
    cb = GuardCallback(ctx)
    for step in range(1, 6):
        train_log(cb, ctx, step, 3.0)
    spike, memory, throughput = cb.spike, cb.memory, cb.throughput
    cb.reset_for_rollback()
    assert cb.spike is not spike and cb.ctx is ctx
    assert cb.memory is memory and cb.throughput is throughput


def test_a_finding_on_the_console_is_one_line_at_its_own_level(ctx, capsys):
    """What `tuneguard train` prints in a pipe or a log file (PlainStderrHandler): one level per
    line, the finding's severity, never a logging level beside a severity tag ("WARNING [ERROR]")."""
    import logging

    from tuneguard.cli.common import PlainStderrHandler

    handler = PlainStderrHandler()
    logger = logging.getLogger("tuneguard.context")
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a CLI test earlier in the session may have set up the root's handler
    try:
        for code, severity in (("LOSS_COLLAPSE", "error"), ("LOSS_SPIKE", "warning"), ("PLATEAU", "info")):
            ctx.record_finding(Finding(code, severity, f"{code} says so.", {}, step=3, source="guard"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    assert capsys.readouterr().err.splitlines() == [
        "ERROR LOSS_COLLAPSE LOSS_COLLAPSE says so.", "WARNING LOSS_SPIKE LOSS_SPIKE says so.",
        # An info finding: its headline and where the full text is (tests/test_findings_brief.py).
        f"INFO PLATEAU at step 3: PLATEAU says so (full text: `tuneguard status {ctx.run_dir}`, and report.md when the run ends)"]
