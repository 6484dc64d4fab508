"""The speed levers beyond the base plan (tuneguard.train.perf): adapter weights in the base's
dtype, torch.compile of the decoder layers with bounded shape buckets, liger-kernel's fused
linear cross-entropy, and padding-free (flattened) training batches. docs/PERFORMANCE.md says
what each does and what it costs.

Each lever has a config key whose `auto` follows `MEASURED_GAIN`: the ratio of tokens/s with
the lever alone to the same run without it, measured on a GPU by `bench/gpu_gptj.sh` (the
`levers` step). A lever that has no measurement, or one that did not pay (ratio <= 1.02), stays
off under `auto`; `true` (or `base`) turns it on wherever its conditions hold, and a lever that
cannot run here falls back with the reason logged. Nothing here changes a CPU run by default.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

IGNORE_INDEX = -100

# tokens/s with the lever alone over the same run without it, GPT-J-6B LoRA on one GPU
# (docs/BENCHMARKS.md, "Speed levers"). None: not measured yet, so `auto` leaves it off.
MEASURED_GAIN: dict[str, float | None] = {"adapter_dtype": None, "compile": None, "fused_linear_loss": None,
                                          "padding_free": None}
PAYS = 1.02  # below 2% a lever is noise on one run, and each one has a cost (see docs/PERFORMANCE.md)


def measured_to_pay(lever: str) -> tuple[bool, str]:
    gain = MEASURED_GAIN.get(lever)
    if gain is None:
        return False, "not yet measured to pay on a GPU"
    if gain <= PAYS:
        return False, f"measured {gain:.2f}x on a GPU: does not pay"
    return True, f"measured {gain:.2f}x on a GPU"


# --- adapter dtype --------------------------------------------------------------------

def base_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the frozen floating-point weights (what the adapters meet)."""
    for p in model.parameters():
        if not p.requires_grad and p.is_floating_point():
            return p.dtype
    return torch.float32


def choose_adapter_dtype(requested: str, model: nn.Module, device_type: str) -> tuple[torch.dtype | None, str]:
    """(dtype to cast the adapters to, or None to leave PEFT's fp32; reason) for
    `model.adapter_dtype`. Only a bf16 base: fp16 weights would need the fp32 master copy that
    the loss scaler unscales (the Trainer refuses to unscale fp16 gradients)."""
    base = base_dtype(model)
    if requested == "float32":
        return None, "configured"
    if base != torch.bfloat16:
        why = f"the base is {str(base).removeprefix('torch.')}, base-dtype adapters need bf16"
        if requested == "base":
            log.warning("model.adapter_dtype is base but %s: keeping float32 adapters", why)
            return None, f"configured, but {why}"
        return None, f"auto: float32, {why}"
    if requested == "base":
        return torch.bfloat16, "configured"
    pays, why = measured_to_pay("adapter_dtype")
    if pays and device_type == "cuda":
        return torch.bfloat16, f"auto: bf16, {why}"
    return None, f"auto: float32, {why}" if device_type == "cuda" else "auto: float32 off CUDA"


def cast_adapters(model: nn.Module, dtype: torch.dtype) -> int:
    """Cast the trainable (LoRA) parameters to `dtype` before the optimizer exists; returns
    how many. PEFT's `autocast_adapter_dtype` only ever upcasts, so this is done here."""
    n = 0
    for p in model.parameters():
        if p.requires_grad and p.is_floating_point() and p.dtype != dtype:
            p.data = p.data.to(dtype)
            n += 1
    return n


# --- compile with bounded shape buckets ----------------------------------------------

def bucket_sizes(max_length: int, buckets: int, multiple: int = 8) -> list[int]:
    """`buckets` evenly spaced sequence lengths up to max_length, each a multiple of `multiple`
    (max_length itself rounded up), without duplicates."""
    multiple = max(1, multiple)
    top = -(-max_length // multiple) * multiple
    sizes = sorted({max(multiple, -(-(top * i // buckets) // multiple) * multiple) for i in range(1, buckets + 1)})
    return sizes


class BucketPadding:
    """Training collate wrapper: pads every batch's sequence dimension up to the next bucket
    size (input_ids with the pad id, attention_mask 0, labels -100), so a compiled model sees a
    handful of shapes instead of one per batch width.

    A padding-free row (no attention_mask, position_ids) is padded the same way, its position
    ids with 0: every padding token then starts a sequence of its own (transformers finds packed
    sequences where the position ids do not go up by one), attends only to itself and is never
    supervised, so no real token sees it."""

    def __init__(self, inner: Any, sizes: Sequence[int], pad_token_id: int):
        self.inner, self.sizes, self.pad_token_id = inner, sorted(sizes), pad_token_id

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        width = batch["input_ids"].shape[-1]
        target = next((s for s in self.sizes if s >= width), width)
        if target > width:
            extra = target - width
            for key, value in (("input_ids", self.pad_token_id), ("attention_mask", 0), ("labels", IGNORE_INDEX),
                               ("position_ids", 0)):
                if key in batch:
                    batch[key] = F.pad(batch[key], (0, extra), value=value)
        return batch

    def __getattr__(self, name: str) -> Any:  # counters and settings of the wrapped collator
        return getattr(self.inner, name)


def decoder_layers(model: Any) -> nn.ModuleList | None:
    """The model's list of repeated decoder blocks (GPT-J's `transformer.h`, Llama's
    `model.layers`): the longest ModuleList of modules of one class."""
    best: nn.ModuleList | None = None
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and len({type(m) for m in module}) == 1 \
                and (best is None or len(module) > len(best)):
            best = module
    return best


def allow_recompiles(shapes: int) -> None:
    """Let dynamo keep two graphs per bucket size: every layer runs the same forward code, and
    the first layer's input (frozen embeddings) needs no gradient where the others' do, so a
    run makes 2 x buckets graphs of one code object. Past dynamo's recompile limit (8 by
    default: 4 buckets exactly) it would run the remaining sizes eagerly, with one warning."""
    import torch._dynamo.config as dynamo_config

    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    setattr(dynamo_config, name, max(getattr(dynamo_config, name), 2 * shapes + 2))


def compile_layers(layers: nn.ModuleList, backend: str = "inductor") -> int:
    """torch.compile each decoder layer for training (regional compilation: the layers share
    one compiled graph per shape, so compile time does not grow with depth), with static
    shapes (`dynamic=False`: one graph per bucket size instead of dynamic-shape kernels).

    In eval mode (the Trainer's evaluation, generation) a layer runs uncompiled: evaluation
    batches are padded to the collator's multiple, not to the buckets, and each of their
    widths would compile again. That is why the layer's forward is wrapped here instead of
    `nn.Module.compile()`, which compiles every call."""
    for layer in layers:
        eager = layer.forward
        compiled = torch.compile(eager, backend=backend, dynamic=False)

        def forward(*args: Any, _eager: Any = eager, _compiled: Any = compiled, _layer: nn.Module = layer,
                    **kwargs: Any) -> Any:
            return _compiled(*args, **kwargs) if _layer.training else _eager(*args, **kwargs)

        layer.forward = forward
    return len(layers)


def uncompile_layers(layers: nn.ModuleList) -> None:
    """Undo `compile_layers` (the bench reuses one base for runs with and without it)."""
    for layer in layers:
        layer.__dict__.pop("forward", None)


def choose_compile(cfg: Any, model: Any, device_type: str) -> tuple[bool, str]:
    """(on, reason) for `train.compile`."""
    requested = getattr(cfg.train, "compile", "auto")
    if requested is False:
        return False, "configured"
    if getattr(cfg.train, "torch_compile", False):
        return False, "train.torch_compile compiles the whole model instead"
    if decoder_layers(model) is None:
        return False, "the model has no list of decoder layers"
    if requested is True:
        return True, "configured"
    pays, why = measured_to_pay("compile")
    on = pays and device_type == "cuda"
    return on, f"auto: {'on' if on else 'off'}, {why}" if device_type == "cuda" else "auto: off, off CUDA"


# --- padding-free batches -------------------------------------------------------------

# The attention implementations for which transformers (masking_utils.create_causal_mask) finds
# the examples of a flattened row from its position ids when no attention mask is given
# (`find_packed_sequence_indices`) and keeps them apart: a block-diagonal causal mask for sdpa
# and eager, a block mask for flex attention, varlen boundaries for flash-attn.
PACKED_ATTENTION = ("flex_attention", "flash_attention_2", "flash_attention_3", "flash_attention_4", "sdpa", "eager")
# Those that skip the masked-out blocks: sdpa and eager compute (and eager stores) every score
# of the whole row, tokens x tokens, and mask most of them away.
SPARSE_PACKED_ATTENTION = ("flex_attention", "flash_attention_2", "flash_attention_3", "flash_attention_4")


def packing_support(model: Any, attention: str) -> str:
    """Why `model` cannot train on flattened rows with `attention` ("" when it can)."""
    from tuneguard.train.perf import unwrap

    m = unwrap(model)
    if "position_ids" not in inspect.signature(m.forward).parameters:
        return "the model's forward takes no position_ids"
    # The packed-sequence detection lives in transformers' mask builders; a model whose code
    # builds its own mask (older or remote code) would let the examples of a row attend to each other.
    if not hasattr(sys.modules.get(type(m).__module__), "create_causal_mask"):
        return "the model does not build its attention mask with transformers' create_causal_mask"
    if attention not in PACKED_ATTENTION:
        return f"attention {attention} does not keep flattened examples apart (sdpa, eager, flex_attention, flash-attn do)"
    return ""


def choose_padding_free(requested: Any, model: Any, attention: str, device_type: str, *,
                        collator: str = "tuneguard", attention_configured: bool = False) -> tuple[bool, str | None, str]:
    """(on, the attention to switch to or None, reason) for `train.padding_free`.

    On CUDA a flattened row wants an attention that skips the blocks between examples: flex
    attention (the H200 anchor's setting, docs/BENCHMARKS.md) replaces sdpa or eager when
    model.attn_implementation is auto and the model supports it; flash-attn, when auto chose
    it, stays (its varlen kernel is built for this). A configured attention is kept."""
    from tuneguard.train.perf import unwrap

    if requested is False:
        return False, None, "configured"
    missing = ("data.collator language_modeling builds its own padded labels" if collator == "language_modeling"
               else packing_support(model, attention))
    if requested is True:
        if missing:
            log.warning("train.padding_free is on but %s: padded batches instead", missing)
            return False, None, f"configured, but {missing}; padded batches instead"
        reason = "configured"
    else:
        if missing:
            return False, None, f"auto: off, {missing}"
        pays, why = measured_to_pay("padding_free")
        if not (pays and device_type == "cuda"):
            return False, None, f"auto: off, {why}" if device_type == "cuda" else "auto: off, off CUDA"
        reason = f"auto: on, {why}"
    if device_type != "cuda" or attention in SPARSE_PACKED_ATTENTION:
        return True, None, reason
    if not attention_configured and getattr(unwrap(model), "_supports_flex_attn", False):
        return True, "flex_attention", reason
    dense = f"{attention} computes every score of the whole row (flex_attention skips the blocks between examples)"
    return True, None, f"{reason}; {dense}"


# --- fused linear cross-entropy -------------------------------------------------------

def liger_installed() -> bool:
    from tuneguard.deps import installed

    return installed("liger_kernel")


def choose_fused_linear_loss(requested: Any, chunked_loss: bool, device_type: str) -> tuple[bool, str]:
    """(on, reason) for `train.fused_linear_loss`: liger-kernel's Triton kernel, only on CUDA,
    only where the chunked loss runs (it replaces the chunks: the same hidden state, the same
    supervised positions); otherwise the chunked loss stays."""
    if requested is False:
        return False, "configured"
    missing = ("the chunked loss is off" if not chunked_loss else
               "the device is not CUDA" if device_type != "cuda" else
               "liger-kernel is not installed (pip install liger-kernel)" if not liger_installed() else "")
    if requested is True:
        missing = missing or liger_import_error()
        if missing:
            log.warning("train.fused_linear_loss is on but %s: using the chunked loss", missing)
            return False, f"configured, but {missing}; the chunked loss instead"
        return True, "configured"
    if missing:
        return False, f"auto: off, {missing}"
    pays, why = measured_to_pay("fused_linear_loss")
    if pays and liger_import_error():
        return False, f"auto: off, {liger_import_error()}"
    return pays, f"auto: {'on' if pays else 'off'}, {why}"


def liger_import_error() -> str:
    """Why liger-kernel's fused loss cannot be imported here ("" when it can). Imported only once
    the run would use it: installed is not enough (it needs Triton and a torch it supports), and
    a failure in the first training step would lose the run's setup."""
    try:
        import liger_kernel.transformers.functional  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure means: use the chunked loss
        return f"liger-kernel does not import ({type(exc).__name__}: {exc})"
    return ""


def fused_linear_cross_entropy_sum(hidden: torch.Tensor, head: nn.Module, labels: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of `head(hidden)` against `labels` (supervised positions only),
    without the logits ever existing in full: liger-kernel's fused linear cross-entropy."""
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    weight = head.weight
    return liger_fused_linear_cross_entropy(hidden.to(weight.dtype), weight, labels, getattr(head, "bias", None),
                                            ignore_index=IGNORE_INDEX, reduction="sum").float()
