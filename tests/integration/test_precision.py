"""`tuneguard train` in bf16 on the CPU: bf16 weights, bf16 autocast (the Trainer's
bf16=True, as on a GPU) and the chunked loss forced on. That is the GPT-J path on a GPU
(its 50k vocabulary turns the chunked loss on), which crashed in its first step ("mat1 and
mat2 must have the same dtype") because accelerate returns fp32 outputs while the LM head
is bf16. The run must finish and train like the fp32 run, within bf16's rounding."""

from __future__ import annotations

import pytest
from rich.console import Console

from tuneguard.config.load import load_config
from tuneguard.store.run_store import RunStore
from tuneguard.train.run import run_training

pytestmark = pytest.mark.slow


def _run(tmp_path, train_file, dtype: str) -> tuple[list[float], list[float], dict]:
    cfg = load_config("tiny", [f"data.train_file={train_file}", f"model.dtype={dtype}", "train.chunked_loss=true",
                               "train.max_steps=6", "train.logging_steps=2", "eval.steps=6", "train.save_steps=6"])
    run = tmp_path / dtype
    assert run_training(cfg, run, console=Console(quiet=True)).exit_code == 0
    with RunStore(run) as store:
        assert store.state() == "finished"
        return ([m["loss"] for m in store.metrics("train")], [m["eval_loss"] for m in store.metrics("eval")],
                store.meta())


def test_bf16_run_with_the_chunked_loss_matches_fp32(tmp_path, train_file):
    fp32, fp32_eval, fp32_meta = _run(tmp_path, train_file, "fp32")
    bf16, bf16_eval, meta = _run(tmp_path, train_file, "bf16")
    assert meta["performance"]["chunked_loss"] is True and fp32_meta["performance"]["chunked_loss"] is True
    assert meta["performance"]["mixed_precision"] == "bf16" and fp32_meta["performance"]["mixed_precision"] == "no"
    assert meta["hardware"]["dtype"] == "bf16" and fp32_meta["hardware"]["dtype"] == "fp32"
    assert len(bf16) == len(fp32) == 4 and len(bf16_eval) == len(fp32_eval) == 1  # steps 1, 2, 4, 6; eval at 6
    assert bf16 != fp32  # bf16 really ran: its rounding shows
    for a, b in zip(bf16 + bf16_eval, fp32 + fp32_eval, strict=False):
        assert abs(a - b) <= 0.02 * b, (bf16, fp32)  # bf16 has 8 bits of mantissa: ~0.4% per value
    assert bf16[-1] < bf16[0] - 1.0  # and it learned
