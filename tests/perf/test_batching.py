"""Length-bucketed batching: every example once per epoch, orders that change across epochs,
batches the DataLoader, DDP sharding and a mid-epoch resume all see the same way."""

from __future__ import annotations

import random

import pytest
from accelerate.data_loader import prepare_data_loader, skip_first_batches
from torch.utils.data import DataLoader

from tuneguard.data.batching import LengthBucketSampler, bucketed_batches, mean_padding_fraction
from tuneguard.train.trainer import _reach_sampler_on_every_epoch


def lengths_for(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [max(8, min(512, int(rng.lognormvariate(5.2, 0.65)))) for _ in range(n)]


@pytest.mark.parametrize("n,bs,mult", [(1000, 8, 64), (1003, 8, 4), (7, 4, 64), (64, 16, 1), (1, 3, 64)])
def test_one_epoch_covers_every_example_exactly_once(n, bs, mult):
    lengths = lengths_for(n)
    for epoch in range(3):
        batches = bucketed_batches(lengths, bs, seed=5, epoch=epoch, mega_batch_mult=mult)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(n))  # each example exactly once
        assert all(len(b) == bs for b in batches[:-1]) and 1 <= len(batches[-1]) <= bs
        assert len(batches) == -(-n // bs)  # steps per epoch as with plain batching


def test_epochs_differ_and_are_reproducible():
    lengths = lengths_for(500)
    e0, e1 = (bucketed_batches(lengths, 8, seed=1, epoch=e) for e in (0, 1))
    assert e0 != e1
    assert {frozenset(b) for b in e0} != {frozenset(b) for b in e1}  # different batches, not only order
    assert bucketed_batches(lengths, 8, seed=1, epoch=1) == e1
    assert bucketed_batches(lengths, 8, seed=2, epoch=1) != e1


def test_batches_hold_similar_lengths():
    lengths = lengths_for(2000)
    rng = random.Random(0)
    perm = list(range(2000))
    rng.shuffle(perm)
    random_batches = [perm[i:i + 8] for i in range(0, 2000, 8)]
    bucketed = bucketed_batches(lengths, 8, seed=0)
    assert mean_padding_fraction(random_batches, lengths) > 0.3
    assert mean_padding_fraction(bucketed, lengths) < 0.03


def test_dataloader_cuts_the_sampler_into_the_same_batches():
    lengths = lengths_for(203)
    sampler = LengthBucketSampler(lengths, 8, seed=3)
    dl = DataLoader(list(range(203)), batch_size=8, sampler=sampler, collate_fn=list)
    for epoch in (0, 4):
        sampler.set_epoch(epoch)
        assert list(dl) == bucketed_batches(lengths, 8, seed=3, epoch=epoch)
    assert len(dl) == 26


def _prepared(lengths, bs, world, rank):
    sampler = LengthBucketSampler(lengths, bs, seed=3, group=world)
    dl = DataLoader(list(range(len(lengths))), batch_size=bs, sampler=sampler, collate_fn=list)
    dl = prepare_data_loader(dl, num_processes=world, process_index=rank, put_on_device=False)
    _reach_sampler_on_every_epoch(dl, sampler)
    return dl, sampler


def test_ddp_ranks_get_disjoint_shares_covering_the_epoch():
    lengths = lengths_for(160)  # divides evenly: no batch repeated to even out the ranks
    per_rank = []
    for rank in (0, 1):
        dl, _ = _prepared(lengths, 8, 2, rank)
        dl.set_epoch(1)
        per_rank.append([i for b in dl for i in b])
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == list(range(160))
    # Neighbouring batches (similar lengths) go to the ranks of one step.
    full = bucketed_batches(lengths, 8, seed=3, epoch=1, group=2)
    assert [i for b in full[0::2] for i in b] == per_rank[0]


@pytest.mark.parametrize("world", [1, 2])
def test_resume_mid_epoch_replays_that_epochs_order(world):
    """The Trainer resumes with skip_first_batches, then set_epoch: our sampler must get the
    epoch through accelerate's wrappers (DDP + skip had no path before the link)."""
    lengths = lengths_for(203)
    for rank in range(world):
        dl, sampler = _prepared(lengths, 4, world, rank)
        skipped = skip_first_batches(dl, 5)
        skipped.set_epoch(3)
        assert sampler.epoch == 3
        expected = bucketed_batches(lengths, 4, seed=3, epoch=3, group=world)[rank::world][5:]
        got = list(skipped)
        assert got[: len(expected) - 1] == expected[: len(expected) - 1]


def test_each_optimizer_step_mixes_lengths_when_accumulating():
    lengths = lengths_for(1024)
    batches = bucketed_batches(lengths, 4, seed=0, accum=4, pad_multiple=8)
    assert sorted(i for b in batches for i in b) == list(range(1024))
    assert mean_padding_fraction(batches, lengths, 8) < 0.06
    spans = []
    for s in range(0, len(batches), 4):
        widths = sorted(max(lengths[i] for i in b) for b in batches[s:s + 4])
        spans.append(widths[-1] / widths[0])
    assert sorted(spans)[len(spans) // 2] > 2.0  # a typical step holds short and long micro-batches


@pytest.mark.parametrize("world,accum", [(2, 1), (3, 1), (2, 2)])
def test_ddp_ranks_stay_paired_when_batches_do_not_divide_by_the_ranks(world, accum):
    """DDP: accelerate gives batch j to rank j % world, so micro-step k runs batches
    [k*world, (k+1)*world): neighbours in length, so no rank waits long for another. When
    the full batches do not divide by the ranks (or fill no whole accumulation step) the
    rows left over must come last, as plain batching's remainder does: one in the middle
    would shift every later step's pairing (ranks then step with unlike lengths)."""
    bs = 4
    for n_full in (7, 9, 11):
        # Distinct lengths in one mega-batch: batch ranks by width are 0..n_full-1, and
        # neighbours in rank are what a micro-step should hold.
        lengths = [10 + i for i in range(n_full * bs)]
        for seed in range(8):
            random.Random(seed).shuffle(lengths)
            batches = bucketed_batches(lengths, bs, seed=seed, mega_batch_mult=64, group=world, accum=accum)
            assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
            order = sorted(range(len(batches)), key=lambda j: min(lengths[i] for i in batches[j]))
            rank_of = {j: r for r, j in enumerate(order)}
            whole = (n_full // world) * world
            steps = [sorted(rank_of[j] for j in range(k, k + world)) for k in range(0, whole, world)]
            leftover = sorted(rank_of[j] for j in range(whole, len(batches)))
            for ranks in steps:  # every micro-step: `world` neighbours, aligned on a row
                assert ranks == list(range(ranks[0], ranks[0] + world)) and ranks[0] % world == 0, (steps, seed)
            assert leftover == list(range(whole, n_full)), (leftover, seed)  # the remainder, last
