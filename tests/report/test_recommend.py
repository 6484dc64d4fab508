"""Recommendations: derived from the run's diagnosis so they all pull the same way, within the
model's context and the memory estimate, and a `--set` line / recommended.yaml that the
config loader and `config diff` read back to exactly the proposed changes."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tuneguard.cli.report_cmd import config_diff
from tuneguard.config.diff import change_reasons, flatten
from tuneguard.config.load import apply_overrides, dump_yaml, read_source, redacted_dict, validate_config
from tuneguard.diagnosis import KINDS, Curves, Diagnosis, diagnose
from tuneguard.findings import AUDIT_CODES, GUARD_CODES, Finding
from tuneguard.report.recommend import (
    DIRECTIONS,
    Change,
    HYPERPARAMETERS,
    Limits,
    agrees,
    recommend,
    recommend_for_run,
    recommended_yaml,
)
from tuneguard.report.rundata import RunData, load_run
from tuneguard.store.run_store import RunStore

from .runs import tiny_config


def f(code: str, severity: str = "warning", step: int | None = None, **evidence) -> Finding:
    return Finding(code, severity, f"{code} happened.", evidence, "", step, "guard" if step is not None else "audit")


def preset(name: str) -> dict:
    raw, _ = read_source(name)
    return redacted_dict(validate_config(raw))


def changes(findings: list[Finding], cfg: dict, kind: str | None = None, **facts) -> dict:
    d = Diagnosis(kind, [], facts=facts) if kind else None
    return {c.key: c.value for c in recommend(findings, cfg, diagnosis=d).changes}


# The run: 400 steps (about 22 epochs of a small set) at lr 0.01, best eval at step 180,
# OVERFITTING at 120, EVAL_DIVERGENCE at 300, PLATEAU at the end; the audit says the truncated
# rows need about 1,344 tokens and the model's context is 512.
OVERFIT_CURVES = Curves(train=[(s, 3.3 - s / 150) for s in range(0, 401, 20)],
                        evals=[(60, 3.9, None), (120, 3.83, 3.27), (180, 3.7, None), (240, 3.8, None),
                               (300, 3.95, None), (360, 4.1, None), (400, 4.2, None)],
                        planned_steps=400, steps_per_epoch=18, best_step=180)
OVERFIT_FINDINGS = [f("ANSWER_TRUNCATED", needed_length_p95=1344, max_length=128),
                    f("OVERFITTING", step=120), f("EVAL_DIVERGENCE", step=300), f("PLATEAU", "info", 400)]


def test_overfitting_run_gets_no_learning_rate_increase_and_a_max_length_within_the_context() -> None:
    cfg = tiny_config(**{"train.max_steps": 400, "train.learning_rate": 0.01, "data.max_length": 128})
    d = diagnose(OVERFIT_FINDINGS, OVERFIT_CURVES, cfg)
    recs = recommend(OVERFIT_FINDINGS, cfg, diagnosis=d, limits=Limits(context_length=512))
    assert d.kind == "overfitting"
    got = {c.key: c.value for c in recs.changes}
    assert got == {"train.max_steps": 230, "eval.early_stopping_patience": 3, "lora.dropout": 0.1,
                   "data.max_length": 512}
    assert "train.learning_rate" not in got
    reasons = {c.key: c.reason for c in recs.changes}
    assert reasons["train.max_steps"].startswith("the best validation loss was at step 180 of 400")
    assert reasons["data.max_length"] == "answers were cut at 128 tokens; raised to the model's context, 512 tokens"
    texts = [a.text for a in recs.actions]
    assert ("Even at the model's context of 512 tokens some rows stay truncated: they need about 1344 tokens "
            "(95% of the truncated rows). Shorten or split them, or choose a model with a longer context.") in texts
    assert any(t.startswith("The validation loss was best after 10 epochs") for t in texts)
    assert "--set train.learning_rate" not in recs.command("cfg.yaml")


def test_collapse_gets_fix_the_data_and_no_hyperparameter_change(collapse_run: Path) -> None:
    recs = recommend_for_run(load_run(collapse_run))
    assert recs.diagnosis.kind == "data_fault"
    assert recs.changes == []
    assert [a.codes for a in recs.actions] == [["LOSS_COLLAPSE"], ["DUPLICATE_EXACT"]]
    assert recs.actions[0].text.startswith("Fix the data faults the audit found (DUPLICATE_EXACT) before changing "
                                           "hyperparameters")
    assert recs.actions[1].text.startswith("Deduplicate the training data: remove the exact duplicate rows "
                                           "(412 in the audit)")


def test_a_single_label_file_is_told_to_add_other_labels_as_its_finding_says_not_to_deduplicate() -> None:
    """The audit's LOW_DIVERSITY of a classifier (one label): the report's action is the finding's
    own advice; "remove the rows, keeping one of each group" would leave one row. Templated rows
    (no labels) are still deduplicated."""
    from tuneguard.catalog import T

    single = Finding.said("LOW_DIVERSITY", "error", T("LOW_DIVERSITY.single_label", n=360, label="yes"),
                          T("LOW_DIVERSITY.single_label.rec"), {"count": 360, "rows": 360, "distinct_labels": 1},
                          source="audit")
    recs = recommend([single], tiny_config(), diagnosis=Diagnosis("data_fault", [], ["LOW_DIVERSITY"]))
    texts = [a.text for a in recs.actions if a.codes == ["LOW_DIVERSITY"]]
    assert "Add rows of the other labels (or check data.output_field: it may name a constant column)." in texts
    assert not any(t.startswith("Deduplicate") for t in texts)
    assert any(a.text_in("th").startswith("เพิ่มแถวของ label อื่น") for a in recs.actions)
    templated = f("LOW_DIVERSITY", "error", count=300, rows=360)
    recs = recommend([templated], tiny_config(), diagnosis=Diagnosis("data_fault", [], ["LOW_DIVERSITY"]))
    assert any(a.text.startswith("Deduplicate the training data: remove the templated, low-diversity rows (300")
               for a in recs.actions)


def test_plateau_raises_the_learning_rate_only_when_underfitting() -> None:
    cfg = tiny_config(**{"train.learning_rate": 3e-3})
    plateau = [f("PLATEAU", step=40)]
    assert changes(plateau, cfg, "underfitting") == {"train.learning_rate": 6e-3}
    assert changes(plateau, cfg, "overfitting", best_step=40).get("train.learning_rate") is None
    info = [f("PLATEAU", "info", step=55)]
    assert changes(info, cfg, "healthy") == {"eval.early_stopping_patience": 3}


def test_underfitting_with_a_tiny_learning_rate() -> None:
    cfg = tiny_config(**{"train.learning_rate": 1e-7, "train.max_steps": 60, "lora.r": 4, "lora.alpha": 8})
    got = changes([], cfg, "underfitting", still_falling=True)
    assert got == {"train.learning_rate": 1e-4, "train.max_steps": 120, "lora.r": 8, "lora.alpha": 16}



def test_a_run_too_short_to_judge_trains_longer_and_changes_nothing_else() -> None:
    """The demo's 4 steps (loss 4.5 -> 1.7, still falling, answers wrong): more steps, never a
    higher learning rate or rank on the evidence of 4 steps."""
    short = Curves(train=[(1, 4.505), (2, 4.306), (4, 1.743)], evals=[(4, 0.8887, 1.743)], planned_steps=4,
                   answers=(0, 4, 0))
    cfg = preset("smollm2-135m")
    cfg["train"]["max_steps"] = 4
    d = diagnose([], short, cfg)
    assert d.too_short()
    change, *cadence = recommend([], cfg, diagnosis=d).changes
    assert (change.key, change.value) == ("train.max_steps", 20)  # twice 10, the fewest steps judged
    # ... evaluated often enough to show a trend: every 4 of the 20 steps, not every 10 (2 evaluations).
    assert {c.key: c.value for c in cadence} == {"eval.steps": 4, "train.save_steps": 4}
    assert agrees("inconclusive", change.key, 4, 20)
    assert change.reason == ("the run ended at step 4, too early to judge whether the model learns the task: train "
                             "longer (and longer again while the loss keeps falling) before changing anything else")
    cfg["train"]["max_steps"] = 30  # a longer run's loss still falling: twice its steps
    long_run = dataclasses.replace(short, train=[(1, 4.5), (15, 3.0), (30, 2.0)], evals=[(30, 2.1, 2.0)],
                                   planned_steps=30)
    assert {c.key: c.value for c in recommend([], cfg, diagnosis=diagnose([], long_run, cfg)).changes} == {
        "train.max_steps": 60}
    by_epochs = tiny_config(**{"train.max_steps": -1, "train.num_epochs": 1.0})
    assert {c.key: c.value for c in recommend([], by_epochs, diagnosis=d).changes} == {
        "train.num_epochs": 2.0, "eval.steps": 1}  # 8 steps (4 a pass, twice): at least 3 evaluations
    stopped = Diagnosis("inconclusive", d.evidence, facts={**d.facts, "planned_steps": 40})  # stopped at 4 of 40
    recs = recommend([], cfg, diagnosis=stopped)
    assert recs.changes == [] and [str(a.text) for a in recs.actions] == [
        "It ended at step 4 of its 40 planned steps, too early to judge whether the model learns the task: let it "
        "run its planned steps (resume it with --resume auto) before changing anything."]

def test_spikes_lower_the_learning_rate_and_clip() -> None:
    got = changes([f("LOSS_SPIKE", step=25, loss=9.0, ratio=3.0), f("GRAD_NORM_HIGH", step=26)], preset("gptj-6b-v2"))
    assert got == {"train.learning_rate": 2.5e-6, "train.max_grad_norm": 0.5}


def test_nonfinite_in_fp16_moves_to_bf16() -> None:
    cfg = tiny_config(**{"model.dtype": "fp16", "train.learning_rate": 3e-3, "train.use_cpu": False})
    got = changes([f("NON_FINITE", "error", 30)], cfg)
    assert got == {"model.dtype": "bf16", "train.learning_rate": 1.5e-3, "train.max_grad_norm": 0.5}


def test_nonfinite_moves_to_bf16_only_when_the_run_computed_in_fp16() -> None:
    """model.dtype auto resolves to fp16 on a GPU without bf16: the finding's evidence says so. A run
    that computed in fp32 (the CPU) or bf16 keeps its dtype: precision was not the cause."""
    cfg = tiny_config(**{"model.dtype": "auto", "train.learning_rate": 3e-3, "train.use_cpu": False})
    assert changes([f("NON_FINITE", "error", 30, dtype="fp16")], cfg)["model.dtype"] == "bf16"
    for dtype in ("fp32", "bf16"):
        got = changes([f("NON_FINITE", "error", 30, dtype=dtype)], cfg)
        assert got == {"train.learning_rate": 1.5e-3, "train.max_grad_norm": 0.5}, dtype


def test_nonfinite_in_fp16_on_the_cpu_moves_to_fp32() -> None:
    """The CPU computes fp32 natively and bf16 slowly: an fp16 run there is sent to fp32, whether
    the config says train.use_cpu or the run recorded it trained on the CPU."""
    cfg = tiny_config(**{"model.dtype": "fp16", "train.learning_rate": 3e-3, "train.use_cpu": False})
    nan = [f("NON_FINITE", "error", 30, dtype="fp16")]
    unstable = Diagnosis("unstable", [], ["NON_FINITE"])
    cpu_cfg = tiny_config(**{"model.dtype": "fp16", "train.learning_rate": 3e-3, "train.use_cpu": True})
    assert {c.key: c.value for c in recommend(nan, cpu_cfg, diagnosis=unstable).changes}["model.dtype"] == "fp32"
    on_cpu = recommend(nan, cfg, diagnosis=unstable, limits=Limits(device="cpu"))
    assert {c.key: c.value for c in on_cpu.changes}["model.dtype"] == "fp32"
    on_gpu = recommend(nan, cfg, diagnosis=unstable, limits=Limits(device="cuda"))
    assert {c.key: c.value for c in on_gpu.changes}["model.dtype"] == "bf16"


def test_nonfinite_after_the_loss_diverged_blames_the_learning_rate_not_a_row() -> None:
    """A NaN that follows a loss climbing above its untrained value is the learning rate's doing:
    no "look for a bad row" action then; a NaN out of a falling loss keeps it."""
    cfg = tiny_config(**{"train.learning_rate": 0.25})
    nan = [f("NON_FINITE", "error", 4, dtype="fp32")]
    facts = {"first_train_loss": 1.47, "last_train_loss": 25.9}
    diverged = recommend(nan, cfg, diagnosis=Diagnosis("unstable", [], ["NON_FINITE"], facts={**facts, "diverged": True}))
    assert diverged.actions == [] and {c.key: c.value for c in diverged.changes}["train.learning_rate"] == 1e-3
    falling = recommend(nan, cfg, diagnosis=Diagnosis("unstable", [], ["NON_FINITE"], facts={**facts, "diverged": False}))
    assert [a.codes for a in falling.actions] == [["NON_FINITE"]]
    assert str(falling.actions[0].text).startswith("Look at the rows in the batches")


def test_pipeline_faults_are_fixed_in_any_diagnosis() -> None:
    cfg = tiny_config(**{"data.train_on_prompt": True, "data.collator": "language_modeling", "data.pad_token": "eos"})
    want = {"data.train_on_prompt": False, "data.collator": "tuneguard", "data.pad_token": "auto"}
    for kind in KINDS:
        got = changes([f("PROMPT_NOT_MASKED", "error"), f("PAD_IS_EOS", "error")], cfg, kind)
        assert {k: v for k, v in got.items() if k.startswith("data.")} == want, kind
    assert changes([f("PROMPT_NOT_MASKED", "error")], tiny_config()) == {}


def test_truncation_within_context_and_memory() -> None:
    cfg = tiny_config(**{"data.max_length": 256})
    trunc = [f("ANSWER_TRUNCATED", needed_length_p95=300)]
    assert changes(trunc, cfg, "healthy") == {"data.max_length": 320}
    at_context = recommend(trunc, cfg, diagnosis=Diagnosis("healthy", []), limits=Limits(context_length=256))
    assert at_context.changes == []
    assert at_context.actions[0].text.startswith("The truncated rows need about 300 tokens (95% of the truncated "
                                                 "rows), more than this model allows: data.max_length stays at the "
                                                 "model's context (256 tokens).")
    # 320 / 256 x 12 GB does not fit 85% of 16 GB; with checkpointing (4 GB -> 5 GB) it does.
    mem = Limits(context_length=2048, peak_gb=12.0, peak_checkpointed_gb=4.0, budget_gb=16.0, checkpointing=False)
    got = {c.key: c.value for c in recommend(trunc, cfg, diagnosis=Diagnosis("healthy", []), limits=mem).changes}
    assert got == {"data.max_length": 320, "model.gradient_checkpointing": True}
    # Without room even at batch size 1, max_length stays and the report says why.
    full = Limits(context_length=2048, peak_gb=40.0, peak_checkpointed_gb=30.0, budget_gb=16.0, checkpointing=False)
    recs = recommend(trunc, tiny_config(**{"data.max_length": 256, "train.batch_size": 2}),
                     diagnosis=Diagnosis("healthy", []), limits=full)
    assert recs.changes == []
    assert "more than the 16 GB this machine has even with batch size 1: data.max_length stays at 256" \
        in recs.actions[0].text


def test_truncation_stays_within_the_context_the_audit_read_from_the_model() -> None:
    """The tiny preset sets no model.context_length; the audit read the tiny model's 512 positions
    (evidence context_length): `next` raises data.max_length to 512, not to the 704 the rows need."""
    cfg = tiny_config(**{"data.max_length": 256})
    recs = recommend([f("ANSWER_TRUNCATED", needed_length_p95=681, context_length=512)], cfg,
                     diagnosis=Diagnosis("healthy", []))
    assert {c.key: c.value for c in recs.changes} == {"data.max_length": 512}
    assert recs.actions[0].text.startswith("Even at the model's context of 512 tokens some rows stay truncated: they "
                                           "need about 681 tokens")


def test_memory_halves_the_micro_batch_to_fit_a_longer_max_length() -> None:
    cfg = tiny_config(**{"data.max_length": 256, "train.batch_size": 8, "model.gradient_checkpointing": True})
    lim = Limits(context_length=2048, peak_gb=6.0, peak_checkpointed_gb=6.0, budget_gb=8.0, checkpointing=True)
    got = changes_with(cfg, [f("ANSWER_TRUNCATED", needed_length_p95=500)], lim)
    assert got == {"data.max_length": 512, "train.batch_size": 4, "train.gradient_accumulation_steps": 2}


def changes_with(cfg: dict, findings: list[Finding], limits: Limits) -> dict:
    recs = recommend(findings, cfg, diagnosis=Diagnosis("healthy", []), limits=limits)
    return {c.key: c.value for c in recs.changes}


ALL = ([f(c, "error") for c in AUDIT_CODES] +
       [f(c, step=10 + i, loss=5.0, ratio=3.0, grad_norm=50.0) for i, c in enumerate(GUARD_CODES)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("source", ["tiny", "gptj-6b-v1", "gptj-6b-v2"])
def test_no_change_points_against_the_diagnosis(kind: str, source: str) -> None:
    cfg = preset(source)
    d = Diagnosis(kind, [], facts={"best_step": 20, "planned_steps": 400, "still_falling": True,
                                   "steps_per_epoch": 10})
    recs = recommend(ALL, cfg, diagnosis=d)
    validate_config(recs.proposed)  # valid as it stands
    flat = flatten(cfg)
    for c in recs.changes:
        assert agrees(kind, c.key, flat.get(c.key), c.value), (kind, c)
    moved = {c.key for c in recs.changes} & set(HYPERPARAMETERS)
    if kind in ("data_fault", "inconclusive"):
        assert moved == set()
    assert all(k in DIRECTIONS[kind] for k in HYPERPARAMETERS)


@pytest.mark.parametrize("source", ["tiny", "gptj-6b-v1", "gptj-6b-v2"])
def test_set_line_round_trips_through_the_loader(source: str) -> None:
    cfg = preset(source)
    findings = [f("LOSS_SPIKE", step=5), f("OVERFITTING", step=9), f("PAD_IS_EOS", "error"),
                f("MEMORY_HIGH", step=3), f("ANSWER_TRUNCATED", needed_length_p95=700), f("DUPLICATE_EXACT", "error")]
    recs = recommend(findings, cfg, diagnosis=Diagnosis("unstable", [], ["LOSS_SPIKE"]))
    assert recs.changes
    argv = shlex.split(recs.command("cfg.yaml", "runs/next"))
    assert argv[:5] == ["tuneguard", "train", "cfg.yaml", "--run-dir", "runs/next"]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    raw, _ = read_source(source)
    apply_overrides(raw, sets)
    reloaded = redacted_dict(validate_config(raw))
    assert flatten(reloaded) == flatten(recs.proposed)
    assert {k for k, _, _ in recs.diff()} == {c.key for c in recs.changes}


def test_overfitting_shortens_a_max_steps_run_to_its_best_step(tmp_path: Path) -> None:
    from .runs import build_healthy

    over = Finding("OVERFITTING", "warning", "Eval loss rose.", {"triggers": ["rising"]}, "", 60, "guard")
    run = build_healthy(tmp_path / "r", findings=[over])  # max_steps 60, best step 60
    recs = recommend_for_run(load_run(run))
    assert recs.diagnosis.kind == "overfitting"
    assert "train.max_steps" not in {c.key for c in recs.changes}  # the best step was the last: nothing to cut
    with RunStore(run) as s:
        s.set_meta(best_step=20)
    got = {c.key: c.value for c in recommend_for_run(load_run(run)).changes}
    assert got["train.max_steps"] == 30


def test_recommended_config_and_config_diff_show_exactly_the_changes_with_reasons(tmp_path: Path) -> None:
    cfg = tiny_config(**{"train.max_steps": 400, "train.learning_rate": 0.01, "data.max_length": 128})
    recs = recommend(OVERFIT_FINDINGS, cfg, diagnosis=diagnose(OVERFIT_FINDINGS, OVERFIT_CURVES, cfg),
                     limits=Limits(context_length=512))
    run_cfg = tmp_path / "config.yaml"
    run_cfg.write_text(dump_yaml(cfg), "utf-8")
    rec = tmp_path / "recommended.yaml"
    rec.write_text(recommended_yaml(recs, "runs/over"), "utf-8")
    assert flatten(redacted_dict(validate_config(read_source(str(rec))[0]))) == flatten(
        redacted_dict(validate_config(recs.proposed)))
    assert set(change_reasons(str(rec))) == {c.key for c in recs.changes}

    app = typer.Typer()
    app.command()(config_diff)
    r = CliRunner().invoke(app, [str(run_cfg), str(rec)], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    rows = [line for line in r.output.splitlines() if line.strip().startswith("│") and "." in line.split("│")[1]]
    assert {line.split("│")[1].strip() for line in rows} == {c.key for c in recs.changes}
    for c in recs.changes:
        row = next(line for line in rows if line.split("│")[1].strip() == c.key)
        assert row.split("│")[4].strip() == f"{c.reason} ({', '.join(c.codes)})"


def test_epochs_before_a_resume_on_another_width_count_the_examples_those_steps_took(tmp_path: Path) -> None:
    """450 training rows, 2 examples a step for 450 steps (two epochs), then resumed on one process:
    1 a step, the store's steps_per_epoch now 450. The best evaluation, at step 450, came after two
    epochs, not one (450 / 450), and the recommendations say so."""
    from tuneguard.report.rundata import RunData

    seen = {s: 2 * s if s <= 450 else 900 + (s - 450) for s in range(10, 901, 10)}
    train = [{"step": s, "loss": 3.0 - s / 1000, "examples_seen": e} for s, e in seen.items()]
    evals = [{"step": s, "eval_loss": v, "train_loss_since_eval": 3.0 - s / 1000}
             for s, v in ((225, 2.9), (450, 2.5), (675, 2.7), (900, 2.95))]
    cfg = tiny_config(**{"train.max_steps": -1, "train.num_epochs": 3.0, "lora.dropout": 0.1})
    run = RunData(tmp_path, {"data_sizes": {"train": 450, "validation": 50}, "steps_per_epoch": 450,
                             "max_steps": 900, "state": "finished"}, cfg, train, evals, [],
                  [f("OVERFITTING", step=675)], [], [])
    assert [run.epoch_at(s) for s in (225, 450, 455, 900, 910)] == [1.0, 2.0, 2.0 + 5 / 450, 3.0, 3.0 + 10 / 450]
    recs = recommend_for_run(run)
    assert recs.diagnosis.kind == "overfitting"
    got = {c.key: (c.value, c.reason) for c in recs.changes}
    assert got["train.num_epochs"] == (2.0, "the validation loss rose in later epochs (best at epoch 2)")
    assert any(a.text.startswith("The validation loss was best after 2 epochs") for a in recs.actions)
    # A store without examples_seen (an older run) counts in steps_per_epoch, as before.
    old = RunData(tmp_path, {"steps_per_epoch": 450}, cfg, [{"step": 10, "loss": 3.0}], [], [], [], [], [])
    assert old.epoch_at(450) == 1.0


def test_next_never_proposes_the_learning_rate_the_run_already_tried(tmp_path: Path) -> None:
    """The policy halved the learning rate at step 20 after a spike (an action event, as the report's
    events show it). Spikes again at step 40: the next run goes below what was tried, not back to it
    (half of 3e-3 is what the run trained at from step 20). No spike after it: start at what held."""
    from tuneguard.report.rundata import RunData

    cfg = tiny_config(**{"train.learning_rate": 3e-3, "train.max_grad_norm": 1.0, "train.warmup_ratio": 0.1})
    train = [{"step": s, "loss": 2.0 - s / 100} for s in range(5, 61, 5)]
    evals = [{"step": s, "eval_loss": 2.1 - s / 100} for s in (20, 40, 60)]
    halved = {"type": "action", "step": 20, "payload": {"code": "LOSS_SPIKE", "action": "scale_lr", "lr_from": 3e-3,
                                                         "lr_to": 1.5e-3, "lr_scale_from": 1.0, "lr_scale_to": 0.5}}

    def proposed(spikes: list[int], events: list[dict]) -> tuple[float, str]:
        run = RunData(tmp_path, {"max_steps": 60}, cfg, train, evals, [],
                      [f("LOSS_SPIKE", step=s, loss=9.0, ratio=4.0) for s in spikes], events, [])
        recs = recommend_for_run(run)
        assert recs.diagnosis.kind == "unstable"
        (lr,) = [c for c in recs.changes if c.key == "train.learning_rate"]
        return lr.value, lr.reason

    assert proposed([20, 40], [halved]) == (7.5e-4, "smaller updates than the run already tried: it scaled its "
                                                     "learning rate x0.5 from step 21 (0.003 -> 0.0015) and the loss "
                                                     "was still unstable at step 40, so a peak of 0.00075, half of "
                                                     "0.003 x0.5")
    assert proposed([20], [halved]) == (1.5e-3, "the learning rate the run moved to during the training: x0.5 from "
                                                "step 21 (0.003 -> 0.0015), after which the loss stayed stable; as a "
                                                "peak, 0.0015 (0.003 x0.5)")
    assert proposed([20, 40], []) == (1.5e-3, "smaller updates: the loss spiked or became non-finite at this "
                                              "learning rate")


def test_a_loss_that_diverged_gets_a_tenth_of_the_learning_rate_not_the_rate_the_run_moved_to(tmp_path: Path) -> None:
    """SmolLM2 at learning rate 0.1 (50x what learns this task): the loss went 1.776 -> 18.9 by step 4,
    spiked at step 7, the policy halved the rate there, and the loss stayed near 11-15 to the end.
    "The rate the run moved to held" would propose 0.05; the run ended worse than untrained, so a
    tenth, at most the top of the usual LoRA range (1e-3), with the numbers, in English and Thai;
    and the diagnosis says it diverged."""
    from tuneguard.catalog import render
    from tuneguard.report.rundata import RunData

    losses = [1.776, 1.295, 2.437, 18.89, 29.36, 17.65, 47.05, 19.56, 17.76, 15.25, 14.47, 13.77, 13.74, 12.61,
              11.98, 12.26, 12.77, 10.84, 10.93, 11.32]
    halved = {"type": "action", "step": 7, "payload": {"code": "LOSS_SPIKE", "action": "scale_lr", "lr_from": 0.0821,
                                                        "lr_to": 0.0411, "lr_scale_from": 1.0, "lr_scale_to": 0.5}}

    def recommended(lr: float, losses: list[float]) -> tuple[Any, Change]:
        cfg = tiny_config(**{"train.learning_rate": lr, "train.max_grad_norm": 1.0, "train.warmup_ratio": 0.1})
        run = RunData(tmp_path, {"max_steps": 20}, cfg, [{"step": i, "loss": v} for i, v in enumerate(losses, 1)],
                      [{"step": 10, "eval_loss": 13.8}, {"step": 20, "eval_loss": 11.24}], [],
                      [f("LOSS_SPIKE", step=7, loss=47.05, ratio=2.666)], [halved], [])
        recs = recommend_for_run(run)
        assert recs.diagnosis.kind == "unstable"
        (change,) = [c for c in recs.changes if c.key == "train.learning_rate"]
        return recs, change

    recs, lr = recommended(0.1, losses)
    # The numbers the rule compared: the first loss and the mean of the last third (steps 15-20).
    assert ("the training loss ended above where it started (1.776 at step 1 -> 11.68 on average over steps 15-20): "
            "the model got worse than untrained") in recs.diagnosis.because()
    assert (lr.value, lr.reason) == (1e-3, (
        "much smaller updates: the training loss ended above where it started (1.776 at the first step -> 11.68 on "
        "average over the last third of the logs) even after the run scaled its learning rate x0.5 from step 8 "
        "(0.0821 -> 0.0411), so the model lost what it knew: 0.1 is at least 10x too high (LoRA recipes use "
        "1e-4 to 1e-3), so a tenth of it, at most 1e-3"))
    assert render(lr.said, "th").startswith(
        "อัปเดตให้เล็กลงมาก: ค่า loss การฝึกจบสูงกว่าตอนเริ่ม (1.776 ที่ step แรก -> เฉลี่ย 11.68")
    # 5x too high: a tenth of it. A loss that came back below its start keeps the rule above.
    assert recommended(5e-3, losses)[1].value == 5e-4
    recs, lr = recommended(5e-3, losses[:7] + [1.2] * 13)
    assert "ended above" not in recs.diagnosis.because()
    assert lr.value == 2.5e-3 and lr.reason.startswith("the learning rate the run moved to")


def test_a_guard_advice_the_diagnosis_does_not_follow_is_marked_in_the_report(tmp_path: Path) -> None:
    """A plateau early in a run whose loss also spiked: PLATEAU said "raise train.learning_rate" when it
    was found, the diagnosis (unstable) lowers it. The report says which holds, under that finding
    only, in English and Thai."""
    from tuneguard.catalog import T
    from tuneguard.report.recommend import ADVICE_MOVES, against_diagnosis

    from .runs import build_healthy

    spike = Finding.said("LOSS_SPIKE", "warning", T("GRAD_NORM_HIGH.found", norm=80.0, step=10, limit=50),
                         T("LOSS_SPIKE.found.rec"), {"loss": 9.0, "ratio": 4.0}, step=10, source="guard")
    plateau = Finding.said("PLATEAU", "warning", T("PLATEAU.found", rel=0.001, n=3, first_step=20, step=40,
                                                   low=2.0, high=2.002), T("PLATEAU.early.rec"), {}, step=40,
                           source="guard")
    run = build_healthy(tmp_path / "run", findings=[spike, plateau])
    assert against_diagnosis(plateau, "unstable") == ["train.learning_rate"]
    assert against_diagnosis(spike, "unstable") == []
    assert CliRunner().invoke(_app(), ["report", str(run)]).exit_code == 0
    md = (run / "report.md").read_text("utf-8")
    note = ("The run's diagnosis (unstable training) does not move train.learning_rate this way: the "
            "recommendations below take precedence over this advice.")
    assert md.count(note) == 1
    plateau_line = next(i for i, line in enumerate(md.splitlines()) if line.startswith("- **PLATEAU**"))
    assert note in "\n".join(md.splitlines()[plateau_line:plateau_line + 4])
    assert "<i>" + note.replace("'", "&#x27;") + "</i>" in (run / "report.html").read_text("utf-8")
    # Every guard advice that names the learning rate declares which way it moves it (LOSS_COLLAPSE
    # says "not the learning rate"), so a new one cannot contradict the diagnosis unnoticed.
    from tuneguard.catalog import TABLES

    named = {k for t in ("guard", "policy") for k, v in TABLES[t].items()
             if ".rec" in k and "train.learning_rate" in v["en"] and not k.startswith("LOSS_COLLAPSE")}
    assert named and named <= {k for k, moves in ADVICE_MOVES.items() if "train.learning_rate" in moves}
    assert set(ADVICE_MOVES) <= set(TABLES["guard"]) | set(TABLES["policy"])


def _app():
    from tuneguard.cli.main import app

    return app


def test_a_collapse_without_an_audit_cause_names_the_audit_of_this_run(tmp_path: Path) -> None:
    """The advice to re-audit gives the command for this run (its directory stands for its
    config.yaml), quoted for the shell, not `tuneguard audit CONFIG`; without a run, CONFIG."""
    cfg = tiny_config()
    collapse = [f("LOSS_COLLAPSE", "error", step=12)]
    d = Diagnosis("data_fault", [], ["LOSS_COLLAPSE"])
    run = RunData(tmp_path / "my run", {"max_steps": 60}, cfg, [], [], [], collapse, [], [])
    (action,) = recommend(collapse, cfg, run, diagnosis=d).actions
    assert action.text == ("Fix the data before changing hyperparameters: an early collapse means duplicated, "
                           "templated or leaked rows, or unmasked prompts; run "
                           f"`tuneguard audit '{tmp_path / 'my run'}'` (the audit of this run's data and config), and "
                           "see the LOSS_COLLAPSE finding for what to look for.")
    assert f"`tuneguard audit '{tmp_path / 'my run'}'` (ตรวจข้อมูลและ config ของการรันนี้)" in action.text_in("th")
    (alone,) = recommend(collapse, cfg, diagnosis=d).actions
    assert "run `tuneguard audit CONFIG` (the audit" in alone.text


def test_a_throughput_drop_from_a_busy_cpu_is_advised_as_the_guard_found_it():
    """A CPU run slowed by other processes (the guard measured 1.7 of 2 cores busy) was told to
    look for "other processes on the GPU, thermal throttling or a slow data disk"."""
    from tuneguard.catalog import T

    busy = Finding.said("THROUGHPUT_DROP", "warning", T("THROUGHPUT_DROP.found", tps=10, step=26, ratio=0.14,
                                                        median=73, limit=0.5, slow=336.4),
                        T("THROUGHPUT_DROP.cpu.rec"), {"other_processes_cpu_cores": 1.68, "cpu_cores": 2}, step=26)
    cfg, healthy = preset("smollm2-135m"), Diagnosis("healthy", [])
    recs = recommend([busy], cfg, diagnosis=healthy)
    assert [str(a.text) for a in recs.actions] == [
        "Find the processes sharing the CPU (`top`, or `ps -eo pcpu,args --sort=-pcpu`) and let them finish or move "
        "them elsewhere; on a shared machine, train when it is quiet or ask for dedicated cores."]
    assert recs.changes == []
    quiet = f("THROUGHPUT_DROP", step=26)  # no cause measured: the usual suspects, on either device
    assert [str(a.text) for a in recommend([quiet], cfg, diagnosis=healthy).actions] == [
        "Throughput dropped mid-run: check for other processes on the GPU or CPU, thermal throttling or a slow "
        "data disk."]


def test_a_throughput_drop_that_recovered_on_its_own_calls_for_nothing():
    """A healthy run whose slowdown recovered (THROUGHPUT_DROP at info) was told 'Throughput dropped
    mid-run: check for other processes ...' and 'Act on the points above first'."""
    recovered = f("THROUGHPUT_DROP", "info", step=28, recovered=True)
    recs = recommend([recovered], preset("smollm2-135m"), diagnosis=Diagnosis("healthy", []))
    assert (recs.actions, recs.changes) == ([], [])
    slow = f("THROUGHPUT_DROP", "warning", step=28)
    assert [a.codes for a in recommend([slow], preset("smollm2-135m"), diagnosis=Diagnosis("healthy", [])).actions] == [
        ["THROUGHPUT_DROP"]]


def test_next_quotes_the_step_and_rates_of_the_policys_own_record(tmp_path: Path) -> None:
    """The policy scaled the learning rate at step 10 and its record says "Learning rate x0.5 from step 11
    (0.493 -> 0.247)" (the schedule had decayed the peak 0.5 to 0.493). `next` said "moved to 0.25 at
    step 10": another step and another value. Now it quotes the record (step 11, 0.493 -> 0.247) and
    names the peak it proposes as the peak times the scale, in English and Thai."""
    from tuneguard.catalog import T, render
    from tuneguard.report.rundata import RunData

    record = render(T("action.scale_lr", factor=0.5, next=11, lr_from=0.493, lr_to=0.247, clamped="",
                      code="LOSS_SPIKE"))
    assert record == "Learning rate x0.5 from step 11 (0.493 -> 0.247) after LOSS_SPIKE."
    scaled = {"type": "action", "step": 10, "payload": {"code": "LOSS_SPIKE", "action": "scale_lr", "lr_from": 0.493,
                                                         "lr_to": 0.247, "lr_scale_from": 1.0, "lr_scale_to": 0.5}}
    cfg = tiny_config(**{"train.learning_rate": 0.5, "train.max_grad_norm": 1.0, "train.warmup_ratio": 0.1})
    train = [{"step": s, "loss": 2.0 - s / 100} for s in range(1, 31)]
    run = RunData(tmp_path, {"max_steps": 30}, cfg, train, [{"step": 30, "eval_loss": 1.8}], [],
                  [f("LOSS_SPIKE", step=10, loss=9.0, ratio=4.0)], [scaled], [])
    (lr,) = [c for c in recommend_for_run(run).changes if c.key == "train.learning_rate"]
    assert (lr.value, lr.reason) == (0.25, "the learning rate the run moved to during the training: x0.5 from step "
                                           "11 (0.493 -> 0.247), after which the loss stayed stable; as a peak, 0.25 "
                                           "(0.5 x0.5)")
    assert "step 10" not in lr.reason
    assert render(lr.said, "th") == ("learning rate ที่การรันเปลี่ยนไปใช้ระหว่างการฝึก: คูณด้วย 0.5 ตั้งแต่ step 11 "
                                     "(0.493 -> 0.247) หลังจากนั้น loss นิ่ง เป็นค่าสูงสุด 0.25 (0.5 x0.5)")


def test_an_action_without_codes_ends_without_empty_brackets_in_the_report(tmp_path: Path) -> None:
    """A run that logged too little (2 steps, no evaluation): the report's "too little was logged" line
    ended with "()" (no finding code to name). Actions with codes keep them."""
    from tuneguard.report.components import Words
    from tuneguard.report.markdown import _recommendations_md
    from tuneguard.report.recommend import Action, Recommendations

    run = RunData(tmp_path, {"max_steps": 3, "state": "failed", "exit_reason": "out of memory"}, tiny_config(),
                  [{"step": 1, "loss": 2.0}], [], [], [], [], [])
    recs = recommend_for_run(run)
    assert recs.diagnosis.kind == "inconclusive" and [a.codes for a in recs.actions] == [[]]
    lines = _recommendations_md(run, recs, Words("en"))
    (line,) = [x for x in lines if x.startswith("- Too little was logged")]
    assert line.endswith("nothing in its config is to blame yet.")
    coded = Recommendations([], [Action("Deduplicate.", ["DUPLICATE_EXACT"])], {}, {}, None)
    assert "- Deduplicate. (DUPLICATE_EXACT)" in _recommendations_md(run, coded, Words("en"))


def test_a_run_the_audit_refused_is_said_refused_with_the_fix_and_force_commands(tmp_path: Path) -> None:
    """`train` exited 2 on audit errors before training: its record (failed, exit code 2, "audit errors",
    no step) got the diagnosis "the run was forced past it", which is false. Now the evidence says the
    audit refused it, and the advice gives `tuneguard fix` and the command that trains anyway (--force),
    in English and Thai. A run forced past the same errors keeps "forced past it"."""
    from tuneguard.catalog import render
    from tuneguard.report.recommend import diagnose_run

    audit = [f("DUPLICATE_EXACT", "error", count=179), f("LOW_DIVERSITY", "error", count=180)]
    for x in audit:
        x.source = "audit"
    meta = {"state": "failed", "exit_code": 2, "exit_reason": "audit errors", "max_steps": 60}
    refused = RunData(tmp_path, meta, tiny_config(), [], [], [], audit, [], [])
    fix = shlex.join(["tuneguard", "fix", str(tmp_path.absolute() / "config.yaml"), "--out",
                      str(tmp_path.absolute().parent / f"{tmp_path.name}-fixed-data")])
    force = shlex.join(["tuneguard", "train", str(tmp_path / "config.yaml"), "--run-dir", str(tmp_path), "--force"])
    assert diagnose_run(refused).because() == ("Because: the audit found DUPLICATE_EXACT, LOW_DIVERSITY (severity "
                                               "error) and refused the run before training (exit 2)")
    recs = recommend_for_run(refused)
    assert recs.diagnosis.because() == diagnose_run(refused).because()
    assert recs.actions[0].text == (
        f"The audit refused this run before training (DUPLICATE_EXACT, LOW_DIVERSITY): nothing was trained. Fix the "
        f"data: `{fix}` writes cleaned copies and a config that trains on them; or, to train on this data as it is, "
        f"`{force}`.")
    assert render(recs.actions[0].said, "th").startswith("การตรวจข้อมูลปฏิเสธการรันนี้ก่อนเริ่มฝึก")
    assert "forced" not in " ".join(a.text for a in recs.actions) + recs.diagnosis.because()

    forced = RunData(tmp_path, {"state": "finished", "max_steps": 2}, tiny_config(),
                     [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.9}], [], [], audit, [], [])
    assert diagnose_run(forced).because().endswith("(severity error) and the run was forced past it")
    assert recommend_for_run(forced).actions[0].text.startswith("Fix the data before changing any hyperparameter: "
                                                                "the training ran past audit errors")
