"""What the data tests share: the tiny preset's config with data overrides, and the tiny
tokenizer with its pad token set as training sets it."""

from __future__ import annotations

from typing import Any

from tuneguard.config.load import read_source, validate_config
from tuneguard.config.schema import Config
from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token


def tiny_data_config(**data: object) -> Config:
    raw, _ = read_source("tiny")
    raw["data"].update(data)
    return validate_config(raw)


def tiny_tokenizer() -> Any:
    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "auto")
    return tok
