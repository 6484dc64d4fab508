"""How the recipe sets the model up for training, whatever the card: no KV cache, gradient
checkpointing only when the plan says so (also with 4-bit weights), and tokens/s counted
when worker processes collate the batches."""

from __future__ import annotations

import pytest
from rich.console import Console

from tuneguard.config.load import load_config
from tuneguard.store.run_store import RunStore
from tuneguard.model import load as model_lib
from tuneguard.train.build import load_model_for_training
from tuneguard.train.run import run_training


def test_training_model_builds_no_kv_cache(train_file):
    """GPT-J with a cache builds and copies one in every layer of every training forward
    (~0.44 MB per token); transformers 5's Trainer turns it off too, but the model the
    recipe hands over must already be right."""
    import torch

    cfg = load_config("tiny", [f"data.train_file={train_file}"])
    tok = model_lib.load_tokenizer(cfg.model)
    model_lib.setup_pad_token(tok, "auto")
    model, _ = load_model_for_training(cfg, tok)
    assert model.config.use_cache is False
    model.train()
    out = model(input_ids=torch.randint(1, 500, (2, 12)))
    assert getattr(out, "past_key_values", None) is None


def test_4bit_preparation_leaves_checkpointing_to_the_plan(train_file, cpu_only):
    """`gradient_checkpointing: auto` is a question for the performance plan, not "on":
    PEFT's kbit preparation used to get bool("auto") == True and turned recomputation on
    whatever the plan decided. Played on the CPU with the flag bitsandbytes sets on a
    quantised model (the preparation itself runs for real; the 4-bit load is the CUDA
    lane's, tests/cuda)."""
    cfg = load_config("tiny", [f"data.train_file={train_file}", "model.gradient_checkpointing=auto"])
    tok = model_lib.load_tokenizer(cfg.model)
    model_lib.setup_pad_token(tok, "auto")
    base = model_lib.load_base_model(cfg, tok)
    base.is_loaded_in_4bit = True  # what from_pretrained(quantization_config=4-bit) sets
    cfg.model.load_in_4bit = True
    model, _ = model_lib.apply_lora(base, cfg)
    assert not model.get_base_model().is_gradient_checkpointing
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n
               and "modules_to_save" not in n)


@pytest.mark.slow
def test_tokens_per_second_with_dataloader_workers(tmp_path):
    """With dataloader_num_workers > 0 the collator (which counts real tokens) runs in worker
    processes; tokens/s read 0. Over one whole epoch the logged rates must add up to exactly
    the epoch's tokens, as they do without workers."""
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    data = write_jsonl(make_instruction_rows(80, seed=3), tmp_path / "train.jsonl")

    def epoch(workers: int) -> tuple[list[float], float, int]:
        cfg = load_config("tiny", [f"data.train_file={data}", "train.max_steps=-1", "train.num_epochs=1",
                                   "train.logging_steps=3", 'eval.strategy="no"', "eval.load_best_model_at_end=false",
                                   f"train.dataloader_num_workers={workers}", "guard.enabled=false"])
        run = tmp_path / f"w{workers}"
        assert run_training(cfg, run, console=Console(quiet=True)).exit_code == 0
        with RunStore(run) as store:
            rows = store.metrics("train")
        rates = [m["tokens_per_s"] for m in rows]
        return rates, sum(m["tokens_per_s"] * m["log_window_s"] for m in rows), len(rows)

    rates, total, logs = epoch(1)
    plain_rates, plain_total, plain_logs = epoch(0)
    assert logs == plain_logs >= 3
    assert all(r > 0 for r in rates), rates
    assert total == pytest.approx(plain_total, rel=1e-6)  # every real token of the epoch, counted once
