"""The CUDA lane: what only a GPU can prove, run by bench/gpu_gptj.sh on the GPU machine
(`pytest -m cuda tests/cuda`) and skipped, with the reason, everywhere else (CI has no GPU).

Each test trains or loads a small GPT-J-architecture model on the GPU through tuneguard's
own code paths: bf16 autocast with the chunked loss, 4-bit weights, weights loaded straight
onto the GPU, the precision chosen by compute capability, and fp16 loss scaling.
"""

from __future__ import annotations

import math

import psutil
import pytest
import torch
from rich.console import Console

from tuneguard.config.load import load_config
from tuneguard.store.run_store import RunStore
from tuneguard.train.run import run_training

pytestmark = [pytest.mark.cuda, pytest.mark.slow]


def small_gptj_folder(tmp_path, *, layers: int = 2, hidden: int = 256, vocab: int = 50400, dtype: str = "bfloat16"):
    """A GPT-J-architecture model folder (GPT-J's vocabulary: the chunked loss turns itself
    on) with tuneguard's tiny tokenizer, written by another process (this one's memory then
    holds no copy of the weights)."""
    import subprocess
    import sys

    folder = tmp_path / f"gptj-{layers}x{hidden}-{dtype}"
    code = (
        "import torch\n"
        "from transformers import AutoModelForCausalLM, GPTJConfig\n"
        "from tuneguard.model.load import build_tiny_tokenizer\n"
        "torch.manual_seed(0)\n"
        f"conf = GPTJConfig(vocab_size={vocab}, n_positions=512, n_embd={hidden}, n_layer={layers}, n_head=4,"
        " rotary_dim=16, initializer_range=0.05)\n"
        f"AutoModelForCausalLM.from_config(conf, dtype=torch.{dtype}).save_pretrained({str(folder)!r})\n"
        f"build_tiny_tokenizer().save_pretrained({str(folder)!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return folder


def train(tmp_path, name: str, folder, train_file, *settings: str, callbacks=()) -> tuple[int, dict]:
    cfg = load_config("gptj-6b-v2", [f"model.name={folder}", f"data.train_file={train_file}", "train.max_steps=8",
                                     "train.logging_steps=2", "eval.steps=8", "train.save_steps=8",
                                     "train.batch_size=4", "train.gradient_accumulation_steps=1",
                                     "train.learning_rate=1e-3", *settings])
    run = tmp_path / name
    code = run_training(cfg, run, console=Console(quiet=True), force=True, extra_callbacks=callbacks).exit_code
    with RunStore(run) as store:
        return code, {"state": store.state(), "loss": [m["loss"] for m in store.metrics("train")],
                      "meta": store.meta(), "reason": store.get_meta("exit_reason")}


def test_precision_auto_follows_the_cards_compute_capability():
    from tuneguard.model.device import DeviceProps, choose_precision

    card = DeviceProps.detect()
    assert card.is_cuda and card.count >= 1 and card.total_gb > 1
    major, _ = torch.cuda.get_device_capability(0)
    assert (card.major, card.name) == (major, torch.cuda.get_device_name(0))
    assert choose_precision("auto", card).dtype == ("bf16" if major >= 8 else "fp16")


def test_bf16_training_with_the_chunked_loss_on_the_gpu(tmp_path, train_file):
    """GPT-J's path on a GPU: bf16 weights, bf16 autocast, the chunked loss on (vocabulary
    50,400): it crashed in its first step before the loss took the final hidden state and
    cast it to the LM head's dtype. Weights load straight onto the GPU."""
    folder = small_gptj_folder(tmp_path)
    code, r = train(tmp_path, "bf16", folder, train_file)
    assert code == 0 and r["state"] == "finished", r["reason"]
    perf, hw = r["meta"]["performance"], r["meta"]["hardware"]
    assert perf["chunked_loss"] is True and perf["mixed_precision"] == "bf16"
    assert hw["dtype"] == "bf16" and hw["load_device_map"] == {"": 0} and hw["memory"]["fits"] is True
    assert all(math.isfinite(x) for x in r["loss"])
    code32, r32 = train(tmp_path, "fp32", folder, train_file, "model.dtype=fp32")
    assert code32 == 0
    for a, b in zip(r["loss"], r32["loss"], strict=False):
        assert abs(a - b) <= 0.03 * b, (r["loss"], r32["loss"])


def test_4bit_base_trains_with_the_runs_compute_dtype(tmp_path, train_file):
    """4-bit NF4 weights (bitsandbytes), prepared by PEFT; the compute dtype is the run's
    (bf16 here, fp16 on cards without bf16), and checkpointing is the plan's decision."""
    pytest.importorskip("bitsandbytes", reason="the GPU script carries the bitsandbytes wheel")
    folder = small_gptj_folder(tmp_path, hidden=256)
    seen: dict = {}

    from tuneguard.model import load as model_lib

    original = model_lib.apply_lora

    def spy(base, cfg):
        import bitsandbytes as bnb

        seen["4bit_layers"] = sum(isinstance(m, bnb.nn.Linear4bit) for m in base.modules())
        seen["compute_dtype"] = base.config.quantization_config.bnb_4bit_compute_dtype
        model, counts = original(base, cfg)
        seen["checkpointing"] = model.get_base_model().is_gradient_checkpointing
        return model, counts

    model_lib.apply_lora = spy
    try:
        code, r = train(tmp_path, "4bit", folder, train_file, "model.load_in_4bit=true")
    finally:
        model_lib.apply_lora = original
    assert code == 0 and r["state"] == "finished", r["reason"]
    assert seen["4bit_layers"] == 2 * 6  # q, k, v, out, fc_in, fc_out in each block
    assert seen["compute_dtype"] in (torch.bfloat16, "bfloat16")
    assert seen["checkpointing"] is False  # PEFT's preparation left it to the plan
    assert all(math.isfinite(x) for x in r["loss"])


def test_weights_load_straight_onto_the_gpu(tmp_path, train_file):
    """With the device map the recipe passes, the weights go to the GPU tensor by tensor: the
    host never holds the model (Colab's T4 machine has 12.7 GB of RAM for 12 GB of GPT-J)."""
    from tuneguard.model.load import load_base_model, load_tokenizer, setup_pad_token

    folder = small_gptj_folder(tmp_path, layers=4, hidden=2048)  # about 0.8 GB
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    cfg = load_config("gptj-6b-v2", [f"model.name={folder}", f"data.train_file={train_file}"])
    tok = load_tokenizer(cfg.model)
    setup_pad_token(tok, "auto")
    rss = psutil.Process().memory_info().rss
    model = load_base_model(cfg, tok, device_map={"": 0})
    grown = psutil.Process().memory_info().rss - rss
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert grown < 0.5 * size, (grown, size)


def test_fp16_overflowed_steps_are_skipped_not_halted(tmp_path, train_file):
    """fp16 with loss scaling: an overflowed step is skipped by the scaler and logged with an
    infinite gradient norm and a finite loss. Planted here (an infinite gradient at steps 2
    and 3); the run must go on to the end, with no NON_FINITE finding."""
    folder = small_gptj_folder(tmp_path, dtype="float16")
    from transformers import TrainerCallback

    class Overflow(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            calls = {"n": 0}
            param = next(p for n, p in model.named_parameters() if p.requires_grad and "lora_A" in n)

            def hook(grad):
                calls["n"] += 1
                return grad * float("inf") if calls["n"] in (2, 3) else grad

            param.register_hook(hook)

    code, r = train(tmp_path, "fp16", folder, train_file, "model.dtype=fp16", "train.logging_steps=1",
                    callbacks=[Overflow()])
    assert code == 0 and r["state"] == "finished", r["reason"]
    assert r["meta"]["performance"]["mixed_precision"] == "fp16"
    with RunStore(tmp_path / "fp16") as store:
        assert [f.code for f in store.findings() if f.code == "NON_FINITE"] == []
        norms = [m.get("grad_norm") for m in store.metrics("train")]
    assert any(n is not None and not math.isfinite(n) for n in norms), norms  # the skips were logged
