"""What the accelerator is, and the decisions that depend on it, before any weights load.

Each decision is a pure function of a `DeviceProps` (name, memory, compute capability,
number of visible GPUs), so it is tested with the properties of the cards users have
(a T4 is sm75 with 15 GB, an A100 sm80 with 40 or 80 GB, an H100 sm90 with 80 GB) on a
machine that has none of them; `DeviceProps.detect` reads the real one.

- `choose_precision`: what `model.dtype` means on this card. bf16 only where the card has
  it natively (compute capability 8.0 and up): `torch.cuda.is_bf16_supported()` also says
  True on a T4, where bf16 is emulated and several times slower, so "auto" would train
  slowly without a word. Older cards get fp16 with loss scaling, and a note that says so.
- `check_one_process`: a plain `tuneguard train` on a machine with several GPUs would make
  the Trainer split every batch over them with `nn.DataParallel` (one process: the loss,
  the batch arithmetic and the step counts are no longer the config's); refuse and name
  the launcher line instead.
- `load_device_map`: where the weights load. Straight onto the process's GPU, not into
  host memory first (a Colab T4 machine has about 12.7 GB of RAM, GPT-J-6B in bf16 12 GB).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from typing import Any

import torch

from tuneguard.catalog import Spec, T, in_language, render

GB = 1024**3
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclasses.dataclass(frozen=True)
class DeviceProps:
    """The accelerator a process trains on: `kind` "cuda" or "cpu"; `count` GPUs visible."""

    kind: str = "cpu"
    name: str = "cpu"
    total_memory: float = 0.0  # bytes
    major: int = 0
    minor: int = 0
    count: int = 0

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def capability(self) -> str:
        return f"sm{self.major}{self.minor}" if self.is_cuda else "cpu"

    @property
    def total_gb(self) -> float:
        return self.total_memory / GB

    @property
    def native_bf16(self) -> bool:
        """bf16 matmuls in hardware: Ampere (sm80) and later. A CPU runs bf16 either way."""
        return self.major >= 8 if self.is_cuda else True

    def describe(self) -> str:
        return f"{self.name} ({self.capability}, {self.total_gb:.1f} GB)" if self.is_cuda else "cpu"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "capability": self.capability,
                "total_gb": round(self.total_gb, 2), "count": self.count}

    @classmethod
    def detect(cls, use_cpu: bool = False, index: int = 0) -> "DeviceProps":
        """The device this process will train on (`index`: its local rank's GPU)."""
        if use_cpu or not torch.cuda.is_available():
            return cls()
        count = torch.cuda.device_count()
        p = torch.cuda.get_device_properties(min(index, count - 1))
        return cls("cuda", p.name, float(p.total_memory), p.major, p.minor, count)


@dataclasses.dataclass(frozen=True)
class Precision:
    """The dtype of the base weights and of mixed precision; `note` tells the user why
    when it is not what the config's word alone suggests (`text`: its catalog spec, for the
    run's language)."""

    dtype: str
    note: str | None = None
    text: Spec | None = None

    @property
    def torch_dtype(self) -> torch.dtype:
        return PRECISIONS[self.dtype]

    def note_in(self, language: str) -> str | None:
        """The note in `language` (as stored where no spec was kept)."""
        return None if self.note is None else in_language(self.text, self.note, language)


def _noted(dtype: str, key: str, device: DeviceProps) -> Precision:
    text = T(key, name=device.name, capability=device.capability)
    return Precision(dtype, render(text), text)


def choose_precision(requested: str, device: DeviceProps) -> Precision:
    """`model.dtype` ("auto", "bf16", "fp16", "fp32") on `device`."""
    if requested == "auto":
        if not device.is_cuda:
            return Precision("fp32")
        if device.native_bf16:
            return Precision("bf16")
        return _noted("fp16", "traincli.precision.fp16", device)
    if requested == "bf16" and device.is_cuda and not device.native_bf16:
        return _noted("bf16", "traincli.precision.bf16_emulated", device)
    return Precision(requested)


def launch_lines(device: DeviceProps, argv: Sequence[str]) -> tuple[str, str]:
    """(all GPUs, one GPU) command lines for `argv` (the `tuneguard ...` words as typed)."""
    words = list(argv) if argv else ["tuneguard", "train", "CONFIG"]
    rest = shlex.join(words[1:])
    return (f"torchrun --nproc_per_node {device.count} -m tuneguard {rest}",
            f"CUDA_VISIBLE_DEVICES=0 {shlex.join(words)}")


def check_one_process(world_size: int, device: DeviceProps, argv: Sequence[str]) -> str | None:
    """A refusal (one line) when one process would drive several GPUs, else None.

    The Trainer wraps the model in `nn.DataParallel` whenever a single process sees more
    than one GPU: every batch is split over the GPUs inside one step, so the per-device
    batch, the logged loss and the steps per epoch are no longer what the config says, and
    tuneguard's own accounting (one process, one device) is wrong. torchrun gives one
    process per GPU (DDP), which is both correct and faster."""
    if world_size > 1 or not device.is_cuda or device.count <= 1:
        return None
    all_gpus, one_gpu = launch_lines(device, argv)
    return (f"this machine has {device.count} GPUs and `tuneguard train` runs as one process, which would "
            f"split each batch over them with nn.DataParallel (the loss and step counts would then not be the "
            f"config's). Use all {device.count}: {all_gpus}  or one: {one_gpu}")


def load_device_map(device: DeviceProps, local_rank: int, *, sharded: bool) -> dict[str, int] | None:
    """`device_map` for `from_pretrained`: the whole model on this process's GPU, loaded
    there tensor by tensor (no full copy in host memory). None on the CPU, and under FSDP
    or DeepSpeed, which place (and shard) the weights themselves."""
    if not device.is_cuda or sharded:
        return None
    return {"": local_rank}
