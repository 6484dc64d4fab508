"""The hardware checks of a run, after the data is ready and before any weights load.

`preflight` reads the device (`tuneguard.model.device`), refuses what cannot work (one
process driving several GPUs; a run whose estimated peak memory does not fit the card,
`tuneguard.train.memfit`) and chooses the precision. Each refusal is one paragraph with the
exact command or `--set` lines that fix it; `train` and `plan --calibrate` exit 2 with it
before a 12 GB model is loaded only to crash in its first step.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tuneguard.errors import UsageError
from tuneguard.train import perf
from tuneguard.model.device import DeviceProps, Precision, check_one_process, choose_precision, load_device_map
from tuneguard.train.memfit import Fit, check_fit, measure_model

log = logging.getLogger(__name__)


class PreflightRefusal(UsageError):
    """The run cannot work on this hardware as configured (exit 2, before loading)."""


@dataclasses.dataclass
class Preflight:
    device: DeviceProps
    precision: Precision
    fit: Fit | None
    device_map: dict[str, int] | None

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device.as_dict(), "dtype": self.precision.dtype, "precision_note": self.precision.note,
                "memory": self.fit.as_dict() if self.fit else None,
                "load_device_map": self.device_map}


def command_line() -> list[str]:
    """The `tuneguard ...` words the user typed (for the launcher lines of a refusal)."""
    argv = list(sys.argv)
    prog = Path(argv[0]) if argv else Path()
    if prog.name == "tuneguard" or (prog.name == "__main__.py" and prog.parent.name == "tuneguard"):
        return ["tuneguard", *argv[1:]]
    return ["tuneguard", "train", "CONFIG"]  # embedded (a notebook, a test): the words are not known


def preflight(cfg: Any, model_config: Callable[[], Any], *, max_example_length: int | None, world_size: int = 1,
              local_rank: int = 0, argv: Sequence[str] | None = None, longest: Sequence[int] = ()) -> Preflight:
    """Check the hardware for this run; raise PreflightRefusal with the fix when it cannot work.

    `longest`: the longest training examples' lengths (train.batch_size of them are enough):
    a padding-free micro-batch is one row of their real tokens, not batch x the longest.

    `model_config()`: the model's transformers config, asked for only on a GPU (None when
    it cannot be read without loading, e.g. an unreachable hub: the memory check is then
    skipped and said so)."""
    device = DeviceProps.detect(use_cpu=cfg.train.use_cpu, index=local_rank)
    refusal = check_one_process(world_size, device, argv if argv is not None else command_line())
    if refusal:
        raise PreflightRefusal(refusal)
    precision = choose_precision(cfg.model.dtype, device)
    sharded = perf.sharded_weights(cfg)
    fit = None
    conf = model_config() if device.is_cuda and not sharded else None
    if device.is_cuda and sharded:
        log.info("memory check skipped: %s shards the weights over the processes", sharded)
    elif device.is_cuda and conf is None:
        log.warning("memory check skipped: the model's config could not be read before loading")
    elif device.is_cuda:
        size = measure_model(cfg, conf)
        fit = check_fit(cfg, size, device, dtype_bytes=precision.torch_dtype.itemsize,
                        seq_len=perf.planned_seq_len(cfg, max_example_length), longest=longest)
        if not fit.fits:
            raise PreflightRefusal(fit.refusal() + (f" Note: {precision.note}" if precision.note else ""))
        log.info("memory: estimated peak %.1f GB of %.1f GB usable on the %s", fit.peak_gb, fit.usable_gb,
                 device.describe())
    return Preflight(device=device, precision=precision, fit=fit,
                     device_map=load_device_map(device, local_rank, sharded=sharded is not None))
