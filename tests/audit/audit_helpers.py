"""Helpers of the audit tests: JSONL files, configs from the `tiny` preset, finding lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneguard.audit import AuditResult
from tuneguard.config.load import read_source, validate_config


def write_jsonl(path: Path, rows: list[Any]) -> str:
    """Rows are dicts (written as JSON) or strings (written verbatim: malformed lines)."""
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return str(path)


def make_config(tmp_path: Path, train: list[Any], validation: list[Any] | None = None,
                test: list[Any] | None = None, data: dict[str, Any] | None = None,
                audit: dict[str, Any] | None = None, train_cfg: dict[str, Any] | None = None):
    raw, _ = read_source("tiny")
    raw["data"]["train_file"] = write_jsonl(tmp_path / "train.jsonl", train)
    if validation is not None:
        raw["data"]["validation_file"] = write_jsonl(tmp_path / "val.jsonl", validation)
    if test is not None:
        raw["data"]["test_file"] = write_jsonl(tmp_path / "test.jsonl", test)
    raw["data"]["max_length"] = 1024
    raw["data"].update(data or {})
    if audit:
        raw["audit"] = audit
    if train_cfg:
        raw["train"].update(train_cfg)
    return validate_config(raw)


def serious(result: AuditResult) -> dict[str, str]:
    """{code: severity} of the warning and error findings."""
    return {f.code: f.severity for f in result.findings if f.severity in ("warning", "error")}


def get(result: AuditResult, code: str):
    found = [f for f in result.findings if f.code == code]
    assert len(found) == 1, f"expected one {code}, got {[f.code for f in result.findings]}"
    return found[0]
