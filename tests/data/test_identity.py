"""The fingerprints a run records of what its losses are measured on (tuneguard.data.identity):
the same files read again give the same identity; a validation file edited in place changes its
split's rows fingerprint and file hash and nothing else; supervising the prompt changes every
split's rows fingerprint but no file hash; a copy of the data under another path changes nothing."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

from tuneguard.config.schema import DataConfig
from tuneguard.data import fingerprint
from tuneguard.data.cache import DataCache, _packed, data_key
from tuneguard.data.fingerprint import packed_fingerprint
from tuneguard.data.identity import (SCHEME, data_identity, identity_from_cache, is_current, record_identity,
                                     resumed_identity, rows_fingerprint)
from tuneguard.data.pipeline import prepare_data
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.dist.gate import data_fingerprint
from tuneguard.model.load import build_tiny_tokenizer


def _files(tmp_path: Path) -> tuple[Path, Path]:
    """40 instruction rows: 32 in train.jsonl, 8 in val.jsonl."""
    rows = make_instruction_rows(40)
    return write_jsonl(rows[:32], tmp_path / "train.jsonl"), write_jsonl(rows[32:], tmp_path / "val.jsonl")


def _config(tmp_path: Path) -> tuple[DataConfig, Any]:
    """The data config of `_files` and the tiny tokenizer."""
    train, val = _files(tmp_path)
    return DataConfig(train_file=str(train), validation_file=str(val)), build_tiny_tokenizer()


def _cached(cfg: DataConfig, tok: Any, tmp_path: Path) -> Any:
    """The data prepared through the tokenized-data cache in tmp_path/cache (a hit when it holds them)."""
    return prepare_data(cfg, tok, cache=DataCache(tmp_path / "cache", data_key(cfg, tok)))


def identity(train: Path, val: Path, **data: Any) -> dict[str, Any]:
    cfg = DataConfig(train_file=str(train), validation_file=str(val), **data)
    tok = build_tiny_tokenizer()
    return data_identity(prepare_data(cfg, tok), cfg, tok)


def test_what_changes_which_fingerprint(tmp_path: Path) -> None:
    rows = make_instruction_rows(40)
    train, val = _files(tmp_path)  # the same rows
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
    cfg, tok = _config(tmp_path)
    data = _cached(cfg, tok, tmp_path)
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
    cfg, tok = _config(tmp_path)
    data = prepare_data(cfg, tok)
    data.train.features[0]["input_ids"] = object()  # not ids: whatever went wrong, no exception leaves
    assert data_identity(data, cfg, tok) is None
    assert "cannot fingerprint the run's data (TypeError" in caplog.text


def test_a_resume_under_the_same_cache_key_keeps_the_record_without_hashing_the_rows_again(
        tmp_path: Path, monkeypatch: Any) -> None:
    import tuneguard.data.identity as identity_mod

    cfg, tok = _config(tmp_path)
    data = _cached(cfg, tok, tmp_path)
    first = record_identity(None, data, cfg, tok)
    assert first == data_identity(data, cfg, tok) and first["key"] == data.cache.hash[:16]
    again = _cached(cfg, tok, tmp_path)  # a resume: a hit

    def no_hashing(features: Any) -> str:
        raise AssertionError("the rows were hashed again")

    monkeypatch.setattr(identity_mod, "rows_fingerprint", no_hashing)
    assert record_identity(first, again, cfg, tok) is first
    # The validation rows edited: another key, so the rows are fingerprinted again.
    write_jsonl(make_instruction_rows(40)[33:], Path(cfg.validation_file))
    monkeypatch.undo()
    edited = record_identity(first, _cached(cfg, tok, tmp_path), cfg, tok)
    assert edited["splits"]["validation"]["before"] == [first["splits"]["validation"]["fingerprint"]]
    assert edited["key"] != first["key"] and "before" not in edited["splits"]["train"]


def _rows(seed: int = 0) -> list[dict[str, Any]]:
    """Rows as tokenize leaves them: a masked prompt, then the supervised answer (some empty)."""
    rng = random.Random(seed)
    out = []
    for n in [0, 1, 5, *(rng.randrange(2, 60) for _ in range(50))]:
        ids = [rng.randrange(32000) for _ in range(n)]
        m = rng.randrange(0, n + 1)
        out.append({"input_ids": ids, "labels": [-100] * m + ids[m:], "length": n})
    return out


def test_the_rows_fingerprint_is_one_function_of_the_rows_whatever_form_or_chunking_holds_them(
        monkeypatch: Any) -> None:
    """Lists, each packed form of the cache (masked start, supervised bytes, full labels) and any
    chunk size give the same value; another order too; one id, one label or one row less does not."""
    rows = _rows()
    chat = [dict(r) for r in rows]  # a chat row: an earlier answer supervised, a turn between masked
    chat[7] = {**chat[7], "labels": [chat[7]["input_ids"][0]] + [-100] * (len(chat[7]["input_ids"]) - 1)}
    odd = [dict(r) for r in rows]  # labels that are not the ids: the cache keeps them in full
    odd[9] = {**odd[9], "labels": [1] * len(odd[9]["input_ids"])}
    base = rows_fingerprint(rows)
    for feats, form in ((rows, "masked"), (chat, "supervised"), (odd, "labels")):
        packed = _packed(feats, {})
        assert form in packed
        for chunk in (1 << 20, 7, 1):
            monkeypatch.setattr(fingerprint, "CHUNK_TOKENS", chunk)
            assert packed_fingerprint(packed) == rows_fingerprint(feats) == rows_fingerprint(feats[::-1])
    assert len({base, rows_fingerprint(chat), rows_fingerprint(odd), rows_fingerprint(rows[1:])}) == 4
    changed_id = [dict(r) for r in rows]
    changed_id[3] = {**rows[3], "input_ids": [rows[3]["input_ids"][0] + 1, *rows[3]["input_ids"][1:]]}
    last = next(i for i, r in enumerate(rows) if r["labels"] and r["labels"][-1] != -100)
    masked_more = [dict(r) for r in rows]  # one supervised token masked: the same ids, another label
    masked_more[last] = {**rows[last], "labels": [*rows[last]["labels"][:-1], -100]}
    assert base not in (rows_fingerprint(changed_id), rows_fingerprint(masked_more))
    assert rows_fingerprint([]) == packed_fingerprint(_packed([], {}))


def test_the_start_gate_digests_the_same_row_hashes_in_order_whatever_form_holds_them(monkeypatch: Any) -> None:
    """The gate's value is one function of the rows in order: lists, the cache's packed arrays and
    their row hashes agree under any chunking; another order, one row less or one label more does not."""
    rows = _rows()
    base = data_fingerprint(rows)
    for chunk in (1 << 20, 7, 1):
        monkeypatch.setattr(fingerprint, "CHUNK_TOKENS", chunk)
        hashes = fingerprint.packed_row_hashes(_packed(rows, {}))
        assert data_fingerprint(hashes) == data_fingerprint(lambda h=hashes: h) == data_fingerprint(rows) == base
        assert fingerprint.combine([hashes]) == rows_fingerprint(rows)
    masked_more = [dict(r) for r in rows]
    masked_more[5] = {**rows[5], "labels": [-100] * len(rows[5]["input_ids"])}
    assert len({base, data_fingerprint(rows[::-1]), data_fingerprint(rows[1:]), data_fingerprint(masked_more)}) == 4
    assert 0 <= base < 1 << 62 and data_fingerprint([]) == data_fingerprint(fingerprint.features_row_hashes([]))


def test_prepared_data_converts_its_rows_once_for_the_identity_and_the_gate(tmp_path: Path, monkeypatch: Any) -> None:
    """With data.cache off the rows are converted once per split; with the cache, never (its packed arrays)."""
    import tuneguard.data.pipeline as pipeline_mod

    cfg, tok = _config(tmp_path)
    converted: list[int] = []

    def counted(features: Any) -> Any:
        converted.append(len(features))
        return fingerprint.features_row_hashes(features)

    monkeypatch.setattr(pipeline_mod, "features_row_hashes", counted)
    data = prepare_data(cfg, tok)
    first = data_identity(data, cfg, tok)
    assert data_fingerprint(lambda: data.row_hashes("train")) == data_fingerprint(data.train.features)
    assert converted == [len(data.train.features), len(data.validation.features)]
    cached = _cached(cfg, tok, tmp_path)
    assert data_identity(cached, cfg, tok)["splits"] == first["splits"]
    assert data_fingerprint(lambda: cached.row_hashes("train")) == data_fingerprint(data.train.features)
    assert len(converted) == 2


def test_a_first_start_takes_the_fingerprints_from_the_arrays_the_cache_packs_and_compare_never_lists_them(
        tmp_path: Path, monkeypatch: Any) -> None:
    """With the tokenized-data cache no row is converted again for the record (the value is the one
    the rows give), and identity_from_cache reads tokens.pt's arrays, not rows."""
    import tuneguard.data.identity as identity_mod

    cfg, tok = _config(tmp_path)
    plain = data_identity(prepare_data(cfg, tok), cfg, tok)
    data = _cached(cfg, tok, tmp_path)

    def no_lists(*_: Any) -> Any:
        raise AssertionError("rows converted again")

    monkeypatch.setattr(identity_mod, "rows_fingerprint", no_lists)
    monkeypatch.setattr(DataCache, "features", no_lists)
    first = record_identity(None, data, cfg, tok)
    assert first["splits"] == plain["splits"] and first["scheme"] == SCHEME == 2
    assert identity_from_cache(tmp_path / "cache") == {**first, "from": "cache"}


def test_a_record_of_the_first_scheme_is_taken_again_not_kept_nor_called_other_data(tmp_path: Path) -> None:
    """A resume under the same cache key of a run that recorded scheme-1 fingerprints (no `scheme`)
    records today's, and says no split's rows changed on the resume."""
    cfg, tok = _config(tmp_path)
    data = _cached(cfg, tok, tmp_path)
    now = data_identity(data, cfg, tok)
    old = {k: v for k, v in now.items() if k != "scheme"}
    old["splits"] = {name: {**s, "fingerprint": "0123456789abcdef"} for name, s in now["splits"].items()}
    assert not is_current(old) and is_current(now)
    assert record_identity(old, data, cfg, tok) == now
    assert resumed_identity(old, now) == now
