"""Token-level checks on the real collated batches: each fault planted the way it happens."""

from __future__ import annotations

import copy
import json
import random

import torch

from tests.audit.audit_corpus import clean_rows, docstrings
from tests.audit.audit_helpers import get, serious
from tuneguard.audit import labels as labels_mod
from tuneguard.data.collate import build_collator
from tuneguard.data.tokenize import IGNORE_INDEX

VAL = {"seed": 1, "offset": 500}


def test_pad_eos_with_language_modeling_collator(audit_rows, tiny_tokenizer_base):
    """The hand-rolled pipeline: tokenizer.pad_token = tokenizer.eos_token, then
    transformers' DataCollatorForLanguageModeling on the input ids."""
    from transformers import DataCollatorForLanguageModeling

    seen = {}

    def edit(data, tok):
        seen["tok"] = tok

    result, _ = audit_rows(clean_rows(500), validation=clean_rows(100, **VAL),
                           data={"pad_token": "eos", "collator": "language_modeling"}, edit=edit)
    tok = seen["tok"]
    assert tok.pad_token == tok.eos_token and tok.pad_token_id == tok.eos_token_id
    assert isinstance(build_collator("language_modeling", tok, 8).inner, DataCollatorForLanguageModeling)

    assert serious(result) == {"PAD_IS_EOS": "error", "PROMPT_NOT_MASKED": "error", "EOS_MISSING": "error"}
    pad = get(result, "PAD_IS_EOS")
    assert pad.evidence["count"] == 500
    assert pad.evidence["eos_labels_in_features"] == 500
    assert pad.evidence["eos_labels_masked_by_collator"] == 500
    assert pad.evidence["supervised_eos_in_batches"] == 0
    assert "data.pad_token: auto" in pad.recommendation
    prompt = get(result, "PROMPT_NOT_MASKED")
    assert prompt.evidence["rows_where_collator_overwrote_mask"] == 500
    assert "data.collator: tuneguard" in prompt.recommendation
    assert get(result, "EOS_MISSING").evidence["count"] == 500


def test_pad_eos_with_tuneguard_collator_is_only_a_warning(audit_rows):
    result, _ = audit_rows(clean_rows(300), validation=clean_rows(100, **VAL), data={"pad_token": "eos"})
    assert serious(result) == {"PAD_IS_EOS": "warning"}
    assert result.stats["labels"]["supervised_eos"] == 300


def test_language_modeling_collator_overwrites_the_prompt_mask(audit_rows):
    result, data = audit_rows(clean_rows(300), validation=clean_rows(100, **VAL), data={"collator": "language_modeling"})
    assert serious(result) == {"PROMPT_NOT_MASKED": "error"}
    f = get(result, "PROMPT_NOT_MASKED")
    assert f.evidence["count"] == 300
    masked = sum(sum(1 for x in feat["labels"] if x == IGNORE_INDEX) for feat in data.train.features)
    assert f.evidence["tokens_unmasked_by_collator"] == masked


def test_train_on_prompt_with_long_prompts_warns(audit_rows):
    docs = [d for _, _, d in docstrings()]
    rows = clean_rows(200)
    for i, r in enumerate(rows):  # long context documents in the prompt, a short answer
        r["input"] = docs[200 + 2 * i] + " " + docs[201 + 2 * i]
    result, _ = audit_rows(rows, validation=clean_rows(100, seed=1, offset=600), data={"train_on_prompt": True, "max_length": 2048})
    assert serious(result) == {"PROMPT_NOT_MASKED": "warning"}
    f = get(result, "PROMPT_NOT_MASKED")
    assert f.evidence["count"] == 200
    assert f.evidence["prompt_share_of_supervised"] > 0.5
    assert f.evidence["rows_where_collator_overwrote_mask"] == 0


def test_train_on_prompt_with_short_prompts_is_info(audit_rows):
    result, _ = audit_rows(clean_rows(300), validation=clean_rows(100, **VAL), data={"train_on_prompt": True})
    assert serious(result) == {}
    assert get(result, "PROMPT_NOT_MASKED").severity == "info"


class PadLabelCollator:
    """A common bug: labels padded with the pad id instead of -100 (padding is supervised)."""

    def __init__(self, pad_id: int, multiple: int):
        self.pad_id, self.multiple = pad_id, multiple

    def __call__(self, features):
        width = -(-max(len(f["input_ids"]) for f in features) // self.multiple) * self.multiple
        ids = torch.full((len(features), width), self.pad_id)
        labels = torch.full((len(features), width), self.pad_id)
        att = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            ids[i, :k] = torch.tensor(f["input_ids"])
            labels[i, :k] = torch.tensor(f["labels"])
            att[i, :k] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": att}


def test_padding_in_labels(audit_rows, monkeypatch):
    monkeypatch.setattr(labels_mod, "build_collator",
                        lambda kind, tok, multiple, max_length=None: PadLabelCollator(tok.pad_token_id, multiple))
    result, data = audit_rows(clean_rows(300), validation=clean_rows(100, **VAL))
    assert serious(result) == {"PAD_IN_LABELS": "error"}
    f = get(result, "PAD_IN_LABELS")
    lens = [len(x["input_ids"]) for x in data.train.features]
    expected = 0
    all_positions = 0
    for s in range(0, len(lens), 8):  # tiny preset: train.batch_size 8, pad to a multiple of 8
        width = -(-max(lens[s:s + 8]) // 8) * 8
        expected += sum(width - k for k in lens[s:s + 8])
        all_positions += width * len(lens[s:s + 8])
    assert f.evidence["positions"] == expected
    assert f.evidence["share_of_positions"] == round(expected / all_positions, 6)
    assert f.evidence["count"] == sum(1 for s in range(0, len(lens), 8) for k in lens[s:s + 8]
                                      if k < -(-max(lens[s:s + 8]) // 8) * 8)


def _drop_eos(rows):
    def edit(data, tok):
        for i in rows:
            f = data.train.features[i]
            assert f["input_ids"][-1] == tok.eos_token_id
            f["input_ids"], f["labels"] = f["input_ids"][:-1], f["labels"][:-1]
            f["length"] -= 1
    return edit


def test_eos_missing_in_some_rows(audit_rows):
    planted = random.Random(1).sample(range(450), 45)
    result, _ = audit_rows(clean_rows(500), validation=clean_rows(100, **VAL), edit=_drop_eos(planted))
    assert serious(result) == {"EOS_MISSING": "warning"}
    f = get(result, "EOS_MISSING")
    assert f.evidence["count"] == 45
    assert f.evidence["share"] == round(45 / 500, 6)


def test_no_eos_at_all_is_an_error(audit_rows):
    result, _ = audit_rows(clean_rows(200), validation=clean_rows(100, **VAL), edit=_drop_eos(range(200)))
    assert serious(result) == {"EOS_MISSING": "error"}
    assert get(result, "EOS_MISSING").evidence["supervised_eos_in_batches"] == 0


def test_empty_labels(audit_rows):
    planted = [3, 50, 51, 200, 333, 400, 499]

    def edit(data, tok):
        for i in planted:
            f = data.train.features[i]
            f["labels"] = [IGNORE_INDEX] * len(f["labels"])

    result, _ = audit_rows(clean_rows(500), validation=clean_rows(100, **VAL), edit=edit)
    assert serious(result) == {"EMPTY_LABELS": "error"}
    f = get(result, "EMPTY_LABELS")
    assert f.evidence["count"] == 7
    assert f.evidence["examples"][0].endswith("train.jsonl:4")


def test_answers_truncated_by_max_length(audit_rows):
    docs = [d for _, _, d in docstrings()]
    rows = clean_rows(500)
    planted = random.Random(2).sample(range(500), 20)
    for n, i in enumerate(planted):  # 12 docstrings (300-1,400 words): well over 1024 tiny tokens
        rows[i]["output"] = " ".join(docs[600 + 12 * n: 612 + 12 * n])
    result, _ = audit_rows(rows, validation=clean_rows(50, seed=1, offset=500))
    assert serious(result) == {"ANSWER_TRUNCATED": "warning"}
    f = get(result, "ANSWER_TRUNCATED")
    assert f.evidence["count"] == 20
    assert f.evidence["response_truncated"] == 20
    assert f.evidence["needed_length_max"] > 1024
    assert "data.max_length" in f.recommendation


def _long_answers(audit_rows, tokenizer, **model):
    """200 rows, 10 of them with answers of 4 docstrings (681 tiny tokens for 95% of the cut rows),
    at data.max_length 256 of the tiny preset (which sets no model.context_length)."""
    docs = [d for _, _, d in docstrings()]
    rows = clean_rows(200)
    for n, i in enumerate(random.Random(2).sample(range(200), 10)):
        rows[i]["output"] = " ".join(docs[600 + 4 * n: 604 + 4 * n])

    def edit_model(cfg):
        cfg.model = cfg.model.model_copy(update=model)
    result, _ = audit_rows(rows, data={"max_length": 256}, tokenizer=tokenizer, edit_cfg=edit_model)
    return get(result, "ANSWER_TRUNCATED")


def test_answers_longer_than_the_context_are_told_to_shorten_not_to_raise_max_length(audit_rows, tiny_tokenizer_base):
    """The tiny preset sets no model.context_length and its tokenizer says 2,048, but the tiny model
    it builds has 512 positions: a data.max_length of 704 cannot be set, so the advice is to
    shorten, use a model with a longer context, or drop those rows; it never proposes one above 512."""
    f = _long_answers(audit_rows, tiny_tokenizer_base)
    assert (f.evidence["context_length"], f.evidence["needed_length_p95"]) == (512, 681)
    assert "suggested_max_length" not in f.evidence
    assert f.recommendation == ("These rows need about 681 tokens (95% of them), more than the model's context of 512, "
                                "so no data.max_length holds them: shorten the longest answers, use a model with a "
                                "longer context, or drop them (tuneguard fix --truncation drop).")
    assert f.recommendation_in("th") == (
        "แถวเหล่านี้ต้องใช้ประมาณ 681 token (95% ของแถว) มากกว่า context ของโมเดล (512) จึงไม่มีค่า data.max_length "
        "ใดรองรับได้ ให้ย่อคำตอบที่ยาวที่สุด ใช้โมเดลที่มี context ยาวกว่า หรือลบแถวเหล่านี้ (tuneguard fix --truncation drop)")


def test_the_length_to_raise_to_names_the_context_when_known_and_stays_generic_when_not(audit_rows, tmp_path,
                                                                                        tiny_tokenizer_base):
    longer = _long_answers(audit_rows, tiny_tokenizer_base, context_length=2048)
    assert (longer.evidence["context_length"], longer.evidence["suggested_max_length"]) == (2048, 704)
    assert longer.recommendation == ("Raise data.max_length to about 704 (covers 95% of the truncated rows, within the "
                                     "model's context of 2,048) or shorten the longest answers.")
    # A model whose config cannot be read and a tokenizer with transformers' placeholder: context unknown.
    tok = copy.deepcopy(tiny_tokenizer_base)
    tok.model_max_length = int(1e30)
    (tmp_path / "no-config").mkdir()
    unknown = _long_answers(audit_rows, tok, name=str(tmp_path / "no-config"))
    assert "context_length" not in unknown.evidence and unknown.evidence["suggested_max_length"] == 704
    assert unknown.recommendation == ("Raise data.max_length to about 704 (covers 95% of the truncated rows; stay "
                                      "within the model's context) or shorten the longest answers.")


def test_long_texts_all_cut_are_truncation_not_a_missing_eos(audit_rows):
    """Plain-text documents longer than max_length: every row loses its EOS to the cut. That is
    ANSWER_TRUNCATED (raise max_length or split the texts), not an EOS_MISSING error telling the
    user to append EOS, which tuneguard already does (it refused `train` on long documents)."""
    docs = [d for _, _, d in docstrings()]
    rows = [{"text": " ".join(docs[8 * i: 8 * i + 8])} for i in range(60)]
    val = [{"text": " ".join(docs[600 + 8 * i: 608 + 8 * i])} for i in range(10)]
    result, _ = audit_rows(rows, validation=val, data={"max_length": 128})
    assert serious(result) == {"ANSWER_TRUNCATED": "warning"}
    f = get(result, "ANSWER_TRUNCATED")
    assert f.evidence["count"] == 60
    assert f.message == ("60 of 60 training texts (100.0%) are longer than data.max_length (128) and lose their end "
                         "and its EOS (every row: none keeps its EOS, so the model never learns to stop); the model "
                         "never trains on the rest.")
    # 8 docstrings need more than the tiny model's 512 positions: splitting, not a larger max_length.
    assert f.recommendation == ("These rows need about 2,223 tokens (95% of them), more than the model's context of "
                                "512, so no data.max_length holds them: split long texts into pieces of at most 128 "
                                "tokens, use a model with a longer context, or drop them (tuneguard fix --truncation "
                                "drop).")


def test_tokenizer_mismatch_from_a_trailing_space(audit_rows):
    rows = clean_rows(500)
    planted = random.Random(4).sample(range(500), 40)
    for i in planted:  # rows with an input use the template that ends in a space
        rows[i]["input"] = "Answer in plain words."
        rows[i]["output"] = "the " + rows[i]["output"]
    template = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response: "
    result, _ = audit_rows(rows, validation=clean_rows(100, **VAL), data={"prompt_template_with_input": template})
    assert serious(result) == {"TOKENIZER_MISMATCH": "warning"}
    f = get(result, "TOKENIZER_MISMATCH")
    assert f.evidence["count"] == 40
    assert f.evidence["rows_checked"] == 500
    assert f.evidence["examples"][0]["prompt_tokens"][-1] == "Ġ"


def test_sampling_limits_and_json(audit_rows):
    result, _ = audit_rows(clean_rows(500), validation=clean_rows(100, **VAL),
                           audit={"max_rows": 200, "label_check_rows": 50})
    assert result.stats["rows"]["audited_train"] == 200
    assert result.stats["rows"]["sampled"] is True
    assert result.stats["labels"]["sampled_rows"] == 50
    assert result.stats["duplicates_exact"]["rows"] == 200
    out = json.loads(json.dumps(result.to_json()))
    assert set(out) == {"findings", "stats"}


def test_train_on_prompt_counts_the_prompt_tokens_training_keeps_after_truncation(audit_rows):
    """Prompts longer than data.max_length lose their middle in training; the audit counted
    the whole prompt (capped at the row), so every answer token passed for a prompt token."""
    from tuneguard.data.tokenize import tokenize_examples

    docs = [d for _, _, d in docstrings()]
    rows = clean_rows(40)
    for i, r in enumerate(rows):
        r["input"] = docs[200 + 2 * i] + " " + docs[201 + 2 * i]
    seen = {}
    result, data = audit_rows(rows, validation=clean_rows(20, seed=1, offset=600),
                              data={"train_on_prompt": True, "max_length": 64}, edit=lambda d, tok: seen.update(tok=tok))
    masked, _ = tokenize_examples(seen["tok"], data.train.examples, 64, False)
    prompt_tokens = sum(sum(1 for x in f["labels"] if x == IGNORE_INDEX) for f in masked)
    assert all(len(f["input_ids"]) == 64 for f in masked) and prompt_tokens < 40 * 64
    f = get(result, "PROMPT_NOT_MASKED")
    assert f.evidence["prompt_supervised_tokens"] == prompt_tokens
    assert f.evidence["supervised_tokens"] == 40 * 64


def test_the_length_a_truncated_row_needs_is_the_length_training_gives_it(audit_rows):
    """needed_length (what ANSWER_TRUNCATED suggests for data.max_length) counted the answer
    tokenized alone; training tokenizes it after the prompt, where a SentencePiece tokenizer
    splits its first word differently ("\\u2581The" alone, "T" "he" after a newline)."""
    from tests.helpers.zoo import tokenizer
    from tuneguard.data.tokenize import tokenize_examples

    rows = clean_rows(60)
    for i in range(10):
        rows[i]["output"] = "The answer: " + " ".join(r["output"] for r in clean_rows(12, seed=i, offset=100))
    seen = {}
    result, data = audit_rows(rows, data={"max_length": 160}, tokenizer=tokenizer("spm"),
                              edit=lambda d, tok: seen.update(tok=tok))
    whole, _ = tokenize_examples(seen["tok"], data.train.examples, 10**6)
    cut = [i for i, f in enumerate(data.train.features) if labels_mod.is_truncated(f, seen["tok"].eos_token_id, 160)]
    f = get(result, "ANSWER_TRUNCATED")
    assert f.evidence["count"] == len(cut) and set(range(10)) <= set(cut)
    assert f.evidence["needed_length_max"] == max(len(whole[i]["input_ids"]) for i in cut)
