"""Automatic speed and memory choices for a run: attention kernel, gradient checkpointing,
fused GELU, chunked cross-entropy.

`plan_performance` makes every choice once, before the Trainer is built, logs each with its
reason, and returns a `PerfPlan` the recipe passes on (and records in the run store).

- Attention ("auto"): flash_attention_2 where the package is installed, the device is CUDA
  and the model supports it in bf16/fp16; else sdpa where the model supports it; else eager.
- Gradient checkpointing ("auto"): on only when the estimated peak memory of the largest
  micro-batch (weights + optimizer state + activations) does not fit the device with a
  margin. Recomputation costs about a third more compute, so it is never on by default
  when memory allows.
- Fused GELU: GPT-J-style models spell the tanh-approximate GELU as six elementwise ops
  (transformers' NewGELUActivation), each a kernel and a saved activation; PyTorch's
  `gelu(approximate="tanh")` is the same function in one kernel.
- Chunked cross-entropy ("auto": vocabularies of 32k tokens or more): the loss is computed
  from the final hidden states in chunks through the LM head, only at supervised positions,
  so the full fp32 logits of the batch (tokens x vocab x 4 bytes, ~1.6 GB for 8k tokens of
  GPT-J, several copies of it in the backward) never exist at once. The final hidden state
  is taken from the decoder's output by a forward hook, not through `output_hidden_states`:
  that returns every layer's hidden states, which accelerate's mixed-precision wrapper turns
  into fp32 copies (~0.47 MB per token for GPT-J) that nothing needs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import logging
import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

GB = 1024**3
IGNORE_INDEX = -100

# Bytes kept for backward per token, per layer, for a LoRA run with 16-bit base weights and
# fp32 adapters under autocast, measured with saved-tensor hooks on GPT-J-architecture
# models (bf16, LoRA on q/k/v/out with dropout; `measure_saved_bytes`, re-checked by
# tests/perf/test_perf.py): 35.6 x hidden + 2 x intermediate, and 6 more per intermediate
# unit when GELU is spelled as elementwise ops. Eager attention adds its score matrices:
# 4 bytes per score, from the H200 anchor (eager 95 GB vs sdpa 87 GB at 16 x 512 tokens of
# GPT-J-6B, docs/BENCHMARKS.md, GPU anchors). With these, that sdpa anchor is predicted at 81 GB.
LINEAR_BYTES_PER_HIDDEN = 36.0
MLP_BYTES_PER_INTERMEDIATE = 2.0
UNFUSED_GELU_BYTES_PER_INTERMEDIATE = 6.0
EAGER_ATTN_BYTES_PER_SCORE = 4.0
# LoRA weights in the base's bf16 (model.adapter_dtype base) keep 8.5 bytes per hidden unit per
# token and layer less: PEFT's fp32 adapters save an fp32 copy of each adapter's input for
# backward (measured like the coefficients above: 42.5 x hidden per layer with fp32 adapters,
# 34.0 with bf16 ones; tests/perf/test_levers.py).
FP32_ADAPTER_INPUT_BYTES_PER_HIDDEN = 8.5
# Peak bytes per logit of the loss without chunking: 16-bit logits, their fp32 copy, the
# saved log-softmax and the fp32 gradient.
LOSS_BYTES_PER_LOGIT = 14.0
# A padding-free row under sdpa: the boolean block-diagonal mask over the row (one byte per
# pair of its tokens, built once) becomes, in every layer, an additive mask in the 16-bit
# activations' dtype that the layer keeps for backward: 2 bytes per pair per layer (measured
# per layer on the tiny GPT-J, tests/perf/test_padding_free.py). It grows with the square of the
# row: 235 MB over GPT-J-6B's 28 layers for a 2,048-token row, 15 GB for 16,384 tokens.
SDPA_MASK_BYTES_PER_PAIR = 2.0


@dataclasses.dataclass
class PerfPlan:
    """The automatic choices of one run and why each was made."""

    attention: str = "eager"
    attention_reason: str = ""
    gradient_checkpointing: bool = False
    checkpointing_reason: str = ""
    estimated_peak_gb: float | None = None
    estimated_peak_checkpointed_gb: float | None = None
    memory_budget_gb: float | None = None
    fused_gelu: int = 0
    chunked_loss: bool = False
    chunked_loss_reason: str = ""
    token_weighted_loss: bool = False
    # The levers of tuneguard.train.levers: each on or off, and why.
    adapter_dtype: str = "float32"
    adapter_dtype_reason: str = ""
    compiled_layers: int = 0
    compile_reason: str = ""
    compile_buckets: list[int] = dataclasses.field(default_factory=list)
    fused_linear_loss: bool = False
    fused_linear_loss_reason: str = ""
    padding_free: bool = False
    padding_free_reason: str = ""
    pad_token_id: int = 0
    loss_func: Any = dataclasses.field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every field, and the loss holds a model hook.
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "loss_func"}

    def train_collate_wrapper(self) -> Any:
        """Wraps the training collator to pad widths up to the compile buckets and to ask for
        hidden states (chunked loss); None when neither applies."""
        from tuneguard.train.levers import BucketPadding

        wrappers: list[Any] = []
        if self.compiled_layers and self.compile_buckets:
            sizes, pad = list(self.compile_buckets), self.pad_token_id
            wrappers.append(lambda inner: BucketPadding(inner, sizes, pad))
        if self.chunked_loss:
            wrappers.append(HiddenStatesInputs)
        if not wrappers:
            return None

        def wrap(inner: Any) -> Any:
            for w in wrappers:
                inner = w(inner)
            return inner

        return wrap


# --- model introspection --------------------------------------------------------------

def unwrap(model: Any) -> Any:
    """The transformers model inside a PEFT wrapper (or the model itself)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


@dataclasses.dataclass
class Shape:
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int


def model_shape(config: Any) -> Shape:
    def first(*names: str, default: int | None = None) -> int:
        for n in names:
            v = getattr(config, n, None)
            if isinstance(v, int) and v > 0:
                return v
        if default is None:
            raise ValueError(f"model config has none of {names}")
        return default

    hidden = first("hidden_size", "n_embd", "d_model")
    return Shape(layers=first("num_hidden_layers", "n_layer", "num_layers"), hidden=hidden,
                 heads=first("num_attention_heads", "n_head", default=max(1, hidden // 64)),
                 intermediate=first("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden),
                 vocab=first("vocab_size"))


# --- attention ------------------------------------------------------------------------

def flash_attn_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def choose_attention(requested: str, model: Any, device_type: str) -> tuple[str, str]:
    """(implementation, reason) for `model.attn_implementation`."""
    if requested != "auto":
        return requested, "configured"
    m = unwrap(model)
    dtype = getattr(m, "dtype", torch.float32)
    if (device_type == "cuda" and flash_attn_installed() and getattr(m, "_supports_flash_attn", False)
            and dtype in (torch.bfloat16, torch.float16)):
        return "flash_attention_2", "auto: flash-attn installed, CUDA, 16-bit weights"
    if getattr(m, "_supports_sdpa", False):
        return "sdpa", "auto: the model supports PyTorch SDPA" + \
            ("" if device_type == "cuda" else "; flash-attn needs CUDA")
    return "eager", "auto: the model supports neither flash-attn nor SDPA in this transformers"


def apply_attention(model: Any, impl: str) -> str:
    """Switch the loaded model to `impl`; returns what it runs (eager when the switch fails)."""
    m = unwrap(model)
    current = getattr(m.config, "_attn_implementation", None)
    if current == impl:
        return impl
    try:
        m.set_attn_implementation(impl)
    except (ValueError, ImportError) as exc:
        log.warning("attention %s is not available (%s); keeping %s", impl, exc, current)
        return current or "eager"
    return getattr(m.config, "_attn_implementation", impl)


# --- fused GELU -----------------------------------------------------------------------

def fuse_gelu(model: nn.Module) -> int:
    """Replace tanh-approximate GELUs written as elementwise ops by PyTorch's fused kernel.

    Returns the number of modules replaced. The function is the same (to float rounding);
    the fused kernel reads and writes the tensor once and saves only its input for backward.
    """
    from transformers.activations import FastGELUActivation, NewGELUActivation

    targets = (NewGELUActivation, FastGELUActivation)
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, targets):
                setattr(parent, name, nn.GELU(approximate="tanh"))
                replaced += 1
    return replaced


# --- memory estimate ------------------------------------------------------------------

def activation_bytes(shape: Shape, batch_size: int, seq_len: int, *, attention: str, checkpointing: bool,
                     chunked_loss: bool, fused_gelu: bool, chunk_tokens: int = 4096, bf16_adapters: bool = False,
                     packed: bool = False) -> float:
    """Estimated bytes held for backward by one micro-batch of batch_size x seq_len tokens
    (`packed`: a padding-free row, batch_size 1, of seq_len real tokens)."""
    tokens = batch_size * seq_len
    per_token_layer = LINEAR_BYTES_PER_HIDDEN * shape.hidden + MLP_BYTES_PER_INTERMEDIATE * shape.intermediate
    if bf16_adapters:
        per_token_layer -= FP32_ADAPTER_INPUT_BYTES_PER_HIDDEN * shape.hidden
    if not fused_gelu:
        per_token_layer += UNFUSED_GELU_BYTES_PER_INTERMEDIATE * shape.intermediate
    if attention == "eager":
        per_token_layer += EAGER_ATTN_BYTES_PER_SCORE * shape.heads * seq_len
    if checkpointing:
        # Only each layer's input is kept (16-bit), plus one layer recomputed at a time.
        layers = 2.0 * shape.hidden * tokens * shape.layers + per_token_layer * tokens
    else:
        layers = per_token_layer * tokens * shape.layers
    loss_tokens = min(tokens, chunk_tokens) if chunked_loss else tokens
    mask = 0.0
    if packed and attention in ("sdpa", "eager"):
        # The boolean block-diagonal mask over the whole flattened row, tokens x tokens, built
        # once; sdpa keeps an additive copy per layer (one layer at a time when recomputed).
        # Eager's scores over the row are counted above (seq_len is the row).
        pairs = float(tokens) * tokens
        mask = pairs
        if attention == "sdpa":
            mask += SDPA_MASK_BYTES_PER_PAIR * pairs * (1 if checkpointing else shape.layers)
    return layers + LOSS_BYTES_PER_LOGIT * loss_tokens * shape.vocab + mask


def static_bytes(model: nn.Module) -> float:
    """Weights plus, for trainable parameters, fp32 gradient and two Adam moments."""
    total = 0.0
    for p in model.parameters():
        total += p.numel() * p.element_size()
        if p.requires_grad:
            total += p.numel() * 4 * 3
    return total


def device_memory_bytes(device_type: str) -> float:
    if device_type == "cuda" and torch.cuda.is_available():
        return float(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory)
    import psutil

    return float(psutil.virtual_memory().available)


def choose_checkpointing(requested: bool | str, model: nn.Module, *, batch_size: int, seq_len: int,
                         attention: str, chunked_loss: bool, fused_gelu: bool, device_type: str,
                         budget_gb: float | None, margin: float = 0.15,
                         bf16_adapters: bool = False, packed: bool = False) -> tuple[bool, str, float, float, float]:
    """(enable, reason, peak GB without, peak GB with checkpointing, budget GB). `packed`: the
    micro-batch is one padding-free row of seq_len real tokens (batch_size 1)."""
    shape = model_shape(unwrap(model).config)
    fixed = static_bytes(model)
    kw = dict(attention=attention, chunked_loss=chunked_loss, fused_gelu=fused_gelu, bf16_adapters=bf16_adapters,
              packed=packed)
    without = (fixed + activation_bytes(shape, batch_size, seq_len, checkpointing=False, **kw)) / GB
    with_ckpt = (fixed + activation_bytes(shape, batch_size, seq_len, checkpointing=True, **kw)) / GB
    budget = budget_gb if budget_gb else device_memory_bytes(device_type) / GB
    if requested is True or requested is False:
        return bool(requested), "configured", without, with_ckpt, budget
    usable = budget * (1.0 - margin)
    if without <= usable:
        return False, (f"auto: est. peak {without:.1f} GB fits {usable:.1f} GB "
                       f"({100 * (1 - margin):.0f}% of {budget:.1f} GB)"), without, with_ckpt, budget
    return True, (f"auto: est. peak {without:.1f} GB exceeds {usable:.1f} GB; "
                  f"with checkpointing {with_ckpt:.1f} GB"), without, with_ckpt, budget


def measure_saved_bytes(model: nn.Module, batch: dict[str, torch.Tensor], autocast_dtype: torch.dtype | None = None) -> int:
    """Bytes of the tensors one forward keeps for backward (activations; parameters and
    shared storages counted once / not at all): the quantity `activation_bytes` estimates."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
        return t

    device = next(model.parameters()).device.type
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast(device, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            out = model(**batch)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    del out
    return sum(n for ptr, n in seen.items() if ptr not in params)


# --- chunked cross-entropy ------------------------------------------------------------

class HiddenStatesInputs:
    """Training collate wrapper for the chunked loss: asks the model for only the last
    position's logits (the loss computes the rest in chunks from the final hidden state,
    which `CausalLMLoss` captures with a hook on the decoder)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        batch["logits_to_keep"] = 1
        return batch

    def __getattr__(self, name: str) -> Any:  # counters and settings of the wrapped collator
        return getattr(self.inner, name)


def decoder_of(model: Any) -> nn.Module:
    """The module whose output is the final (normed) hidden state that feeds the LM head:
    the transformers base model inside the causal-LM wrapper (GPT-J's `transformer`,
    Llama's `model`)."""
    m = unwrap(model)
    base = getattr(m, "base_model", None)
    if not isinstance(base, nn.Module) or base is m:
        raise ValueError("the model has no separate decoder module to take the final hidden state from")
    return base


class CausalLMLoss:
    """A Trainer `compute_loss_func` equal to the model's causal-LM loss (labels shifted
    inside, -100 ignored, sum / num_items_in_batch or the mean), with two additions.

    Chunked (`chunked=True`, with batches from `HiddenStatesInputs`, whose logits cover only
    the last position): the loss is computed from the final hidden state through the LM head
    in chunks of `chunk_tokens` supervised positions, each chunk checkpointed, so only one
    chunk's logits exist at a time, forward or backward; prompt and padding positions never
    reach the LM head. The final hidden state comes from a forward hook on the decoder (one
    tensor, in the dtype the model computed it in), and each chunk goes through the head in
    the head's own dtype: under bf16/fp16 mixed precision the loss runs outside autocast,
    where an fp32 hidden state would not multiply with a 16-bit head. Batches with full
    logits (evaluation) use them.

    Token-weighted (`tokens_per_step`, for length-bucketed batches): the gradient is the
    step's summed token loss over a constant, the mean supervised tokens per optimizer step,
    instead of over the step's own token count. With random batches the two agree on
    average; with length-bucketed batches the per-step mean would give the tokens of a batch
    of short examples more weight than those of a batch of long ones, a different objective
    than plain batching optimises (measured: +0.17 eval loss on the tiny run). The value
    returned (what the Trainer logs and the guards read) stays the per-step mean.
    """

    def __init__(self, model: nn.Module, chunk_tokens: int = 4096, tokens_per_step: float | None = None,
                 chunked: bool = True, fused: bool = False):
        self.fused = fused  # liger-kernel's fused linear cross-entropy instead of the chunks (CUDA)
        self.head = model.get_output_embeddings()
        if self.head is None:
            raise ValueError("the model has no output embeddings (LM head)")
        self.chunk_tokens = chunk_tokens
        self.tokens_per_step = tokens_per_step
        self._hidden: torch.Tensor | None = None
        self._hook = decoder_of(model).register_forward_hook(self._capture) if chunked else None

    def _capture(self, module: nn.Module, args: Any, output: Any) -> None:
        # Training forwards only: evaluation and generation (no grad) bring full logits or
        # need no loss, and a reference kept would hold their activations.
        if torch.is_grad_enabled():
            # ModelOutput and tuple outputs alike: the first field is last_hidden_state.
            self._hidden = output[0]

    def close(self) -> None:
        """Remove the hook (the model then runs as if the loss had never been attached)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._hidden = None

    def _head_dtype(self) -> torch.dtype:
        weight = getattr(self.head, "weight", None)
        return weight.dtype if isinstance(weight, torch.Tensor) and weight.is_floating_point() else torch.float32

    def _chunk(self, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden.to(self._head_dtype())).float()
        return F.cross_entropy(logits, labels, reduction="sum")

    def __call__(self, outputs: Any, labels: torch.Tensor | None, num_items_in_batch: Any = None) -> torch.Tensor:
        # Take the captured hidden state now, whatever follows: a reference kept past this
        # call would hold the batch's activations until the next forward.
        hidden, self._hidden = self._hidden, None
        if labels is None:
            return outputs["loss"]
        shift = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:].reshape(-1)
        logits = outputs["logits"]
        if logits.shape[-2] == labels.shape[-1]:  # full logits already computed (evaluation): use them
            hidden = None
        elif hidden is None:
            raise ValueError("the chunked loss needs the final hidden state when logits are truncated "
                             "(CausalLMLoss(chunked=True) on the model that computed these outputs)")
        elif hidden.shape[:-1] != labels.shape:
            raise ValueError(f"the captured hidden state {tuple(hidden.shape)} does not match the labels "
                             f"{tuple(labels.shape)}")
        if hidden is None:
            flat = logits.float().reshape(-1, logits.shape[-1])
            total = F.cross_entropy(flat, shift.to(flat.device), ignore_index=IGNORE_INDEX, reduction="sum")
            count = (shift != IGNORE_INDEX).sum()
        else:
            hidden = hidden.reshape(-1, hidden.shape[-1])
            shift = shift.to(hidden.device)
            keep = (shift != IGNORE_INDEX).nonzero().squeeze(1)
            h, y = hidden.index_select(0, keep), shift.index_select(0, keep)
            count = keep.numel()
            total = hidden.new_zeros((), dtype=torch.float32)
            from torch.utils.checkpoint import checkpoint

            if self.fused:
                from tuneguard.train.levers import fused_linear_cross_entropy_sum

                total = fused_linear_cross_entropy_sum(h, self.head, y) if count else total
            else:
                for s in range(0, count, self.chunk_tokens):
                    total = total + checkpoint(self._chunk, h[s:s + self.chunk_tokens], y[s:s + self.chunk_tokens],
                                               use_reentrant=False)
        if num_items_in_batch is None:
            return total / count
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(total.device)
        mean = total / num_items_in_batch
        if not self.tokens_per_step:
            return mean
        weighted = total / self.tokens_per_step
        # Value of the per-step mean, gradient of the token-weighted sum.
        return mean.detach() + (weighted - weighted.detach())


def sharded_weights(cfg: Any = None) -> str | None:
    """"FSDP" or "DeepSpeed ZeRO-3" when the model's weights will be sharded over the
    processes (from the config or from what `accelerate launch` put in the environment),
    else None. ZeRO-1/2 shard only optimizer state and gradients."""
    env = os.environ
    train = getattr(cfg, "train", None)
    if getattr(train, "fsdp", None) or env.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true"):
        return "FSDP"
    if env.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true") and \
            env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "") == "3":
        return "DeepSpeed ZeRO-3"
    ds = getattr(train, "deepspeed", None)
    if ds and deepspeed_zero_stage(ds) == 3:
        return "DeepSpeed ZeRO-3"
    return None


def deepspeed_zero_stage(config: Any) -> int | None:
    """`zero_optimization.stage` of a DeepSpeed config (a JSON file path or a dict)."""
    import json

    try:
        data = config if isinstance(config, dict) else json.loads(open(config, encoding="utf-8").read())
        stage = data.get("zero_optimization", {}).get("stage")
        return int(stage) if stage is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def supports_chunked_loss(model: Any, cfg: Any = None) -> tuple[bool, str]:
    m = unwrap(model)
    if "logits_to_keep" not in inspect.signature(m.forward).parameters:
        return False, "the model's forward takes no logits_to_keep"
    if m.get_output_embeddings() is None:
        return False, "the model has no LM head"
    sharded = sharded_weights(cfg)
    if sharded:
        return False, f"{sharded} shards the LM head; the chunked loss calls it outside the wrapped forward"
    return True, ""


def choose_chunked_loss(cfg: Any, model: Any) -> tuple[bool, str]:
    """(on, reason) for `train.chunked_loss`: auto turns it on for vocabularies >= 32,000."""
    requested = getattr(cfg.train, "chunked_loss", "auto")
    ok, why = supports_chunked_loss(model, cfg)
    if requested == "auto":
        vocab = model_shape(unwrap(model).config).vocab
        on = ok and vocab >= 32_000
        return on, (f"auto: vocabulary {vocab:,}" + (" >= 32,000" if on else " < 32,000") if ok else f"auto: off, {why}")
    if requested is True and not ok:
        log.warning("train.chunked_loss is on but %s: using the model's loss", why)
    return bool(requested) and ok, "configured" if ok or not requested else f"configured, but {why}"


def planned_seq_len(cfg: Any, max_example_length: int | None) -> int:
    """The widest batch the data can make: the longest example (at most data.max_length)
    rounded up to the collator's multiple."""
    seq = min(cfg.data.max_length, max_example_length or cfg.data.max_length)
    mult = max(1, cfg.data.pad_to_multiple_of)
    return -(-seq // mult) * mult


# --- the plan -------------------------------------------------------------------------

def plan_performance(cfg: Any, model: nn.Module, *, use_cpu: bool, max_example_length: int | None = None,
                     tokens_per_step: float | None = None, row_tokens: int | None = None) -> PerfPlan:
    """Make (and apply to `model`) the automatic choices for this run; log each.

    `tokens_per_step`: mean supervised tokens per optimizer step, given for length-bucketed
    batches (see CausalLMLoss); the loss then weights every token alike across steps.
    `row_tokens`: the most real tokens one micro-batch can hold (the batch_size longest
    examples): the widest padding-free row, for the memory estimate (`batch_size x the widest
    padded width` when not given)."""
    device_type = "cpu" if use_cpu or not torch.cuda.is_available() else "cuda"
    plan = PerfPlan()
    m = unwrap(model)

    impl, plan.attention_reason = choose_attention(cfg.model.attn_implementation, model, device_type)
    plan.attention = apply_attention(model, impl) if cfg.model.attn_implementation == "auto" else \
        getattr(m.config, "_attn_implementation", impl) or impl

    plan_padding_free(plan, cfg, model, device_type)

    if getattr(cfg.model, "fused_gelu", True):
        plan.fused_gelu = fuse_gelu(m)

    plan.chunked_loss, plan.chunked_loss_reason = choose_chunked_loss(cfg, model)
    plan.token_weighted_loss = bool(tokens_per_step)
    plan_levers(plan, cfg, model, device_type)
    if plan.chunked_loss or plan.token_weighted_loss:
        plan.loss_func = CausalLMLoss(model, tokens_per_step=tokens_per_step, chunked=plan.chunked_loss,
                                      fused=plan.fused_linear_loss)

    seq, rows = planned_seq_len(cfg, max_example_length), cfg.train.batch_size
    if plan.padding_free:  # one row of real tokens, no padding
        seq, rows = row_tokens or rows * min(cfg.data.max_length, max_example_length or cfg.data.max_length), 1
    (plan.gradient_checkpointing, plan.checkpointing_reason, plan.estimated_peak_gb,
     plan.estimated_peak_checkpointed_gb, plan.memory_budget_gb) = choose_checkpointing(
        cfg.model.gradient_checkpointing, model, batch_size=rows, seq_len=seq, packed=plan.padding_free,
        attention=plan.attention, chunked_loss=plan.chunked_loss, fused_gelu=plan.fused_gelu > 0 or not has_unfused_gelu(m),
        device_type=device_type, budget_gb=getattr(cfg.train, "memory_budget_gb", None),
        bf16_adapters=plan.adapter_dtype == "bfloat16")
    # A KV cache is useless in training (GPT-J would build and copy one in every layer, about
    # 0.44 MB per token) and conflicts with recomputation; transformers 5's Trainer turns it
    # off too, but not every code path that trains goes through its constructor first. With a
    # cache, transformers skips the packed-sequence mask and the examples of a padding-free row
    # would attend to each other.
    m.config.use_cache = False
    for k in ("estimated_peak_gb", "estimated_peak_checkpointed_gb", "memory_budget_gb"):
        v = getattr(plan, k)
        setattr(plan, k, None if v is None or not math.isfinite(v) else round(v, 2))

    _log_plan(plan, device_type)
    return plan


def _log_plan(plan: PerfPlan, device_type: str) -> None:
    """What the plan chose and why, one line a lever."""
    log.info("attention: %s (%s)", plan.attention, plan.attention_reason)
    log.info("gradient checkpointing: %s (%s)", "on" if plan.gradient_checkpointing else "off", plan.checkpointing_reason)
    log.info("chunked cross-entropy: %s (%s)", "on" if plan.chunked_loss else "off", plan.chunked_loss_reason)
    if plan.fused_gelu:
        log.info("fused GELU: replaced %d elementwise tanh-GELU modules", plan.fused_gelu)
    log.info("adapter dtype: %s (%s)", plan.adapter_dtype, plan.adapter_dtype_reason)
    # The CUDA-only levers off by the automatic choice off CUDA (a CPU run: three lines of "off CUDA"
    # a first reader cannot act on) at debug; on, configured, or off on CUDA at info. The plan is stored.
    def lever(on: bool, reason: str) -> int:
        quiet = not on and str(reason).startswith("auto") and device_type != "cuda"
        return logging.DEBUG if quiet else logging.INFO

    log.log(lever(bool(plan.compiled_layers), plan.compile_reason), "compiled decoder layers: %s (%s)",
            f"{plan.compiled_layers}, lengths padded to {plan.compile_buckets}" if plan.compiled_layers else "off",
            plan.compile_reason)
    log.log(lever(plan.fused_linear_loss, plan.fused_linear_loss_reason), "fused linear cross-entropy: %s (%s)",
            "on" if plan.fused_linear_loss else "off", plan.fused_linear_loss_reason)
    log.log(lever(plan.padding_free, plan.padding_free_reason), "padding-free batches: %s (%s)",
            "on" if plan.padding_free else "off", plan.padding_free_reason)


def plan_padding_free(plan: PerfPlan, cfg: Any, model: nn.Module, device_type: str) -> None:
    """`train.padding_free` (tuneguard.train.levers.choose_padding_free), after the attention
    choice it depends on; switches the attention to flex where that chooses it."""
    from tuneguard.train import levers

    plan.padding_free, switch, plan.padding_free_reason = levers.choose_padding_free(
        getattr(cfg.train, "padding_free", "auto"), model, plan.attention, device_type,
        collator=getattr(cfg.data, "collator", "tuneguard"), attention_configured=cfg.model.attn_implementation != "auto")
    if switch:
        got = apply_attention(model, switch)
        if got == switch:
            plan.attention = got
            plan.attention_reason += f"; {switch} for padding-free rows (it skips the blocks between examples)"
        else:  # the previous attention keeps the examples apart too, only slower
            plan.padding_free_reason += f"; {switch} unavailable, {got} instead"


def plan_levers(plan: PerfPlan, cfg: Any, model: nn.Module, device_type: str) -> None:
    """The choices of tuneguard.train.levers, applied to `model` (before the optimizer exists)."""
    from tuneguard.train import levers

    dtype, plan.adapter_dtype_reason = levers.choose_adapter_dtype(
        getattr(cfg.model, "adapter_dtype", "auto"), model, device_type)
    if dtype is not None:
        levers.cast_adapters(model, dtype)
        plan.adapter_dtype = str(dtype).removeprefix("torch.")
    on, plan.compile_reason = levers.choose_compile(cfg, model, device_type)
    if on:
        layers = levers.decoder_layers(model)
        assert layers is not None  # choose_compile checked
        mult = max(1, cfg.data.pad_to_multiple_of)
        # A padding-free row is as long as its examples together: its length is bucketed
        # instead, up to the most one micro-batch can hold.
        top = cfg.data.max_length * (cfg.train.batch_size if plan.padding_free else 1)
        plan.compile_buckets = levers.bucket_sizes(top, cfg.train.compile_buckets, mult)
        plan.pad_token_id = getattr(unwrap(model).config, "pad_token_id", None) or 0
        levers.allow_recompiles(len(plan.compile_buckets))
        plan.compiled_layers = levers.compile_layers(layers, backend=cfg.train.compile_backend)
    plan.fused_linear_loss, plan.fused_linear_loss_reason = levers.choose_fused_linear_loss(
        getattr(cfg.train, "fused_linear_loss", "auto"), plan.chunked_loss, device_type)


def has_unfused_gelu(model: nn.Module) -> bool:
    from transformers.activations import FastGELUActivation, NewGELUActivation

    return any(isinstance(x, (NewGELUActivation, FastGELUActivation)) for x in model.modules())
