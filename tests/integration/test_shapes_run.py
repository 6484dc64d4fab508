"""A tiny run on a hub-style export: a folder of Parquet shards (train and test split files)
of OpenAI fine-tuning rows whose first answer has weight 0. The loss sees exactly the
weight-1 answers, which is what data.chat_turns last trains on the same rows."""

from __future__ import annotations

import pytest
from rich.console import Console

from tuneguard.config.load import load_config
from tuneguard.data.synthetic import make_instruction_rows
from tuneguard.store.run_store import RunStore
from tuneguard.train.build import load_tokenizer_and_data
from tuneguard.train.run import run_training

pytestmark = pytest.mark.slow


def _rows(n: int, seed: int) -> list[dict]:
    rows = make_instruction_rows(2 * n, seed=seed)
    out = []
    for k in range(n):
        a, b = rows[2 * k], rows[2 * k + 1]
        out.append({"messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": a["instruction"]}, {"role": "assistant", "content": a["output"], "weight": 0},
            {"role": "user", "content": b["instruction"]}, {"role": "assistant", "content": b["output"], "weight": 1}]})
    return out


def test_a_run_on_a_hub_export_trains_only_the_weight_1_answers(tmp_path):
    import datasets

    data = tmp_path / "export" / "data"
    data.mkdir(parents=True)
    train = _rows(32, seed=5)
    datasets.Dataset.from_list(train[:16]).to_parquet(str(data / "train-00000-of-00002.parquet"))
    datasets.Dataset.from_list(train[16:]).to_parquet(str(data / "train-00001-of-00002.parquet"))
    datasets.Dataset.from_list(_rows(8, seed=6)).to_parquet(str(data / "test-00000-of-00001.parquet"))
    sets = [f"data.train_file={tmp_path / 'export'}", f"data.validation_file={data}/test-*.parquet",
            "data.max_length=512", "train.max_steps=-1", "train.num_epochs=1", "eval.strategy=epoch",
            "eval.load_best_model_at_end=false", "train.logging_steps=1"]
    run = tmp_path / "run"
    outcome = run_training(load_config("tiny", sets), run, force=True, console=Console(quiet=True))
    assert outcome.exit_code == 0, outcome
    with RunStore(run) as store:
        stats = store.get_meta("tokenize_stats")["train"]
        (ev,) = store.metrics("eval")
    _, last = load_tokenizer_and_data(load_config("tiny", [*sets, "data.chat_turns=last"]))
    assert len(last.train.examples) == 32 and len(last.validation.examples) == 8
    assert (stats["multi_turn_rows"], stats["earlier_turns"]) == (0, 0)
    assert stats["supervised_tokens"] == last.train.stats.supervised_tokens
    assert ev["train_tokens_since_eval"] == stats["supervised_tokens"]
