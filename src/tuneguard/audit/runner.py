"""The audit's entry points: `run_audit` on prepared data, `audit_config` from a config.

`tuneguard train` calls `run_audit` on the very `PreparedData` it trains on, and
`tuneguard audit` calls `audit_config`, so both see the same rows, tokens and batches.
Each check family lives in its own module and returns (findings, stats); this module only
samples, times and collects.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tuneguard.audit import diversity, duplicates, labels, leakage, malformed, prompt_leak, task_shape
from tuneguard.audit.common import SplitText, seeded_sample
from tuneguard.catalog import Spec
from tuneguard.config.schema import Config
from tuneguard.data.pipeline import PreparedData, Split
from tuneguard.data.streamed import pick_examples
from tuneguard.data.token_rows import TokenRows
from tuneguard.findings import SEVERITY_ORDER, Finding, apply_severity, json_safe

log = logging.getLogger(__name__)


@dataclasses.dataclass
class AuditResult:
    """Findings (worst first) and the numbers behind them."""

    findings: list[Finding]
    stats: dict[str, Any]
    # For the console, not --json: why the task is what stats["task"] says (a catalog spec, said in the
    # config's language), and the run cache the tokenized data were read from.
    task_text: Spec | None = None
    cache_dir: str | None = None

    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def to_json(self) -> dict:
        return {"findings": [json_safe(f.to_dict()) for f in self.findings], "stats": json_safe(self.stats)}


def _sample_split(split: Split, max_rows: int, seed: int) -> tuple[list, Sequence[dict[str, Any]]]:
    """The audited rows of a split: its examples and features, or a seeded sample of max_rows of
    them (packed rows stay packed: the labels check reads them one at a time)."""
    idx = seeded_sample(len(split.examples), max_rows, seed)
    packed = isinstance(split.features, TokenRows)
    if idx is None:
        return list(split.examples), split.features if packed else list(split.features)
    if packed:
        feats: Sequence[dict[str, Any]] = split.features.take(idx)
    else:
        feats = [split.features[i] for i in idx] if split.features else []
    return pick_examples(split.examples, idx), feats


def run_audit(cfg: Config, data: PreparedData, tokenizer: Any, population: int | None = None) -> AuditResult:
    """Every audit check on prepared (tokenized) data; the tokenizer is the one training uses.

    `population`: the training rows that data.train is a sample of (audit_config tokenizes only
    audit.max_rows of them); the duplicate and leakage shares are then estimated for the whole."""
    acfg = cfg.audit
    seed = cfg.data.seed
    timings: dict[str, float] = {}
    findings: list[Finding] = []
    stats: dict[str, Any] = {}
    t_all = time.perf_counter()

    def timed(name: str, fn: Callable[[], tuple[list[Finding], dict[str, Any]]]) -> None:
        t = time.perf_counter()
        f, s = fn()
        timings[name] = round(time.perf_counter() - t, 3)
        findings.extend(f)
        stats[name] = s
        log.debug("audit %s: %d finding(s) in %.2fs", name, len(f), timings[name])

    t = time.perf_counter()
    train_ex, train_feats = _sample_split(data.train, acfg.max_rows, seed)
    texts = [SplitText.build("train", train_ex)]
    val_ex, _ = _sample_split(data.validation, acfg.max_rows, seed + 1)
    texts.append(SplitText.build("validation", val_ex))
    if data.test is not None:
        test_ex, _ = _sample_split(data.test, acfg.max_rows, seed + 2)
        texts.append(SplitText.build("test", test_ex))
    train = texts[0]
    timings["prepare"] = round(time.perf_counter() - t, 3)
    whole = max(population or 0, len(data.train.examples))
    stats["rows"] = {"read": data.rows_read, **data.sizes(), "audited_train": len(train_ex),
                     "sampled": len(train_ex) < whole, "max_rows": acfg.max_rows, "train_population": whole}
    sample = duplicates.Sample(len(train_ex), whole)
    stats["format"] = data.format

    timed("malformed", lambda: malformed.check(data.problems, data.rows_read, cfg.data.max_malformed_fraction))
    t = time.perf_counter()
    index = duplicates.build_index(texts, acfg, sample=sample)
    timings["near_duplicate_index"] = round(time.perf_counter() - t, 3)
    timed("duplicates_exact", lambda: duplicates.check_exact(index))
    timed("duplicates_near", lambda: duplicates.check_near(index))
    timed("leakage", lambda: leakage.check(index, validation_from_train=not cfg.data.validation_file))
    t = time.perf_counter()
    task = task_shape.infer(train, acfg, cfg.data.task, seed)
    timings["task"] = round(time.perf_counter() - t, 3)
    stats["task"] = task.to_dict()
    timed("diversity", lambda: diversity.check(train, seed, acfg, task))
    timed("answer_in_prompt", lambda: prompt_leak.check(train, acfg, task))
    if train_feats:
        timed("labels", lambda: labels.check(cfg, train_ex, train_feats, tokenizer, data.train.stats))
    else:
        stats["labels"] = {"skipped": "the data was prepared without tokenization"}
    timings["total"] = round(time.perf_counter() - t_all, 3)
    stats["timings_s"] = timings
    findings, stats["severity_overrides"] = _overrides(findings, acfg.severity)
    findings.sort(key=lambda f: -SEVERITY_ORDER[f.severity])
    log.info("audit: %d finding(s) (%d error(s)) on %d training rows; checks took %.1fs", len(findings),
             sum(f.severity == "error" for f in findings), len(train_ex), timings["total"])
    return AuditResult(findings, stats, task_text=task.text)


def _overrides(findings: list[Finding], overrides: dict[str, str]) -> tuple[list[Finding], dict[str, Any]]:
    """audit.severity applied: findings kept (at the user's severity) and what was changed."""
    kept: list[Finding] = []
    changed: dict[str, Any] = {}
    for f in findings:
        default = f.severity
        g = apply_severity(f, overrides, "audit.severity")
        if g is None:
            changed[f.code] = {"default": default, "set": "off"}
        else:
            kept.append(g)
            if g.severity != default:
                changed[f.code] = {"default": default, "set": g.severity}
    return kept, {"config": dict(overrides), "applied": changed}


def _from_run_cache(cfg: Config, tokenizer: Any, cache_dir: Path | None) -> PreparedData | None:
    """The data tokenized from a run's cache when it holds them under this config's key, else None.

    The whole splits come from it (the audit then samples audit.max_rows itself), so the key is
    the run's own data section, not the capped one a fresh audit tokenizes."""
    if cache_dir is None or not cfg.data.cache or not (cache_dir / "tokens.pt").exists():
        return None
    from tuneguard.data.cache import DataCache, data_key
    from tuneguard.data.pipeline import prepare_data

    cache = DataCache(cache_dir, data_key(cfg.data, tokenizer), write=False)
    if not cache.holds_key():
        return None
    return prepare_data(cfg.data, tokenizer, strict=False, cache=cache)


def audit_config(cfg: Config, tokenizer: Any = None, cache_dir: Path | None = None) -> AuditResult:
    """Load the tokenizer as training does (unless given one, set up by the caller the same
    way), prepare the data, audit it.

    At most audit.max_rows training and validation rows are tokenized (a seeded sample via
    data.train_samples / data.eval_samples), so a huge file costs no more than that.
    `cache_dir`: a run's data cache (RUN_DIR/cache, written by `train`); when it holds this
    data's tokens under the same key, they are read from it instead (reading is much faster
    than tokenizing even the sample), else one line says why not and the sample is tokenized.
    Raises DataError / ModelError for data or model problems the user must fix.
    """
    from tuneguard.data.load import NoUsableRows, check_sources
    from tuneguard.data.pipeline import prepare_data
    from tuneguard.model.load import load_tokenizer, setup_pad_token

    # Before the tokenizer: a missing file must not wait for a hub that is not reachable.
    check_sources(cfg.data.train_file, cfg.data.validation_file, cfg.data.test_file)
    t = time.perf_counter()
    if tokenizer is None:
        tokenizer = load_tokenizer(cfg.model)
        setup_pad_token(tokenizer, cfg.data.pad_token)
    t_tok = time.perf_counter() - t
    t = time.perf_counter()
    cached = _from_run_cache(cfg, tokenizer, cache_dir)
    if cached is not None:
        result = run_audit(cfg, cached, tokenizer)
        result.stats["timings_s"].update(load_tokenizer=round(t_tok, 3), prepare_data=round(time.perf_counter() - t, 3))
        result.stats["cache"] = f"tokenized data read from {cache_dir}"
        result.cache_dir = str(cache_dir)
        return result
    cap = cfg.audit.max_rows
    dcfg = cfg.data.model_copy(update={
        "train_samples": min(cfg.data.train_samples or cap, cap),
        "eval_samples": min(cfg.data.eval_samples or cap, cap),
    })
    t = time.perf_counter()
    try:
        # Not strict: too many malformed rows are a MALFORMED_ROWS error finding, not an exception.
        data = prepare_data(dcfg, tokenizer, strict=False)
    except NoUsableRows as exc:  # nothing else to check: the malformed rows are the whole story
        findings, stats = malformed.check(exc.problems, exc.rows_read, cfg.data.max_malformed_fraction)
        return AuditResult(findings, {"rows": {"read": exc.rows_read, "train": 0, "validation": 0,
                                               "audited_train": 0}, "malformed": stats,
                                      "timings_s": {"load_tokenizer": round(t_tok, 3),
                                                    "total": round(time.perf_counter() - t, 3)}})
    t_data = time.perf_counter() - t
    # The rows the sample stands for: the file's training rows, or the user's own data.train_samples.
    population = min(data.before_samples.get("train", 0), cfg.data.train_samples or sys.maxsize)
    result = run_audit(cfg, data, tokenizer, population=population)
    result.stats["timings_s"]["load_tokenizer"] = round(t_tok, 3)
    result.stats["timings_s"]["prepare_data"] = round(t_data, 3)
    return result
