"""The few collectives tuneguard itself needs when a run has several processes.

The Trainer (through accelerate) does the heavy communication: gradients, evaluation
gathers, checkpoint barriers. tuneguard only needs a handful of small decisions to be the
same on every rank: go/no-go before any model is loaded (`gate.py`), stop/pause/checkpoint
at a step (`tuneguard.control.requests`), a guard halt (`tuneguard.guard.actions`). Each is
a few integers, so they travel as CPU tensors through gloo: no device synchronisation,
and they work the same on a CPU test machine and on GPUs.

Why tuneguard initialises the process group itself (`init_process_group`) instead of
leaving it to the Trainer: the go/no-go decision must be exchanged *before* the model (and
so the Trainer) exists, otherwise a rank whose data audit refused the run exits while the
others load a 6B model and then wait in DDP's first broadcast until the timeout. accelerate
(and so the Trainer) adopts a group that is already initialised. On GPUs the group is
created with both backends ("cpu:gloo,cuda:nccl"): CUDA tensors take NCCL for the Trainer.

tuneguard's own collectives run on a group of their own, pure gloo (`own_group`): on the
mixed default group a CPU all-reduce works, but `monitored_barrier` (the end-of-run
barrier that names the ranks that did not arrive) accepts only a pure gloo group and
raises ValueError, so on GPUs the ranks did not wait for each other at the end and the
launcher killed rank 0 while it wrote the final state, the report and the notifications.
A separate group also keeps tuneguard's small decisions out of the Trainer's NCCL stream.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class PeerTimeout(RuntimeError):
    """Some ranks did not reach a barrier in time (a dead or hung process or node)."""


def env_world_size() -> int:
    """WORLD_SIZE as torchrun / accelerate launch set it (1 when launched plainly)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_distributed() -> bool:
    """True when a process group with more than one rank is up."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch built without distributed
        return False
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_process_group(*, use_cpu: bool, timeout_s: float) -> bool:
    """Initialise the default process group from the launcher's environment.

    Returns True when this call created it (the caller then destroys it at the end), False
    when there is nothing to do (one process, or a group already up). `timeout_s` bounds
    every collective: a rank that waits longer for a dead peer fails instead of hanging.
    """
    if env_world_size() <= 1:
        return False
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    timeout = datetime.timedelta(seconds=timeout_s)
    backend = default_backend(use_cpu, torch.cuda.is_available())
    if "nccl" in backend:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=timeout)
    log.info("process group up: rank %d of %d (%s, timeout %.0f s)", dist.get_rank(), dist.get_world_size(),
             backend, timeout_s)
    return True


def default_backend(use_cpu: bool, cuda_available: bool) -> str:
    """The default group's backend: gloo on CPU; on GPUs gloo for CPU tensors and NCCL for
    the Trainer's CUDA tensors."""
    return "gloo" if use_cpu or not cuda_available else "cpu:gloo,cuda:nccl"


def own_group(timeout_s: float) -> Any:
    """A pure gloo group over every rank for tuneguard's collectives. A collective: every
    rank calls it, at the same point, right after the default group is up.

    A group of its own even when the default group is pure gloo already (a CPU run): the
    other ranks of a halted or failed run wait for rank 0's exit on it
    (`Collectives.wait_for_exit`), and rank 0 destroys the default group before its
    interpreter has shut down. On the default group that wait ended at once, rank 1 exited
    first, and the launcher killed rank 0 (SIGTERM) while it was still exiting."""
    import torch.distributed as dist

    return dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=timeout_s))


def destroy_process_group() -> None:
    """Tear the default group down (safe when there is none)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class Collectives:
    """Small integer collectives over one process group (the default group unless given).

    Every method is a collective: all ranks must call it at the same point of the program,
    the same number of times. Values are int64 CPU tensors when the group has gloo (always,
    when tuneguard created the group), else tensors on the current CUDA device.
    """

    def __init__(self, group: Any = None):
        import torch
        import torch.distributed as dist

        self._dist = dist
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        backend = str(dist.get_backend(group)).lower()
        self._gloo = "gloo" in backend
        self._pure_gloo = backend == "gloo"  # monitored_barrier needs exactly this
        self._device = torch.device("cpu") if self._gloo else torch.device("cuda", torch.cuda.current_device())

    @classmethod
    def if_distributed(cls) -> Collectives | None:
        """Collectives over the default group when several processes run, else None."""
        return cls() if is_distributed() else None

    @classmethod
    def create(cls, timeout_s: float) -> Collectives:
        """Collectives over tuneguard's own gloo group (`own_group`); a collective itself."""
        return cls(own_group(timeout_s))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _tensor(self, values: Sequence[int]) -> Any:
        import torch

        return torch.tensor(list(values), dtype=torch.int64, device=self._device)

    def all_max(self, values: Sequence[int]) -> list[int]:
        """Element-wise maximum of `values` over all ranks."""
        t = self._tensor(values)
        self._dist.all_reduce(t, op=self._dist.ReduceOp.MAX, group=self.group)
        return [int(v) for v in t.tolist()]

    def all_sum_float(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of `values` over all ranks, in float64 (the guards' per-step losses
        and token counts, once per log)."""
        import torch

        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._device)
        self._dist.all_reduce(t, op=self._dist.ReduceOp.SUM, group=self.group)
        return [float(v) for v in t.tolist()]

    def all_or(self, flags: int, bits: int = 8) -> int:
        """Bitwise OR of an integer of flags over all ranks (any rank may set a flag)."""
        got = self.all_max([(int(flags) >> i) & 1 for i in range(bits)])
        return sum(1 << i for i, b in enumerate(got) if b)

    def broadcast_int(self, value: int, src: int = 0) -> int:
        """Rank `src`'s `value` on every rank (the others' `value` is ignored)."""
        t = self._tensor([int(value)])
        self._dist.broadcast(t, src=src, group=self.group)
        return int(t.item())

    def barrier(self, timeout_s: float | None = None) -> None:
        """Wait for every rank; with gloo and `timeout_s`, fail naming the missing ranks.

        `monitored_barrier` (gloo only) reports which ranks did not arrive instead of
        hanging until the group's timeout; other backends fall back to a plain barrier.
        """
        if timeout_s is not None and self._pure_gloo:
            try:
                self._dist.monitored_barrier(group=self.group, timeout=datetime.timedelta(seconds=timeout_s),
                                             wait_all_ranks=True)
            except RuntimeError as exc:
                raise PeerTimeout(f"processes did not reach the barrier within {timeout_s:.0f} s: {exc}") from exc
            return
        # A mixed group ("cpu:gloo,cuda:nccl") has no monitored barrier: an all-reduce of a
        # CPU tensor (gloo) is a barrier too, bounded by the group's own timeout.
        self.all_max([0])

    def wait_for_exit(self, rank: int = 0, timeout_s: float = 60.0) -> None:
        """Block until process `rank` has exited (its connections close) or `timeout_s` passed.

        A receive that `rank` never sends: it ends with an error when that process goes away.
        Used by the other ranks after the last barrier of a failed or halted run, so that rank
        0 exits first and the launcher, which stops every worker as soon as one exits with an
        error, reports rank 0's own exit code instead of cutting it off while it shuts down."""
        import torch

        try:
            work = self._dist.irecv(torch.zeros(1), src=rank, group=self.group)
            work.wait(datetime.timedelta(seconds=timeout_s))
        except Exception:  # noqa: BLE001 - the expected way out: the peer is gone
            return
