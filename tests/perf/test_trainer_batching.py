"""RunTrainer inside the real Trainer loop: steps per epoch as with plain batching, and a
resume in the middle of the second epoch sees exactly the batches the uninterrupted run saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PrinterCallback, TrainingArguments

from tuneguard.bench.throughput import make_examples, wrap_lora
from tuneguard.train.trainer import RunTrainer
from tuneguard.data.collate import PaddingCollator
from tuneguard.model.load import tiny_model_config


class Recorder:
    def __init__(self, inner: Any):
        self.inner = inner
        self.batches: list[list[int]] = []

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        self.batches.append([f["idx"] for f in features])
        return self.inner(features)


def _trainer(tmp: Path, data: list[dict[str, Any]], recorder: Recorder) -> RunTrainer:
    torch.manual_seed(0)
    model = wrap_lora(AutoModelForCausalLM.from_config(tiny_model_config(640)), r=4, dropout=0.0)
    args = TrainingArguments(output_dir=str(tmp), per_device_train_batch_size=4, num_train_epochs=2,
                             learning_rate=1e-3, save_strategy="steps", save_steps=11, logging_steps=100,
                             eval_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True, seed=0,
                             data_seed=7, remove_unused_columns=False)
    t = RunTrainer(model=model, args=args, train_dataset=data, data_collator=recorder)
    t.remove_callback(PrinterCallback)
    return t


def test_resume_in_second_epoch_sees_the_uninterrupted_runs_batches(tmp_path):
    data = make_examples(30, 64, 600, pad_id=639, eos_id=0, seed=1)
    for i, f in enumerate(data):
        f["idx"] = i
    collate = PaddingCollator(639, 8, 64)

    full = Recorder(collate)
    trainer = _trainer(tmp_path / "full", data, full)
    trainer.train()
    assert trainer.state.global_step == 16  # 2 epochs x ceil(30 / 4)
    epoch0, epoch1 = full.batches[:8], full.batches[8:]
    for epoch in (epoch0, epoch1):
        assert sorted(i for b in epoch for i in b) == list(range(30))
    assert epoch0 != epoch1

    resumed = Recorder(collate)
    trainer = _trainer(tmp_path / "resumed", data, resumed)
    trainer.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-11"))
    assert resumed.batches == full.batches[11:]
