"""Skipping batches after a rollback (tuneguard.policy.rollback): which batches an epoch
yields, how steps map to batches, and the sampler wrapper under a real DataLoader."""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from tuneguard.data.batching import LengthBucketSampler
from tuneguard.policy.rollback import BatchSkips, Layout, SkippingSampler, epoch_order


def test_epoch_order_keeps_the_length_and_the_short_batch_last():
    assert epoch_order(6, set(), short_last=True) == [0, 1, 2, 3, 4, 5]
    # Batch 2 left out: the next ones move up, the first clean batch is replayed before the short one.
    assert epoch_order(6, {2}, short_last=True) == [0, 1, 3, 4, 0, 5]
    assert epoch_order(6, {2}, short_last=False) == [0, 1, 3, 4, 5, 0]
    assert epoch_order(6, {0, 1}, short_last=False) == [2, 3, 4, 5, 2, 3]
    assert epoch_order(6, {5}, short_last=True) == [0, 1, 2, 3, 4, 0]  # a dropped short batch
    assert epoch_order(2, {0, 1}, short_last=False) == []


def test_layout_maps_steps_to_batches():
    lay = Layout(batches_per_epoch=10)
    assert lay.steps_per_epoch == 10
    assert lay.positions(1) == (0, [0]) and lay.positions(10) == (0, [9]) and lay.positions(11) == (1, [0])
    ga = Layout(batches_per_epoch=10, grad_accum=4)  # 3 steps per epoch, the last one of 2 batches
    assert ga.steps_per_epoch == 3
    assert ga.positions(2) == (0, [4, 5, 6, 7]) and ga.positions(3) == (0, [8, 9]) and ga.positions(4) == (1, [0, 1, 2, 3])
    ddp = Layout(batches_per_epoch=5, world_size=2)  # each rank takes every second batch
    assert ddp.positions(2) == (0, [2, 3])


def batches(sampler, batch_size: int, epoch: int | None = None) -> list[list[int]]:
    if epoch is not None:
        sampler.set_epoch(epoch)  # as the Trainer does before every epoch
    loader = DataLoader(list(range(100)), batch_size=batch_size, sampler=sampler)
    return [b.tolist() for b in loader]


def test_sampler_leaves_out_the_skipped_steps_batches():
    skips = BatchSkips()
    wrapped = SkippingSampler(SequentialSampler(range(22)), 4, skips)
    plain = batches(wrapped, 4, 0)  # 5 full batches and a short one
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15], [16, 17, 18, 19], [20, 21]]
    lay = Layout(batches_per_epoch=6)
    (s,) = skips.skip_steps([3], lay)
    assert (s["epoch"], s["position"], s["examples"]) == (0, 2, [8, 9, 10, 11])
    after = batches(wrapped, 4, 0)
    assert after == [[0, 1, 2, 3], [4, 5, 6, 7], [12, 13, 14, 15], [16, 17, 18, 19], [0, 1, 2, 3], [20, 21]]
    assert len(wrapped) == 22 and len(after) == len(plain)
    # A second rollback in the same epoch: step 3 now holds batch 12-15; positions stay in the original order.
    (s2,) = skips.skip_steps([3], lay)
    assert (s2["position"], s2["examples"]) == (3, [12, 13, 14, 15])
    assert batches(wrapped, 4, 0) == [[0, 1, 2, 3], [4, 5, 6, 7], [16, 17, 18, 19], [0, 1, 2, 3], [4, 5, 6, 7], [20, 21]]
    # Saved with a checkpoint, restored in a new process.
    again = BatchSkips()
    again.load_state_dict(skips.state_dict())
    assert batches(SkippingSampler(SequentialSampler(range(22)), 4, again), 4, 0)[2] == [16, 17, 18, 19]
    assert batches(wrapped, 4, 1) == plain  # the next epoch has nothing to skip


def test_skips_follow_the_inner_samplers_epoch():
    lengths = [(i * 7) % 13 + 1 for i in range(40)]
    inner = LengthBucketSampler(lengths, 4, seed=3, mega_batch_mult=2)
    skips = BatchSkips()
    wrapped = SkippingSampler(inner, 4, skips)
    wrapped.set_epoch(1)
    e1 = batches(wrapped, 4)
    assert e1 == inner.batches(1)
    skips.skip_steps([13], Layout(batches_per_epoch=10))  # epoch 1, its third batch
    wrapped.set_epoch(0)
    assert batches(wrapped, 4) == inner.batches(0)  # epoch 0 untouched
    wrapped.set_epoch(1)
    got = batches(wrapped, 4)
    assert got[:2] == e1[:2] and got[2:9] == e1[3:] and got[9] == e1[0]


def test_sampler_inside_a_batch_sampler_is_replaceable():
    """RunTrainer.skip_batches swaps the index sampler of the loader's BatchSampler."""
    loader = DataLoader(list(range(10)), batch_size=3, sampler=SequentialSampler(range(10)))
    bs = loader.batch_sampler
    assert isinstance(bs, BatchSampler)
    bs.sampler = SkippingSampler(bs.sampler, bs.batch_size, BatchSkips())
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert torch.is_tensor(next(iter(loader)))
