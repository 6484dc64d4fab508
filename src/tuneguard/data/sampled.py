"""A sample of a large JSON Lines file without holding every row's text: where each usable row is,
then only the sampled rows read again.

`tuneguard audit` tokenizes at most audit.max_rows training rows (data.train_samples), drawn
with random.Random(seed).sample from every usable row; holding every row's text until that draw
cost about 1 KB a row (gigabytes at a million rows, more than a 23 GB machine has at ten million).
The draw depends only on how many rows there are, so the first pass converts each row (its
problems are found exactly as before) and keeps only its line number; the selection is made on
row positions, with the very calls prepare_data makes on examples; the second pass parses and
converts only the selected lines. The examples, their order and the problems are the same.
"""

from __future__ import annotations

import itertools
import logging
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tuneguard.config.schema import DataConfig
from tuneguard.data.formats import Example, detect_format, to_examples
from tuneguard.data.load import (DataError, Row, RowProblem, Source, data_kind, is_pattern, iter_rows, jsonl_lines,
                                 source_name)

log = logging.getLogger(__name__)
DETECT_ROWS = 50  # formats.detect_format reads the first 50 rows
CONVERT_ROWS = 4096


def one_jsonl(source: Source) -> Path | None:
    """The file when `source` is one JSON Lines file (the case of a large file), else None."""
    if not isinstance(source, str) or is_pattern(source):
        return None
    path = Path(source).expanduser()
    return path if path.is_file() and data_kind(path) == "jsonl" else None


def scan(path: Source, cfg: DataConfig, tokenizer: Any, fmt: str | None,
         keep: bool) -> tuple[list[Example], array, list[RowProblem], int, str]:
    """Every row of a source read and converted a chunk at a time, in file order: the examples
    (`keep`) or only their line numbers (not `keep`: the lines of the examples, in order), the
    bad rows (the loader's, then the format's), the records read, and the format."""
    read_problems: list[RowProblem] = []
    rows = iter_rows(path, read_problems)
    head = list(itertools.islice(rows, DETECT_ROWS))
    fmt = fmt or detect_format(head, cfg)
    examples: list[Example] = []
    lines = array("q")
    problems: list[RowProblem] = []
    n_rows = 0
    chunk = head
    while chunk:
        n_rows += len(chunk)
        ex, pr = to_examples(chunk, fmt, cfg, tokenizer)
        if keep:
            examples += ex
        else:
            lines.extend(e.line or 0 for e in ex)
        problems += pr
        chunk = list(itertools.islice(rows, CONVERT_ROWS))
    return examples, lines, read_problems + problems, n_rows + len(read_problems), fmt


def fetch(path: Path, lines: array, wanted: Sequence[int], cfg: DataConfig, tokenizer: Any,
          fmt: str) -> list[Example]:
    """The examples at positions `wanted` (indexes into `lines`), in that order, from a second
    read of the file that parses only their lines."""
    t = time.monotonic()
    by_line = {lines[k]: k for k in wanted}
    got: dict[int, Example] = {}
    rows = jsonl_lines(path, by_line.keys())
    while chunk := list(itertools.islice(rows, CONVERT_ROWS)):
        ex, _ = to_examples(chunk, fmt, cfg, tokenizer)
        got.update((by_line[e.line], e) for e in ex if e.line is not None)
    if len(got) != len(by_line):  # the file changed between the two reads
        raise DataError(f"{path} changed while it was read: {len(by_line) - len(got)} sampled row(s) are gone")
    log.debug("read %d sampled rows of %s again in %.1f s", len(got), path, time.monotonic() - t)
    return [got[k] for k in wanted]


class RowsAt:
    """Where each usable row of a source is, in order: its file (an index into `files`) and its
    line, which name one row in every kind of source (a JSON Lines or CSV line, a Parquet or JSON
    record), for a later read to find it again. 12 bytes a row, not the row's text."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self._file_index: dict[str, int] = {}
        self.file_of = array("i")
        self.lines = array("q")

    def add(self, examples: Sequence[Example]) -> None:
        for e in examples:
            k = self._file_index.setdefault(e.file, len(self.files))
            if k == len(self.files):
                self.files.append(e.file)
            self.file_of.append(k)
            self.lines.append(-1 if e.line is None else e.line)

    def __len__(self) -> int:
        return len(self.lines)

    def key(self, k: int) -> tuple[str, int | None]:
        line = self.lines[k]
        return self.files[self.file_of[k]], None if line < 0 else line


def fetch_rows(source: Source, where: RowsAt, wanted: Sequence[int], cfg: DataConfig, tokenizer: Any,
               fmt: str) -> list[Example]:
    """The examples at positions `wanted` (indexes into `where`), in that order, from another read
    of `source` that converts only their rows (a JSON Lines file: parses only their lines)."""
    got = dict(iter_rows_at(source, where, wanted, cfg, tokenizer, fmt))
    return [got[k] for k in wanted]


def iter_rows_at(source: Source, where: RowsAt, wanted: Iterable[int], cfg: DataConfig, tokenizer: Any,
                 fmt: str) -> Iterator[tuple[int, Example]]:
    """(position, example) of the positions `wanted`, in file order, as another read of `source`
    meets them; DataError when the source changed and some are gone."""
    by_key = {where.key(k): k for k in wanted}
    path = one_jsonl(source)
    if path is not None:
        rows: Iterator[Row] = jsonl_lines(path, {line for _, line in by_key if line is not None})
    else:
        rows = (r for r in iter_rows(source, []) if (r.file, r.line) in by_key)
    found = 0
    while chunk := list(itertools.islice(rows, CONVERT_ROWS)):
        ex, _ = to_examples(chunk, fmt, cfg, tokenizer)
        for e in ex:
            k = by_key.get((e.file, e.line))
            if k is not None:
                found += 1
                yield k, e
    if found != len(by_key):  # the source changed between the two reads
        raise DataError(f"{source_name(source)} changed while it was read: {len(by_key) - found} row(s) are gone")
