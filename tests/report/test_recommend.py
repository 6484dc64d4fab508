"""Recommendations: the config changes each finding maps to, and a `--set` line that the
config loader reads back to exactly the proposed config."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tuneguard.config.diff import flatten
from tuneguard.config.load import apply_overrides, read_source, redacted_dict, validate_config
from tuneguard.findings import Finding
from tuneguard.report.recommend import recommend, recommend_for_run
from tuneguard.report.rundata import load_run

from .runs import tiny_config


def f(code: str, severity: str = "warning", step: int | None = None, **evidence) -> Finding:
    return Finding(code, severity, f"{code} happened.", evidence, "", step, "guard" if step is not None else "audit")


def preset(name: str) -> dict:
    raw, _ = read_source(name)
    return redacted_dict(validate_config(raw))


def changes(findings: list[Finding], cfg: dict) -> dict:
    return {c.key: c.value for c in recommend(findings, cfg).changes}


def test_collapse_run_points_at_the_data(collapse_run: Path) -> None:
    recs = recommend_for_run(load_run(collapse_run))
    assert recs.changes == []
    texts = [a.text for a in recs.actions]
    assert texts[0].startswith("Deduplicate the training data: remove the exact duplicate rows (412 in the audit)")
    assert "Fix the data faults the audit found (DUPLICATE_EXACT)" in texts[1]
    assert [a.codes for a in recs.actions] == [["DUPLICATE_EXACT"], ["LOSS_COLLAPSE"]]


def test_masking_and_padding_faults() -> None:
    cfg = tiny_config(**{"data.train_on_prompt": True, "data.collator": "language_modeling", "data.pad_token": "eos"})
    got = changes([f("PROMPT_NOT_MASKED", "error"), f("PAD_IS_EOS", "error")], cfg)
    assert got == {"data.train_on_prompt": False, "data.collator": "tuneguard", "data.pad_token": "auto"}


def test_no_change_when_already_set() -> None:
    assert changes([f("PROMPT_NOT_MASKED", "error")], tiny_config()) == {}


def test_truncation_raises_max_length_within_context() -> None:
    assert changes([f("ANSWER_TRUNCATED", p95_tokens=300)], tiny_config()) == {"data.max_length": 320}
    v2 = preset("gptj-6b-v2")  # max_length 512, context 2048
    assert changes([f("ANSWER_TRUNCATED", p99_tokens=5000)], v2) == {"data.max_length": 2048}


def test_nonfinite_dtype() -> None:
    assert changes([f("NON_FINITE", "error", 30)], tiny_config(**{"model.dtype": "fp16"})) == {"model.dtype": "bf16"}
    assert changes([f("NON_FINITE", "error", 30)], preset("gptj-6b-v2")) == {"model.dtype": "fp32"}


def test_spike_lowers_learning_rate_and_clips() -> None:
    got = changes([f("LOSS_SPIKE", step=25), f("GRAD_NORM_HIGH", step=26)], preset("gptj-6b-v2"))
    assert got == {"train.learning_rate": 2.5e-6, "train.max_grad_norm": 0.5}


def test_plateau_raises_learning_rate() -> None:
    cfg = tiny_config(**{"train.learning_rate": 3e-3})
    assert changes([f("PLATEAU", step=40)], cfg) == {"train.learning_rate": 6e-3}


def test_overfitting() -> None:
    got = changes([f("OVERFITTING", step=40)], preset("gptj-6b-v1"))
    assert got == {"train.num_epochs": 1.5, "eval.early_stopping_patience": 3, "lora.dropout": 0.1}


def test_overfitting_shortens_a_max_steps_run_to_its_best_step(tmp_path: Path) -> None:
    from tuneguard.store.run_store import RunStore

    from .runs import build_healthy

    over = Finding("OVERFITTING", "warning", "Eval loss rose.", {}, "", 60, "guard")
    run = build_healthy(tmp_path / "r", findings=[over])  # max_steps 60, best step 60
    keys = {c.key for c in recommend_for_run(load_run(run)).changes}
    assert "train.max_steps" not in keys  # the best step was the last: nothing to cut
    with RunStore(run) as s:
        s.set_meta(best_step=20)
    got = {c.key: c.value for c in recommend_for_run(load_run(run)).changes}
    assert got["train.max_steps"] == 30


def test_error_beats_warning_on_the_same_key() -> None:
    cfg = tiny_config(**{"train.learning_rate": 3e-3})
    got = changes([f("PLATEAU", "info", step=40), f("LOSS_SPIKE", "error", step=10)], cfg)
    assert got["train.learning_rate"] == 1.5e-3


@pytest.mark.parametrize("source", ["tiny", "gptj-6b-v1", "gptj-6b-v2"])
def test_set_line_round_trips_through_the_loader(source: str) -> None:
    cfg = preset(source)
    findings = [f("LOSS_SPIKE", step=5), f("OVERFITTING", step=9), f("PAD_IS_EOS", "error"),
                f("MEMORY_HIGH", step=3), f("ANSWER_TRUNCATED", p95_tokens=700), f("DUPLICATE_EXACT", "error")]
    recs = recommend(findings, cfg)
    assert recs.changes
    argv = shlex.split(recs.command("cfg.yaml", "runs/next"))
    assert argv[:5] == ["tuneguard", "train", "cfg.yaml", "--run-dir", "runs/next"]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    raw, _ = read_source(source)
    apply_overrides(raw, sets)
    reloaded = redacted_dict(validate_config(raw))
    assert flatten(reloaded) == flatten(recs.proposed)
    assert {k for k, _, _ in recs.diff()} == {c.key for c in recs.changes}
