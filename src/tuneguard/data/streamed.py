"""A training source tokenized as it is read: every row's token ids kept packed, its text left in the file.

Training tokenizes every row, and held every row's text until the split was drawn and
tokenized: about 1 KB a row next to its 4 bytes a token (gigabytes at a million rows, more than a
23 GB machine has at ten million). `stream` converts and tokenizes a chunk of rows at a time,
keeps their tokens (TokenRows), what each row added to the tokenize stats, and where each row is
(RowsAt: 12 bytes a row), and drops the texts once the source has more than `keep` rows (below
that nothing changes: the examples stay in memory and no later read is needed). The draws of
prepare_data depend only on how many rows there are, so the splits are then taken from the
packed rows by position, their stats summed from their rows': the same features and stats as
tokenizing each split's examples. A split's examples become `SourceExamples`, read again from the
source only where asked (the audit's sample, a few hundred thousand rows at most).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from tuneguard.config.schema import DataConfig
from tuneguard.data.formats import Example, detect_format, to_examples
from tuneguard.data.load import RowProblem, Source, iter_rows
from tuneguard.data.sampled import CONVERT_ROWS, DETECT_ROWS, RowsAt, fetch_rows
from tuneguard.data.token_rows import TokenRows, concat_rows, keep_rows
from tuneguard.data.tokenize import Progress, TokenizeStats, stats_of, tokenize_with_row_stats

log = logging.getLogger(__name__)
STATS_CHUNK = 1 << 20
KEEP_ROWS = 50_000  # a source of at most this many usable rows keeps its examples (no second read)


@dataclasses.dataclass
class Streamed:
    """A source read once: see `stream`."""

    where: RowsAt
    examples: list[Example] | None  # every example, when the source held at most `keep`
    tokens: TokenRows | None  # every usable row's tokens in file order, when tokenized while read (large sources)
    row_stats: np.ndarray | None  # (rows, STAT_FIELDS): what each row added to TokenizeStats
    fallbacks: dict[int, Example]  # position -> example, of the rows with Example.fallback
    problems: list[RowProblem]
    total: int
    fmt: str

    def __len__(self) -> int:
        return len(self.where)


def stream(source: Source, cfg: DataConfig, tokenizer: Any, *, keep: int, tokenize: bool) -> Streamed:
    """Every row of `source` read and converted a chunk at a time, in file order; the examples kept
    while there are at most `keep`, and once there are more, dropped and (`tokenize`) every row
    tokenized as it is converted. A source of at most `keep` rows is read as before: its
    examples kept, nothing tokenized (prepare_data tokenizes each split)."""
    read_problems: list[RowProblem] = []
    rows = iter_rows(source, read_problems)
    chunk = list(itertools.islice(rows, DETECT_ROWS))
    fmt = detect_format(chunk, cfg)
    where = RowsAt()
    kept: list[Example] | None = []
    parts: list[TokenRows] = []
    stat_parts: list[np.ndarray] = []
    fallbacks: dict[int, Example] = {}
    problems: list[RowProblem] = []
    n_rows = 0
    progress = Progress(f"rows of {source}", 0)

    def add(examples: list[Example]) -> None:
        for at in range(0, len(examples), CONVERT_ROWS):
            packed, per_row = tokenize_with_row_stats(tokenizer, examples[at: at + CONVERT_ROWS], cfg.max_length,
                                                      cfg.train_on_prompt)
            parts.append(packed)
            stat_parts.append(per_row)
        progress.update(len(where))

    while chunk:
        n_rows += len(chunk)
        ex, pr = to_examples(chunk, fmt, cfg, tokenizer)
        problems += pr
        fallbacks.update((len(where) + k, e) for k, e in enumerate(ex) if e.fallback)
        where.add(ex)
        if kept is None:
            if tokenize:
                add(ex)
        else:
            kept += ex
            if len(kept) > keep:  # a large source: its texts go, its tokens stay
                if tokenize:
                    add(kept)
                kept = None
        chunk = list(itertools.islice(rows, CONVERT_ROWS))
    tokens = row_stats = None
    if tokenize and kept is None:
        tokens = concat_rows(parts) if parts else TokenRows.build([])
        row_stats = np.concatenate(stat_parts) if stat_parts else np.zeros((0, 1), np.int32)
    return Streamed(where, kept, tokens, row_stats, fallbacks, read_problems + problems,
                    n_rows + len(read_problems), fmt)


def split_tokens(streamed: Streamed, positions: Sequence[int], last: bool = False) -> tuple[Any, TokenizeStats]:
    """The packed rows at `positions` (in that order) of a source tokenized while read, and their
    stats. `last`: no other split is taken after this one, so rows in file order (the training
    split beside a drawn validation split) are compacted in place, not copied."""
    assert streamed.tokens is not None and streamed.row_stats is not None
    idx = np.asarray(positions, dtype=np.int64)
    sums = np.zeros(streamed.row_stats.shape[1], dtype=np.int64)
    for at in range(0, len(idx), STATS_CHUNK):
        sums += streamed.row_stats[idx[at: at + STATS_CHUNK]].sum(axis=0, dtype=np.int64)
    stats = stats_of(sums.reshape(1, -1))
    if last and (len(idx) < 2 or bool((np.diff(idx) > 0).all())):
        keep = np.zeros(len(streamed.tokens), dtype=bool)
        keep[idx] = True
        rows, streamed.tokens = streamed.tokens, None
        return keep_rows(rows, keep), stats
    return streamed.tokens.take(idx), stats


class SourceExamples(Sequence[Example]):
    """A split's examples left in their source: the rows at `positions` (indexes into `where`),
    read again, only those converted, when asked for; `pick` reads many in one pass."""

    def __init__(self, source: Source, streamed: Streamed, positions: Sequence[int], cfg: DataConfig,
                 tokenizer: Any) -> None:
        self.source, self.where, self.cfg, self.tokenizer, self.fmt = source, streamed.where, cfg, tokenizer, streamed.fmt
        self.positions = np.asarray(positions, dtype=np.int64)
        fb = streamed.fallbacks
        self._fallbacks = [fb[int(p)] for p in self.positions[np.isin(self.positions, list(fb))]] if fb else []

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, i: int) -> Example: ...

    @overload
    def __getitem__(self, i: slice) -> list[Example]: ...

    def __getitem__(self, i: int | slice) -> Example | list[Example]:
        if isinstance(i, slice):
            return self.pick(range(*i.indices(len(self))))
        n = len(self)
        if not -n <= i < n:
            raise IndexError("SourceExamples index out of range")
        return self.pick([int(i) % n])[0]

    def __iter__(self) -> Iterator[Example]:
        yield from self.pick(range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SourceExamples({len(self)} rows of {self.source})"

    def pick(self, idx: Sequence[int]) -> list[Example]:
        """The examples at split indexes `idx`, in that order, from one more read of the source."""
        wanted = [int(self.positions[i]) for i in idx]
        return fetch_rows(self.source, self.where, wanted, self.cfg, self.tokenizer, self.fmt)

    def fallbacks(self) -> list[Example]:
        """The examples of this split with Example.fallback, in its order (kept from the first read)."""
        return list(self._fallbacks)


def pick_examples(examples: Sequence[Example], idx: Sequence[int]) -> list[Example]:
    """examples[i] for each i of `idx`: in one read of the source when they are SourceExamples."""
    if isinstance(examples, SourceExamples):
        return examples.pick(idx)
    return [examples[i] for i in idx]
