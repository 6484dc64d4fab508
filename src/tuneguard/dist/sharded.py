"""Saving the LoRA adapter when the model's weights are sharded across ranks (FSDP, ZeRO).

Under DDP every rank holds the whole model, so rank 0 writes the adapter as in a single
process. Under FSDP each rank holds a shard of every parameter (a DTensor under FSDP2, a
flat shard under FSDP1): `save_pretrained` on rank 0 alone would write its shards (or
nothing), not the adapter. The full values must be gathered, which is a collective: every
rank calls `save_adapter`, the trainable parameters (LoRA matrices and `modules_to_save`;
the frozen 6B base is left out, so nothing large is gathered) are collected to rank 0's
CPU, and rank 0 writes them with PEFT's own `save_pretrained`, which gives the usual
`adapter_model.safetensors` + `adapter_config.json` that `PeftModel.from_pretrained` loads.

DeepSpeed ZeRO-3 keeps its own partitioning: the Trainer's `save_model` gathers it (with
`stage3_gather_16bit_weights_on_model_save: true` in the DeepSpeed config).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def is_sharded(trainer: Any) -> str | None:
    """"fsdp", "deepspeed" or None (replicated weights: DDP or one process)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        return "fsdp"
    if getattr(trainer, "is_deepspeed_enabled", False):
        return "deepspeed"
    return None


def gather_trainable_state_dict(model: Any) -> dict[str, Any]:
    """Full (unsharded) values of the trainable parameters, on rank 0's CPU ({} elsewhere).

    A collective under FSDP: every rank must call it. Works for FSDP1 wrappers and FSDP2
    (`fully_shard`) modules alike through torch.distributed.checkpoint's state-dict API.
    """
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
    )

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)
    return get_model_state_dict(model, options=opts)


def save_adapter(trainer: Any, out_dir: Path, is_main: bool) -> None:
    """Write the run's LoRA adapter to `out_dir`; every rank calls this (see module doc)."""
    out_dir = Path(out_dir)
    kind = is_sharded(trainer)
    if kind == "deepspeed":
        trainer.save_model(str(out_dir))
        return
    if kind == "fsdp":
        wrapped = getattr(trainer, "model_wrapped", None) or trainer.model
        state = gather_trainable_state_dict(wrapped)
        if is_main:
            # The gathered keys are the PEFT model's own names (wrapper prefixes removed);
            # PEFT picks the adapter's entries out of them.
            trainer.model.save_pretrained(out_dir, state_dict=state)
            log.info("adapter gathered from %s shards (%d tensors) and saved to %s", kind.upper(), len(state), out_dir)
        return
    if is_main:
        trainer.model.save_pretrained(out_dir)
