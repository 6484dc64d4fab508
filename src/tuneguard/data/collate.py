"""Batch collation: tuneguard's label-preserving collator, or the old pipeline's on request;
padding-free rows for training when `train.padding_free` is on.

`PaddingCollator` pads inputs with the pad token and labels with -100, so padding is never
supervised and the labels built by `tokenize` survive. `data.collator: language_modeling`
reproduces transformers' DataCollatorForLanguageModeling (labels = inputs with pad masked),
which overwrites prompt masks and, with pad == eos, masks every EOS; tuneguard never does
this by default, but it lets a user reproduce an old run and the audit say what was wrong.
"""

from __future__ import annotations

from typing import Any

import torch

from tuneguard.data.tokenize import IGNORE_INDEX


class PaddingCollator:
    """Pad to the longest example of the batch, rounded up to `pad_to_multiple_of`."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int = 8, max_length: int | None = None):
        self.pad_token_id = pad_token_id
        self.multiple = max(1, pad_to_multiple_of)
        self.max_length = max_length

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        width = -(-longest // self.multiple) * self.multiple
        if self.max_length:
            width = max(longest, min(width, self.max_length))
        n = len(features)
        input_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        for i, f in enumerate(features):
            ids = f["input_ids"]
            k = len(ids)
            input_ids[i, :k] = torch.as_tensor(ids, dtype=torch.long)
            labels[i, :k] = torch.as_tensor(f["labels"], dtype=torch.long)
            attention[i, :k] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


class LanguageModelingCollator:
    """transformers' DataCollatorForLanguageModeling(mlm=False), fed only input_ids."""

    def __init__(self, tokenizer: Any, pad_to_multiple_of: int = 8):
        from transformers import DataCollatorForLanguageModeling

        self.inner = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False,
                                                     pad_to_multiple_of=pad_to_multiple_of)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return self.inner([{"input_ids": f["input_ids"]} for f in features])


def flattening_collator() -> Any:
    """Padding-free training batches (`train.padding_free`): the batch's examples concatenated
    into one row, in the order the sampler chose them; input_ids and labels as tokenized,
    position_ids restarting at 0 for every example, no attention_mask (the attention finds the
    examples from the position ids: tuneguard.train.levers.PACKED_ATTENTION), and the first
    label of every example -100, so the last token of one example never learns to predict the
    first of the next. transformers' DataCollatorWithFlattening does exactly this and keeps
    tuneguard's labels (prompt masks included) for every other position."""
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE_INDEX)


def build_collator(kind: str, tokenizer: Any, pad_to_multiple_of: int, max_length: int | None = None,
                   padding_free: bool = False) -> Any:
    """The collator of `data.collator`; `padding_free`: flattened rows (training batches only)."""
    if padding_free and kind != "language_modeling":
        return flattening_collator()
    if kind == "language_modeling":
        return LanguageModelingCollator(tokenizer, pad_to_multiple_of)
    return PaddingCollator(tokenizer.pad_token_id, pad_to_multiple_of, max_length)
