"""`tuneguard evaluate`: base versus fine-tuned on a fresh file like the training data."""

from __future__ import annotations

import csv
import json
import math

import pytest

from tests.conftest import cli
from tests.tools.conftest import invoke, one_line_error
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

pytestmark = pytest.mark.slow


def test_evaluate_fine_tuned_beats_base_on_fresh_data(trained_run, tmp_path):
    data = write_jsonl(make_instruction_rows(60, seed=7), tmp_path / "fresh.jsonl")
    r = cli("evaluate", str(trained_run), "--data", str(data), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["data"]["examples"] == 60 and out["data"]["rows_skipped"] == 0  # nothing split off
    base, tuned = out["base"], out["tuned"]
    assert base["tokens"] == tuned["tokens"] == out["data"]["supervised_tokens"] > 0
    assert tuned["loss"] < base["loss"]
    assert tuned["perplexity"] == pytest.approx(math.exp(tuned["loss"]))
    # The run's QA probe, scored for both models.
    assert len(out["qa"]["probes"]) == 1
    probe = out["qa"]["probes"][0]
    assert probe["keywords"] == ["5", "sum"]
    for side in ("base", "tuned"):
        assert probe[side]["keyword_score"] in (0.0, 0.5, 1.0)
        assert out["qa"][side]["probes"] == 1


def test_evaluate_reads_any_format_and_rejects_a_missing_file(trained_run, tmp_path):
    from tuneguard.tools.checkpoints import load_run_config
    from tuneguard.tools.evaluate import load_file_split
    from tuneguard.train.model import load_tokenizer, setup_pad_token

    rows = make_instruction_rows(30, seed=8)
    jsonl = write_jsonl(rows, tmp_path / "rows.jsonl")
    path = tmp_path / "rows.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["instruction", "input", "output"])
        w.writeheader()
        w.writerows({"input": "", **r} for r in rows)
    cfg = load_run_config(trained_run)
    tok = load_tokenizer(cfg.model)
    setup_pad_token(tok, cfg.data.pad_token)
    a, b = load_file_split(jsonl, cfg.data, tok), load_file_split(path, cfg.data, tok)
    assert len(a.split.features) == len(b.split.features) == 30
    assert a.split.features == b.split.features

    r = invoke("evaluate", str(trained_run), "--data", str(tmp_path / "nope.jsonl"))
    assert r.exit_code == 2
    assert "nope.jsonl does not exist" in one_line_error(r.stderr)
