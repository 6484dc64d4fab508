"""Multi-turn chat rows: every assistant turn supervised with its end-of-turn marker under
data.chat_turns all (the default), only the last answer under last; exact label tensors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tests.helpers.zoo import CHATML, tokenizer
from tuneguard.config.schema import DataConfig
from tuneguard.data.cache import data_key, key_hash, why_different
from tuneguard.data.formats import Example, to_examples
from tuneguard.data.load import Row
from tuneguard.data.pipeline import prepare_data
from tuneguard.data.synthetic import write_jsonl
from tuneguard.data.tokenize import IGNORE_INDEX, TokenizeStats, build_example, tokenize_examples

M = IGNORE_INDEX
SHAREGPT = {"system": "Be brief.", "conversations": [
    {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"},
    {"from": "human", "value": "and you"}, {"from": "gpt", "value": "fine"},
    {"from": "human", "value": "bye"}, {"from": "gpt", "value": "see you"}]}
MESSAGES = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                         {"role": "assistant", "content": "hello"}, {"role": "user", "content": "and you"},
                         {"role": "assistant", "content": [{"type": "text", "text": "fine"}]},
                         {"role": "user", "content": "bye"}, {"role": "assistant", "content": "see you"}]}


def _features(tok, record: dict, max_length: int = 256, **cfg: object):
    ex, problems = to_examples([Row(record, "f.jsonl", 1)], "chat", DataConfig(**cfg), tok)
    assert problems == []
    feats, stats = tokenize_examples(tok, ex, max_length)
    return ex[0], feats[0], stats


def _pieces(tok, pieces: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """(ids, labels) of text pieces (text, supervised) tokenized one by one, EOS appended supervised."""
    ids: list[int] = []
    labels: list[int] = []
    for text, sup in pieces:
        t = tok(text, add_special_tokens=False)["input_ids"]
        ids += t
        labels += t if sup else [M] * len(t)
    return ids + [tok.eos_token_id], labels + [tok.eos_token_id]


CHATML_PIECES = [("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                  False), ("hello<|im_end|>", True),
                 ("\n<|im_start|>user\nand you<|im_end|>\n<|im_start|>assistant\n", False), ("fine<|im_end|>", True),
                 ("\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n", False), ("see you", True)]


@pytest.mark.parametrize("record", [SHAREGPT, MESSAGES], ids=["sharegpt", "messages"])
def test_every_assistant_turn_is_supervised_with_its_end_of_turn_marker(record: dict) -> None:
    tok = tokenizer("chat")  # ChatML, <|im_end|> is the EOS
    ex, feat, stats = _features(tok, record)
    ids, labels = _pieces(tok, CHATML_PIECES)
    assert (feat["input_ids"], feat["labels"]) == (ids, labels)
    assert tok.decode([t for t in feat["labels"] if t != M]) == "hello<|im_end|>fine<|im_end|>see you<|im_end|>"
    # The row is still its history and its last answer for generation and the audit's text checks.
    assert ex.prompt == "".join(t for t, _ in CHATML_PIECES[:-1]) and ex.response == "see you"
    assert (stats.multi_turn_rows, stats.earlier_turns, stats.turns_fallback) == (1, 2, 0)
    assert stats.supervised_tokens == sum(t != M for t in labels)


def test_last_reproduces_the_single_answer_labels() -> None:
    tok = tokenizer("chat")
    ex, feat, stats = _features(tok, SHAREGPT, chat_turns="last")
    prompt = tok("".join(t for t, _ in CHATML_PIECES[:-1]), add_special_tokens=False)["input_ids"]
    answer = tok("see you", add_special_tokens=False)["input_ids"]
    assert ex.segments == () and ex.response == "see you"
    assert feat["input_ids"] == prompt + answer + [tok.eos_token_id]
    assert feat["labels"] == [M] * len(prompt) + answer + [tok.eos_token_id]
    assert (stats.multi_turn_rows, stats.earlier_turns, stats.supervised_tokens) == (0, 0, len(answer) + 1)
    # Same ids either way: only the labels differ.
    assert _features(tok, SHAREGPT)[1]["input_ids"] == feat["input_ids"]


def test_a_single_turn_chat_is_the_same_under_all_and_last() -> None:
    tok = tokenizer("chat")
    one = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "hello"}]}
    ex_all, feat_all, _ = _features(tok, one)
    ex_last, feat_last, _ = _features(tok, one, chat_turns="last")
    assert ex_all == ex_last and ex_all.segments == ()
    assert feat_all == feat_last


def test_an_answer_after_the_system_message_alone_is_supervised() -> None:
    tok = tokenizer("chat")
    row = {"messages": [{"role": "system", "content": "Greet first."}, {"role": "assistant", "content": "Welcome"},
                        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    _, feat, stats = _features(tok, row)
    assert (feat["input_ids"], feat["labels"]) == _pieces(tok, [
        ("<|im_start|>system\nGreet first.<|im_end|>\n<|im_start|>assistant\n", False), ("Welcome<|im_end|>", True),
        ("\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", False), ("hello", True)])
    assert stats.earlier_turns == 1


def test_without_a_template_the_plain_rendering_supervises_each_answer_and_its_newline() -> None:
    tok = tokenizer("plain")
    ex, feat, stats = _features(tok, MESSAGES)
    pieces = [("<|system|>\nBe brief.\n<|user|>\nhi\n<|assistant|>\n", False), ("hello\n", True),
              ("<|user|>\nand you\n<|assistant|>\n", False), ("fine\n", True),
              ("<|user|>\nbye\n<|assistant|>\n", False), ("see you", True)]
    assert ex.segments == tuple(pieces)
    assert (feat["input_ids"], feat["labels"]) == _pieces(tok, pieces)
    assert stats.earlier_turns == 2


def test_a_template_that_writes_a_bos_keeps_one_bos_masked_and_the_turns_in_place() -> None:
    tok = tokenizer("bos")  # <s> before every text; </s> the EOS
    tok.chat_template = "{{ bos_token }}" + CHATML
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    _, feat, _ = _features(tok, SHAREGPT)
    bos = tok.convert_tokens_to_ids("<s>")
    ids, labels = _pieces(tok, [("<s>", False), *CHATML_PIECES[:-1], ("see you<|im_end|>\n", True)])
    assert feat["input_ids"].count(bos) == 1
    assert (feat["input_ids"], feat["labels"]) == (ids, labels)


def test_an_empty_earlier_answer_stays_context() -> None:
    tok = tokenizer("chat")
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "},
                        {"role": "user", "content": "hello?"}, {"role": "assistant", "content": "yes"}]}
    ex, feat, stats = _features(tok, row)
    assert ex.segments == () and stats.earlier_turns == 0
    assert [t for t in feat["labels"] if t != M] == tok("yes", add_special_tokens=False)["input_ids"] + [
        tok.eos_token_id]


def test_truncation_cuts_the_middle_and_a_turn_whose_start_was_cut_is_no_longer_a_target() -> None:
    # Prompt of 60 tokens: user 0-9, answer 10-24, user 25-34, answer 35-49, user 50-59; answer 4 + EOS.
    prompt = list(range(100, 160))
    flags = [False] * 10 + [True] * 15 + [False] * 10 + [True] * 15 + [False] * 10
    response = [1, 2, 3, 4, 0]
    stats = TokenizeStats()
    ex = build_example(prompt, response, 40, False, stats, supervised=flags)
    # As for one answer: 25 prompt tokens cut from the middle (head 17, tail 18 kept), the answer intact.
    assert ex["input_ids"] == prompt[:17] + prompt[42:] + response
    # Turn 1 keeps its first 7 tokens as targets; turn 2 lost its start, so its last 8 are context.
    assert ex["labels"] == [M] * 10 + prompt[10:17] + [M] * 18 + response
    assert (stats.prompt_truncated, stats.response_truncated, stats.tokens_cut, stats.empty_labels) == (1, 0, 25, 0)
    # Without flags the same call gives the single-answer labels.
    assert build_example(prompt, response, 40, False, TokenizeStats())["labels"] == [M] * 35 + response


def test_truncation_through_a_real_row_keeps_the_last_answer_and_never_leaves_a_row_without_targets() -> None:
    tok = tokenizer("chat")
    full_ex, full, _ = _features(tok, SHAREGPT)
    for max_length in range(8, len(full["input_ids"]) + 1, 3):
        _, feat, stats = _features(tok, SHAREGPT, max_length=max_length)
        assert len(feat["input_ids"]) == min(max_length, len(full["input_ids"]))
        assert stats.empty_labels == 0
        # Every label is the token at its place or masked, and a truncated row's targets are a subset of the full row's.
        assert all(lab in (M, t) for t, lab in zip(feat["input_ids"], feat["labels"], strict=True))
        assert sum(lab != M for lab in feat["labels"]) <= sum(lab != M for lab in full["labels"])


# ChatML that drops the reasoning of every answer but the conversation's last, as Qwen3's and
# DeepSeek-R1's templates do: an earlier answer rendered as the last one keeps its reasoning,
# so rendering more of the conversation rewrites what was rendered before.
REASONING_DROPPED = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['role'] == 'assistant' and not "
                     "loop.last %}{{ m['content'].split('</think>')[-1] }}{% else %}{{ m['content'] }}{% endif %}"
                     "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
THINKING = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "<think>greet</think>hello"},
                              {"from": "human", "value": "bye"}, {"from": "gpt", "value": "<think>part</think>see you"}]}


def test_a_template_that_is_not_prefix_consistent_falls_back_to_the_last_answer_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tok = tokenizer("chat")
    tok.chat_template = REASONING_DROPPED
    ex, feat, stats = _features(tok, THINKING)
    assert ex.segments == () and ex.fallback == "the chat template renders message 1 differently once the " \
                                                "conversation goes on"
    assert ex.prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
                              "<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n")
    last = _features(tok, THINKING, chat_turns="last")[1]
    assert feat == last
    assert (stats.turns_fallback, stats.multi_turn_rows, stats.earlier_turns) == (1, 0, 0)
    # Rows whose earlier answers have no reasoning render the same either way and keep every turn.
    assert _features(tok, SHAREGPT)[2].earlier_turns == 2
    # Through the pipeline: one warning line with the count, the first row and why.
    rows = [THINKING] * 3 + [SHAREGPT] * 2
    path = write_jsonl(rows, tmp_path / "chat.jsonl")
    val = write_jsonl([SHAREGPT], tmp_path / "val.jsonl")
    with caplog.at_level(logging.WARNING, logger="tuneguard.data.pipeline"):
        data = prepare_data(DataConfig(train_file=str(path), validation_file=str(val)), tok)
    assert data.train.stats.turns_fallback == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "tuneguard.data.pipeline"]
    assert data.train.stats.multi_turn_rows == 2
    assert lines == [f"train: 3 of 5 multi-turn chat rows supervise only their last answer (first: {path}:1: the "
                        "chat template renders message 1 differently once the conversation goes on); the other "
                        "answers of those rows are masked as prompt"]


def test_a_template_that_refuses_a_partial_conversation_falls_back() -> None:
    tok = tokenizer("chat")
    tok.chat_template = ("{% if messages | length < 4 %}{{ raise_exception('too short') }}{% endif %}" + CHATML)
    ex, _, stats = _features(tok, SHAREGPT)
    assert ex.fallback.startswith("the chat template cannot render the conversation up to message 2 (")
    assert stats.turns_fallback == 1


def test_the_cache_key_changes_with_chat_turns_and_says_so(tmp_path: Path) -> None:
    tok = tokenizer("chat")
    path = write_jsonl([SHAREGPT], tmp_path / "chat.jsonl")
    k_all = data_key(DataConfig(train_file=str(path)), tok)
    k_last = data_key(DataConfig(train_file=str(path), chat_turns="last"), tok)
    assert key_hash(k_all) != key_hash(k_last)
    assert why_different(k_all, k_last) == "data.chat_turns changed"


def test_multi_turn_labels_survive_the_cache(tmp_path: Path) -> None:
    from tuneguard.data.cache import DataCache

    tok = tokenizer("chat")
    ex = to_examples([Row(SHAREGPT, "f", 1), Row(MESSAGES, "f", 2)], "chat", DataConfig(), tok)[0]
    feats, stats = tokenize_examples(tok, ex, 256)
    cache = DataCache(tmp_path, {"k": 1})
    cache.save_features({"train": (feats, stats.to_dict())})
    got = DataCache(tmp_path, {"k": 1}).features("train", 2)
    assert got is not None and got[0] == feats and got[1] == stats.to_dict()
    # Stored as one byte per token (supervised or not), not as a second copy of the ids.
    entry = torch.load(tmp_path / "tokens.pt", weights_only=True)["splits"]["train"]
    assert set(entry) == {"input_ids", "lengths", "stats", "supervised"} and entry["supervised"].dtype == torch.uint8
    # Labels that are not the ids where supervised are kept as they are.
    odd = [{"input_ids": [5, 6, 7], "labels": [-100, 9, 7], "length": 3}]
    DataCache(tmp_path, {"k": 2}).save_features({"train": (odd, {})})
    assert DataCache(tmp_path, {"k": 2}).features("train", 1) == (odd, {})
    assert "labels" in torch.load(tmp_path / "tokens.pt", weights_only=True)["splits"]["train"]


def test_examples_are_unchanged_for_formats_other_than_chat() -> None:
    tok = tokenizer("chat")
    rows = [Row({"instruction": "Add 2 and 3.", "output": "5"}, "f", 1)]
    ex = to_examples(rows, "instruction", DataConfig(), tok)[0]
    assert ex == [Example("### Instruction:\nAdd 2 and 3.\n\n### Response:\n", "5", "f", 1)]


def test_tokens_that_straddle_a_turn_boundary_go_to_the_answer_on_both_sides() -> None:
    """Byte-level BPE merging the last byte of "ส" with the first of "ว" (test_tokenize's Thai
    case) at both ends of an earlier answer "วส", in a template that writes the contents alone:
    the token holding the user's last byte and the answer's first is the answer's (with the rest
    of that character), and so is the one holding the answer's last byte and the next turn's first."""
    from tests.helpers.zoo import byte_bpe

    tok = byte_bpe([("ª", "à"), ("¸", "§")])  # Q 48, : 25, Ġ 220, à 156, ¸ 116, ª+à 256, ¸+§ 257, x 87 ...
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    row = {"messages": [{"role": "user", "content": "Q: ส"}, {"role": "assistant", "content": "วส"},
                        {"role": "user", "content": "วx"}, {"role": "assistant", "content": "ok"}]}
    ex, feat, _ = _features(tok, row)
    assert ex.segments == (("Q: ส", False), ("วส", True), ("วx", False), ("ok", True))
    assert feat["input_ids"] == [48, 25, 220, 156, 116, 256, 257, 156, 116, 256, 257, 87, 78, 74, 258]
    # The answer starts with the whole "ส" before it (its bytes share the straddling token, as for a
    # last answer) and ends with the token that holds its last byte and the next "ว"'s first.
    assert feat["labels"] == [M] * 3 + [156, 116, 256, 257, 156, 116, 256] + [M, M] + [78, 74, 258]


# spm: SentencePiece-style without "<", "|" or capitals in its vocabulary (<unk>): nothing decodes
# back to its text, so every row takes the exact path.
@pytest.mark.parametrize(("shape", "shortcut"), [("chat", [0, 1, 2]), ("bos", [0, 1, 2]), ("plain", [0, 1, 2]),
                                                 ("spm", [])])
def test_the_offsets_shortcut_places_every_boundary_where_tokenizing_each_prefix_does(
        shape: str, shortcut: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    from tuneguard.data import tokenize as tk

    tok = tokenizer(shape)
    if shape in ("spm", "bos"):
        tok.chat_template = "{{ bos_token }}" + CHATML
    rows = [SHAREGPT, MESSAGES, {"conversations": [{"from": "human", "value": "สวัสดี ครับ"},
                                                   {"from": "gpt", "value": "ค่ะ สวัสดี"},
                                                   {"from": "human", "value": "café?"},
                                                   {"from": "gpt", "value": "  oui, é"}]}]
    ex = to_examples([Row(r, "f", i) for i, r in enumerate(rows)], "chat", DataConfig(), tok)[0]
    fast, _ = tokenize_examples(tok, ex, 512)
    pairs = tk.pair_tokens(tok, [e.prompt for e in ex], [e.response for e in ex])
    by_row = {k: [at for kk, at, _ in tk._boundaries(ex) if kk == k] for k in range(len(ex))}
    assert sorted(tk._spelled_cuts(tok, ex, pairs, by_row)) == shortcut
    monkeypatch.setattr(tk, "_spelled_cuts", lambda *a: {})
    slow, _ = tokenize_examples(tok, ex, 512)
    assert fast == slow


def test_the_label_audit_counts_earlier_answers_as_answers_not_as_prompt() -> None:
    """Default: every turn supervised, nothing of the prompt, one EOS per row; with
    data.train_on_prompt, PROMPT_NOT_MASKED counts the system and user tokens it supervises,
    not the earlier answers (which chat_turns all supervises anyway)."""
    from tuneguard.audit import labels as labels_mod
    from tuneguard.config.load import read_source, validate_config
    from tuneguard.data.synthetic import make_instruction_rows

    from tuneguard.model.load import setup_pad_token

    tok = tokenizer("chat")
    setup_pad_token(tok, "auto")
    src = make_instruction_rows(60, seed=5)
    rows = [Row({"messages": [m for r in src[3 * k: 3 * k + 3] for m in (
        {"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["output"]})]}, "f", k)
        for k in range(20)]
    cfg = validate_config(read_source("tiny")[0])
    cfg.data.max_length = 1024
    ex = to_examples(rows, "chat", cfg.data, tok)[0]
    feats, stats = tokenize_examples(tok, ex, 1024)
    assert stats.earlier_turns == 40
    found, audit_stats = labels_mod.check(cfg, ex, feats, tok, stats)
    assert [f.code for f in found] == []
    assert audit_stats["supervised_tokens"] == stats.supervised_tokens
    assert audit_stats["supervised_eos"] == 20 * 3  # <|im_end|> is the EOS: each answer ends with one
    masked = stats.total_tokens - stats.supervised_tokens
    cfg.data.train_on_prompt = True
    feats, stats = tokenize_examples(tok, ex, 1024, train_on_prompt=True)
    found, audit_stats = labels_mod.check(cfg, ex, feats, tok, stats)
    (f,) = [f for f in found if f.code == "PROMPT_NOT_MASKED"]
    assert f.evidence["prompt_supervised_tokens"] == masked
    assert f.evidence["supervised_tokens"] == stats.total_tokens
