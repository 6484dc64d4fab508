"""Will the run fit the GPU? Decided before any weights load, with the fixes as `--set` lines.

A run that does not fit used to load a 12 GB model and then die in its first step with a
raw CUDA out-of-memory error. Here the peak is estimated from the model's config alone
(`measure_model` builds a weightless copy on the meta device to count its parameters) with
the same arithmetic as `gradient_checkpointing: auto` (tuneguard.train.perf), and
`check_fit` compares it with the card:

- it fits: go (with checkpointing when "auto" needs it);
- it does not fit as configured: refuse before loading, naming the changes that make it
  fit, each with its estimate, as the exact `--set` lines to add. Below 24 GB, 4-bit base
  weights come first (the only change that shrinks the 12 GB of GPT-J's weights); then
  gradient checkpointing, smaller micro-batches with more accumulation (the same
  effective batch), shorter sequences.

With `train.padding_free` a micro-batch is one row of its examples' real tokens: the
estimate takes the longest row the sampler can build (the batch_size longest examples
together) with the mask sdpa keeps over it in every layer, not batch x the longest example.

The estimate is the planner's (the one GPU peak measured so far, 87 GB, it puts at 81 GB;
docs/BENCHMARKS.md, GPU anchors; the GPU script measures more). A user who knows better says so with
`--set train.memory_budget_gb=N` (the memory the decisions plan for). An out-of-memory error
during training gets the same kind of lines (`oom_message`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from typing import Any

import torch

from tuneguard.train import levers, perf
from tuneguard.model.device import DeviceProps

log = logging.getLogger(__name__)

GB = 1024**3
MARGIN = 0.15  # the share of the card the plan leaves free (allocator fragmentation, CUDA context)
SMALL_CARD_BYTES = 24e9  # below a "24 GB" card (16 GB class), 4-bit weights are the first fix for a 6B model
NF4_BYTES = 0.52  # 4 bits plus the double-quantised block constants (bitsandbytes NF4)
INT8_BYTES = 1.02
TRAINABLE_BYTES = 16  # fp32 weight, fp32 gradient, two fp32 Adam moments


@dataclasses.dataclass
class ModelSize:
    """Parameter counts and automatic choices of a model, read without its weights."""

    shape: perf.Shape
    params: int
    quantizable: int  # Linear weights bitsandbytes would quantise (everything but the LM head)
    lora_params: int
    saved_params: int  # modules_to_save, trained in full
    attention: str
    chunked_loss: bool
    fused_gelu: bool
    padding_free: bool = False  # train.padding_free as the run will decide it on a GPU


@dataclasses.dataclass(frozen=True)
class Knobs:
    """The settings the peak memory depends on."""

    dtype_bytes: int
    quant: str | None  # "4bit", "8bit" or None
    checkpointing: bool | str  # True, False or "auto"
    batch_size: int
    accum: int
    seq_len: int
    max_length: int
    # Padding-free batches: one row of the micro-batch's real tokens, at most the batch_size
    # longest examples together (`longest`: the longest training examples' lengths, longest first).
    packed: bool = False
    longest: tuple[int, ...] = ()

    @property
    def row_tokens(self) -> int:
        """The longest padding-free row the sampler can build: the batch_size longest examples
        (each cut at max_length); without their lengths, batch_size x the padded width."""
        if not self.longest:
            return self.batch_size * self.seq_len
        return sum(min(n, self.max_length) for n in self.longest[:self.batch_size])


def measure_model(cfg: Any, model_config: Any) -> ModelSize:
    """Count the parameters of the configured model and its LoRA from its config alone."""
    from transformers import AutoModelForCausalLM
    from transformers.pytorch_utils import Conv1D

    from tuneguard.model.load import target_modules

    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(model_config, trust_remote_code=cfg.model.trust_remote_code)
    head = m.get_output_embeddings()
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    targets = set(target_modules(m, cfg.lora))
    saved = set(cfg.lora.modules_to_save or [])
    quantizable = lora = saved_params = 0
    for name, mod in m.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        # GPT-2-style models keep their linear layers as Conv1D (a transposed weight):
        # bitsandbytes quantises them and LoRA adapts them like any linear layer.
        if isinstance(mod, (torch.nn.Linear, Conv1D)):
            if id(mod.weight) not in head_ids:
                quantizable += mod.weight.numel()
            if leaf in targets:
                lora += cfg.lora.r * sum(mod.weight.shape)
        if leaf in saved:
            saved_params += sum(p.numel() for p in mod.parameters())
    attention, _ = perf.choose_attention(cfg.model.attn_implementation, m, "cuda")
    # Padding-free rows as tuneguard.train.perf.plan_padding_free will decide them, with the
    # attention it switches to (flex_attention holds no mask over the row; sdpa and eager do).
    packed, switch, _ = levers.choose_padding_free(
        getattr(cfg.train, "padding_free", "auto"), m, attention, "cuda", collator=getattr(cfg.data, "collator", "tuneguard"),
        attention_configured=cfg.model.attn_implementation != "auto")
    chunked, _ = perf.choose_chunked_loss(cfg, m)
    fused = bool(getattr(cfg.model, "fused_gelu", True)) or not perf.has_unfused_gelu(m)
    return ModelSize(shape=perf.model_shape(m.config), params=sum(p.numel() for p in m.parameters()),
                     quantizable=quantizable, lora_params=lora, saved_params=saved_params,
                     attention=switch or attention, chunked_loss=chunked, fused_gelu=fused, padding_free=packed)


def knobs_of(cfg: Any, dtype_bytes: int, seq_len: int, packed: bool = False, longest: Sequence[int] = ()) -> Knobs:
    quant = "4bit" if cfg.model.load_in_4bit else "8bit" if cfg.model.load_in_8bit else None
    return Knobs(dtype_bytes=dtype_bytes, quant=quant, checkpointing=cfg.model.gradient_checkpointing,
                 batch_size=cfg.train.batch_size, accum=cfg.train.gradient_accumulation_steps, seq_len=seq_len,
                 max_length=cfg.data.max_length, packed=packed,
                 longest=tuple(sorted(longest, reverse=True)[:cfg.train.batch_size]))


def static_bytes(size: ModelSize, k: Knobs) -> float:
    """Weights, and for the trainable parameters their gradient and Adam state."""
    rest = size.params - size.quantizable
    if k.quant == "4bit":
        # prepare_model_for_kbit_training upcasts every 16-bit parameter it leaves unquantised
        # (embeddings, LM head, norms) to fp32.
        weights = size.quantizable * NF4_BYTES + rest * 4
    elif k.quant == "8bit":
        weights = size.quantizable * INT8_BYTES + rest * 4
    else:
        weights = size.params * k.dtype_bytes
    return weights + (size.lora_params + size.saved_params) * TRAINABLE_BYTES


def peak_bytes(size: ModelSize, k: Knobs, checkpointing: bool) -> float:
    """Static bytes plus one micro-batch's activations: batch_size x the padded width, or with
    padding-free batches one row of the longest micro-batch's real tokens (and, with sdpa or
    eager, the mask or scores over that whole row)."""
    rows, seq = (1, k.row_tokens) if k.packed else (k.batch_size, k.seq_len)
    return static_bytes(size, k) + perf.activation_bytes(
        size.shape, rows, seq, attention=size.attention, checkpointing=checkpointing,
        chunked_loss=size.chunked_loss, fused_gelu=size.fused_gelu, packed=k.packed)


def resolve(size: ModelSize, k: Knobs, usable: float) -> tuple[bool, float]:
    """(checkpointing, peak bytes) as the run would choose them: "auto" turns checkpointing
    on only when the peak without it does not fit `usable` bytes (perf.choose_checkpointing)."""
    if k.checkpointing == "auto":
        without = peak_bytes(size, k, False)
        if without <= usable:
            return False, without
        return True, peak_bytes(size, k, True)
    return bool(k.checkpointing), peak_bytes(size, k, bool(k.checkpointing))


@dataclasses.dataclass
class Fix:
    """One change that makes the run fit, as --set lines, with its estimated peak."""

    settings: list[str]
    peak_gb: float
    note: str = ""

    def line(self) -> str:
        return " ".join(f"--set {s}" for s in self.settings) + f" (est. {self.peak_gb:.1f} GB{self.note})"


@dataclasses.dataclass
class Fit:
    """The verdict of `check_fit`."""

    device: DeviceProps
    budget_gb: float
    usable_gb: float
    peak_gb: float
    checkpointing: bool
    fits: bool
    fixes: list[Fix]
    model: str
    size: ModelSize
    knobs: Knobs

    def refusal(self) -> str:
        """One paragraph: what does not fit, the fixes, and how to try anyway."""
        ckpt = "with" if self.checkpointing else "without"
        rows = f", padding-free rows of up to {self.knobs.row_tokens:,} tokens" if self.knobs.packed else ""
        head = (f"{self.model} will not fit the {self.device.describe()}: estimated peak {self.peak_gb:.1f} GB "
                f"{ckpt} gradient checkpointing{rows}, above the {self.usable_gb:.1f} GB usable "
                f"({100 * (1 - MARGIN):.0f}% of {self.budget_gb:.1f} GB). ")
        return head + fixes_text(self.fixes) + \
            f" To try anyway: --set train.memory_budget_gb={math.ceil(self.peak_gb / (1 - MARGIN))}"

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device.as_dict(), "budget_gb": round(self.budget_gb, 2),
                "usable_gb": round(self.usable_gb, 2), "estimated_peak_gb": round(self.peak_gb, 2),
                "gradient_checkpointing": self.checkpointing, "fits": self.fits,
                "padding_free_row_tokens": self.knobs.row_tokens if self.knobs.packed else None,
                "fixes": [f.line() for f in self.fixes]}


def fixes_text(fixes: list[Fix]) -> str:
    if not fixes:
        return ("No single change found that fits; combine a smaller train.batch_size, a shorter data.max_length "
                "and model.load_in_4bit=true, or use a GPU with more memory.")
    return "Fix with one of: " + " | ".join(f.line() for f in fixes) + "."


def _candidates(k: Knobs, card_bytes: float) -> list[tuple[list[str], dict[str, Any], str]]:
    """Changes to try, most preferred first: (--set lines, Knobs changes, note)."""
    four_bit = (["model.load_in_8bit=false", "model.load_in_4bit=true"] if k.quant == "8bit"
                else ["model.load_in_4bit=true"], {"quant": "4bit"}, "")
    small = card_bytes < SMALL_CARD_BYTES
    out: list[tuple[list[str], dict[str, Any], str]] = []
    if k.quant != "4bit" and small:
        out.append(four_bit)
    if k.checkpointing is False:  # turned off: let the estimate decide
        out.append((["model.gradient_checkpointing=auto"], {"checkpointing": "auto"}, ""))
    elif k.checkpointing == "auto":  # "auto" left it off, and the card disagreed
        out.append((["model.gradient_checkpointing=true"], {"checkpointing": True}, ""))
    if k.packed:  # a row's mask (sdpa) or scores (eager) grow with the square of its length
        out.append((["train.padding_free=false"], {"packed": False}, "; padded batches"))
    b = k.batch_size // 2
    while b >= 1:
        accum = k.accum * k.batch_size // b
        out.append(([f"train.batch_size={b}", f"train.gradient_accumulation_steps={accum}"],
                    {"batch_size": b, "accum": accum}, "; same effective batch"))
        b //= 2
    length = k.max_length // 2
    while length >= 64:
        out.append(([f"data.max_length={length}"], {"max_length": length, "seq_len": min(k.seq_len, length)},
                    "; truncates longer examples"))
        length //= 2
    if k.quant != "4bit" and not small:
        out.append(four_bit)
    return out


def find_fixes(size: ModelSize, k: Knobs, usable: float, card_bytes: float, limit: int = 3) -> list[Fix]:
    """Up to `limit` changes (one per kind: quantisation, checkpointing, batch, length) that
    each make the estimate fit `usable` bytes; the mildest of each kind (the largest batch,
    the longest length that fits). When no single change fits, 4-bit plus the mildest
    batch that then fits."""
    fixes: list[Fix] = []
    kinds: set[str] = set()
    for settings, change, note in _candidates(k, card_bytes):
        kind = settings[0].split("=")[0]
        if kind in kinds:
            continue
        new = dataclasses.replace(k, **change)
        _, peak = resolve(size, new, usable)
        if peak <= usable:
            fixes.append(Fix(settings, peak / GB, note))
            kinds.add(kind)
    if not fixes and k.quant != "4bit":
        q = dataclasses.replace(k, quant="4bit")
        for settings, change, note in _candidates(q, card_bytes):
            if "batch_size" in change or "max_length" in change:
                _, peak = resolve(size, dataclasses.replace(q, **change), usable)
                if peak <= usable:
                    fixes.append(Fix(["model.load_in_4bit=true", *settings], peak / GB, note))
                    break
    return fixes[:limit]


def check_fit(cfg: Any, size: ModelSize, device: DeviceProps, *, dtype_bytes: int, seq_len: int,
              longest: Sequence[int] = ()) -> Fit:
    """Does the configured run fit `device`? Pure: everything it needs is in its arguments.
    `longest`: the longest training examples' lengths (at least batch_size of them), which
    bound a padding-free row."""
    budget_gb = cfg.train.memory_budget_gb or device.total_gb
    usable = budget_gb * (1 - MARGIN) * GB
    k = knobs_of(cfg, dtype_bytes, seq_len, packed=size.padding_free, longest=longest)
    ckpt, peak = resolve(size, k, usable)
    fits = peak <= usable
    fixes = [] if fits else find_fixes(size, k, usable, device.total_memory)
    return Fit(device=device, budget_gb=budget_gb, usable_gb=usable / GB, peak_gb=peak / GB, checkpointing=ckpt,
               fits=fits, fixes=fixes, model=cfg.model.name, size=size, knobs=k)


def oom_message(fit: Fit | None, cfg: Any, step: int | None) -> str:
    """An out-of-memory error during training, with the changes that lower the peak."""
    where = f" at step {step}" if step else ""
    if fit is None:
        return f"out of GPU memory{where}: to fit, " + "; or ".join(memory_knobs(cfg))
    # The estimate said it fits and the card disagreed: ask for changes that bring the
    # estimate a fifth below where it was.
    target = min(fit.usable_gb, 0.8 * fit.peak_gb) * GB
    fixes = find_fixes(fit.size, fit.knobs, target, fit.device.total_memory)
    return (f"out of GPU memory{where} on the {fit.device.describe()} (estimated peak {fit.peak_gb:.1f} GB). "
            + fixes_text(fixes))


def memory_knobs(cfg: Any, longest_example: int = 0) -> list[str]:
    """The config changes that lower peak memory, as `--set` lines, cheapest first (used
    where no estimate is at hand: a calibration that ran out of memory)."""
    knobs: list[str] = []
    b, ga = cfg.train.batch_size, cfg.train.gradient_accumulation_steps
    if b > 1:
        knobs.append(f"halve train.batch_size and double the accumulation to keep the effective batch "
                     f"(--set train.batch_size={b // 2} --set train.gradient_accumulation_steps={ga * 2})")
    if cfg.model.gradient_checkpointing is not True:
        knobs.append("recompute activations (--set model.gradient_checkpointing=true)")
    if getattr(cfg.train, "padding_free", "auto") is True:
        knobs.append("padded batches instead of one row of every example's tokens, whose attention mask grows with "
                     "the square of its length (--set train.padding_free=false)")
    new_len = longest_example if 0 < longest_example < cfg.data.max_length else cfg.data.max_length // 2
    if new_len >= 8:
        why = "the longest example" if new_len == longest_example else "truncates more examples"
        knobs.append(f"shorten sequences (--set data.max_length={new_len}; {why})")
    if not (cfg.model.load_in_8bit or cfg.model.load_in_4bit):
        knobs.append("quantise the base weights (--set model.load_in_4bit=true, or model.load_in_8bit=true)")
    elif cfg.model.load_in_8bit:
        knobs.append("4-bit base weights (--set model.load_in_8bit=false --set model.load_in_4bit=true)")
    return knobs
