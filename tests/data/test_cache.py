"""data.cache: the tokenized splits and the audit's findings reused when the key matches, and
recomputed (with a line saying why) when a data file, a data setting or the tokenizer changed,
or when the cache file is corrupt."""

import logging
from pathlib import Path

import pytest

from tuneguard.config.load import read_source, validate_config
from tuneguard.config.schema import Config
from tuneguard.data import pipeline
from tuneguard.data.cache import DataCache, data_key
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token
from tuneguard.train import build


def _config(train_file: Path, **data: object) -> Config:
    raw, _ = read_source("tiny")
    raw["data"].update({"train_file": str(train_file), **data})
    return validate_config(raw)


def _tok():
    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "auto")
    return tok


@pytest.fixture
def calls(monkeypatch):
    """How many splits were tokenized (prepare_data's tokenize_examples, counted)."""
    n = [0]
    real = pipeline.tokenize_examples

    def counting(*a, **kw):
        n[0] += 1
        return real(*a, **kw)

    monkeypatch.setattr(pipeline, "tokenize_examples", counting)
    return n


@pytest.fixture
def rows_file(tmp_path):
    return write_jsonl(make_instruction_rows(60, seed=0), tmp_path / "train.jsonl")


def _prepare(cfg: Config, tok, cache_dir: Path):
    return pipeline.prepare_data(cfg.data, tok, strict=False, cache=DataCache(cache_dir, data_key(cfg.data, tok)))


def _ids(data):
    return [(s.name, [f["input_ids"] for f in s.features], [f["labels"] for f in s.features], s.stats)
            for s in (data.train, data.validation)]


@pytest.mark.parametrize("train_on_prompt", [False, True])
def test_second_prepare_reuses_the_exact_examples(tmp_path, rows_file, calls, caplog, train_on_prompt):
    cfg, tok, cache = _config(rows_file, train_on_prompt=train_on_prompt), _tok(), tmp_path / "cache"
    first = _prepare(cfg, tok, cache)
    assert calls[0] == 2 and (cache / "tokens.pt").is_file()
    with caplog.at_level(logging.INFO, "tuneguard"):
        again = _prepare(cfg, tok, cache)
    assert calls[0] == 2  # nothing tokenized the second time
    assert f"tokenized data reused from {cache / 'tokens.pt'} (key matches)" in caplog.messages
    fresh = pipeline.prepare_data(cfg.data, tok, strict=False)
    assert _ids(again) == _ids(fresh) == _ids(first)
    assert [f["length"] for f in again.train.features] == [f["length"] for f in fresh.train.features]


def test_labels_that_are_not_a_masked_start_are_kept_in_full(tmp_path):
    """Labels are stored as the length of their masked start; a row where that does not hold
    (a -100 after a supervised token: a multi-turn chat row) keeps every label."""
    cache = DataCache(tmp_path, {"k": 1})
    feats = [{"input_ids": [5, 6, 7, 8], "labels": [-100, 6, -100, 8], "length": 4},
             {"input_ids": [9, 10], "labels": [-100, -100], "length": 2}]
    cache.save_features({"train": (feats, {"examples": 2})})
    plain = [{"input_ids": [5, 6, 7], "labels": [-100, -100, 7], "length": 3},
             {"input_ids": [1], "labels": [1], "length": 1}]
    assert DataCache(tmp_path, {"k": 1}).features("train", 2) == (feats, {"examples": 2})
    DataCache(tmp_path, {"k": 2}).save_features({"train": (plain, {"examples": 2})})
    assert DataCache(tmp_path, {"k": 2}).features("train", 2) == (plain, {"examples": 2})
    assert DataCache(tmp_path, {"k": 2}).features("train", 3) is None  # another split size: a miss


def _append_row(path: Path) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write('{"instruction": "Name a colour.", "input": "", "output": "Blue."}\n')


@pytest.mark.parametrize("change, why", [
    ("data_file", "train file"),
    ("max_length", "data.max_length changed"),
    ("tokenizer", "the tokenizer changed"),
])
def test_a_change_forces_a_recompute(tmp_path, rows_file, calls, caplog, change, why):
    cfg, tok, cache = _config(rows_file), _tok(), tmp_path / "cache"
    _prepare(cfg, tok, cache)
    if change == "data_file":
        _append_row(rows_file)
    elif change == "max_length":
        cfg = _config(rows_file, max_length=cfg.data.max_length // 2)
    else:
        tok.add_tokens(["<|new|>"])
    with caplog.at_level(logging.INFO, "tuneguard"):
        got = _prepare(cfg, tok, cache)
    assert calls[0] == 4  # both splits tokenized again
    assert any(m.startswith("tokenized data recomputed:") and why in m for m in caplog.messages), caplog.messages
    assert _ids(got) == _ids(pipeline.prepare_data(cfg.data, tok, strict=False))  # (tokenizes: 6 calls)
    _prepare(cfg, tok, cache)
    assert calls[0] == 6  # and stored under the new key


def test_same_size_rewrite_with_old_mtime_is_caught_by_the_hash(tmp_path, rows_file, calls):
    import os

    cfg, tok, cache = _config(rows_file), _tok(), tmp_path / "cache"
    _prepare(cfg, tok, cache)
    st = rows_file.stat()
    text = rows_file.read_text("utf-8")
    rows_file.write_text(text.replace("a", "b", 1), "utf-8")
    os.utime(rows_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    _prepare(_config(rows_file), tok, cache)
    assert calls[0] == 4


@pytest.mark.parametrize("damage", [b"", b"not a torch file", "truncate"])
def test_a_corrupt_cache_file_is_recomputed(tmp_path, rows_file, calls, caplog, damage):
    cfg, tok, cache = _config(rows_file), _tok(), tmp_path / "cache"
    _prepare(cfg, tok, cache)
    path = cache / "tokens.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2] if damage == "truncate" else damage)
    with caplog.at_level(logging.INFO, "tuneguard"):
        got = _prepare(cfg, tok, cache)
    assert calls[0] == 4
    assert any("is unreadable" in m for m in caplog.messages), caplog.messages
    assert _ids(got) == _ids(pipeline.prepare_data(cfg.data, tok, strict=False))  # (tokenizes: 6 calls)
    _prepare(cfg, tok, cache)
    assert calls[0] == 6  # rewritten whole


def test_audit_findings_reused_when_the_key_matches(tmp_path, rows_file, monkeypatch):
    from tuneguard.audit import runner

    cfg, tok, cache = _config(rows_file), _tok(), tmp_path / "cache"
    # A finding to keep: one row copies half its answer from its prompt (info at this ratio).
    cfg = cfg.model_copy(update={"audit": cfg.audit.model_copy(update={"answer_in_prompt_ratio": 0.5})})
    audits = [0]
    real = runner.run_audit

    def counting(*a, **kw):
        audits[0] += 1
        return real(*a, **kw)

    monkeypatch.setattr(runner, "run_audit", counting)
    monkeypatch.setattr("tuneguard.audit.run_audit", counting)
    first = build.run_data_audit(cfg, _prepare(cfg, tok, cache), tok)
    again = build.run_data_audit(cfg, _prepare(cfg, tok, cache), tok)
    assert audits[0] == 1
    assert [f.to_dict() for f in again[0]] == [f.to_dict() for f in first[0]] and first[0]
    assert again[1:] == first[1:]
    stricter = cfg.model_copy(update={"audit": cfg.audit.model_copy(update={"max_rows": 30})})
    build.run_data_audit(stricter, _prepare(cfg, tok, cache), tok)
    assert audits[0] == 2  # another audit section: the checks run again
    (cache / "audit.json").write_text("{", "utf-8")
    build.run_data_audit(stricter, _prepare(cfg, tok, cache), tok)
    assert audits[0] == 3  # a corrupt audit.json: the checks run again


@pytest.mark.slow
def test_a_resumed_run_neither_tokenizes_nor_audits(tmp_path, calls, monkeypatch, caplog):
    """The real recipe in this process: a run stopped after its step-2 checkpoint, then
    resumed; the resume takes both from RUN_DIR/cache/ and trains on to the end."""
    import io

    from rich.console import Console
    from transformers import TrainerCallback

    from tuneguard.audit import runner
    from tuneguard.config.load import load_config
    from tuneguard.store.run_store import RunStore
    from tuneguard.train.run import run_training

    class StopAt2(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            control.should_training_stop = state.global_step >= 2

    audits = [0]
    real = runner.run_audit

    def counting(*a, **kw):
        audits[0] += 1
        return real(*a, **kw)

    monkeypatch.setattr("tuneguard.audit.run_audit", counting)
    data = write_jsonl(make_instruction_rows(80, seed=0), tmp_path / "train.jsonl")
    cfg = load_config("tiny", [f"data.train_file={data}", "train.max_steps=4", "train.save_steps=2", "train.logging_steps=1",
                               "eval.steps=2"])
    run = tmp_path / "run"
    first = run_training(cfg, run, console=Console(file=io.StringIO()), extra_callbacks=[StopAt2()])
    assert first.exit_code == 0 and (calls[0], audits[0]) == (2, 1)
    with caplog.at_level(logging.INFO, "tuneguard"):
        resumed = run_training(cfg, run, resume=True, console=Console(file=io.StringIO()))
    assert resumed.exit_code == 0, resumed.error
    assert (calls[0], audits[0]) == (2, 1)  # neither tokenized nor audited again
    assert any(m.startswith("audit: ") and "reused from" in m for m in caplog.messages), caplog.messages
    assert f"tokenized data reused from {run / 'cache' / 'tokens.pt'} (key matches)" in caplog.messages
    with RunStore(run) as s:
        assert s.events("resumed")[0]["payload"]["from_step"] == 2
        assert max(r["step"] for r in s.metrics("train")) == 4


def test_overwrite_keeps_the_cache(tmp_path):
    """--overwrite removes the run's files but not cache/, so a new run on the same data reuses it."""
    from tuneguard.train.rundir import remove_run_files

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "tokens.pt").write_bytes(b"x")
    (tmp_path / "run.db").write_bytes(b"x")
    remove_run_files(tmp_path)
    assert not (tmp_path / "run.db").exists() and (tmp_path / "cache" / "tokens.pt").read_bytes() == b"x"
