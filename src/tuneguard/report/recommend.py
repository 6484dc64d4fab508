"""Concrete changes derived from a run's findings: config keys with new values (shown as a
config diff and a ready `tuneguard train ... --set k=v` line) and data actions where no
config key can fix the cause (duplicates, leakage, malformed rows).

The mapping is deliberately specific: a LOSS_COLLAPSE is almost always a data fault, so it
points at the audit findings rather than at a guessed lower learning rate.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import shlex
from pathlib import Path
from typing import Any, Callable

from tuneguard.config.diff import MISSING, diff_configs, flatten, format_value
from tuneguard.findings import SEVERITY_ORDER, Finding
from tuneguard.report.rundata import RunData, is_finite

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Change:
    """Set config `key` to `value` because of `codes`."""

    key: str
    value: Any
    reason: str
    codes: list[str]


@dataclasses.dataclass
class Action:
    """Something to do outside the config (fix the data, rerun the audit)."""

    text: str
    codes: list[str]


@dataclasses.dataclass
class Recommendations:
    changes: list[Change]
    actions: list[Action]
    current: dict[str, Any]
    proposed: dict[str, Any]

    def diff(self) -> list[tuple[str, Any, Any]]:
        return diff_configs(self.current, self.proposed)

    def set_args(self) -> list[str]:
        """`--set key=value` arguments, values written so that YAML parses them back."""
        args: list[str] = []
        for c in self.changes:
            args += ["--set", f"{c.key}={format_value(c.value)}"]
        return args

    def command(self, config_path: str, run_dir: str | None = None, multiline: bool = False) -> str:
        """The `tuneguard train` line of the next run; `multiline` puts each --set on its
        own continued line (for display)."""
        head = ["tuneguard", "train", config_path] + (["--run-dir", run_dir] if run_dir else [])
        if not multiline:
            return shlex.join(head + self.set_args())
        sets = self.set_args()
        parts = [shlex.join(head)] + [shlex.join(sets[i:i + 2]) for i in range(0, len(sets), 2)]
        return " \\\n  ".join(parts)


# -- helpers ------------------------------------------------------------------------

def _get(cfg: dict[str, Any], key: str, default: Any = None) -> Any:
    v = flatten(cfg).get(key, MISSING)
    return default if v is MISSING else v


def _num_ev(f: Finding, *names: str) -> float | None:
    for n in names:
        v = (f.evidence or {}).get(n)
        if is_finite(v):
            return float(v)
    return None


def _round_up(n: float, multiple: int) -> int:
    return int(math.ceil(n / multiple) * multiple)


def _nice_lr(v: float) -> float:
    """Two significant digits: 1.0e-4 / 2 -> 5.0e-5, not 4.99999e-5."""
    return float(f"{v:.2g}")


Rule = Callable[[Finding, dict[str, Any], RunData | None], tuple[list[Change], list[Action]]]


def _dupes(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    what = {"DUPLICATE_EXACT": "exact duplicate rows", "DUPLICATE_NEAR": "near-duplicate rows",
            "LOW_DIVERSITY": "templated, low-diversity rows"}[f.code]
    n = _num_ev(f, "duplicate_rows", "rows", "count", "groups", "n_groups")
    size = f" ({format_value(int(n))} in the audit)" if n is not None else ""
    return [], [Action(f"Deduplicate the training data: remove the {what}{size} from "
                       f"{_get(cfg, 'data.train_file', 'data.train_file')}, keeping one of each group, "
                       f"then run `tuneguard audit` again.", [f.code])]


def _leak(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    return [], [Action("Remove the validation rows that also occur in training (see the evidence): "
                       "the validation loss is meaningless while they leak.", [f.code])]


def _pad(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    ch = [Change("data.pad_token", "auto", "a pad token distinct from EOS, so EOS stays supervised", [f.code])]
    if f.code == "PAD_IN_LABELS":
        ch.append(Change("data.collator", "tuneguard", "mask padding out of the labels", [f.code]))
    return ch, []


def _eos(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    return ([Change("data.pad_token", "auto", "EOS must not double as padding, or it is masked away", [f.code]),
             Change("data.collator", "tuneguard", "the tuneguard collator keeps the EOS label", [f.code])], [])


def _prompt(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    return ([Change("data.train_on_prompt", False, "supervise the response only", [f.code]),
             Change("data.collator", "tuneguard", "the tuneguard collator masks the prompt tokens", [f.code])], [])


def _truncated(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    cur = int(_get(cfg, "data.max_length", 512) or 512)
    want = _num_ev(f, "p99_tokens", "p95_tokens", "max_tokens", "longest", "needed")
    new = _round_up(max(want or 0, cur * 2), 64)
    ctx = _get(cfg, "model.context_length")
    if isinstance(ctx, int) and ctx > 0:
        new = min(new, ctx)
    if new <= cur:
        return [], [Action(f"Shorten the longest examples: data.max_length is already {cur}, the model's "
                           f"context.", [f.code])]
    return [Change("data.max_length", new, f"answers were cut at {cur} tokens", [f.code])], []


def _data_action(text: str) -> Rule:
    def rule(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
        return [], [Action(text, [f.code])]
    return rule


def _collapse(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    audit = sorted({x.code for x in (run.findings if run else []) if x.source == "audit"})
    if audit:
        text = (f"Fix the data faults the audit found ({', '.join(audit)}) before changing hyperparameters: "
                "a loss that collapses early is memorising repeated or leaked text, not learning.")
    else:
        text = ("Run `tuneguard audit CONFIG` on this config: an early collapse usually means duplicated, "
                "templated or leaked rows, or unmasked prompts.")
    return [], [Action(text, [f.code])]


def _overfit(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    ch: list[Change] = []
    max_steps = _get(cfg, "train.max_steps", -1)
    best = run.best_step if run else None
    if isinstance(max_steps, int) and max_steps > 0:
        new_steps = _round_up(best * 1.25, 10) if best else max_steps
        if new_steps < max_steps:
            ch.append(Change("train.max_steps", new_steps, f"the best validation loss was at step {best}", [f.code]))
    else:
        epochs = float(_get(cfg, "train.num_epochs", 3.0) or 3.0)
        best_epoch = None
        if run and best is not None:
            for r in run.evals:
                if r["step"] == best and is_finite(r.get("epoch")):
                    best_epoch = r["epoch"]
        new = math.ceil(best_epoch) if best_epoch else max(1.0, epochs / 2)
        if new < epochs:
            ch.append(Change("train.num_epochs", float(new), "validation loss rose in later epochs", [f.code]))
    if _get(cfg, "eval.early_stopping_patience") is None:
        ch.append(Change("eval.early_stopping_patience", 3, "stop when validation loss stops improving", [f.code]))
    if float(_get(cfg, "lora.dropout", 0.0) or 0.0) < 0.1:
        ch.append(Change("lora.dropout", 0.1, "regularise the adapter", [f.code]))
    return ch, []


def _nonfinite(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    dtype = _get(cfg, "model.dtype", "auto")
    if dtype == "fp16":
        return [Change("model.dtype", "bf16", "fp16 overflows (GPT-J was trained in bf16); use fp32 where "
                       "the GPU has no bf16", [f.code])], []
    if dtype == "fp32":
        return [], [Action("The loss became non-finite in fp32: lower train.learning_rate and check the data "
                           "for empty or extreme rows.", [f.code])]
    return [Change("model.dtype", "fp32", "rule out bf16 overflow/underflow as the cause", [f.code])], []


def _spike(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    lr = float(_get(cfg, "train.learning_rate", 2e-4) or 2e-4)
    gn = float(_get(cfg, "train.max_grad_norm", 1.0) or 1.0)
    ch = [Change("train.learning_rate", _nice_lr(lr / 2), "large updates caused the spikes", [f.code]),
          Change("train.max_grad_norm", min(gn, 1.0) if gn > 1.0 else gn / 2, "clip gradients harder", [f.code])]
    if float(_get(cfg, "train.warmup_ratio", 0.0) or 0.0) < 0.05:
        ch.append(Change("train.warmup_ratio", 0.1, "warm up before the peak learning rate", [f.code]))
    return ch, []


def _plateau(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    lr = float(_get(cfg, "train.learning_rate", 2e-4) or 2e-4)
    return [Change("train.learning_rate", _nice_lr(lr * 2), "the validation loss stopped moving", [f.code])], []


def _early(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    from tuneguard.report.verdict import Thresholds

    planned = run.max_steps if run else None
    if f.step is None or not planned or f.step / planned >= Thresholds.from_config(cfg).min_early_stop_share:
        return [], []
    pat = int(_get(cfg, "eval.early_stopping_patience", 3) or 3)
    return [Change("eval.early_stopping_patience", pat + 2, "early stopping triggered prematurely", [f.code])], []


def _memory(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    ch: list[Change] = []
    if _get(cfg, "model.gradient_checkpointing") is not True:
        ch.append(Change("model.gradient_checkpointing", True, "trade compute for activation memory", [f.code]))
    bs = int(_get(cfg, "train.batch_size", 4) or 4)
    if bs > 1:
        ga = int(_get(cfg, "train.gradient_accumulation_steps", 1) or 1)
        ch.append(Change("train.batch_size", bs // 2, "halve the micro-batch", [f.code]))
        ch.append(Change("train.gradient_accumulation_steps", ga * 2, "keep the effective batch size", [f.code]))
    return ch, []


def _throughput(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    if _get(cfg, "data.batching") == "padded":
        return [Change("data.batching", "token_budget", "length-bucketed batches waste less on padding", [f.code])], []
    return [], [Action("Throughput dropped mid-run: check for other processes on the GPU, thermal throttling "
                       "or a slow data disk.", [f.code])]


def _qa(f: Finding, cfg: dict[str, Any], run: RunData | None) -> tuple[list[Change], list[Action]]:
    ch = []
    if _get(cfg, "eval.load_best_model_at_end") is not True:
        ch.append(Change("eval.load_best_model_at_end", True, "keep the checkpoint that generated best", [f.code]))
    if _get(cfg, "eval.early_stopping_patience") is None:
        ch.append(Change("eval.early_stopping_patience", 3, "stop before generation degrades further", [f.code]))
    return ch, []


RULES: dict[str, Rule] = {
    "DUPLICATE_EXACT": _dupes, "DUPLICATE_NEAR": _dupes, "LOW_DIVERSITY": _dupes,
    "TRAIN_VAL_LEAKAGE": _leak,
    "PAD_IS_EOS": _pad, "PAD_IN_LABELS": _pad, "EOS_MISSING": _eos,
    "PROMPT_NOT_MASKED": _prompt, "ANSWER_TRUNCATED": _truncated, "EMPTY_LABELS": _truncated,
    "ANSWER_IN_PROMPT": _data_action("Rewrite the prompts that already contain their answer (see the evidence "
                                     "rows): the model learns to copy, not to answer."),
    "MALFORMED_ROWS": _data_action("Fix or drop the malformed rows listed in the evidence."),
    "TOKENIZER_MISMATCH": _data_action("Use the tokenizer that belongs to model.name (the vocabularies differ)."),
    "LOSS_COLLAPSE": _collapse,
    "OVERFITTING": _overfit, "EVAL_DIVERGENCE": _overfit,
    "NON_FINITE": _nonfinite,
    "LOSS_SPIKE": _spike, "GRAD_NORM_HIGH": _spike,
    "PLATEAU": _plateau,
    "EARLY_STOP": _early,
    "MEMORY_HIGH": _memory,
    "THROUGHPUT_DROP": _throughput,
    "QA_DEGRADED": _qa,
}


def recommend(findings: list[Finding], config: dict[str, Any], run: RunData | None = None) -> Recommendations:
    """Turn findings into changes (first finding to claim a key wins; findings go by
    severity, so an error's fix beats a warning's) and data actions (deduplicated)."""
    ordered = sorted(findings, key=lambda f: (-SEVERITY_ORDER.get(f.severity, 0), f.step if f.step is not None else -1))
    changes: dict[str, Change] = {}
    actions: dict[str, Action] = {}
    for f in ordered:
        rule = RULES.get(f.code)
        if rule is None:
            continue
        ch, ac = rule(f, config, run)
        for c in ch:
            current = _get(config, c.key, MISSING)
            if not diff_configs({"k": current}, {"k": c.value}):
                continue  # already set that way
            if c.key in changes:
                if f.code not in changes[c.key].codes and changes[c.key].value == c.value:
                    changes[c.key].codes.append(f.code)
                continue
            changes[c.key] = c
        for a in ac:
            if a.text in actions:
                actions[a.text].codes += [x for x in a.codes if x not in actions[a.text].codes]
            else:
                actions[a.text] = a
    proposed = copy.deepcopy(config)
    for c in changes.values():
        node = proposed
        parts = c.key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = c.value
    return Recommendations(list(changes.values()), list(actions.values()), config, proposed)


def recommend_for_run(run: RunData) -> Recommendations:
    return recommend(run.findings, run.config, run)


def config_path_for(run: RunData) -> str:
    """The config a follow-up run starts from: the run directory's resolved config.yaml."""
    return str(Path(run.run_dir) / "config.yaml")
