"""`tuneguard evaluate`: base versus fine-tuned on a fresh file like the training data."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re

import pytest
import torch

from tests.helpers.cli import cli
from tests.helpers.tools import PROBE, invoke, one_line_error
from tuneguard.train.adapter import load_trained
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
    # The run's QA probe, generated greedily by both models and scored on what each wrote.
    (probe,) = out["qa"]["probes"]
    assert probe["keywords"] == ["5", "sum"]
    model, tok, _ = load_trained(trained_run)
    enc = tok(PROBE, return_tensors="pt")
    for side in ("base", "tuned"):
        with torch.no_grad(), (model.disable_adapter() if side == "base" else contextlib.nullcontext()):
            ids = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)[0, enc["input_ids"].shape[1]:].tolist()
        if tok.eos_token_id in ids:
            ids = ids[:ids.index(tok.eos_token_id)]
        assert probe[side]["output"] == tok.decode(ids, skip_special_tokens=True), side
        # keywords count on word boundaries: "5" is not found in "15" nor "sum" in "summer"
        found = [k for k in ("5", "sum") if re.search(rf"(?<![\w.]){k}(?![\w])", probe[side]["output"].lower())]
        assert probe[side]["keyword_score"] == len(found) / 2, side
        assert probe[side]["correct"] is None and not probe["expected"]  # the probe has keywords only
        assert out["qa"][side] == {"probes": 1, "answered": 0, "correct": 0, "keyword_score": len(found) / 2,
                                   "eos_share": 1.0 if probe[side]["emitted_eos"] else 0.0,
                                   "distinct2": probe[side]["distinct2"]}, side


def test_evaluate_reads_any_format_and_rejects_a_missing_file(trained_run, tmp_path):
    from tuneguard.tools.checkpoints import load_run_config
    from tuneguard.tools.evaluate import load_file_split
    from tuneguard.model.load import load_tokenizer, setup_pad_token

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
