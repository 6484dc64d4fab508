"""The fingerprints a run records of what its losses are measured on (tuneguard.data.identity):
the same files read again give the same identity; a validation file edited in place changes its
split's rows fingerprint and file hash and nothing else; supervising the prompt changes every
split's rows fingerprint but no file hash; a copy of the data under another path changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tuneguard.config.schema import DataConfig
from tuneguard.data.cache import DataCache, data_key
from tuneguard.data.identity import (SCHEME, data_identity, identity_from_cache, record_identity, resumed_identity,
                                     rows_fingerprint)
from tuneguard.data.pipeline import prepare_data
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.model.load import build_tiny_tokenizer


def identity(train: Path, val: Path, **data: Any) -> dict[str, Any]:
    cfg = DataConfig(train_file=str(train), validation_file=str(val), **data)
    tok = build_tiny_tokenizer()
    return data_identity(prepare_data(cfg, tok), cfg, tok)


def test_what_changes_which_fingerprint(tmp_path: Path) -> None:
    rows = make_instruction_rows(40)
    train, val = write_jsonl(rows[:32], tmp_path / "train.jsonl"), write_jsonl(rows[32:], tmp_path / "val.jsonl")
    base = identity(train, val)
    assert set(base) == {"tokenizer", "splits", "scheme"} and base["scheme"] == SCHEME
    assert set(base["splits"]) == {"train", "validation"}
    assert base["splits"]["validation"]["rows"] == 8 and base["splits"]["train"]["rows"] == 32
    assert identity(train, val) == base
    copy = tmp_path / "copy"
    copy.mkdir()
    assert identity(Path(shutil.copy(train, copy)), Path(shutil.copy(val, copy))) == base
    prompt = identity(train, val, train_on_prompt=True)
    assert prompt["tokenizer"] == base["tokenizer"]
    for split in ("train", "validation"):
        assert prompt["splits"][split]["files"] == base["splits"][split]["files"]
        assert prompt["splits"][split]["fingerprint"] != base["splits"][split]["fingerprint"]
    write_jsonl(rows[32:39], val)  # edited in place: one row fewer
    edited = identity(train, val)
    assert edited["splits"]["train"] == base["splits"]["train"] and edited["tokenizer"] == base["tokenizer"]
    assert edited["splits"]["validation"]["rows"] == 7
    assert edited["splits"]["validation"]["fingerprint"] != base["splits"]["validation"]["fingerprint"]
    assert edited["splits"]["validation"]["files"] != base["splits"]["validation"]["files"]


def test_a_run_that_recorded_none_is_identified_from_its_tokenized_data_cache(tmp_path: Path) -> None:
    rows = make_instruction_rows(40)
    train, val = write_jsonl(rows[:32], tmp_path / "train.jsonl"), write_jsonl(rows[32:], tmp_path / "val.jsonl")
    cfg, tok = DataConfig(train_file=str(train), validation_file=str(val)), build_tiny_tokenizer()
    data = prepare_data(cfg, tok, cache=DataCache(tmp_path / "cache", data_key(cfg, tok)))
    assert identity_from_cache(tmp_path / "cache") == {**data_identity(data, cfg, tok), "from": "cache"}
    assert identity_from_cache(tmp_path / "nothing") is None
    (tmp_path / "cache" / "tokens.pt").write_bytes(b"cut off")
    assert identity_from_cache(tmp_path / "cache") is None


def test_a_glob_of_files_copied_elsewhere_keeps_its_files_hash_and_no_path_is_recorded(tmp_path: Path) -> None:
    rows = make_instruction_rows(40)
    first, copy = tmp_path / "first", tmp_path / "elsewhere" / "copy"
    for folder in (first, copy):
        folder.mkdir(parents=True)
        write_jsonl(rows[:16], folder / "part1.jsonl")
        write_jsonl(rows[16:32], folder / "part2.jsonl")
        write_jsonl(rows[32:], folder / "val.jsonl")
    base = identity(first / "part*.jsonl", first / "val.jsonl")
    assert base["splits"]["train"]["rows"] == 32
    assert identity(copy / "part*.jsonl", copy / "val.jsonl") == base
    assert str(tmp_path) not in json.dumps(base)
    write_jsonl(rows[17:32], copy / "part2.jsonl")
    assert identity(copy / "part*.jsonl", copy / "val.jsonl")["splits"]["train"]["files"] != \
        base["splits"]["train"]["files"]


def test_a_resumed_run_keeps_the_fingerprints_its_rows_had_before_they_changed() -> None:
    def ident(train: str, val: str) -> dict[str, Any]:
        return {"tokenizer": "tok", "splits": {"train": {"rows": 3, "fingerprint": train, "files": "f"},
                                               "validation": {"rows": 1, "fingerprint": val, "files": None}}}

    assert resumed_identity(None, ident("t1", "v1")) == ident("t1", "v1")
    assert resumed_identity(ident("t1", "v1"), ident("t1", "v1")) == ident("t1", "v1")
    once = resumed_identity(ident("t1", "v1"), ident("t1", "v2"))
    assert once["splits"]["train"] == ident("t1", "v1")["splits"]["train"]
    assert once["splits"]["validation"] == {"rows": 1, "fingerprint": "v2", "files": None, "before": ["v1"]}
    twice = resumed_identity(once, ident("t1", "v3"))
    assert twice["splits"]["validation"]["before"] == ["v1", "v2"]
    assert resumed_identity(twice, ident("t1", "v3"))["splits"]["validation"]["before"] == ["v1", "v2"]
    assert resumed_identity(once, None) is None


def test_data_that_cannot_be_fingerprinted_never_stops_the_run(tmp_path: Path, caplog: Any) -> None:
    rows = make_instruction_rows(40)
    train, val = write_jsonl(rows[:32], tmp_path / "train.jsonl"), write_jsonl(rows[32:], tmp_path / "val.jsonl")
    cfg, tok = DataConfig(train_file=str(train), validation_file=str(val)), build_tiny_tokenizer()
    data = prepare_data(cfg, tok)
    data.train.features[0]["input_ids"] = object()  # not ids: whatever went wrong, no exception leaves
    assert data_identity(data, cfg, tok) is None
    assert "cannot fingerprint the run's data (TypeError" in caplog.text


def test_a_resume_under_the_same_cache_key_keeps_the_record_without_hashing_the_rows_again(
        tmp_path: Path, monkeypatch: Any) -> None:
    import tuneguard.data.identity as identity_mod

    rows = make_instruction_rows(40)
    train, val = write_jsonl(rows[:32], tmp_path / "train.jsonl"), write_jsonl(rows[32:], tmp_path / "val.jsonl")
    cfg, tok = DataConfig(train_file=str(train), validation_file=str(val)), build_tiny_tokenizer()
    data = prepare_data(cfg, tok, cache=DataCache(tmp_path / "cache", data_key(cfg, tok)))
    first = record_identity(None, data, cfg, tok)
    assert first == data_identity(data, cfg, tok) and first["key"] == data.cache.hash[:16]
    again = prepare_data(cfg, tok, cache=DataCache(tmp_path / "cache", data_key(cfg, tok)))  # a resume: a hit

    def no_hashing(features: Any) -> str:
        raise AssertionError("the rows were hashed again")

    monkeypatch.setattr(identity_mod, "rows_fingerprint", no_hashing)
    assert record_identity(first, again, cfg, tok) is first
    write_jsonl(rows[33:], val)  # edited: another key, so the rows are fingerprinted again
    monkeypatch.undo()
    edited = record_identity(first, prepare_data(cfg, tok, cache=DataCache(tmp_path / "cache", data_key(cfg, tok))),
                             cfg, tok)
    assert edited["splits"]["validation"]["before"] == [first["splits"]["validation"]["fingerprint"]]
    assert edited["key"] != first["key"] and "before" not in edited["splits"]["train"]
