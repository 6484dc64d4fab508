"""The model's context, read without loading weights (`configured_context`): model.context_length,
else the config's positions, else, only where the caller lets it count, the tokenizer's
model_max_length. Training refuses a data.max_length above the context without the tokenizer's
word; the audit's truncation advice takes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit.audit_helpers import make_config
from tuneguard.data.synthetic import make_instruction_rows
from tuneguard.errors import UsageError
from tuneguard.model import load as model_lib
from tuneguard.model.load import build_tiny_tokenizer, configured_context
from tuneguard.train.build import load_tokenizer_and_data


def _cfg(tmp_path: Path, max_length: int = 256, **model):  # noqa: ANN003, ANN202
    cfg = make_config(tmp_path, make_instruction_rows(20), data={"max_length": max_length})
    cfg.model = cfg.model.model_copy(update=model)
    return cfg


def test_the_context_is_the_set_length_else_the_config_and_the_tokenizer_only_when_asked(tmp_path: Path) -> None:
    tok = build_tiny_tokenizer()  # model_max_length 2,048; the tiny model it builds has 512 positions
    tiny = _cfg(tmp_path)
    assert [configured_context(tiny, tok, tokenizer_limit=t) for t in (True, False)] == [512, 512]
    set_length = _cfg(tmp_path, context_length=300)
    assert [configured_context(set_length, tok, tokenizer_limit=t) for t in (True, False)] == [300, 300]
    (tmp_path / "no-config").mkdir()
    unreadable = _cfg(tmp_path, name=str(tmp_path / "no-config"))
    assert [configured_context(unreadable, tok, tokenizer_limit=t) for t in (True, False)] == [2048, None]
    tok.model_max_length = int(1e30)  # transformers' placeholder when a tokenizer has no limit: not a context
    assert configured_context(unreadable, tok, tokenizer_limit=True) is None


def test_training_refuses_a_max_length_above_the_configs_positions_not_above_the_tokenizers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as e:
        load_tokenizer_and_data(_cfg(tmp_path, max_length=1024))
    assert str(e.value) == "data.max_length (1024) exceeds the model's context (512): set data.max_length <= 512"
    # A config that cannot be read: the tokenizer's 2,048 is no context that training refuses by.
    monkeypatch.setattr(model_lib, "model_config", lambda cfg, tokenizer: None)
    tokenizer, data = load_tokenizer_and_data(_cfg(tmp_path, max_length=4096))
    assert tokenizer.model_max_length == 2048 and len(data.train.examples) + len(data.validation.examples) == 20
