"""A clean dataset of real, varied text gets no warning and no error, under two tokenizers."""

from __future__ import annotations

import pytest

from tests.audit.audit_corpus import clean_rows, docstrings, long_rows
from tests.audit.audit_helpers import serious


def wordpiece_tokenizer():
    """A BERT-style WordPiece tokenizer trained here: a second, differently built tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=3000, special_tokens=["[UNK]", "[PAD]", "[EOS]"],
                                        show_progress=False)
    tk.train_from_iterator([d for _, _, d in docstrings()], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")


def test_clean_data_has_no_warning_or_error(audit_rows):
    result, _ = audit_rows(clean_rows(600), validation=clean_rows(150, seed=1, offset=600),
                              test=clean_rows(100, seed=2, offset=750))
    assert serious(result) == {}
    assert result.has_errors() is False
    s = result.stats
    assert s["rows"]["audited_train"] == 600
    assert s["duplicates_exact"]["duplicate_rows"] == 0
    assert s["duplicates_near"]["extra_rows"] == 0
    assert s["leakage"]["validation"]["leaked"] == 0 and s["leakage"]["test"]["leaked"] == 0
    assert s["diversity"]["unique_response_share"] == 1.0
    assert s["labels"]["supervised_eos"] == 600
    assert s["labels"]["tokenizer_mismatch_rows"] == 0


def test_clean_long_rows_with_split_validation(audit_rows):
    # ~150-word answers (the median of instruction data); validation split from train.
    # The tiny byte-level vocabulary spends ~5 tokens per word: room for 150-word answers.
    result, data = audit_rows(long_rows(300), data={"max_length": 2048})
    assert serious(result) == {}
    assert len(data.validation.examples) == 30


@pytest.mark.parametrize("collator", ["tuneguard"])
def test_clean_data_with_a_wordpiece_tokenizer(audit_rows, collator):
    result, _ = audit_rows(clean_rows(400), validation=clean_rows(100, seed=1, offset=400),
                           data={"collator": collator}, tokenizer=wordpiece_tokenizer())
    assert serious(result) == {}
    assert result.stats["labels"]["eos_token_id"] != result.stats["labels"]["pad_token_id"]
