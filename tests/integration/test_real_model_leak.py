"""A new user's validation file that mostly repeats training rows, on the real model: one story
from the audit to the second run's config.

SmolLM2-135M-Instruct (preset `smollm2-135m`) learns the standard library's docstrings as an
extraction task (tests/helpers/realtext.py); the training rows are sound and the loss falls
below the collapse floor within the first pass, as on a healthy run. The validation file holds
copies of training rows. Every message must name that cause and its one action (re-make the
validation split), and none may call it a collapse of the training rows:

- `audit` exits 1 with TRAIN_VAL_LEAKAGE (error) and `train` refuses (exit 2) naming it;
- `train --force` is not halted: the guard's LOSS_COLLAPSE is info, says the leak concerns the
  evaluation rows (not the training rows) and that the eval loss it is judged by is flattered;
- the report's diagnosis (and its first recommendation) is the leaked split, the run-end
  notification to a real local server says the same and ends with the `fix` command;
- `next` writes nothing and prints the `fix` command; the command, run as printed, re-makes the
  split from the training file (the 4 fresh rows of 24 are too few) and the audit of the fixed
  config, and of the config `next` then writes, finds no leak.

One run of 10 steps of 4 rows cut at 96 tokens, one evaluation; in this process.
Under CI (CI=true) a missing SmolLM2 is a failure; elsewhere a skip that says why.
"""

from __future__ import annotations

import json
import random
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import realtext
from tests.helpers.cli import invoke
from tests.httpserver import http_server  # noqa: F401 - fixture
from tuneguard.data.synthetic import write_jsonl
from tuneguard.nextrun import fix_command, next_command
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

TRAIN_ROWS, LEAKED, FRESH = 400, 20, 4
RUN = {"data": {"max_length": 96},
       "train": {"max_steps": 10, "batch_size": 4, "learning_rate": 2e-3, "logging_steps": 1, "save_steps": 10,
                 "use_cpu": True},
       "eval": {"steps": 10}}


def _config(folder: Path, port: int) -> Path:
    """The user's folder: train.jsonl, validation.jsonl (20 copies of training rows, 4 fresh rows)
    and a config naming them, as one writes it."""
    paragraphs = realtext.shuffled(realtext.stdlib_paragraphs())
    train = realtext.extraction_rows(paragraphs[:TRAIN_ROWS])
    leaked = [dict(r) for r in random.Random(1).sample(train, LEAKED)]
    validation = leaked + realtext.extraction_rows(paragraphs[TRAIN_ROWS:TRAIN_ROWS + FRESH])
    folder.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = {"preset": "smollm2-135m", **json.loads(json.dumps(RUN))}
    raw["data"].update(train_file=str(write_jsonl(train, folder / "train.jsonl")),
                       validation_file=str(write_jsonl(validation, folder / "validation.jsonl")))
    raw["notify"] = {"urls": [f"json://127.0.0.1:{port}/hook"]}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
    return path


def test_leaked_validation_is_one_story_from_audit_to_the_fixed_split(tmp_path: Path, http_server,  # noqa: F811
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.realtext import require_smollm2

    require_smollm2()
    ep = http_server()
    cfg = _config(tmp_path / "mine", ep.port)
    run = cfg.parent / "run"

    r = invoke("audit", str(cfg), "--json")
    assert r.returncode == 1, r.stderr
    errors = {f["code"] for f in json.loads(r.stdout)["findings"] if f["severity"] == "error"}
    assert errors == {"TRAIN_VAL_LEAKAGE"}
    r = invoke("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 2
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith(f"error: the data audit found 1 error(s) (TRAIN_VAL_LEAKAGE); TRAIN_VAL_LEAKAGE: "
                           f"{LEAKED} of {LEAKED + FRESH} validation rows"), line

    r = invoke("train", str(cfg), "--run-dir", str(run), "--force")
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    with RunStore(run, readonly=True) as s:
        assert s.state() == "finished"
        guard = s.findings("guard")
    assert [f for f in guard if f.severity != "info"] == []
    collapse = [f for f in guard if f.code == "LOSS_COLLAPSE"]
    assert [f.evidence["verdict"] for f in collapse] == ["pending evaluation", "easy task"]
    pending, easy = collapse
    assert ("and the audit's TRAIN_VAL_LEAKAGE concerns the evaluation rows (validation or test rows that repeat "
            "training rows), which makes the eval loss unfair but cannot make the training rows predictable"
            ) in pending.message
    assert easy.message.endswith("with the audit's TRAIN_VAL_LEAKAGE: eval rows that repeat training rows flatter "
                                 "the eval loss, so fix that (tuneguard fix) before trusting this verdict.")

    diagnosis = ("Diagnosis: data fault: the validation rows repeat training rows, so the eval loss, the best "
                 "checkpoint and early stopping measured memory, not generalisation: fix the split first "
                 "(tuneguard fix), then judge the settings")
    report = (run / "report.md").read_text("utf-8")
    assert f"**{diagnosis.removeprefix('Diagnosis: ')}**" in report.replace("**Diagnosis: ", "**")
    assert ("- Fix the validation split before changing any hyperparameter: its rows repeat training rows "
            "(TRAIN_VAL_LEAKAGE), so this run's eval loss cannot tell whether the settings generalise.") in report
    assert "learning rate" not in report.split("## Recommendations")[1].split("## ")[0].lower()
    ep.wait_for(2)
    final = next(b["message"] for b in ep.bodies if b["title"].startswith("Run report"))
    assert diagnosis in final and final.splitlines()[-2] == f"Fix the data: {fix_command(run)}"

    monkeypatch.chdir(tmp_path)  # the printed commands name absolute paths: they run from anywhere
    r = invoke("next", str(run))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == diagnosis
    assert r.stdout.splitlines()[-4:] == [
        "Fix the data first (TRAIN_VAL_LEAKAGE): changing hyperparameters cannot be judged while the validation rows "
        "repeat training rows (the eval loss measures memory). Run:", f"  {fix_command(run)}", "then:",
        f"  {next_command(run)}"]
    assert not (run / "next.yaml").exists()

    r = invoke(*shlex.split(fix_command(run))[1:])
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == f"Removed {LEAKED} of {TRAIN_ROWS + LEAKED + FRESH} rows (TRAIN_VAL_LEAKAGE {LEAKED})."
    assert out[2] == (f"  validation: {cfg.parent / 'validation.jsonl'} -> (no copy: split from the training file "
                      f"instead): {LEAKED + FRESH} rows -> {FRESH} (TRAIN_VAL_LEAKAGE {LEAKED})")
    assert "The audit of the fixed config no longer finds TRAIN_VAL_LEAKAGE." in out
    r = invoke("next", str(run))
    assert r.returncode == 0, r.stderr
    nxt = yaml.safe_load((run / "next.yaml").read_text("utf-8"))
    this = yaml.safe_load((run / "config.yaml").read_text("utf-8"))
    assert nxt["data"]["validation_file"] is None and (nxt["train"], nxt["lora"]) == (this["train"], this["lora"])
    r = invoke("audit", str(run / "next.yaml"), "--json")
    assert r.returncode == 0, r.stderr
    assert "TRAIN_VAL_LEAKAGE" not in {f["code"] for f in json.loads(r.stdout)["findings"]}
