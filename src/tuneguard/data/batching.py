"""Length-bucketed batches: the same examples per batch and per epoch as random batching,
with almost no padding.

Why not the Trainer's own `train_sampling_strategy="group_by_length"` (transformers'
`LengthGroupedSampler`): it sorts each mega-batch by length and then hands the batches out
longest first, in the same order every time (the batch order inside a mega-batch is never
shuffled); it draws its permutation from the global torch RNG (no per-epoch seed), so the
order of an epoch depends on what else consumed random numbers before it; and it also
length-groups (and shuffles) the evaluation set. The sampler here is seeded per epoch
(`seed + epoch`), shuffles the batches, and leaves evaluation alone.

How an epoch is formed (`bucketed_batches`):
1. a seeded permutation of all example indices;
2. cut into mega-batches of `mega_batch_mult x batch_size` indices;
3. each mega-batch sorted by padded width (length rounded up to the collator's multiple:
   finer order saves no padding and makes batches needlessly alike), then cut into batches
   of `batch_size`;
4. the full batches arranged into optimizer steps and the steps shuffled: the ranks of one
   micro-step (DDP, `group`) get neighbouring batches of similar length, and the `accum`
   micro-batches of one step come from different length strata, so each step's gradient
   mixes short and long examples as random batching does;
5. what fills no whole step goes last, exactly where plain batching puts its remainder:
   rows of full batches that fill no whole accumulation step, then full batches fewer than
   the ranks, then the one short batch (when the data does not divide evenly).

So every example is seen exactly once per epoch, every batch holds `batch_size` examples
(but the last), steps per epoch stay `ceil(rows / batch_size)`, and the order differs from
epoch to epoch. `LengthBucketSampler` yields these batches flattened into indices: a
DataLoader with the same `batch_size` cuts them back into the same batches, which keeps
every wrapper that accelerate and the Trainer put around a sampler (DDP sharding,
`skip_first_batches` on resume, `set_epoch`) working as it does for a random sampler.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence
from typing import Any

from torch.utils.data import Sampler

from tuneguard.data.token_rows import TokenRows, row_lengths, shifted_supervised

log = logging.getLogger(__name__)

DEFAULT_MEGA_BATCH_MULT = 64


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int = 0,
                     mega_batch_mult: int = DEFAULT_MEGA_BATCH_MULT, group: int = 1,
                     pad_multiple: int = 1, accum: int = 1) -> list[list[int]]:
    """The batches of one epoch (lists of example indices), see the module docstring."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(lengths)
    # random.Random, not the global torch RNG: the order must depend on (seed, epoch) only,
    # so a resumed run and every DDP rank rebuild exactly the same epoch.
    rng = random.Random(seed * 1_000_003 + epoch)
    perm = list(range(n))
    rng.shuffle(perm)
    multiple = max(1, pad_multiple)
    mega = max(1, mega_batch_mult) * batch_size
    full: list[list[int]] = []
    short: list[int] = []
    for start in range(0, n, mega):
        # Sorted by padded width, not by exact length: examples the collator pads to the same
        # width cost the same, so ordering them finer saves nothing and only makes batches
        # more alike (in real data length goes with the kind of task; batches of one kind of
        # task learn measurably slower). sorted() is stable: within a width the order stays random.
        chunk = sorted(perm[start:start + mega], key=lambda i: -(-lengths[i] // multiple))
        for b in range(0, len(chunk), batch_size):
            batch = chunk[b:b + batch_size]
            if len(batch) == batch_size:
                full.append(batch)
            else:
                short = batch  # only the last mega-batch can leave one
    # Rows of `group` neighbouring batches (the DDP ranks of one micro-step: similar lengths,
    # none waits long for another); steps of `accum` rows taken from different length strata
    # (each optimizer step sees short and long examples alike, as with random batches; only
    # its micro-batches are uniform). Homogeneous steps raise the gradient variance (and
    # Adam's second moment) and learn measurably slower.
    group, accum = max(1, group), max(1, accum)
    rows = [full[i:i + group] for i in range(0, len(full), group)]
    # What does not make a whole micro-step (fewer batches than ranks) or a whole optimizer
    # step (rows beyond a multiple of `accum`, chosen at random) goes last, as plain
    # batching's remainder does. Shuffled into the middle it would shift every later step:
    # rank r would then get the neighbour of the batch meant for it (ranks wait for each
    # other's longer batch), and micro-batches would join the wrong optimizer step.
    partial = rows.pop() if rows and len(rows[-1]) < group else []
    spare_idx = set(rng.sample(range(len(rows)), len(rows) % accum))
    spare = [row for i, row in enumerate(rows) if i in spare_idx]
    rows = [row for i, row in enumerate(rows) if i not in spare_idx]
    rows.sort(key=lambda row: max(lengths[i] for b in row for i in b))
    n_steps = len(rows) // accum
    strata = [rows[a * n_steps:(a + 1) * n_steps] for a in range(accum)]
    for stratum in strata:
        rng.shuffle(stratum)
    units = [[strata[a][j] for a in range(accum)] for j in range(n_steps)]
    rng.shuffle(units)
    out = [b for unit in units for row in unit for b in row]
    out += [b for row in spare for b in row] + partial
    if short:
        out.append(short)
    return out


class LengthBucketSampler(Sampler[int]):
    """Indices of `bucketed_batches`, flattened; use with a DataLoader of the same batch_size.

    `set_epoch(e)` selects the epoch's order (the Trainer and accelerate call it at the start
    of every epoch, also after a resume); `len()` is the number of examples, like a
    RandomSampler's, so the Trainer computes the same steps per epoch.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0,
                 mega_batch_mult: int = DEFAULT_MEGA_BATCH_MULT, group: int = 1, pad_multiple: int = 1,
                 accum: int = 1):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega_batch_mult = mega_batch_mult
        self.group = group
        self.pad_multiple = pad_multiple
        self.accum = accum
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        return bucketed_batches(self.lengths, self.batch_size, self.seed,
                                self.epoch if epoch is None else epoch, self.mega_batch_mult, self.group,
                                self.pad_multiple, self.accum)

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches():
            yield from batch

    def __len__(self) -> int:
        return len(self.lengths)


def example_lengths(dataset: Any) -> list[int]:
    """Token counts of a dataset of tokenized features (`length` when present, else input_ids)."""
    rows = getattr(dataset, "features", None)  # train.build.ListDataset over packed rows: their lengths
    if isinstance(rows, TokenRows) and len(rows) == len(dataset):
        return row_lengths(rows)
    out = []
    for i in range(len(dataset)):
        f = dataset[i]
        out.append(int(f["length"]) if "length" in f else len(f["input_ids"]))
    return out


def supervised_tokens_per_step(features: Sequence[dict[str, Any]], steps_per_epoch: int) -> float:
    """Mean supervised (label != -100, after the causal shift) tokens per optimizer step over
    an epoch: the constant the token-weighted loss divides by (tuneguard.train.perf)."""
    if isinstance(features, TokenRows) and not features.edited:
        return shifted_supervised(features) / max(1, steps_per_epoch)
    total = sum(sum(1 for y in f["labels"][1:] if y != -100) for f in features)
    return total / max(1, steps_per_epoch)


def padded_tokens(batches: Sequence[Sequence[int]], lengths: Sequence[int], multiple: int = 1) -> tuple[int, int]:
    """(real tokens, padded positions) of these batches when each is padded to its longest
    example rounded up to `multiple`: the waste a batching scheme leaves."""
    real = total = 0
    for b in batches:
        longest = max(lengths[i] for i in b)
        width = -(-longest // multiple) * multiple
        real += sum(lengths[i] for i in b)
        total += width * len(b)
    return real, total


def mean_padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int], multiple: int = 1) -> float:
    """Share of padded positions when each batch is padded to its longest, rounded to `multiple`."""
    real, total = padded_tokens(batches, lengths, multiple)
    return 1.0 - real / total if total else 0.0
