"""From config to tokenized train/validation/test sets: load, format, split, tokenize.

The audit and the trainer both start from `PreparedData`, so the audit sees exactly the
examples (and tokens) that training will see.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuneguard.config.schema import DataConfig
from tuneguard.data.fingerprint import features_row_hashes
from tuneguard.data.formats import Example
from tuneguard.data.load import (DataError, NoUsableRows, RowProblem, Source, check_sources, describe_problems,
                                 source_name)
from tuneguard.data.sampled import fetch, one_jsonl, scan
from tuneguard.data.streamed import KEEP_ROWS, SourceExamples, Streamed, split_tokens, stream
from tuneguard.data.tokenize import Progress, TokenizeStats, tokenize_examples

if TYPE_CHECKING:
    from tuneguard.data.cache import DataCache

log = logging.getLogger(__name__)
SHOW_PROBLEMS = 20
SAY_AFTER_S = 5.0


@dataclasses.dataclass
class Split:
    name: str
    examples: Sequence[Example]
    features: list[dict[str, Any]]
    stats: TokenizeStats


@dataclasses.dataclass
class PreparedData:
    format: str
    train: Split
    validation: Split
    test: Split | None
    problems: list[RowProblem]
    rows_read: int
    cache: DataCache | None = None  # where the tokenized splits came from or went (the audit's findings go too)
    before_samples: dict[str, int] = dataclasses.field(default_factory=dict)  # split sizes before data.*_samples
    _hashes: dict[str, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)

    def sizes(self) -> dict[str, int]:
        d = {"train": len(self.train.examples), "validation": len(self.validation.examples)}
        if self.test is not None:
            d["test"] = len(self.test.examples)
        return d

    def row_hashes(self, name: str) -> np.ndarray:
        """The row hashes in order of the tokenized `name` split (tuneguard.data.fingerprint), computed
        once: from the tokenized-data cache's packed arrays when it stored or read this split, else
        converted from the rows. The data identity's fingerprint and the start gate's digest both
        read them."""
        if name not in self._hashes:
            features = getattr(self, name).features
            got = self.cache.row_hashes(name, len(features)) if self.cache is not None else None
            self._hashes[name] = got if got is not None else features_row_hashes(features)
        return self._hashes[name]


def load_examples(path: Source, cfg: DataConfig, tokenizer: Any,
                  fmt: str | None) -> tuple[list[Example], list[RowProblem], int, str]:
    """One data source as examples in file order, its bad rows (the loader's and the format's),
    the number of records read, and the format (detected from the rows unless `fmt` is given).
    The rows are converted a chunk at a time as they are read (tuneguard.data.sampled.scan), so
    that a large file's rows (dicts of every field) are never all held next to its examples."""
    t = time.monotonic()
    examples, _, problems, total, fmt = scan(path, cfg, tokenizer, fmt, keep=True)
    _say_read(path, total, fmt, t)
    return examples, problems, total, fmt


def _say_read(path: Source, total: int, fmt: str, t: float) -> None:
    if time.monotonic() - t >= SAY_AFTER_S:  # a big file: say what was read before the long tokenization
        log.info("read %s rows of %s (format %s) in %.0f s", f"{total:,}", source_name(path), fmt, time.monotonic() - t)


def check_problems(problems: list[RowProblem], total: int, max_fraction: float) -> None:
    """Refuse to start when too many rows are malformed; otherwise warn and skip them.

    One line however many rows: identical reasons are grouped with their line numbers."""
    if not problems:
        return
    share = len(problems) / max(total, 1)
    listing = describe_problems(problems, total)
    if share > max_fraction:
        raise DataError(f"{len(problems)} of {total} rows are malformed ({share:.1%} > data.max_malformed_fraction "
                        f"{max_fraction:.1%}): {listing}. Fix the rows or raise data.max_malformed_fraction.")
    log.warning("skipping %d malformed row(s) of %d: %s", len(problems), total, listing)


def tokenized_split(name: str, ex: Sequence[Example], cfg: DataConfig, tokenizer: Any, cache: DataCache | None,
                    missed: list[str]) -> Split:
    """The `name` split tokenized: from `cache` when it holds it under a matching key, else
    tokenized here (and `name` added to `missed`, so that the caller stores the result)."""
    hit = cache.features(name, len(ex)) if cache is not None else None
    if hit is not None:
        split = Split(name, ex, hit[0], TokenizeStats(**hit[1]))
    else:
        missed.append(name)
        feats, stats = tokenize_examples(tokenizer, list(ex), cfg.max_length, cfg.train_on_prompt,
                                         progress=Progress(f"{name} examples", len(ex)))
        split = Split(name, ex, feats, stats)
    say_fallback(split)
    return split


def say_fallback(split: Split) -> None:
    """One line when multi-turn chat rows of a split supervise only their last answer
    (data.chat_turns all, a chat template that is not prefix-consistent): how many and why."""
    ex = split.examples
    fell = ex.fallbacks() if isinstance(ex, SourceExamples) else [e for e in ex if e.fallback]
    if fell:
        multi = split.stats.multi_turn_rows + len(fell)
        log.warning("%s: %d of %d multi-turn chat rows supervise only their last answer (first: %s: %s); the "
                    "other answers of those rows are masked as prompt", split.name, len(fell), multi, fell[0].where,
                    fell[0].fallback)


def _draw(train: list[Any], val: list[Any] | None, cfg: DataConfig) -> tuple[list[Any], list[Any], dict[str, int]]:
    """The training and validation rows: the validation split drawn from the training rows when
    no file gives it, then data.train_samples / data.eval_samples of each; and the sizes before
    those samples. The rows may be examples or their positions (the draws depend only on how
    many there are)."""
    if val is None:
        rng = random.Random(cfg.seed)
        order = list(range(len(train)))
        rng.shuffle(order)
        n_val = max(1, int(round(len(train) * cfg.test_size))) if len(train) > 1 else 0
        val_idx = set(order[:n_val])
        del order
        val = [train[i] for i in sorted(val_idx)]
        train = [e for i, e in enumerate(train) if i not in val_idx]
    before_samples = {"train": len(train), "validation": len(val)}
    if cfg.train_samples and len(train) > cfg.train_samples:
        train = random.Random(cfg.seed).sample(train, cfg.train_samples)
    if cfg.eval_samples and len(val) > cfg.eval_samples:
        val = random.Random(cfg.seed + 1).sample(val, cfg.eval_samples)
    return train, val, before_samples


@dataclasses.dataclass
class _TrainRead:
    """The training source read once: its rows' count, problems, records read and format, and
    either the JSON Lines positions a sample is fetched from (`lines`) or the read (`streamed`)."""

    n: int
    problems: list[RowProblem]
    total: int
    fmt: str
    lines: Any = None
    streamed: Streamed | None = None


def _read_train(source: Source, cfg: DataConfig, tokenizer: Any, tokenize: bool, cache: DataCache | None) -> _TrainRead:
    """The training rows read: a sample of one JSON Lines file (the audit's, or data.train_samples)
    only located (tuneguard.data.sampled: the sampled lines are read again); any other source
    streamed (tuneguard.data.streamed), tokenized as it is read when every row is trained on and no
    cache holds its tokens."""
    t = time.monotonic()
    if cfg.train_samples and one_jsonl(source) is not None:
        _, lines, problems, total, fmt = scan(source, cfg, tokenizer, None, keep=False)
        got = _TrainRead(len(lines), problems, total, fmt, lines=lines)
    else:
        cached = cache is not None and cache.holds_key()
        s = stream(source, cfg, tokenizer, keep=KEEP_ROWS, tokenize=tokenize and not cfg.train_samples and not cached)
        got = _TrainRead(len(s), list(s.problems), s.total, s.fmt, streamed=s)
    _say_read(source, got.total, got.fmt, t)
    return got


def _drawn_examples(source: Source, read: _TrainRead, drawn: list[int], cfg: DataConfig,
                    tokenizer: Any) -> Sequence[Example]:
    """The examples at the drawn positions of a streamed source: the kept ones, or SourceExamples."""
    s = read.streamed
    assert s is not None
    if s.examples is not None:
        return [s.examples[i] for i in drawn]
    return SourceExamples(source, s, drawn, cfg, tokenizer)


def prepare_data(cfg: DataConfig, tokenizer: Any, *, tokenize: bool = True, strict: bool = True,
                 cache: DataCache | None = None) -> PreparedData:
    """Load, format, split and tokenize. `strict`: raise DataError when more than
    data.max_malformed_fraction of the rows are malformed; otherwise they are only skipped
    and left to the audit, whose MALFORMED_ROWS error refuses training (audit and train).
    `cache`: the tokenized splits are taken from it when its key matches, and stored in it
    when they were tokenized here (data.cache)."""
    check_sources(cfg.train_file, cfg.validation_file, cfg.test_file)
    train_src: Source = cfg.train_file or ""  # set: check_sources refused an unset one
    read = _read_train(train_src, cfg, tokenizer, tokenize, cache)
    problems, total, fmt = read.problems, read.total, read.fmt
    val_ex: Sequence[Any] | None = None
    if cfg.validation_file:
        val_ex, p2, t2, _ = load_examples(cfg.validation_file, cfg, tokenizer, fmt)
        problems += p2
        total += t2
    test_ex = None
    if cfg.test_file:
        test_ex, p3, t3, _ = load_examples(cfg.test_file, cfg, tokenizer, fmt)
        problems += p3
        total += t3
    if strict:
        check_problems(problems, total, cfg.max_malformed_fraction)
    elif problems:
        log.debug("%d malformed row(s) of %d are skipped: %s", len(problems), total, describe_problems(problems, total))
    train_pos, val_drawn, before_samples = _draw(list(range(read.n)), val_ex, cfg)
    val_pos = None if cfg.validation_file else val_drawn
    train_ex: Sequence[Example]
    if read.lines is not None:  # the positions drawn, as examples: one more read, of the sampled lines only
        got = fetch(Path(str(train_src)).expanduser(), read.lines, train_pos + (val_pos or []), cfg, tokenizer, fmt)
        train_ex, val_ex = got[:len(train_pos)], got[len(train_pos):] if val_pos is not None else val_drawn
    else:
        train_ex = _drawn_examples(train_src, read, train_pos, cfg, tokenizer)
        val_ex = val_drawn if val_pos is None else _drawn_examples(train_src, read, val_pos, cfg, tokenizer)
    if not train_ex:
        if problems:
            raise NoUsableRows(f"no usable training rows in {source_name(train_src)}: "
                               f"{describe_problems(problems, total)}",
                               problems, total)
        raise DataError(f"no usable training rows in {source_name(train_src)}: the file holds no rows")
    if not val_ex:
        raise DataError("no validation rows: give data.validation_file or more training rows")
    return _tokenized_data(cfg, tokenizer, tokenize, cache, read, [("train", train_ex, train_pos),
                           ("validation", val_ex, val_pos), ("test", test_ex, None)], (problems, total, before_samples))


def _tokenized_data(cfg: DataConfig, tokenizer: Any, tokenize: bool, cache: DataCache | None, read: _TrainRead,
                    splits: list[tuple[str, Any, list[int] | None]], counts: tuple[list[RowProblem], int, dict[str, int]]
                    ) -> PreparedData:
    """PreparedData of the splits (name, examples, their positions in a streamed training source or
    None): each split's tokens taken from the streamed source's, from `cache`, or tokenized here;
    the ones not from the cache stored in it."""
    missed: list[str] = []
    streamed = read.streamed if read.streamed is not None and read.streamed.tokens is not None else None

    def split(name: str, ex: Sequence[Example], positions: list[int] | None) -> Split:
        if not tokenize:
            return Split(name, ex, [], TokenizeStats())
        if streamed is None or positions is None:
            return tokenized_split(name, ex, cfg, tokenizer, cache, missed)
        missed.append(name)
        got = Split(name, ex, *split_tokens(streamed, positions, last=name == "train"))
        say_fallback(got)
        return got

    # From a streamed source the training split last: its rows are compacted in place (split_tokens).
    built: list[Split | None] = [None] * len(splits)
    for k in ([1, 2, 0] if streamed is not None else [0, 1, 2]):
        name, ex, pos = splits[k]
        built[k] = split(name, ex, pos) if ex is not None else None
    train, validation, test = built
    assert train is not None and validation is not None
    problems, total, before_samples = counts
    data = PreparedData(read.fmt, train, validation, test, problems, total)
    if cache is not None and missed:
        cache.save_features({s.name: (s.features, s.stats.to_dict()) for s in built if s is not None})
    data.cache = cache
    data.before_samples = before_samples
    return data
