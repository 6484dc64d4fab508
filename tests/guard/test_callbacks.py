"""The callbacks, called the way the Trainer calls them: actions, once-per-episode through
the store, resume replay, early stopping's finding, and the callback list."""

from __future__ import annotations

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
    for step, loss in [(1, 2.0), (2, 1.9), (3, 1.8), (4, 1.85)]:
        train_log(cb, ctx, step, loss)
    control = train_log(cb, ctx, 5, 4.0)
    assert not control.should_save and not control.should_training_stop and ctx.stop_reason is None
    assert [f.code for f in ctx.store.findings()] == ["LOSS_SPIKE"]


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


def test_eval_rules_use_latest_training_loss(ctx):
    cb = GuardCallback(ctx)
    train_log(cb, ctx, 100, 1.0)
    args, state, control = trainer_bits(100)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 1.7})
    assert sorted(f.code for f in ctx.store.findings()) == ["EVAL_DIVERGENCE", "OVERFITTING"]
    assert not control.should_training_stop


def test_throughput_skips_the_log_after_an_evaluation(ctx):
    cb = GuardCallback(ctx)
    for step in range(1, 8):
        train_log(cb, ctx, step, 2.0, tokens_per_s=1000.0)
    args, state, control = trainer_bits(8)
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 2.0})
    train_log(cb, ctx, 8, 2.0, tokens_per_s=100.0)  # includes the evaluation's wall time
    assert ctx.store.findings() == []
    train_log(cb, ctx, 9, 2.0, tokens_per_s=100.0)
    train_log(cb, ctx, 10, 2.0, tokens_per_s=100.0)
    assert ctx.store.findings() == []  # two slow logs: not yet (guard.throughput_patience is 3)
    train_log(cb, ctx, 11, 2.0, tokens_per_s=100.0)
    assert [(f.code, f.step) for f in ctx.store.findings()] == [("THROUGHPUT_DROP", 11)]


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
