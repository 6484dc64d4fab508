import torch

from tuneguard.config.load import read_source, validate_config
from tuneguard.data.collate import build_collator
from tuneguard.data.formats import Example
from tuneguard.data.tokenize import IGNORE_INDEX, TokenizeStats, build_example, tokenize_examples
from tuneguard.model.load import PAD_TOKEN, build_tiny_tokenizer, setup_pad_token


def _tok():
    tok = build_tiny_tokenizer()
    assert tok.pad_token is None  # the tiny tokenizer ships without a pad token
    assert setup_pad_token(tok, "auto") is True
    return tok


def test_pad_added_and_distinct_from_eos():
    tok = _tok()
    assert tok.pad_token == PAD_TOKEN
    assert tok.pad_token_id != tok.eos_token_id


def test_pad_equal_eos_replaced_in_auto_mode():
    tok = build_tiny_tokenizer()
    tok.pad_token = tok.eos_token
    setup_pad_token(tok, "auto")
    assert tok.pad_token_id != tok.eos_token_id
    tok2 = build_tiny_tokenizer()
    setup_pad_token(tok2, "eos")
    assert tok2.pad_token_id == tok2.eos_token_id


def test_exact_labels_for_instruction_example():
    tok = _tok()
    prompt = "### Instruction:\nAdd 2 and 3.\n\n### Response:\n"
    response = "The sum is 5."
    feats, stats = tokenize_examples(tok, [Example(prompt, response, "f", 1)], max_length=128)
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    r = tok(response, add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    assert feats[0]["input_ids"] == p + r + [eos]
    assert feats[0]["labels"] == [IGNORE_INDEX] * len(p) + r + [eos]
    assert stats.supervised_tokens == len(r) + 1 and stats.empty_labels == 0

    # Collated with a longer example: padding is the pad token and never supervised.
    long = Example(prompt, response + " And some more words to make it longer.", "f", 2)
    feats2, _ = tokenize_examples(tok, [long], max_length=128)
    batch = build_collator("tuneguard", tok, 8)([feats[0], feats2[0]])
    n = len(feats[0]["input_ids"])
    width = batch["input_ids"].shape[1]
    assert width % 8 == 0 and width >= len(feats2[0]["input_ids"])
    assert batch["labels"][0].tolist() == feats[0]["labels"] + [IGNORE_INDEX] * (width - n)
    assert batch["input_ids"][0, n:].tolist() == [tok.pad_token_id] * (width - n)
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (width - n)
    pad_positions = batch["attention_mask"] == 0
    assert torch.all(batch["labels"][pad_positions] == IGNORE_INDEX)
    # The EOS at the end of each example is supervised.
    assert batch["labels"][0, n - 1].item() == eos


def test_train_on_prompt_supervises_prompt():
    tok = _tok()
    feats, _ = tokenize_examples(tok, [Example("### Instruction:\nhi\n\n### Response:\n", "yes", "f", 1)], 64,
                                 train_on_prompt=True)
    assert feats[0]["labels"] == feats[0]["input_ids"]


def test_truncation_cuts_prompt_before_response():
    stats = TokenizeStats()
    prompt = list(range(100, 160))  # 60 prompt tokens
    response = [1, 2, 3, 4, 0]  # 4 + EOS
    ex = build_example(prompt, response, max_length=40, train_on_prompt=False, stats=stats)
    assert len(ex["input_ids"]) == 40
    assert ex["input_ids"][-5:] == response  # response and EOS intact
    assert ex["labels"][-5:] == response and ex["labels"][:35] == [IGNORE_INDEX] * 35
    kept = ex["input_ids"][:35]
    assert kept[:17] == prompt[:17] and kept[17:] == prompt[-18:]  # head and tail of the prompt kept
    assert (stats.prompt_truncated, stats.response_truncated, stats.tokens_cut) == (1, 0, 25)


def test_truncation_of_response_when_prompt_cannot_shrink_enough():
    stats = TokenizeStats()
    ex = build_example(list(range(100, 110)), list(range(1, 60)) + [0], max_length=32, train_on_prompt=False,
                       stats=stats)
    assert len(ex["input_ids"]) == 32
    assert ex["input_ids"][-1] != 0  # EOS was cut with the end of the answer
    assert stats.response_truncated == 1 and stats.prompt_truncated == 1
    assert stats.rows_truncated == 1  # one row, cut in both


def test_language_modeling_collator_reproduces_old_pipeline():
    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "eos")
    feats, _ = tokenize_examples(tok, [Example("### Instruction:\nhi\n\n### Response:\n", "yes", "f", 1)], 64)
    batch = build_collator("language_modeling", tok, 8)(feats)
    labels = batch["labels"][0].tolist()
    ids = feats[0]["input_ids"]
    # Labels copy the inputs (prompt not masked) and the real EOS is masked because pad == eos.
    assert labels[: len(ids) - 1] == ids[:-1]
    assert labels[len(ids) - 1] == IGNORE_INDEX


def test_chat_rows_with_template():
    from tuneguard.data.formats import to_examples
    from tuneguard.data.load import Row

    tok = _tok()
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    cfg = validate_config(read_source("tiny")[0]).data
    rows = [Row({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, "f", 1)]
    ex, problems = to_examples(rows, "chat", cfg, tok)
    assert not problems
    assert ex[0].prompt == "<|user|>hi\n<|assistant|>"
    assert ex[0].response == "hello\n"


def test_a_tokenizer_with_an_unknown_token_pads_with_it_instead_of_growing_the_vocabulary():
    from tests.helpers.zoo import tokenizer

    tok = tokenizer("spm")  # <unk> 0, <s> 1, </s> 2, no pad
    size = len(tok)
    assert setup_pad_token(tok, "auto") is False
    assert (tok.pad_token, tok.pad_token_id, len(tok)) == ("<unk>", 0, size)
    tok.pad_token = tok.eos_token  # pad == eos is replaced the same way
    assert setup_pad_token(tok, "auto") is False and tok.pad_token == "<unk>"


def _labelled(tok, prompt, answer, max_length=64, train_on_prompt=False):
    (feat,), _ = tokenize_examples(tok, [Example(prompt, answer, "f", 1)], max_length, train_on_prompt)
    return feat["input_ids"], feat["labels"]


def test_a_token_holding_half_of_the_answers_first_character_goes_to_the_answer_with_the_whole_character():
    """Byte-level BPE trained on Thai merges the last byte of one character with the first of
    the next (here "ª"+"à": the end of "ส" and the start of "ว"). Character offsets give all
    of "ส"'s tokens the offsets (3, 4), so a cut by offsets left "à ¸" (half of "ส") in the
    prompt: neither side decoded to its text. The whole character goes to the answer."""
    from tests.helpers.zoo import byte_bpe

    tok = byte_bpe([("ª", "à"), ("¸", "§")])  # Ġ 220, à 156, ¸ 116, ª+à 256, ¸+§ 257, EOS 258
    ids, labels = _labelled(tok, "Q: ส", "ว")
    assert ids == [48, 25, 220, 156, 116, 256, 257, 258]
    assert labels == [IGNORE_INDEX] * 3 + [156, 116, 256, 257, 258]
    assert tok.decode(ids[:3]) == "Q: " and tok.decode(ids[3:-1]) == "สว"


def test_a_straddling_token_whose_offsets_are_trimmed_still_goes_to_the_answer():
    """A ByteLevel post-processor with trim_offsets (GPT-NeoX's, Pythia's) gives the token
    "\\n " (Ċ+Ġ) the offsets of its newline only: a cut by offsets kept it, and the answer's
    first space, in the masked prompt."""
    from tests.helpers.zoo import byte_bpe

    tok = byte_bpe([("Ċ", "Ġ")], trim_offsets=True)  # A 32, : 25, Ċ+Ġ 256, Ġ 220, x 87, EOS 257
    ids, labels = _labelled(tok, "A:\n", "  x")
    assert ids == [32, 25, 256, 220, 87, 257]
    assert labels == [IGNORE_INDEX, IGNORE_INDEX, 256, 220, 87, 257]


def test_a_slow_tokenizer_gets_the_answers_tokens_in_context_too(tmp_path):
    """A Python tokenizer has no offsets; the answer "t" after "the cat sa" is the word "sat"
    in context, not "sa" + "t" (two tokens the model never sees there)."""
    from tests.helpers.zoo import slow_word_bpe

    tok = slow_word_bpe(tmp_path)
    assert not tok.is_fast
    ids, labels = _labelled(tok, "the cat sa", "t")
    assert ids == [1, 2, 3, 9]
    assert labels == [IGNORE_INDEX, IGNORE_INDEX, 3, 9]
    assert _labelled(tok, "the cat", " sat") == ([1, 2, 3, 9], [IGNORE_INDEX, IGNORE_INDEX, 3, 9])


def test_the_cut_is_the_same_after_a_long_prompt():
    """_cut decodes a window of a few tokens before the point where the two tokenizations
    part, not the whole prompt: a prompt of 40 one-byte tokens before the Thai character
    gets the same cut as the short one."""
    from tests.helpers.zoo import byte_bpe

    tok = byte_bpe([("ª", "à"), ("¸", "§")])
    head = "Q: " + "x" * 37  # 40 tokens: Q 48, : 25, Ġ 220 and 37 of x 87 (no merges of ASCII)
    ids, labels = _labelled(tok, head + " ส", "ว")
    assert ids == [48, 25, 220] + [87] * 37 + [220, 156, 116, 256, 257, 258]
    assert labels == [IGNORE_INDEX] * 41 + [156, 116, 256, 257, 258]


def test_an_answer_that_starts_with_a_combining_mark_is_not_masked_into_the_prompt():
    """A normalizer (NFC here; NFKC in many SentencePiece tokenizers) composes the prompt's
    last "e" with the answer's combining acute into "é", whose bytes' offsets are those of
    the "e" alone: a cut by offsets masked the answer's accent with the prompt."""
    from tokenizers import normalizers

    from tests.helpers.zoo import byte_bpe

    tok = byte_bpe([])  # Q 48, : 25, Ġ 220, c 66, a 64, f 69, é = Ã 127 © 102, o 78, k 74, EOS 256
    tok._tokenizer.normalizer = normalizers.NFC()
    ids, labels = _labelled(tok, "Q: cafe", "\u0301 ok")
    assert ids == [48, 25, 220, 66, 64, 69, 127, 102, 220, 78, 74, 256]
    assert labels == [IGNORE_INDEX] * 6 + [127, 102, 220, 78, 74, 256]


def test_a_full_vocabulary_without_an_unknown_token_pads_with_a_reserved_special_token():
    """Llama 3: no unk, every embedding row taken, but reserved special tokens nothing uses."""
    tok = build_tiny_tokenizer()  # unk == eos: not a pad candidate
    tok.add_special_tokens({"additional_special_tokens": ["<|start_header_id|>", "<|reserved_special_token_0|>",
                                                          "<|reserved_special_token_1|>"]})
    tok.chat_template = "{% for m in messages %}<|start_header_id|>{{ m['content'] }}{% endfor %}"
    size = len(tok)
    assert setup_pad_token(tok, "auto") is False
    assert (tok.pad_token, len(tok)) == ("<|reserved_special_token_0|>", size)
    named = build_tiny_tokenizer()  # Llama 3.1 names one for padding: it comes first
    named.add_special_tokens({"additional_special_tokens": ["<|reserved_special_token_0|>",
                                                            "<|finetune_right_pad_id|>"]})
    assert setup_pad_token(named, "auto") is False and named.pad_token == "<|finetune_right_pad_id|>"
    used = build_tiny_tokenizer()  # a reserved token the chat template writes is in use
    used.add_special_tokens({"additional_special_tokens": ["<|reserved_special_token_0|>"]})
    used.chat_template = "<|reserved_special_token_0|>{{ messages[0]['content'] }}"
    assert setup_pad_token(used, "auto") is True and used.pad_token == PAD_TOKEN


def test_tokenizing_a_big_file_says_how_far_it_has_come(caplog):
    """Progress lines come from the loop's own events (a batch done) and a clock the test
    drives: one line once 15 s have passed, none for the last batch (the loop is over)."""
    from tuneguard.data.tokenize import Progress

    times = iter([0.0, 20.0, 25.0, 40.0])
    progress = Progress("train examples", 2500, clock=lambda: next(times))
    examples = [Example(f"Q{i}?\n", f"A{i}.", "train.jsonl", i + 1) for i in range(2500)]
    caplog.set_level("INFO", logger="tuneguard.data.tokenize")
    feats, _ = tokenize_examples(_tok(), examples, 64, progress=progress)
    assert len(feats) == 2500
    assert [r.getMessage() for r in caplog.records] == [
        "tokenized 1,000 of 2,500 train examples (40%), about 30 s left"]
