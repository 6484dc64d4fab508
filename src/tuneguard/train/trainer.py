"""The one Trainer subclass of tuneguard (`RunTrainer`). It owns what only the Trainer can:

- the data loaders: length-bucketed training batches (data.batching token_budget) or the
  stock random ones; the collator of evaluation batches; the batches a rollback skips;
- the per-step record of the loss and gradient norm the guards read (tuneguard.train.steps);
- the reset before the pass after a rollback (fresh optimizer and scheduler, callbacks told
  through their own `reset_for_rollback`).

Everything that watches, steers, stores or tells is a TrainerCallback; the loss itself is the
Trainer's `compute_loss_func` (tuneguard.train.perf chooses it).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from torch.utils.data import DataLoader
from transformers import Trainer
from transformers.trainer_utils import seed_worker

from tuneguard.data.batching import DEFAULT_MEGA_BATCH_MULT, LengthBucketSampler, example_lengths
from tuneguard.policy.rollback import BatchSkips, SkippingSampler, index_sampler_holder
from tuneguard.train.steps import StepRecorder

log = logging.getLogger(__name__)


class RunTrainer(Trainer):
    """A Trainer that owns its data loaders, records every optimizer step for the guards and
    resets itself for a rollback (see the module doc).

    `length_buckets`: length-bucketed training batches (else the Trainer's random ones).
    Evaluation batches stay sequential, as with plain batching, so evaluation losses of the
    two batching modes are computed over the same batches and are comparable.
    `train_collate_wrapper` wraps the collator of training batches only (the chunked loss
    asks the model for hidden states instead of full logits); `eval_collator` replaces the
    collator for evaluation batches (they need no token counting); `recorder` gets each
    micro-batch's loss and each optimizer step's gradient norm.
    """

    data_collator: Any  # the Trainer's; swapped for the batches of one loader

    def __init__(self, *args: Any, length_buckets: bool = True, mega_batch_mult: int = DEFAULT_MEGA_BATCH_MULT,
                 pad_to_multiple_of: int = 1, train_collate_wrapper: Any = None, eval_collator: Any = None,
                 recorder: StepRecorder | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.length_buckets = length_buckets
        self.pad_to_multiple_of = pad_to_multiple_of
        self.mega_batch_mult = mega_batch_mult
        self.train_collate_wrapper = train_collate_wrapper
        self.eval_collator = eval_collator
        self.bucket_sampler: LengthBucketSampler | None = None
        self.batch_skips: BatchSkips | None = None
        self.recorder = recorder
        if recorder is not None:
            recorder.attach(per_step_grad_norm=hasattr(Trainer, "_get_grad_norm"))

    # --- data loaders ------------------------------------------------------------------

    def get_train_dataloader(self) -> DataLoader:
        dataloader = self._bucketed_dataloader() if self.length_buckets else self._random_dataloader()
        if self.batch_skips is not None:
            _skip_batches(dataloader, self.batch_skips)
        return dataloader

    def get_eval_dataloader(self, eval_dataset: Any = None) -> DataLoader:
        if self.eval_collator is None:
            return super().get_eval_dataloader(eval_dataset)
        saved: Any = self.data_collator
        self.data_collator = self.eval_collator
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.data_collator = saved

    def skip_batches(self, skips: BatchSkips) -> None:
        """Every training data loader built from now on leaves out the batches in `skips`."""
        self.batch_skips = skips

    def _random_dataloader(self) -> DataLoader:
        if self.train_collate_wrapper is None:
            return super().get_train_dataloader()
        saved: Any = self.data_collator
        self.data_collator = self.train_collate_wrapper(saved)
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = saved

    def _bucketed_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            raise ValueError("Trainer: training requires a train_dataset.")
        args = self.args
        seed = args.data_seed if args.data_seed is not None else args.seed
        sampler = LengthBucketSampler(example_lengths(self.train_dataset), self._train_batch_size, seed=seed,
                                      mega_batch_mult=self.mega_batch_mult, group=max(1, args.world_size),
                                      pad_multiple=self.pad_to_multiple_of, accum=args.gradient_accumulation_steps)
        self.bucket_sampler = sampler
        collate = self.data_collator
        if self.train_collate_wrapper is not None:
            collate = self.train_collate_wrapper(collate)
        params: dict[str, Any] = {
            "batch_size": self._train_batch_size,
            "sampler": sampler,
            "collate_fn": collate,
            "drop_last": args.dataloader_drop_last,
            "num_workers": args.dataloader_num_workers,
            "pin_memory": args.dataloader_pin_memory,
            "worker_init_fn": partial(seed_worker, num_workers=args.dataloader_num_workers, rank=args.process_index),
        }
        if args.dataloader_num_workers > 0:
            params["persistent_workers"] = args.dataloader_persistent_workers
            params["prefetch_factor"] = args.dataloader_prefetch_factor
        dataloader = self.accelerator.prepare(DataLoader(self.train_dataset, **params))
        _reach_sampler_on_every_epoch(dataloader, sampler)
        log.debug("length-bucketed training batches: %d examples, batch %d, mega-batch %d x batch",
                  len(sampler), self._train_batch_size, self.mega_batch_mult)
        return dataloader

    # --- the record of every step ------------------------------------------------------

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.recorder is not None:
            self.recorder.add_loss(loss)
        return loss

    def _get_grad_norm(self, model: Any, grad_norm: Any = None) -> Any:
        norm = super()._get_grad_norm(model, grad_norm=grad_norm)
        if self.recorder is not None:
            self.recorder.add_grad_norm(norm)
        return norm

    # --- rollback ----------------------------------------------------------------------

    def reset_for_rollback(self) -> None:
        """Before the pass that resumes from the rollback's checkpoint: a fresh optimizer and
        scheduler (the Trainer's resume loads them; re-preparing the prepared ones would wrap
        them twice), and every callback forgets what it learnt after the checkpoint."""
        self.optimizer = None
        self.lr_scheduler = None
        for cb in self.callback_handler.callbacks:
            reset = getattr(cb, "reset_for_rollback", None)
            if callable(reset):
                reset()


def _skip_batches(dataloader: Any, skips: BatchSkips) -> None:
    """Make the loader draw through a SkippingSampler (tuneguard.policy.rollback)."""
    holder = index_sampler_holder(dataloader)
    if holder is None or getattr(holder, "sampler", None) is None:
        log.warning("cannot skip batches with this data loader (%s): a rollback will replay them",
                    type(dataloader).__name__)
        return
    if not isinstance(holder.sampler, SkippingSampler):
        holder.sampler = SkippingSampler(holder.sampler, holder.batch_size, skips)


def _reach_sampler_on_every_epoch(dataloader: Any, sampler: LengthBucketSampler) -> None:
    """Make `set_epoch` reach our sampler through accelerate's wrappers in every case.

    Under DDP accelerate wraps the DataLoader's batch sampler in `BatchSamplerShard`, and on a
    mid-epoch resume the Trainer wraps that in `SkipBatchSampler`. accelerate's
    `DataLoaderShard.set_epoch` looks for `.sampler` one and two levels down; the shard
    wrapper has no `.sampler`, so in the DDP-and-resume case the epoch would never arrive
    and the resumed epoch would replay epoch 0's order. Giving the shard a `.sampler` that
    points at ours closes that gap (it is only read, to call `set_epoch`).
    """
    shard = getattr(dataloader, "batch_sampler", None)
    if shard is not None and hasattr(shard, "batch_sampler") and not hasattr(shard, "sampler"):
        inner = getattr(shard.batch_sampler, "sampler", None)
        if inner is sampler:
            shard.sampler = sampler
