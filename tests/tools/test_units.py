"""Fast, model-free parts of the tools: which checkpoint `--checkpoint` names, the prompt
format a run's model expects, the chat history budget, the hub token of a saved config."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tuneguard.config.load import dump_yaml, load_config, redacted_dict
from tuneguard.store.run_store import RunStore
from tuneguard.tools import ToolUsageError
from tuneguard.tools.checkpoints import resolve_checkpoint, usable_hub_token
from tuneguard.tools.generate import ChatSession, PromptFormat, Sampling, prompt_format
from tuneguard.model.load import build_tiny_tokenizer
from tuneguard.checkpoints import MARKER


def _fake_run(tmp_path, overrides, *, steps=(20, 40), adapter=True, best=None):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_yaml(redacted_dict(load_config("tiny", overrides))), "utf-8")
    for s in steps:
        d = run / "checkpoints" / f"checkpoint-{s}"
        d.mkdir(parents=True)
        (d / "adapter_config.json").write_text("{}")
        (d / MARKER).write_text(json.dumps({"step": s}))
    if adapter:
        (run / "adapter").mkdir()
        (run / "adapter" / "adapter_config.json").write_text("{}")
    with RunStore(run, create=True) as store:
        store.set_meta(best_checkpoint=best)
    return run


def test_best_is_the_final_adapter_when_the_run_reloads_the_best_model(tmp_path):
    run = _fake_run(tmp_path, [], best="/elsewhere/run/checkpoints/checkpoint-20")
    assert resolve_checkpoint(run, "best") == run / "adapter"
    assert resolve_checkpoint(run, "last") == run / "checkpoints" / "checkpoint-40"
    assert resolve_checkpoint(run, "20") == run / "checkpoints" / "checkpoint-20"


def test_best_comes_from_the_store_when_the_final_adapter_is_not_the_best(tmp_path):
    # The store recorded the path before the run directory moved: found by its name.
    run = _fake_run(tmp_path, ["eval.load_best_model_at_end=false"], best="/elsewhere/run/checkpoints/checkpoint-20")
    assert resolve_checkpoint(run, "best") == run / "checkpoints" / "checkpoint-20"


def test_best_falls_back_to_the_newest_checkpoint_without_an_adapter(tmp_path):
    run = _fake_run(tmp_path, [], adapter=False)
    assert resolve_checkpoint(run, "best") == run / "checkpoints" / "checkpoint-40"


def test_bad_checkpoints_are_usage_errors(tmp_path):
    run = _fake_run(tmp_path, [])
    with pytest.raises(ToolUsageError, match=r"no checkpoint at step 30 .*available steps: 20, 40"):
        resolve_checkpoint(run, "30")
    with pytest.raises(ToolUsageError, match="best, last or a step number"):
        resolve_checkpoint(run, "-1")
    with pytest.raises(ToolUsageError, match="does not exist"):
        resolve_checkpoint(tmp_path / "missing", "best")
    (tmp_path / "e").mkdir()
    empty = _fake_run(tmp_path / "e", [], steps=(), adapter=False)
    with pytest.raises(ToolUsageError, match="no complete checkpoint"):
        resolve_checkpoint(empty, "last")
    with pytest.raises(ToolUsageError, match="no adapter and no checkpoint"):
        resolve_checkpoint(empty, "best")


def test_the_saved_configs_redacted_token_comes_from_hf_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    monkeypatch.setenv("MY_TOKEN", "hf_mine")
    cfg = load_config("tiny")
    assert usable_hub_token(cfg.model_copy(update={"model": cfg.model.model_copy(update={"hub_token": "***"})})
                            ).model.hub_token == "hf_from_env"
    assert usable_hub_token(cfg.model_copy(update={"model": cfg.model.model_copy(update={"hub_token": "${MY_TOKEN}"})})
                            ).model.hub_token == "hf_mine"
    assert usable_hub_token(cfg).model.hub_token is None


CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def test_prompt_format_follows_the_training_data():
    cfg = load_config("tiny")
    tok = build_tiny_tokenizer()
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "sum 2 3"}]
    fmt = prompt_format(tok, cfg, "instruction")
    assert fmt.mode == "prompt_template" and not fmt.multi_turn
    assert fmt.render(msgs) == "### Instruction:\nsum 2 3\n\n### Response:\n"  # the last turn only
    assert prompt_format(tok, cfg, "text").render(msgs) == "sum 2 3"
    assert prompt_format(tok, cfg, "completion").render(msgs) == "sum 2 3"  # prompt/completion: as written
    assert prompt_format(tok, cfg, "instruction", raw=True).mode == "raw"
    plain = prompt_format(tok, cfg, "chat")
    assert plain.mode == "chat_plain"
    assert plain.render(msgs) == "<|user|>\nhi\n<|assistant|>\nhello\n<|user|>\nsum 2 3\n<|assistant|>\n"
    tok.chat_template = CHAT_TEMPLATE
    assert prompt_format(tok, cfg, "chat").render(msgs[-1:]) == "<|user|>sum 2 3\n<|assistant|>"
    assert prompt_format(tok, cfg, None).mode == "chat_template"  # unknown format: the template if any
    assert prompt_format(tok, cfg, "instruction").mode == "prompt_template"  # what the model was trained on


def test_chat_history_drops_the_oldest_turns_to_leave_room_for_the_reply():
    tok = build_tiny_tokenizer()
    fmt = PromptFormat("chat_plain", tok)
    model = SimpleNamespace(config=SimpleNamespace(n_positions=60))
    session = ChatSession(model, tok, fmt, Sampling(max_new_tokens=20))
    session.history = [{"role": "user", "content": "the river and the city " * 3},
                       {"role": "assistant", "content": "music and water " * 3}] * 3
    messages = session.history + [{"role": "user", "content": "hello"}]
    text = session._fit(messages)
    assert len(tok(text)["input_ids"]) <= 60 - 20
    assert text.endswith("<|user|>\nhello\n<|assistant|>\n")
    assert text.startswith("<|user|>")  # whole exchanges were dropped


def test_export_never_deletes_what_is_not_a_previous_export(tmp_path):
    from tuneguard.tools.export import check_out_dir

    run = _fake_run(tmp_path, [])
    with pytest.raises(ToolUsageError, match="overlaps the run's own folders"):
        check_out_dir(run / "adapter", run, overwrite=True)
    with pytest.raises(ToolUsageError, match="overlaps the run's own folders"):
        check_out_dir(tmp_path, run, overwrite=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    with pytest.raises(ToolUsageError, match="not empty"):
        check_out_dir(other, run, overwrite=False)
    with pytest.raises(ToolUsageError, match="not a tuneguard export"):
        check_out_dir(other, run, overwrite=True)
    assert (other / "todo.txt").exists()
    previous = tmp_path / "export"
    previous.mkdir()
    for name in ("README.md", "config.json", "model.safetensors"):
        (previous / name).write_text("x")
    check_out_dir(previous, run, overwrite=True)
    assert not previous.exists()


def test_chat_history_budget_counts_the_bos_generation_feeds():
    """A history exactly at the budget without the BOS was kept, and stream() then fed one
    token more than max_new_tokens leaves room for (encode_prompt adds the BOS)."""
    from tests.helpers.zoo import tokenizer
    from tuneguard.data.tokenize import encode_prompt

    tok = tokenizer("bos")
    fmt = PromptFormat("chat_plain", tok)
    messages = [{"role": "user", "content": "the river"}, {"role": "assistant", "content": "music"},
                {"role": "user", "content": "hello"}]
    bare = len(tok(fmt.render(messages), add_special_tokens=False)["input_ids"])
    session = ChatSession(SimpleNamespace(config=SimpleNamespace(n_positions=bare + 20)), tok, fmt,
                          Sampling(max_new_tokens=20))
    text = session._fit(messages)
    assert len(encode_prompt(tok, text)) <= bare
    assert text == fmt.render(messages[-1:])
