"""Two-process gloo workers for the collectives tests (forked: imports are inherited).

One worker runs every scenario in sequence (each process start costs seconds on this
machine) and writes what it saw to rank{N}.json; the tests assert on those records.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any


class FakeSignals:
    """SignalWatcher's interface; `arm()` plays a SIGTERM arriving at this process."""

    def __init__(self) -> None:
        self._pending: str | None = None

    def install(self) -> bool:
        return True

    def uninstall(self) -> None:
        pass

    def arm(self, name: str = "SIGTERM") -> None:
        self._pending = name

    def take(self) -> str | None:
        name, self._pending = self._pending, None
        return name


def _control(**kw: Any) -> Any:
    from transformers import TrainerControl

    c = TrainerControl()
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def _ctx(rank: int, run_dir: Path, every: int) -> Any:
    from tuneguard.store.run_store import RunStore

    store = None
    if rank == 0:
        store = RunStore(run_dir, create=True)
        store.init_run(config={}, max_steps=100)
        store.set_state("running")
    cfg = SimpleNamespace(train=SimpleNamespace(control_every_steps=every),
                          report=SimpleNamespace(language=None), notify=SimpleNamespace(language="en"))
    return SimpleNamespace(cfg=cfg, run_dir=run_dir, store=store, is_main=rank == 0, world_size=2, stop_reason=None,
                           paused_seconds=0.0, event=lambda *a, **k: None)


def _steps(cb: Any, steps: range, arm_at: dict[int, int], rank: int,
           after_save: Any = None) -> dict[str, Any]:
    """Run on_step_end for `steps` until a stop; arm a signal on rank arm_at[step].
    `after_save()` is asked the moment on_save returns (what had happened by then)."""
    state = SimpleNamespace(global_step=0)
    for step in steps:
        state.global_step = step
        if arm_at.get(step) == rank:
            cb.signals.arm()
        control = _control()
        cb.on_step_end(None, state, control)
        if control.should_save or control.should_training_stop:
            cb.on_save(None, state, control)
            seen = after_save() if after_save is not None else None
            return {"step": step, "save": control.should_save, "stop": control.should_training_stop,
                    "seen_after_save": seen}
    return {"step": None}


def scenario_share(rank: int, run_dir: Path) -> dict[str, Any]:
    """Rank 1 alone is signalled at step 3; with a cadence of 2 both stop at step 4."""
    from tuneguard.control.requests import ControlCallback

    ctx = _ctx(rank, run_dir, every=2)
    cb = ControlCallback(ctx, FakeSignals(), poll_interval_s=0.0)
    cb.on_train_begin(None, SimpleNamespace(global_step=0), _control())
    out = _steps(cb, range(1, 9), {3: 1}, rank)
    out["stop_reason"] = ctx.stop_reason
    if ctx.store is not None:
        out["requests"] = [(r["action"], r["arg"], r["status"], r["handled_step"]) for r in ctx.store.control_requests()]
        ctx.store.close()
    return out


def scenario_pause(rank: int, run_dir: Path) -> dict[str, Any]:
    """A pause from the store pauses both ranks; `continue` 1 s later releases both. Each rank
    records whether the continue request existed when it left the pause (it must have)."""
    from tuneguard.control.requests import ControlCallback
    from tuneguard.store.run_store import RunStore

    ctx = _ctx(rank, run_dir, every=1)
    cb = ControlCallback(ctx, FakeSignals(), poll_interval_s=0.0, pause_poll_s=0.05)
    cb.on_train_begin(None, SimpleNamespace(global_step=0), _control())
    if rank == 0:
        ctx.store.request_control("pause", requested_by="test")

        def later() -> None:
            time.sleep(1.0)
            with RunStore(run_dir) as s:
                s.request_control("continue", requested_by="test")

        threading.Thread(target=later, daemon=True).start()
    def continue_requested() -> bool:
        with RunStore(run_dir, readonly=True) as s:
            return any(r["action"] == "continue" for r in s.control_requests())

    out = _steps(cb, range(1, 5), {}, rank, after_save=continue_requested)
    if ctx.store is not None:
        out["requests"] = [(r["action"], r["status"], r["handled_step"]) for r in ctx.store.control_requests()]
        out["state"] = ctx.store.state()
        ctx.store.close()
    return out


def scenario_pause_then_peer_signal(rank: int, run_dir: Path) -> dict[str, Any]:
    """While paused, a SIGTERM to rank 1 only ends the pause on both ranks with a stop. Rank 1
    marks a file just before its signal arrives; each rank records whether the mark existed
    when it left the pause (it must have)."""
    from tuneguard.control.requests import ControlCallback

    ctx = _ctx(rank, run_dir, every=1)
    signals = FakeSignals()
    cb = ControlCallback(ctx, signals, poll_interval_s=0.0, pause_poll_s=0.05)
    cb.on_train_begin(None, SimpleNamespace(global_step=0), _control())
    mark = run_dir / "signal-armed"
    if rank == 0:
        ctx.store.request_control("pause", requested_by="test")
    else:
        def arm() -> None:
            mark.write_text("armed")
            signals.arm()

        threading.Timer(0.8, arm).start()
    out = _steps(cb, range(1, 5), {}, rank, after_save=mark.exists)
    out["stop_reason"] = ctx.stop_reason
    if ctx.store is not None:
        out["requests"] = [(r["action"], r["arg"], r["status"]) for r in ctx.store.control_requests()]
        ctx.store.close()
    return out


def scenario_gate(rank: int) -> dict[str, Any]:
    """The go/no-go: a refusal, different data, different checkpoints, then agreement."""
    from tuneguard.dist import Collectives, PeerRefused, StartGate

    rows = [{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4, 5], "labels": [4, 5]}]
    out: dict[str, Any] = {}

    def attempt(fn: Any) -> Any:
        try:
            return ["ok", fn()]
        except PeerRefused as exc:
            return ["refused", exc.code, exc.message]

    gate = StartGate(Collectives())
    out["refusal"] = attempt(lambda: gate.refuse(2) if rank == 0 else gate.go(rows, 0))
    gate = StartGate(Collectives())
    other = rows if rank == 0 else list(reversed(rows))  # same rows, another order
    out["data"] = attempt(lambda: gate.go(other, 0))
    gate = StartGate(Collectives())
    out["checkpoint"] = attempt(lambda: gate.go(rows, 20 if rank == 0 else 0))
    gate = StartGate(Collectives())
    out["agreed"] = attempt(lambda: gate.go(rows, 20))
    out["refuse_after_go"] = gate.refuse(1)  # no collective once passed
    return out


def scenario_collectives(rank: int) -> dict[str, Any]:
    from tuneguard.dist import Collectives, PeerTimeout

    c = Collectives()
    out: dict[str, Any] = {"or": c.all_or(0b001 if rank == 0 else 0b100), "max": c.all_max([rank, -rank]),
                           "bcast": c.broadcast_int(41 + rank * 100)}
    c.barrier(30)
    if rank == 0:
        try:
            c.barrier(1.0)  # rank 1 never comes: without the timeout this would wait forever
            out["timeout"] = "no error"
        except PeerTimeout as exc:
            out["timeout"] = ["PeerTimeout", "1" in str(exc)]
    return out


def scenario_mixed_backend(rank: int, init_file: str) -> dict[str, Any]:
    """The default group of a GPU machine, "cpu:gloo,cuda:nccl", played on CPUs as
    "cpu:gloo,cuda:gloo": `monitored_barrier` refuses it (ValueError), which left the ranks
    not waiting for each other at the end of a run; tuneguard's own group is pure gloo."""
    import datetime

    import torch.distributed as dist

    from tuneguard.dist import Collectives

    dist.destroy_process_group()
    dist.init_process_group("cpu:gloo,cuda:gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    out: dict[str, Any] = {"default_backend": str(dist.get_backend())}
    try:
        dist.monitored_barrier(timeout=datetime.timedelta(seconds=10), wait_all_ranks=True)
        out["default_monitored_barrier"] = "ok"
    except ValueError:
        out["default_monitored_barrier"] = "ValueError"
    own = Collectives.create(30)
    out["own_backend"] = str(dist.get_backend(own.group))
    own.barrier(30)  # the end-of-run barrier (monitored: it names the ranks that never came)
    out["own_max"] = own.all_max([rank, 5 - rank])
    Collectives().barrier(30)  # on the mixed default group: an all-reduce barrier, no ValueError
    out["default_barrier"] = "ok"
    return out


def scenario_fsdp_adapter(rank: int, out_dir: Path) -> dict[str, Any]:
    """FSDP2 shards a LoRA model; one step on the same batch; save_adapter gathers and writes it."""
    from types import SimpleNamespace as NS

    from torch.distributed.fsdp import fully_shard

    from tuneguard.dist import save_adapter

    model, batch = tiny_peft_model_and_batch()
    for block in model.base_model.model.transformer.h:
        fully_shard(block)
    fully_shard(model)
    sharded = type(next(p for p in model.parameters() if p.requires_grad)).__name__
    train_one_step(model, batch)
    save_adapter(NS(is_fsdp_enabled=True, is_deepspeed_enabled=False, model=model, model_wrapped=model),
                 out_dir / "adapter", rank == 0)
    return {"param_type": sharded}


def tiny_base() -> Any:
    """The same seeded tiny GPT-J in every process."""
    import torch
    from transformers import GPTJConfig, GPTJForCausalLM

    torch.manual_seed(0)
    return GPTJForCausalLM(GPTJConfig(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=4, rotary_dim=4,
                                      bos_token_id=0, eos_token_id=0))


def tiny_peft_model_and_batch() -> tuple[Any, Any]:
    """The same seeded tiny GPT-J + LoRA and batch in every process (and in the reference)."""
    import peft
    import torch

    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = peft.get_peft_model(tiny_base(), lora)
    batch = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(1))
    return model, batch


def train_one_step(model: Any, batch: Any) -> None:
    import torch

    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model(input_ids=batch, labels=batch).loss.backward()
    opt.step()


def exit_order_worker(rank: int, init_file: str, out_dir: str) -> None:
    """The end of a halted run on a pure gloo default group (a CPU run): rank 0 destroys the
    default group, then takes a while to exit; rank 1 waits for rank 0's exit on tuneguard's
    own group and records whether rank 0 had reached its last line by then."""
    import torch.distributed as dist

    from tuneguard.dist import Collectives

    out = Path(out_dir)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    own = Collectives.create(30)
    own.barrier(30)
    if rank == 0:
        dist.destroy_process_group()  # what a finished rank 0 does before its interpreter exits
        time.sleep(1.5)  # the interpreter's shutdown
        (out / "rank0-exiting").write_text("")
        return
    own.wait_for_exit(0, 30)
    (out / "rank1.json").write_text(json.dumps({"rank0_exited_first": (out / "rank0-exiting").exists()}))
    dist.destroy_process_group()


def worker(rank: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    out = Path(out_dir)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    results: dict[str, Any] = {}
    try:
        for name, fn in (("gate", lambda: scenario_gate(rank)),
                         ("share", lambda: scenario_share(rank, _fresh(out / "share"))),
                         ("pause", lambda: scenario_pause(rank, _fresh(out / "pause"))),
                         ("pause_signal", lambda: scenario_pause_then_peer_signal(rank, _fresh(out / "pause2"))),
                         ("fsdp", lambda: scenario_fsdp_adapter(rank, out)),
                         ("collectives", lambda: scenario_collectives(rank)),
                         ("mixed", lambda: scenario_mixed_backend(rank, init_file + ".mixed"))):
            results[name] = fn()
    except Exception:  # noqa: BLE001 - the test reports it; the other rank fails on its own collective
        results["error"] = traceback.format_exc()
    finally:
        (out / f"rank{rank}.json").write_text(json.dumps(results, default=str))
        dist.destroy_process_group()


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
