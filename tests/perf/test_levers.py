"""The speed levers (tuneguard.train.levers): each one's choice and fallback, bf16 adapters
against fp32 adapters, the shape buckets that bound torch.compile's compilations, the fused
linear cross-entropy's place in the loss."""

from __future__ import annotations

import random
import shutil

import pytest
import torch
import torch.nn.functional as F

from tests.perf.test_perf import gptj, lora
from tuneguard.config.schema import Config
from tuneguard.data.collate import PaddingCollator
from tuneguard.train import levers, perf


def cfg_with(**train: object) -> Config:
    cfg = Config()
    cfg.data.max_length = 128
    cfg.data.pad_to_multiple_of = 8
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


# --- choices --------------------------------------------------------------------------

def test_levers_stay_off_under_auto_until_a_gpu_measurement_says_they_pay(monkeypatch):
    m = lora(gptj(dtype=torch.bfloat16))
    assert levers.choose_adapter_dtype("auto", m, "cpu") == (None, "auto: float32 off CUDA")
    assert levers.choose_adapter_dtype("auto", m, "cuda") == (None, "auto: float32, not yet measured to pay on a GPU")
    assert levers.choose_compile(cfg_with(), m, "cuda") == (False, "auto: off, not yet measured to pay on a GPU")
    monkeypatch.setattr(levers, "liger_installed", lambda: True)
    assert levers.choose_fused_linear_loss("auto", True, "cuda") == (False, "auto: off, not yet measured to pay on a GPU")
    monkeypatch.setitem(levers.MEASURED_GAIN, "adapter_dtype", 1.25)
    monkeypatch.setitem(levers.MEASURED_GAIN, "compile", 1.01)
    monkeypatch.setitem(levers.MEASURED_GAIN, "fused_linear_loss", 1.10)
    assert levers.choose_adapter_dtype("auto", m, "cuda") == (torch.bfloat16, "auto: bf16, measured 1.25x on a GPU")
    assert levers.choose_adapter_dtype("auto", m, "cpu")[0] is None
    assert levers.choose_compile(cfg_with(), m, "cuda") == (False, "auto: off, measured 1.01x on a GPU: does not pay")
    monkeypatch.setattr(levers, "liger_import_error", lambda: "")
    assert levers.choose_fused_linear_loss("auto", True, "cuda") == (True, "auto: on, measured 1.10x on a GPU")


def test_base_dtype_adapters_need_a_bf16_base():
    fp32 = lora(gptj())
    assert levers.choose_adapter_dtype("base", fp32, "cpu") == (
        None, "configured, but the base is float32, base-dtype adapters need bf16")
    bf16 = lora(gptj(dtype=torch.bfloat16))
    assert levers.choose_adapter_dtype("base", bf16, "cpu") == (torch.bfloat16, "configured")
    assert levers.choose_adapter_dtype("float32", bf16, "cpu") == (None, "configured")


def test_fused_linear_loss_falls_back_to_the_chunked_loss_with_the_reason(monkeypatch):
    monkeypatch.setattr(levers, "liger_installed", lambda: False)
    assert levers.choose_fused_linear_loss(True, True, "cpu") == (
        False, "configured, but the device is not CUDA; the chunked loss instead")
    assert levers.choose_fused_linear_loss(True, True, "cuda") == (
        False, "configured, but liger-kernel is not installed (pip install liger-kernel); the chunked loss instead")
    assert levers.choose_fused_linear_loss(True, False, "cuda") == (
        False, "configured, but the chunked loss is off; the chunked loss instead")
    monkeypatch.setattr(levers, "liger_installed", lambda: True)
    monkeypatch.setattr(levers, "liger_import_error", lambda: "")
    assert levers.choose_fused_linear_loss(True, True, "cuda") == (True, "configured")
    assert levers.choose_fused_linear_loss(False, True, "cuda") == (False, "configured")
    # Installed but broken (no Triton, say): the chunked loss, before training starts.
    monkeypatch.setattr(levers, "liger_import_error", lambda: "liger-kernel does not import (ImportError: triton)")
    assert levers.choose_fused_linear_loss(True, True, "cuda") == (
        False, "configured, but liger-kernel does not import (ImportError: triton); the chunked loss instead")


def test_the_plan_on_cpu_keeps_the_chunked_loss_when_the_fused_loss_is_asked_for():
    m = lora(gptj(vocab=640))
    cfg = cfg_with(chunked_loss=True, fused_linear_loss=True)
    plan = perf.plan_performance(cfg, m, use_cpu=True)
    try:
        assert (plan.chunked_loss, plan.fused_linear_loss, plan.loss_func.fused) == (True, False, False)
        assert plan.fused_linear_loss_reason == "configured, but the device is not CUDA; the chunked loss instead"
        assert plan.as_dict()["adapter_dtype"] == "float32" and plan.compiled_layers == 0
    finally:
        plan.loss_func.close()


def test_the_fused_loss_gets_the_supervised_hidden_states_and_labels(monkeypatch):
    """The fused path hands liger the same rows the chunks would see: with a reference in
    liger's place the loss equals the model's own."""
    m = lora(gptj(vocab=640))
    seen = {}

    def reference(hidden, head, labels):
        seen["rows"] = labels.numel()
        return F.cross_entropy(head(hidden).float(), labels, reduction="sum")

    monkeypatch.setattr(levers, "fused_linear_cross_entropy_sum", reference)
    loss = perf.CausalLMLoss(m, chunked=True, fused=True)
    ids = torch.randint(1, 600, (2, 20))
    labels = ids.clone()
    labels[:, :7] = -100
    try:
        full = m(input_ids=ids, labels=labels).loss
        out = m(input_ids=ids, logits_to_keep=1)
        torch.testing.assert_close(loss(out, labels), full, atol=1e-5, rtol=1e-5)
    finally:
        loss.close()
    assert seen["rows"] == 2 * (20 - 7)  # labels 7..19 of each row, each predicted from the position before


# --- bf16 adapters --------------------------------------------------------------------

def _losses(adapter_dtype: str, steps: int = 8) -> tuple[list[float], torch.dtype]:
    m = lora(gptj(vocab=640, dtype=torch.bfloat16, seed=3))
    cfg = cfg_with()
    cfg.model.adapter_dtype = adapter_dtype
    plan = perf.plan_performance(cfg, m, use_cpu=True)
    dtype = next(p.dtype for p in m.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=5e-3)
    gen = torch.Generator().manual_seed(0)
    data = [torch.randint(1, 600, (4, 32), generator=gen) for _ in range(2)]  # learnable: seen again and again
    out = []
    for step in range(steps):
        ids = data[step % 2]
        with torch.autocast("cpu", dtype=torch.bfloat16):  # the Trainer's bf16 mixed precision on the CPU
            loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        out.append(loss.item())
    assert plan.adapter_dtype == ("bfloat16" if adapter_dtype == "base" else "float32")
    return out, dtype


def test_bf16_adapters_follow_the_fp32_adapters_loss_curve():
    """A bf16 base with bf16 LoRA weights against PEFT's fp32 LoRA weights, the same batches,
    8 AdamW steps at a learning rate that moves the loss: every step's loss within 0.1% (measured
    on this tiny model: at most 0.01%), and the curve falls for both."""
    fp32, d32 = _losses("float32")
    bf16, d16 = _losses("base")
    assert (d32, d16) == (torch.float32, torch.bfloat16)
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(a - b) / a < 0.001, (fp32, bf16)
    assert fp32[-1] < fp32[0] and bf16[-1] < bf16[0]


def test_activation_estimate_with_bf16_adapters_matches_saved_tensors_per_layer():
    """`activation_bytes(bf16_adapters=True)` against a measurement (bf16 base and bf16 LoRA
    with dropout, autocast): the marginal bytes of one more layer, within 15% and not below
    it; and 8.5 bytes per hidden unit less than with fp32 adapters."""
    hidden, inner, batch, seq = 128, 512, 2, 128

    def measured(layers: int, bf16: bool) -> int:
        m = gptj(layers=layers, hidden=hidden, dtype=torch.bfloat16, inner=inner, vocab=128)
        perf.fuse_gelu(m)
        m = lora(m, dropout=0.1)
        if bf16:
            levers.cast_adapters(m, torch.bfloat16)
        m.train()
        return perf.measure_saved_bytes(m, {"input_ids": torch.randint(1, 128, (batch, seq))}, torch.bfloat16)

    per_layer = measured(3, True) - measured(2, True)
    shape = perf.Shape(layers=1, hidden=hidden, heads=4, intermediate=inner, vocab=0)
    kw = dict(attention="sdpa", checkpointing=False, chunked_loss=False, fused_gelu=True)
    est = perf.activation_bytes(shape, batch, seq, bf16_adapters=True, **kw)
    assert per_layer * 0.97 <= est < per_layer * 1.15, (est, per_layer)
    fp32 = perf.activation_bytes(shape, batch, seq, **kw)
    assert fp32 - est == 8.5 * hidden * batch * seq
    assert measured(3, False) - measured(2, False) > per_layer  # fp32 adapters keep more


# --- compile with shape buckets -------------------------------------------------------

def test_bucket_padding_pads_every_batch_up_to_the_next_bucket():
    assert levers.bucket_sizes(128, 4, 8) == [32, 64, 96, 128]
    assert levers.bucket_sizes(100, 3, 64) == [64, 128]
    pad = levers.BucketPadding(PaddingCollator(9, 8, 128), [16, 32], pad_token_id=9)
    batch = pad([{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4, 5], "labels": [4, 5]}])
    assert batch["input_ids"].tolist() == [[1, 2, 3] + [9] * 13, [4, 5] + [9] * 14]
    assert batch["attention_mask"].tolist() == [[1] * 3 + [0] * 13, [1] * 2 + [0] * 14]
    assert batch["labels"].tolist() == [[-100, 2, 3] + [-100] * 13, [4, 5] + [-100] * 14]
    wide = pad([{"input_ids": list(range(1, 41)), "labels": list(range(1, 41))}])
    assert wide["input_ids"].shape == (1, 40)  # wider than every bucket: left as collated


def test_the_compile_buckets_fit_dynamos_recompile_limit():
    """Two graphs per bucket size share the layers' one forward code (below): 6 buckets make
    12, past dynamo's default limit of 8, after which it would run the remaining sizes eagerly
    (on GPT-J-6B too, whose 28 layers share the graphs like these 3)."""
    import torch._dynamo.config as dynamo_config

    # Saved and restored by hand: monkeypatch's undo deletes a torch config entry (it reads
    # as not set on the module), which hides it for every later test.
    before = dynamo_config.recompile_limit
    dynamo_config.recompile_limit = 8
    try:
        m = lora(gptj(layers=3, vocab=640))
        plan = perf.plan_performance(cfg_with(compile=True, compile_backend="aot_eager", compile_buckets=6), m, use_cpu=True)
        assert (plan.compiled_layers, len(plan.compile_buckets)) == (3, 6)
        assert dynamo_config.recompile_limit == 14
        levers.uncompile_layers(levers.decoder_layers(m))
        levers.allow_recompiles(2)  # never lowers it
        assert dynamo_config.recompile_limit == 14
    finally:
        dynamo_config.recompile_limit = before


@pytest.mark.slow
def test_compiled_layers_compile_once_per_bucket_over_batches_of_many_lengths():
    """24 training batches of 24 different widths compile two graphs per bucket (4 buckets),
    whatever the depth: every layer shares one graph per bucket except the first, whose input
    (frozen embeddings) needs no gradient; evaluation (eval mode) compiles nothing; the compiled
    layers compute the eager model's loss. The backend is aot_eager (forward and backward
    graphs through AOT autograd, no code generation): gcc is here, so inductor would run, but
    its C++ code generation of these 8 graphs takes 2.5 minutes on a 2-core CI machine, and the
    count is dynamo's, made before any backend sees a graph."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    assert shutil.which("gcc") or shutil.which("cc")  # inductor's CPU backend would work here
    backend = "aot_eager"
    torch._dynamo.reset()
    counters.clear()
    m = lora(gptj(layers=3, vocab=640))
    eager_ids = torch.randint(1, 600, (3, 40))
    with torch.no_grad():
        eager_loss = m(input_ids=eager_ids, labels=eager_ids).loss
    cfg = cfg_with(compile=True, compile_backend=backend, compile_buckets=4)
    plan = perf.plan_performance(cfg, m, use_cpu=True)
    assert (plan.compiled_layers, plan.compile_buckets, plan.compile_reason) == (3, [32, 64, 96, 128], "configured")
    collate = plan.train_collate_wrapper()(PaddingCollator(0, 8, 128))
    rng = random.Random(0)
    widths = rng.sample(range(6, 128), 24)
    m.train()
    for w in widths:
        batch = collate([{"input_ids": [rng.randrange(1, 600) for _ in range(w)], "labels": [1] * w} for _ in range(3)])
        assert batch["input_ids"].shape[1] in plan.compile_buckets
        m(**batch).loss.backward()
    graphs = counters["stats"]["unique_graphs"]
    assert graphs == 2 * len(plan.compile_buckets), dict(counters["stats"])
    m.eval()
    with torch.no_grad():
        for w in (7, 13, 50):
            m(input_ids=torch.randint(1, 600, (2, w)))
        eval_loss = m(input_ids=eager_ids, labels=eager_ids).loss
    assert counters["stats"]["unique_graphs"] == graphs
    m.train()
    with torch.no_grad():  # compiled (training mode) against eager: the same loss
        compiled_loss = m(input_ids=eager_ids, labels=eager_ids, attention_mask=torch.ones_like(eager_ids)).loss
    torch.testing.assert_close(eval_loss, eager_loss)
    torch.testing.assert_close(compiled_loss, eager_loss, atol=1e-4, rtol=1e-4)
    torch._dynamo.reset()
