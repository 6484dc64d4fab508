"""What a newcomer meant by a key tuneguard does not know.

A config written from memory of another tool uses that tool's names (`lr`, `fp16`,
`max_seq_length`, axolotl's `train_on_inputs`, LLaMA-Factory's `cutoff_len`) or puts a right
name in the wrong section (`train.max_length`). A spelling match within the section misleads
there: `model.max_length` is closest to `model.context_length`, but the user meant
`data.max_length`. So the hint tries, in order: the names other tools use, the same name in
another section, then a close spelling in the same section.
"""

from __future__ import annotations

import difflib
from typing import Any

# Other tools' names -> (tuneguard key, how to write the value, or None when it is the same).
OTHER_NAMES: dict[str, tuple[str, str | None]] = {
    "lr": ("train.learning_rate", None),
    "epochs": ("train.num_epochs", None),
    "num_train_epochs": ("train.num_epochs", None),
    "per_device_train_batch_size": ("train.batch_size", None),
    "micro_batch_size": ("train.batch_size", None),
    "per_device_eval_batch_size": ("train.eval_batch_size", None),
    "max_seq_length": ("data.max_length", None),
    "max_seq_len": ("data.max_length", None),
    "cutoff_len": ("data.max_length", None),
    "sequence_len": ("data.max_length", None),
    "fp16": ("model.dtype", "model.dtype: fp16"),
    "bf16": ("model.dtype", "model.dtype: bf16"),
    "torch_dtype": ("model.dtype", None),
    "rank": ("lora.r", None),
    "lora_r": ("lora.r", None),
    "lora_alpha": ("lora.alpha", None),
    "lora_dropout": ("lora.dropout", None),
    "train_on_inputs": ("data.train_on_prompt", None),
    # The opposite sense: masking the prompt is not training on it.
    "mask_prompt": ("data.train_on_prompt", "inverted"),
    "eval_steps": ("eval.steps", None),
    "eval_strategy": ("eval.strategy", None),
    "evaluation_strategy": ("eval.strategy", None),
    "model_name_or_path": ("model.name", None),
    "base_model": ("model.name", None),
}


def _inverted(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"; set {key}: {str(not value).lower()} (the opposite sense: the prompt is masked unless it is true)"
    return f"; did you mean {key}? (the opposite sense: true supervises the prompt)"


def unknown_key_hint(loc: tuple[Any, ...], value: Any, sections: dict[str, list[str]]) -> str:
    """The hint after "X is not a known key" for the key at `loc` (a path of the raw config)
    holding `value`; `sections`: each section's field names ("" for the top level)."""
    name = str(loc[-1])
    where = ".".join(map(str, loc[:-1]))
    if name in OTHER_NAMES:
        key, how = OTHER_NAMES[name]
        if how == "inverted":
            return _inverted(key, value)
        if how is not None and value is True:
            return f"; set {how}"
        return f"; did you mean {key}?"
    elsewhere = [f"{sec}.{name}" for sec, fields in sections.items() if sec and sec != where and name in fields]
    if len(elsewhere) == 1:
        return f"; did you mean {elsewhere[0]}? ({name} belongs in the {elsewhere[0].split('.')[0]} section)"
    own = sections.get(where, [])
    close = difflib.get_close_matches(name, own, n=1)
    if close:
        return f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])}?"
    if not where and name in sections:
        return ""
    return f"; known keys: {', '.join(own)}" if own else ""
