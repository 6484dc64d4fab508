"""tuneguard's collectives on two real gloo processes: the go/no-go gate, the control
decision shared at a step cadence, a pause that holds every rank, and the LoRA adapter
gathered from FSDP2 shards.

One pair of forked processes runs every scenario (tests/distributed/workers.py); each test
asserts on what both ranks recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from tests.distributed import workers


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    out = tmp_path_factory.mktemp("collectives")
    # fork: the children inherit the imports, which a spawned process would redo (seconds each).
    mp.start_processes(workers.worker, args=(str(out / "init"), str(out)), nprocs=2, join=True, start_method="fork")
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert "error" not in r0 and "error" not in r1, (r0.get("error"), r1.get("error"))
    return r0, r1, out


def test_a_refusal_on_rank0_reaches_rank1_before_any_model(ranks):
    r0, r1, _ = ranks
    g0, g1 = r0["gate"], r1["gate"]
    assert g0["refusal"] == ["ok", True]  # rank 0 took part in the gate by refusing
    assert g1["refusal"] == ["refused", 2, None]  # exit 2, quietly: rank 0 has said why
    # Same rows in another order on one rank: both refuse with a message for rank 0 to print.
    for g in (g0, g1):
        assert g["data"][:2] == ["refused", 2] and "different training data" in g["data"][2]
        assert g["checkpoint"][:2] == ["refused", 2] and "storage that every node shares" in g["checkpoint"][2]
        assert g["agreed"] == ["ok", None]
        assert g["refuse_after_go"] is False


def test_a_signal_on_one_rank_stops_both_at_the_same_step(ranks):
    r0, r1, _ = ranks
    # control_every_steps 2: rank 1's signal at step 3 is acted on at step 4, by both.
    for r in (r0, r1):
        assert (r["share"]["step"], r["share"]["save"], r["share"]["stop"]) == (4, True, True)
        assert r["share"]["stop_reason"] == "stopped"
    # Rank 0 records the stop that came from the other process, acknowledged at the save.
    assert r0["share"]["requests"] == [["stop", "peer", "done", 4]]


def test_pause_holds_every_rank_until_continue(ranks):
    r0, r1, _ = ranks
    for r in (r0, r1):
        p = r["pause"]
        assert (p["step"], p["save"], p["stop"]) == (1, True, False)
        assert p["seen_after_save"] is True  # neither rank left the pause before `continue` was asked
    assert r0["pause"]["requests"] == [["pause", "done", 1], ["continue", "done", 1]]
    assert r0["pause"]["state"] == "running"


def test_a_signal_to_one_rank_ends_the_pause_on_both(ranks):
    r0, r1, _ = ranks
    for r in (r0, r1):
        p = r["pause_signal"]
        assert (p["step"], p["stop"], p["stop_reason"]) == (1, True, "stopped")
        assert p["seen_after_save"] is True  # both held in the pause until rank 1's signal came
    assert r0["pause_signal"]["requests"] == [["pause", None, "done"], ["stop", "peer", "done"]]


def test_collectives_or_max_broadcast_and_barrier_timeout(ranks):
    r0, r1, _ = ranks
    for r in (r0, r1):
        c = r["collectives"]
        assert (c["or"], c["max"], c["bcast"]) == (0b101, [1, 0], 41)
    kind, names_rank = r0["collectives"]["timeout"]
    assert kind == "PeerTimeout" and names_rank


def test_adapter_gathered_from_fsdp2_shards_matches_unsharded_training(ranks):
    """The sharded path of save_adapter: the saved adapter equals the same step unsharded."""
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file

    r0, _r1, out = ranks
    assert r0["fsdp"]["param_type"] == "DTensor"  # the weights really were sharded
    ref, batch = workers.tiny_peft_model_and_batch()
    workers.train_one_step(ref, batch)
    expected = get_peft_model_state_dict(ref)
    saved = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert sorted(saved) == sorted(expected)
    for k, v in expected.items():
        assert tuple(saved[k].shape) == tuple(v.shape), k
        assert (saved[k] - v).abs().max().item() < 1e-5, k
    # And it loads the PEFT way onto a fresh base, giving the reference model's outputs.
    loaded = PeftModel.from_pretrained(workers.tiny_base(), out / "adapter")
    ref.eval()
    loaded.eval()
    diff = (loaded(input_ids=batch).logits - ref(input_ids=batch).logits).abs().max().item()
    assert diff < 1e-4


def test_own_gloo_group_on_a_mixed_backend_default_group(ranks):
    """On GPUs the default group is "cpu:gloo,cuda:nccl": monitored_barrier refuses it, so the
    end-of-run barrier never held the ranks together. tuneguard's group is pure gloo."""
    r0, r1, _ = ranks
    for r in (r0, r1):
        m = r["mixed"]
        assert m["default_backend"] == "cpu:gloo,cuda:gloo"
        assert m["default_monitored_barrier"] == "ValueError"  # the failure, reproduced
        assert m["own_backend"] == "gloo" and m["own_max"] == [1, 5]
        assert m["default_barrier"] == "ok"


def test_rank1_waits_for_rank0_to_exit_after_it_destroyed_a_pure_gloo_default_group(tmp_path):
    """A CPU run's halt under torchrun: rank 0 destroys the (pure gloo) default group and then
    shuts its interpreter down; rank 1 must not leave before rank 0 has gone, or the launcher
    kills rank 0 (SIGTERM) and names rank 1's exit as the failure. When tuneguard's
    collectives ran on the default group itself, rank 1's wait ended at the destroy."""
    mp.start_processes(workers.exit_order_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2,
                       join=True, start_method="fork")
    assert json.loads((tmp_path / "rank1.json").read_text()) == {"rank0_exited_first": True}
