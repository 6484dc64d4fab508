"""Fixtures of the audit tests: a tiny tokenizer built once, and `audit_rows`, which writes
JSONL files, builds a config from the `tiny` preset, prepares the data exactly as training
does and runs the audit."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.audit.audit_helpers import make_config
from tuneguard.audit import AuditResult, run_audit
from tuneguard.data.pipeline import prepare_data
from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token


@pytest.fixture(scope="session")
def tiny_tokenizer_base() -> Any:
    return build_tiny_tokenizer()


@pytest.fixture
def audit_rows(tmp_path: Path, tiny_tokenizer_base: Any) -> Callable[..., tuple[AuditResult, Any]]:
    """audit_rows(train, validation=None, ..., edit=fn(data, tokenizer), tokenizer=None, edit_cfg=fn(cfg)) -> (result, data)."""

    def run(train: list[Any], validation: list[Any] | None = None, test: list[Any] | None = None,
            data: dict[str, Any] | None = None, audit: dict[str, Any] | None = None,
            train_cfg: dict[str, Any] | None = None, edit: Callable[[Any, Any], None] | None = None,
            tokenizer: Any = None, edit_cfg: Callable[[Any], None] | None = None) -> tuple[AuditResult, Any]:
        cfg = make_config(tmp_path, train, validation, test, data, audit, train_cfg)
        if edit_cfg is not None:
            edit_cfg(cfg)
        tok = copy.deepcopy(tokenizer if tokenizer is not None else tiny_tokenizer_base)
        setup_pad_token(tok, cfg.data.pad_token)
        prepared = prepare_data(cfg.data, tok)
        if edit is not None:
            edit(prepared, tok)
        return run_audit(cfg, prepared, tok), prepared

    return run
