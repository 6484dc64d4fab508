"""Halt actions: a single process needs no communication; under two processes a halt
decided on one rank reaches the other (gloo, CPU)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch.multiprocessing as mp
from dist_worker import halt_agreement_worker
from transformers import TrainerControl

from tuneguard.guard.actions import agree_on_halt


def test_single_process_keeps_its_own_decision():
    for reason, expected in [(None, False), ("halted", True), ("early_stop", False)]:
        control = TrainerControl()
        ctx = SimpleNamespace(stop_reason=reason, world_size=1)
        assert agree_on_halt(ctx, SimpleNamespace(device="cpu"), control) is expected
        assert not control.should_training_stop  # the finding's own action sets control, not this


def test_halt_on_rank0_reaches_rank1(tmp_path):
    # fork: the children inherit the imports, which a spawned process would redo (seconds each).
    mp.start_processes(halt_agreement_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    for rank in (0, 1):
        r = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert r == {"agreed": True, "stop_reason": "halted", "save": True, "stop": True}
