"""`tuneguard audit` through Typer: --json, the Rich table and the exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tests.audit.audit_corpus import clean_rows
from tests.audit.audit_helpers import write_jsonl
from tuneguard.cli.audit_cmd import audit


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app with the audit command registered as the main CLI does."""

    app.command("audit")(audit)
    return app


def config_file(tmp_path: Path, train: list, validation: list | None = None, **data) -> str:
    raw = {"preset": "tiny", "data": {"train_file": write_jsonl(tmp_path / "train.jsonl", train), "max_length": 1024, **data}}
    if validation is not None:
        raw["data"]["validation_file"] = write_jsonl(tmp_path / "val.jsonl", validation)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    return str(path)


def test_clean_json_exit_0(app, tmp_path):
    cfg = config_file(tmp_path, clean_rows(300), clean_rows(60, seed=1, offset=300))
    res = CliRunner().invoke(app, ["audit", cfg, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"findings", "stats"}
    assert [f for f in out["findings"] if f["severity"] != "info"] == []
    assert out["stats"]["rows"]["train"] == 300


def test_error_finding_exit_1_with_json_and_table(app, tmp_path):
    base = clean_rows(300)
    cfg = config_file(tmp_path, base + [dict(base[0]) for _ in range(30)], clean_rows(60, seed=1, offset=300))
    res = CliRunner().invoke(app, ["audit", cfg, "--json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    f = next(f for f in out["findings"] if f["code"] == "DUPLICATE_EXACT")
    assert f["severity"] == "error" and f["evidence"]["count"] == 30 and f["step"] is None
    assert set(f) >= {"code", "severity", "step", "message", "evidence", "recommendation"}

    table = CliRunner().invoke(app, ["audit", cfg], env={"COLUMNS": "200"})
    assert table.exit_code == 1
    assert "DUPLICATE_EXACT" in table.stdout and "1 error(s)" in table.stdout
    assert "train.jsonl:1" in table.stdout
    # The command for the full evidence is the user's own, ready to copy (not `tuneguard audit CONFIG`).
    # Then the command that cleans what `tuneguard fix` repairs, its folder beside the config.
    assert table.stdout.rstrip().splitlines()[-4:] == [
        "1 error(s), 0 warning(s). Full evidence:", f"  tuneguard audit {cfg} --json",
        "Cleaned copies of the data without the rows behind DUPLICATE_EXACT (the originals stay as they are):",
        f"  tuneguard fix {cfg} --out {tmp_path / 'config-fixed-data'}"]
    with_sets = CliRunner().invoke(app, ["audit", cfg, "--set", "audit.max_rows=1000"], env={"COLUMNS": "400"})
    assert with_sets.stdout.rstrip().splitlines()[-3:-1] == [
        f"  tuneguard audit {cfg} --json (with the same --set options)",
        "Cleaned copies of the data without the rows behind DUPLICATE_EXACT (the originals stay as they are) "
        "(with the same --set options):"]


def test_set_overrides_reach_the_audit(app, tmp_path):
    cfg = config_file(tmp_path, clean_rows(300), clean_rows(60, seed=1, offset=300))
    res = CliRunner().invoke(app, ["audit", cfg, "--json", "--set", "audit.max_rows=100",
                                   "--set", "data.collator=language_modeling"])
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["stats"]["rows"]["audited_train"] == 100
    assert {f["code"] for f in out["findings"] if f["severity"] == "error"} == {"PROMPT_NOT_MASKED"}


def test_bad_config_exit_2(app, tmp_path):
    cfg = config_file(tmp_path, clean_rows(50))
    res = CliRunner().invoke(app, ["audit", cfg, "--set", "train.learning_rte=1"])
    assert res.exit_code == 2
    assert "learning_rte" in res.stderr


def test_missing_data_file_exit_2(app, tmp_path):
    cfg = config_file(tmp_path, clean_rows(50), train_file=str(tmp_path / "nope.jsonl"))
    res = CliRunner().invoke(app, ["audit", cfg, "--json"])
    assert res.exit_code == 2
    assert "does not exist" in res.stderr
    # A program that asked for JSON gets JSON: one object naming the error.
    assert json.loads(res.stdout) == {"error": res.stderr.strip().removeprefix("error: ")}


def test_a_relative_path_that_is_not_there_names_where_it_was_looked_for(app, tmp_path, monkeypatch):
    cfg = config_file(tmp_path, clean_rows(50))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # train.jsonl is next to the config, not here
    res = CliRunner().invoke(app, ["audit", cfg, "--set", "data.train_file=train.jsonl"])
    assert res.exit_code == 2
    assert res.stderr == (f"error: data file train.jsonl does not exist (looked for {elsewhere / 'train.jsonl'}; a "
                          "path in a config file is relative to that file, one given with --set to the current "
                          "directory): check data.train_file\n")


def test_a_run_directory_is_audited_from_its_tokenized_data_when_the_key_matches(app, tmp_path, monkeypatch, caplog):
    """`train` leaves RUN_DIR/cache/tokens.pt; `audit RUN_DIR` reads the tokens from it instead of
    tokenizing, and says why not when the data changed since (here data.max_length)."""
    from tuneguard.config.load import load_config
    from tuneguard.data import pipeline
    from tuneguard.data.cache import DataCache, data_key
    from tuneguard.model.load import load_tokenizer, setup_pad_token

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg_path = config_file(run_dir, clean_rows(300), clean_rows(60, seed=1, offset=300))
    cfg = load_config(cfg_path, [])
    tok = load_tokenizer(cfg.model)
    setup_pad_token(tok, cfg.data.pad_token)
    pipeline.prepare_data(cfg.data, tok, strict=False, cache=DataCache(run_dir / "cache", data_key(cfg.data, tok)))
    tokenized: list[int] = []
    real = pipeline.tokenize_examples
    monkeypatch.setattr(pipeline, "tokenize_examples", lambda tk, ex, *a, **k: tokenized.append(len(ex)) or real(tk, ex, *a, **k))
    res = CliRunner().invoke(app, ["audit", str(run_dir), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert tokenized == []
    assert out["stats"]["cache"] == f"tokenized data read from {run_dir / 'cache'}"
    assert out["stats"]["rows"]["train"] == 300
    res = CliRunner().invoke(app, ["audit", str(run_dir), "--json", "--set", "data.max_length=512"])
    assert res.exit_code == 0, res.output
    assert tokenized == [300, 60]
    assert "cache" not in json.loads(res.stdout)["stats"]
    assert "tokenized data recomputed: data.max_length changed" in caplog.text


def test_the_audit_time_says_what_it_covers():
    """The console's time is the whole audit, split so it is not mistaken for the log's
    "checks took 1.0s": loading the tokenizer (a GGUF one took 32 s) and the data count too."""
    from types import SimpleNamespace

    from rich.console import Console

    from tuneguard.cli.audit_cmd import render, timing_text

    timings = {"load_tokenizer": 32.14, "prepare_data": 7.9, "total": 1.0, "prepare": 0.2}
    assert timing_text(timings) == "41.0s (tokenizer 32.1s, data 7.9s, checks 1.0s)"
    assert timing_text({"total": 1.04}) == "1.0s"
    con = Console(width=200, record=True)
    result = SimpleNamespace(findings=[], stats={"rows": {"audited_train": 90, "train": 90, "validation": 10},
                                                 "timings_s": timings})
    render(result, con)
    assert con.export_text().splitlines()[0] == (
        "Audited 90 training rows (train 90, validation 10) in 41.0s (tokenizer 32.1s, data 7.9s, checks 1.0s).")
