"""`tuneguard evaluate`: loss, perplexity and QA probes of a trained run on any data file,
base model versus fine-tuned side by side.

The file goes through the run's own data pipeline (its format detection, templates,
tokenizer, max_length and response-only labels), so the numbers mean what the training
eval loss meant. Every usable row is evaluated: nothing is split off. The loss is the mean
over all supervised tokens (not a mean of batch means), and the perplexity is its exp.
The base model is the same weights with the adapter switched off (PEFT's disable_adapter).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from tuneguard.config.schema import DataConfig
from tuneguard.data.collate import PaddingCollator
from tuneguard.data.formats import detect_format, to_examples
from tuneguard.data.load import DataError, read_rows
from tuneguard.data.pipeline import Split, check_problems
from tuneguard.data.tokenize import IGNORE_INDEX, tokenize_examples
from tuneguard.guard.qa import ProbeResult, expected_list, generate_probe, summarise
from tuneguard.tools.checkpoints import LoadedRun

MAX_PERPLEXITY_LOSS = 50.0  # exp(50) is meaningless; report no perplexity above it


@dataclasses.dataclass
class FileSplit:
    """All usable rows of one file as a tokenized split, and what was skipped."""

    path: str
    format: str
    rows_read: int
    skipped: int
    split: Split


def load_file_split(path: str | Path, dcfg: DataConfig, tokenizer: Any) -> FileSplit:
    """Read, format and tokenize every row of a file as one split (DataError when unusable)."""
    path = str(path)
    if not Path(path).exists():
        raise DataError(f"--data {path} does not exist")
    loaded = read_rows(path)
    fmt = detect_format(loaded.rows, dcfg)
    examples, problems = to_examples(loaded.rows, fmt, dcfg, tokenizer)
    problems = loaded.problems + problems
    total = len(loaded.rows) + len(loaded.problems)
    check_problems(problems, total, dcfg.max_malformed_fraction)
    if not examples:
        raise DataError(f"no usable rows in {path} (format {fmt})")
    features, stats = tokenize_examples(tokenizer, examples, dcfg.max_length, dcfg.train_on_prompt)
    if stats.supervised_tokens == 0:
        raise DataError(f"no supervised tokens in {path}: every response is empty or truncated away")
    return FileSplit(path, fmt, total, len(problems), Split("eval", examples, features, stats))


@dataclasses.dataclass
class LossResult:
    loss: float
    perplexity: float | None
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def token_loss(model: Any, features: list[dict[str, Any]], pad_token_id: int, batch_size: int,
               device: torch.device, pad_to_multiple_of: int = 8) -> LossResult:
    """Mean next-token cross-entropy over every supervised token of `features`."""
    collate = PaddingCollator(pad_token_id, pad_to_multiple_of)
    # Similar lengths together: less padding, same result.
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = collate([features[i] for i in order[start: start + batch_size]])
            ids, labels = batch["input_ids"].to(device), batch["labels"].to(device)
            logits = model(input_ids=ids, attention_mask=batch["attention_mask"].to(device)).logits
            shift_logits = logits[:, :-1, :].float()
            shift_labels = labels[:, 1:]
            total += torch.nn.functional.cross_entropy(
                shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
                ignore_index=IGNORE_INDEX, reduction="sum").item()
            count += int((shift_labels != IGNORE_INDEX).sum().item())
    loss = total / count if count else float("nan")
    ppl = math.exp(loss) if math.isfinite(loss) and loss < MAX_PERPLEXITY_LOSS else None
    return LossResult(loss, ppl, count)


@dataclasses.dataclass
class ProbePair:
    prompt: str
    keywords: list[str]
    base: ProbeResult
    tuned: ProbeResult

    def to_dict(self) -> dict[str, Any]:
        def one(r: ProbeResult) -> dict[str, Any]:
            return {"output": r.output, "keyword_score": r.keyword_score, "emitted_eos": r.emitted_eos,
                    "distinct2": r.distinct2, "correct": r.correct}
        return {"prompt": self.prompt, "keywords": self.keywords, "expected": self.base.expected,
                "base": one(self.base), "tuned": one(self.tuned)}


@dataclasses.dataclass
class EvalReport:
    data: FileSplit
    adapter: str
    base: LossResult
    tuned: LossResult
    probes: list[ProbePair]

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": {"file": self.data.path, "format": self.data.format, "rows_read": self.data.rows_read,
                     "rows_skipped": self.data.skipped, "examples": len(self.data.split.features),
                     "supervised_tokens": self.data.split.stats.supervised_tokens,
                     "truncated": self.data.split.stats.rows_truncated},
            "adapter": self.adapter,
            "base": self.base.to_dict(),
            "tuned": self.tuned.to_dict(),
            "loss_change": self.tuned.loss - self.base.loss,
            "qa": {"base": summarise([p.base for p in self.probes]) if self.probes else None,
                   "tuned": summarise([p.tuned for p in self.probes]) if self.probes else None,
                   "probes": [p.to_dict() for p in self.probes]},
        }


def evaluate_run(run: LoadedRun, data_file: str | Path, batch_size: int | None = None) -> EvalReport:
    """Loss/perplexity on `data_file` and the run's QA probes, fine-tuned and base."""
    cfg, tok, model = run.cfg, run.tokenizer, run.model
    fs = load_file_split(data_file, cfg.data, tok)
    bs = batch_size or cfg.train.eval_batch_size or cfg.train.batch_size
    feats = fs.split.features
    tuned = token_loss(model, feats, tok.pad_token_id, bs, run.device, cfg.data.pad_to_multiple_of)
    tuned_probes = [generate_probe(model, tok, p.prompt, p.keywords, cfg.eval.qa_max_new_tokens,
                                   expected_list(p.expected)) for p in cfg.eval.qa_probes]
    with model.disable_adapter():
        base = token_loss(model, feats, tok.pad_token_id, bs, run.device, cfg.data.pad_to_multiple_of)
        base_probes = [generate_probe(model, tok, p.prompt, p.keywords, cfg.eval.qa_max_new_tokens,
                                      expected_list(p.expected)) for p in cfg.eval.qa_probes]
    pairs = [ProbePair(p.prompt, list(p.keywords), b, t)
             for p, b, t in zip(cfg.eval.qa_probes, base_probes, tuned_probes, strict=False)]
    return EvalReport(fs, str(run.adapter_dir), base, tuned, pairs)
