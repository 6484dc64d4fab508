"""A tiny run on 3-turn chat rows: the loss is taken over every assistant turn (data.chat_turns
all, the default), which the run records as the supervised tokens it trained on."""

from __future__ import annotations

import pytest
from rich.console import Console

from tuneguard.config.load import load_config
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.store.run_store import RunStore
from tuneguard.train.build import load_tokenizer_and_data
from tuneguard.train.run import run_training

pytestmark = pytest.mark.slow


def _chats(n: int) -> list[dict]:
    """n conversations of three question/answer turns, from the varied instruction rows."""
    rows = make_instruction_rows(3 * n, seed=3)
    chats = []
    for k in range(n):
        msgs = [{"role": "system", "content": "Answer briefly."}]
        for r in rows[3 * k: 3 * k + 3]:
            msgs += [{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]}]
        chats.append({"messages": msgs})
    return chats


def test_a_run_on_multi_turn_chats_trains_on_every_assistant_turn(tmp_path):
    data = write_jsonl(_chats(40), tmp_path / "chat.jsonl")
    sets = [f"data.train_file={data}", "data.max_length=512", "train.max_steps=-1", "train.num_epochs=1",
            "eval.strategy=epoch", "eval.load_best_model_at_end=false", "train.logging_steps=1"]
    cfg = load_config("tiny", sets)
    run = tmp_path / "run"
    outcome = run_training(cfg, run, force=True, console=Console(quiet=True))
    assert outcome.exit_code == 0, outcome
    with RunStore(run) as store:
        assert store.state() == "finished"
        stats = store.get_meta("tokenize_stats")["train"]
        (ev,) = store.metrics("eval")
    assert (stats["multi_turn_rows"], stats["earlier_turns"], stats["turns_fallback"], stats["tokens_cut"]) == (
        36, 72, 0, 0)
    # Every supervised token of every turn reached the loss in the one epoch: the tokens the
    # training batches supervised (counted from the collated labels) are the split's.
    assert ev["train_tokens_since_eval"] == stats["supervised_tokens"]
    # The same rows under chat_turns last supervise less than half as many tokens.
    _, last = load_tokenizer_and_data(load_config("tiny", [*sets, "data.chat_turns=last"]))
    assert last.train.stats.multi_turn_rows == 0 and len(last.train.examples) == 36
    assert 2 * last.train.stats.supervised_tokens < stats["supervised_tokens"]


def test_plan_shows_the_supervised_tokens_of_every_turn(tmp_path):
    import json
    import re

    from tests.helpers.tools import invoke

    data = write_jsonl(_chats(40), tmp_path / "chat.jsonl")
    base = ["--set", f"data.train_file={data}", "--set", "data.max_length=512"]
    r = invoke("plan", "tiny", *base)
    assert r.exit_code == 0, r.stderr
    assert "chat: 36 multi-turn rows supervise every assistant turn (72 answers before the last)" in r.stdout
    r_last = invoke("plan", "tiny", *base, "--set", "data.chat_turns=last")
    assert r_last.exit_code == 0 and "chat:" not in r_last.stdout

    def supervised(out: str) -> int:
        return int(re.search(r"\(([\d,]+) supervised\)", out).group(1).replace(",", ""))

    assert supervised(r.stdout) > 2 * supervised(r_last.stdout)
    r = invoke("plan", "tiny", *base, "--json")
    assert json.loads(r.stdout)["data"]["chat_turns"] == {"multi_turn_rows": 36, "earlier_turns": 72,
                                                          "turns_fallback": 0}
