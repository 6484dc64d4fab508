"""Automatic choices (attention, gradient checkpointing), the activation-memory estimate held
to a measurement, the fused GELU and the chunked cross-entropy against the model's loss."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, GPTJConfig, LlamaConfig

from tuneguard.train import perf


def gptj(layers: int = 2, hidden: int = 64, heads: int = 4, vocab: int = 640, attn: str = "sdpa",
         dtype: torch.dtype = torch.float32, inner: int | None = None, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    conf = GPTJConfig(vocab_size=vocab, n_positions=512, n_embd=hidden, n_layer=layers, n_head=heads, rotary_dim=8,
                      n_inner=inner, bos_token_id=0, eos_token_id=0, initializer_range=0.1)
    conf._attn_implementation = attn
    return AutoModelForCausalLM.from_config(conf, dtype=dtype)


def lora(model: torch.nn.Module, dropout: float = 0.0) -> torch.nn.Module:
    return get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=dropout, task_type="CAUSAL_LM",
                                            target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]))


# --- attention ------------------------------------------------------------------------

def test_attention_auto_picks_sdpa_on_cpu_and_keeps_a_configured_choice():
    m = lora(gptj())
    assert perf.choose_attention("auto", m, "cpu")[0] == "sdpa"
    assert perf.choose_attention("eager", m, "cpu") == ("eager", "configured")
    perf.apply_attention(m, "eager")
    assert perf.unwrap(m).config._attn_implementation == "eager"
    assert perf.apply_attention(m, "sdpa") == "sdpa"


def test_attention_auto_prefers_flash_attn_on_cuda_when_installed(monkeypatch):
    m = gptj(dtype=torch.bfloat16)
    monkeypatch.setattr(perf, "flash_attn_installed", lambda: True)
    assert perf.choose_attention("auto", m, "cuda")[0] == "flash_attention_2"
    assert perf.choose_attention("auto", m, "cpu")[0] == "sdpa"
    monkeypatch.setattr(perf, "flash_attn_installed", lambda: False)
    assert perf.choose_attention("auto", m, "cuda")[0] == "sdpa"
    monkeypatch.setattr(type(m), "_supports_sdpa", False)
    assert perf.choose_attention("auto", m, "cuda")[0] == "eager"


# --- fused GELU -----------------------------------------------------------------------

def test_fused_gelu_computes_the_same_function():
    m = gptj(layers=3)
    ids = torch.randint(1, 600, (2, 24))
    with torch.no_grad():
        before = m(input_ids=ids).logits
        assert perf.fuse_gelu(m) == 3
        after = m(input_ids=ids).logits
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    assert perf.fuse_gelu(m) == 0


# --- memory estimate ------------------------------------------------------------------

@pytest.mark.parametrize("attn,fused", [("sdpa", True), ("sdpa", False), ("eager", True)])
def test_activation_estimate_matches_saved_tensors_per_layer(attn, fused):
    """The per-layer coefficients of `activation_bytes` against a measurement (bf16 base,
    fp32 LoRA with dropout, autocast): the marginal bytes of one more layer."""
    hidden, inner, batch, seq = 128, 512, 2, 128

    def measured(layers: int) -> int:
        m = gptj(layers=layers, hidden=hidden, attn=attn, dtype=torch.bfloat16, inner=inner, vocab=128)
        if fused:
            perf.fuse_gelu(m)
        m = lora(m, dropout=0.1)
        m.train()
        ids = torch.randint(1, 128, (batch, seq))
        return perf.measure_saved_bytes(m, {"input_ids": ids}, torch.bfloat16)

    per_layer = measured(3) - measured(2)
    shape = perf.Shape(layers=1, hidden=hidden, heads=4, intermediate=inner, vocab=0)
    est = perf.activation_bytes(shape, batch, seq, attention=attn, checkpointing=False, chunked_loss=False,
                                fused_gelu=fused)
    slack = 0.15 if attn == "sdpa" else 0.6  # eager's coefficient is the GPU anchor's (CPU keeps less)
    assert abs(est - per_layer) / per_layer < slack, (est, per_layer)
    if attn == "sdpa":
        assert est >= per_layer * 0.97  # an estimate for a fit decision errs on the high side


def test_gptj_6b_estimate_reproduces_the_h200_anchor():
    """docs/BENCHMARKS.md, GPU anchors: batch 16 of 512-token examples, sdpa, no checkpointing: 87 GB."""
    shape = perf.model_shape(GPTJConfig())
    weights = 6.05e9 * 2
    est = (weights + perf.activation_bytes(shape, 16, 512, attention="sdpa", checkpointing=False,
                                           chunked_loss=False, fused_gelu=False)) / perf.GB
    assert 70 < est < 95, est
    ckpt = (weights + perf.activation_bytes(shape, 16, 512, attention="sdpa", checkpointing=True,
                                            chunked_loss=True, fused_gelu=True)) / perf.GB
    assert ckpt < 20, ckpt


def test_checkpointing_auto_turns_on_only_when_the_estimate_does_not_fit():
    m = lora(gptj())
    kw = dict(batch_size=8, seq_len=128, attention="sdpa", chunked_loss=False, fused_gelu=True, device_type="cpu")
    on, why, without, with_ckpt, budget = perf.choose_checkpointing("auto", m, budget_gb=64.0, **kw)
    assert not on and "fits" in why and with_ckpt < without
    on, why, *_ = perf.choose_checkpointing("auto", m, budget_gb=without * 0.9, **kw)
    assert on and "exceeds" in why
    assert perf.choose_checkpointing(True, m, budget_gb=64.0, **kw)[:2] == (True, "configured")
    assert perf.choose_checkpointing(False, m, budget_gb=1e-6, **kw)[:2] == (False, "configured")


# --- chunked cross-entropy ------------------------------------------------------------

def _batch(vocab: int, b: int = 3, length: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, vocab, (b, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 30:] = 0
    mask[2, 12:] = 0
    labels = ids.clone()
    labels[:, :7] = -100  # prompt
    labels[mask == 0] = -100
    return ids, mask, labels


def _lm_grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("arch", ["gptj", "llama"])
@pytest.mark.parametrize("with_num_items", [False, True])
def test_chunked_loss_equals_the_models_loss_and_gradients(arch, with_num_items):
    if arch == "gptj":
        base = gptj(vocab=640)
    else:
        torch.manual_seed(0)
        base = AutoModelForCausalLM.from_config(LlamaConfig(vocab_size=640, hidden_size=64, intermediate_size=128,
                                                            num_hidden_layers=2, num_attention_heads=4,
                                                            num_key_value_heads=2, max_position_embeddings=128))
    model = lora(base)
    ids, mask, labels = _batch(600)
    num_items = torch.tensor(int((labels[:, 1:] != -100).sum()) + 5) if with_num_items else None
    extra = {"num_items_in_batch": num_items} if with_num_items else {}

    ref = model(input_ids=ids, attention_mask=mask, labels=labels, **extra).loss
    ref.backward()
    ref_grads = _lm_grads(model)
    model.zero_grad()

    loss_fn = perf.CausalLMLoss(model, chunk_tokens=16)  # several chunks
    wrapped = perf.HiddenStatesInputs(lambda f: {"input_ids": ids, "attention_mask": mask})([])
    out = model(**wrapped)
    assert out.logits.shape[1] == 1  # the full logits were never computed
    loss = loss_fn(out, labels, num_items_in_batch=num_items)
    loss.backward()
    assert abs(loss.item() - ref.item()) < 1e-5
    for name, g in _lm_grads(model).items():
        torch.testing.assert_close(g, ref_grads[name], atol=1e-5, rtol=1e-4, msg=name)

    # Evaluation batches bring full logits: the same loss from them.
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask)
        assert abs(loss_fn(full, labels).item() - model(input_ids=ids, attention_mask=mask, labels=labels).loss.item()) < 1e-5


def test_chunked_loss_brings_an_fp32_hidden_state_to_a_bf16_head():
    """On a GPU the model runs under bf16 autocast, where the decoder's final LayerNorm returns
    fp32, and the Trainer's loss function runs outside autocast (accelerate wraps only the
    forward): the bf16 LM head then met an fp32 hidden state ("mat1 and mat2 must have the
    same dtype"). Here the forward runs under CPU autocast and a hook ahead of the loss's own
    plays CUDA's fp32 LayerNorm output; the loss must still equal the model's own."""
    model = lora(gptj(dtype=torch.bfloat16))
    model.get_base_model().transformer.register_forward_hook(
        lambda mod, args, out: out.__class__(last_hidden_state=out.last_hidden_state.float()))
    loss_fn = perf.CausalLMLoss(model, chunk_tokens=16)
    ids, mask, labels = _batch(600)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(input_ids=ids, attention_mask=mask, logits_to_keep=1)
    loss = loss_fn(out, labels)  # outside autocast, as in the Trainer
    assert loss_fn._hidden is None  # nothing of the batch is kept after the loss
    loss.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        ref = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        assert loss_fn._hidden is None  # evaluation forwards are not captured
    assert loss.dtype == torch.float32 and abs(loss.item() - ref.item()) < 0.02 * ref.item()
    loss_fn.close()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=ids, attention_mask=mask, logits_to_keep=1)
    assert loss_fn._hidden is None  # the hook is gone


def test_chunked_loss_auto_is_on_for_large_vocabularies_only():
    from tuneguard.config.schema import Config

    cfg = Config()
    cfg.model.attn_implementation = "auto"
    cfg.data.max_length = 64
    small = perf.plan_performance(cfg, lora(gptj(vocab=640)), use_cpu=True)
    assert not small.chunked_loss and small.loss_func is None and small.train_collate_wrapper() is None
    big = perf.plan_performance(cfg, lora(gptj(vocab=32_064, hidden=32, layers=1)), use_cpu=True)
    assert big.chunked_loss and isinstance(big.loss_func, perf.CausalLMLoss)
    assert big.attention == "sdpa" and big.fused_gelu == 1 and not big.gradient_checkpointing
    assert set(big.as_dict()) >= {"attention", "gradient_checkpointing", "chunked_loss", "estimated_peak_gb"}
