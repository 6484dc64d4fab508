"""A run started before tuneguard padded with the tokenizer's unknown (or a reserved) token:
it added `<|pad|>` and grew the embeddings, so its checkpoints hold an LM head one vocabulary
row-block larger than today's setup builds. `--resume auto` goes on with the tokenizer the run
saved, and generation from the result loads it the same way."""

from __future__ import annotations

from typing import Any

import pytest
from safetensors import safe_open
from transformers import AutoTokenizer, TrainerCallback

from tests.helpers.cli import invoke, tiny_config
from tests.helpers.reliability import train_inproc
from tests.helpers.zoo import save_model, spm_tokenizer
from tuneguard.model import load as model_lib
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow


class StopAt(TrainerCallback):
    """Ends training after `step` (a run interrupted there, its checkpoint saved)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step >= self.step:
            control.should_training_stop = True


def old_setup_pad_token(tokenizer: Any, mode: str) -> bool:
    """tuneguard's pad token before the unknown-token change: any tokenizer without a pad
    distinct from EOS got a new `<|pad|>`."""
    if tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return False
    tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    return True


def head_rows(folder) -> int:
    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as f:
        return int(f.get_slice("base_model.model.lm_head.modules_to_save.weight").get_shape()[0])


def test_a_run_that_added_a_pad_token_resumes_and_generates_with_its_own_tokenizer(tmp_path, monkeypatch, train_file):
    model_dir = tmp_path / "model"
    tok = spm_tokenizer()  # an <unk> distinct from EOS: today's setup pads with it, adding nothing
    save_model("gptj", model_dir, tok)
    cfg = tiny_config(tmp_path, train_file, model={"name": str(model_dir)},
                      train={"max_steps": 4, "save_steps": 2, "logging_steps": 1},
                      eval={"strategy": "no", "load_best_model_at_end": False})
    run_dir = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(model_lib, "setup_pad_token", old_setup_pad_token)
        assert train_inproc(cfg, run_dir, extra_callbacks=[StopAt(2)]) == 0
    ckpt = run_dir / "checkpoints" / "checkpoint-2"
    saved = AutoTokenizer.from_pretrained(ckpt)
    assert (saved.pad_token, len(saved)) == ("<|pad|>", len(tok) + 1)
    grown = head_rows(ckpt)
    assert grown == -(-(len(tok) + 1) // 64) * 64  # resized for the added token, to a multiple of 64
    fresh = spm_tokenizer()
    assert model_lib.setup_pad_token(fresh, "auto") is False and fresh.pad_token == "<unk>"  # today's choice

    assert train_inproc(cfg, run_dir, resume=True) == 0
    with RunStore(run_dir, readonly=True) as store:
        assert (store.state(), store.meta()["step"]) == ("finished", 4)
        assert [e["payload"]["from_step"] for e in store.events("resumed")] == [2]
    adapter = run_dir / "adapter"
    assert head_rows(adapter) == grown
    assert AutoTokenizer.from_pretrained(adapter).pad_token == "<|pad|>"
    out = invoke("generate", str(run_dir), "Say hello.", "--max-new-tokens", "3", "--temperature", "0")
    assert out.returncode == 0, out.stdout + out.stderr
