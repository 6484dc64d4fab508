"""One real tiny run per diagnosis: each gets the diagnosis it was built for, and no
recommended change points against it (tuneguard.report.recommend.agrees)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tuneguard.config.diff import flatten
from tuneguard.config.load import read_source, validate_config
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.report.recommend import agrees, recommend_for_run
from tuneguard.report.rundata import load_run
from tuneguard.train.run import run_training

pytestmark = pytest.mark.slow


def train(tmp_path: Path, name: str, rows: list[dict[str, Any]], validation: list[dict[str, Any]] | None = None,
          **sections: dict[str, Any]) -> tuple[int, Any]:
    """A tiny in-process run (forced past the audit: the planted faults are the point)."""
    data = write_jsonl(rows, tmp_path / f"{name}.jsonl")
    raw, _ = read_source("tiny")
    raw["data"]["train_file"] = str(data)
    if validation is not None:
        raw["data"]["validation_file"] = str(write_jsonl(validation, tmp_path / f"{name}-val.jsonl"))
    for sec, vals in sections.items():
        raw.setdefault(sec, {}).update(vals)
    run = tmp_path / name
    code = run_training(validate_config(raw), run, force=True, console=Console(file=open("/dev/null", "w"))).exit_code
    recs = recommend_for_run(load_run(run))
    flat = flatten(recs.current)
    for c in recs.changes:
        assert agrees(recs.diagnosis.kind, c.key, flat.get(c.key), c.value), c
    assert json.loads(json.dumps(recs.to_dict()))  # plain data for `tuneguard next`
    validate_config(recs.proposed)  # the next run's config is valid as it stands
    return code, recs


def test_planted_collapse_is_a_data_fault_told_to_fix_the_data(tmp_path: Path) -> None:
    rows = [{"instruction": "Say hello.", "output": "Hello there, friend."}] * 800
    code, recs = train(tmp_path, "collapse", rows, train={"max_steps": -1, "num_epochs": 1, "logging_steps": 2})
    assert code == 1
    d = recs.diagnosis
    assert d.kind == "data_fault" and "DUPLICATE_EXACT" in d.codes and "LOSS_COLLAPSE" in d.codes
    assert not [c for c in recs.changes if c.key.startswith(("train.", "lora."))]
    assert recs.actions[0].text.startswith("Fix the data")


def test_planted_spike_is_instability_told_to_lower_the_learning_rate(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = make_instruction_rows(300, seed=1)
    # A few rows of random characters: length-bucketed batching puts them in batches of their own,
    # whose loss jumps far above the running median once the model has learned the rest.
    alphabet = "qxzjkvbwy0123456789#%&*+=~^"
    rows += [{"instruction": "Repeat the code.", "output": "".join(rng.choice(alphabet) for _ in range(300))}
             for _ in range(24)]
    code, recs = train(tmp_path, "spike", rows, train={"max_steps": 60, "logging_steps": 1},
                       policy={"enabled": False}, data={"max_length": 128})
    assert code == 0
    d = recs.diagnosis
    assert d.kind == "unstable" and "LOSS_SPIKE" in d.codes
    got = {c.key: c.value for c in recs.changes}
    assert got["train.learning_rate"] == 0.005  # halved, never raised


def test_many_epochs_on_a_small_set_is_overfitting_without_a_learning_rate_increase(tmp_path: Path) -> None:
    rows = make_instruction_rows(64, seed=2)
    code, recs = train(tmp_path, "overfit", rows[:40], rows[40:],
                       train={"max_steps": 120, "logging_steps": 5, "save_steps": 1010},
                       eval={"steps": 20, "load_best_model_at_end": False}, policy={"enabled": False})
    assert code == 0
    d = recs.diagnosis
    assert d.kind == "overfitting", d.to_dict()
    got = {c.key: c.value for c in recs.changes}
    assert "train.learning_rate" not in got
    assert got["train.max_steps"] < 120 and got["eval.early_stopping_patience"] == 3
    assert got["eval.load_best_model_at_end"] is True and got["train.save_steps"] == 20


def test_a_tiny_learning_rate_is_underfitting_told_to_raise_it(tmp_path: Path) -> None:
    code, recs = train(tmp_path, "underfit", make_instruction_rows(200, seed=4),
                       train={"max_steps": 30, "learning_rate": 1e-7, "logging_steps": 5, "save_steps": 10},
                       eval={"steps": 10})
    assert code == 0
    d = recs.diagnosis
    assert d.kind == "underfitting", d.to_dict()
    assert {c.key: c.value for c in recs.changes}["train.learning_rate"] == 1e-4


def test_a_healthy_run_is_healthy_and_trained_longer_while_still_improving(tmp_path: Path) -> None:
    """The tiny preset's 60 steps end with the eval loss still falling clearly (2.833 -> 2.633 at
    the last evaluation): healthy, not a fault, and the only hyperparameter change is a run twice
    as long."""
    code, recs = train(tmp_path, "healthy", make_instruction_rows(400, seed=0))
    assert code == 0
    assert recs.diagnosis.kind == "healthy" and recs.diagnosis.still_improving(), recs.diagnosis.to_dict()
    assert [(c.key, c.value) for c in recs.changes if c.key.startswith(("train.", "lora."))] == [
        ("train.max_steps", 120)]
