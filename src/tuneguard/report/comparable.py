"""Whether two runs' losses can be put side by side: the settings that change what a loss is
measured on.

A loss is a mean over supervised tokens. Two runs whose configs supervise different tokens (the
prompt too, or only the last chat turn; a shorter max_length cutting answers; another template,
format, collator or pad token; another model, so another tokenizer) measure different things,
and the run with the lower curve need not be the better one: supervising the prompt adds tokens
a pretrained model predicts easily and lowers the loss of a run that learned nothing more. Two
runs evaluated on different rows (another validation or test file, split share, seed or sample)
have eval losses that cannot be compared either, though their training losses can.

`tuneguard compare` shows both runs whatever they are, and says which losses are not comparable
and which setting makes them so.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tuneguard.catalog import J, Spec, T
from tuneguard.config.diff import MISSING, diff_configs, flatten, format_value

# Settings that change which tokens are supervised (training and eval losses alike).
TOKEN_SETTINGS = (
    "model.name", "data.train_on_prompt", "data.chat_turns", "data.max_length", "data.format",
    "data.prompt_template", "data.prompt_template_with_input", "data.use_chat_template", "data.collator",
    "data.pad_token", "data.text_field", "data.instruction_field", "data.input_field", "data.output_field",
    "data.prompt_field", "data.completion_field", "data.messages_field", "data.system_field",
)
# Settings that change which rows are evaluated (eval and test losses).
ROW_SETTINGS = ("data.validation_file", "data.test_size", "data.seed", "data.eval_samples", "data.test_file")

Kind = Literal["tokens", "rows"]


@dataclasses.dataclass(frozen=True)
class Difference:
    """A setting that differs between runs A and B and what it makes incomparable."""

    key: str
    a: Any
    b: Any
    kind: Kind


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """The settings of configs `a` and `b` that make their losses incomparable (module docstring).
    data.train_file counts for the eval rows when neither run has a validation file (the
    validation rows are split from it)."""
    rows_keys = list(ROW_SETTINGS)
    fa, fb = flatten(a), flatten(b)
    if fa.get("data.validation_file", MISSING) in (None, MISSING) and fb.get("data.validation_file", MISSING) in (
            None, MISSING):
        rows_keys.append("data.train_file")
    out = []
    for key, va, vb in diff_configs(a, b):
        if key in TOKEN_SETTINGS:
            out.append(Difference(key, va, vb, "tokens"))
        elif key in rows_keys:
            out.append(Difference(key, va, vb, "rows"))
    return out


def warnings(diffs: list[Difference], label_a: str, label_b: str) -> list[Spec]:
    """One sentence per kind of difference, naming the settings and their values in each run."""
    out = []
    for kind in ("tokens", "rows"):
        mine = [d for d in diffs if d.kind == kind]
        if mine:
            settings = J("join.semi", [T("report.cmp.setting", key=d.key, a=format_value(d.a), la=label_a,
                                         b=format_value(d.b), lb=label_b) for d in mine])
            out.append(T(f"report.cmp.incomparable.{kind}", settings=settings))
    return out
