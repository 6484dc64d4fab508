"""A worker for the two-process test, kept free of heavy imports (each process imports it)."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace


def halt_agreement_worker(rank: int, init_file: str, out_dir: str) -> None:
    """One of two gloo processes: only rank 0 has decided to halt; both must stop."""
    import torch.distributed as dist

    from tuneguard.guard.actions import agree_on_halt

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        ctx = SimpleNamespace(stop_reason="halted" if rank == 0 else None, world_size=2)
        control = SimpleNamespace(should_save=False, should_training_stop=False)
        agreed = agree_on_halt(ctx, SimpleNamespace(device="cpu"), control)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump({"agreed": agreed, "stop_reason": ctx.stop_reason, "save": control.should_save,
                       "stop": control.should_training_stop}, fh)
    finally:
        dist.destroy_process_group()
