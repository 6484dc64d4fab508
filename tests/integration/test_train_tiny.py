"""End to end: `tuneguard train` with the tiny preset on data the test makes."""

import math

import pytest
import torch

from tests.helpers.cli import cli, tiny_config
from tuneguard.store.run_store import RunStore
from tuneguard.train.adapter import load_trained

pytestmark = pytest.mark.slow


def test_train_tiny_finishes_eval_loss_falls_adapter_reloads(tmp_path, train_file):
    cfg = tiny_config(tmp_path, train_file)
    run = tmp_path / "run"
    r = cli("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("config.yaml", "run.db", "checkpoints", "adapter"):
        assert (run / name).exists(), name
    assert (run / "adapter" / "adapter_config.json").exists()

    with RunStore(run) as store:
        evals = [m["eval_loss"] for m in store.metrics("eval")]
        assert store.state() == "finished"
        train = store.metrics("train")
        train_steps = [m["step"] for m in train]
    assert len(evals) == 3 and evals[0] > evals[1] > evals[2], evals
    assert evals[-1] < train[0]["loss"] - 1.0  # well below the untrained model's loss
    assert train_steps == [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60]

    model, tok, _ = load_trained(run)
    prompt = "### Instruction:\nWhat is 2 plus 3?\n\n### Response:\n"
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    # The adapter changed the model: its loss on training-like text is below the base's.
    batch = tok(prompt + "2 plus 3 is 5.", return_tensors="pt")
    with torch.no_grad():
        tuned = model(**batch, labels=batch["input_ids"]).loss.item()
        with model.disable_adapter():
            base = model(**batch, labels=batch["input_ids"]).loss.item()
    assert math.isfinite(tuned) and tuned < base


def test_existing_run_dir_refused_without_resume_or_overwrite(tmp_path, train_file):
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 5, "save_steps": 5}, eval={"steps": 5})
    run = tmp_path / "run"
    assert cli("train", str(cfg), "--run-dir", str(run)).returncode == 0
    r = cli("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 2
    assert "already holds a run" in r.stderr and "--resume auto" in r.stderr
    assert cli("train", str(cfg), "--run-dir", str(run), "--overwrite").returncode == 0


def test_data_error_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"instruction": "a"}\n{"instruction": "b", "output": [3]}\n')
    cfg = tiny_config(tmp_path, bad)
    r = cli("train", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2
    assert f"{bad}:1: missing field 'output'" in r.stderr and f"{bad}:2: field 'output' must be text" in r.stderr
    assert "Traceback" not in r.stderr


def test_quantised_loading_without_cuda_is_a_usage_error(tmp_path, train_file, cpu_only):
    cfg = tiny_config(tmp_path, train_file, model={"load_in_4bit": True})
    r = cli("train", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2
    assert "need a CUDA GPU" in r.stderr and "Traceback" not in r.stderr
