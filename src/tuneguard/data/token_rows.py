"""Tokenized rows held packed: what a split's features cost at a million rows.

As Python lists a token costs about 23 bytes (a pointer in input_ids, another in labels, the
lists' own headers; more for ids above 256 that the tokenizer gives as new ints), so a million
rows of 250 tokens needed about 6 GB. `TokenRows` holds every row's ids in one int32 array
(4 bytes a token) and its labels as what they nearly always are, the ids after a masked start
(one int a row: tokenize.build_example's labels); a row whose labels are anything else (a
multi-turn chat row's earlier answers, data.train_on_prompt's are the ids themselves) keeps its
own int32 labels. Reading a row gives the same dict of lists a list of features held
({"input_ids": [...], "labels": [...], "length": n}), built when asked, so every consumer
(collators, the audit, the cache, the fingerprint) reads it as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, overload

import numpy as np

IGNORE_INDEX = -100
CHUNK_ROWS = 4096


def masked_start(ids: Sequence[int], labels: Sequence[int]) -> int | None:
    """m when `labels` is m IGNORE_INDEX then ids[m:] (the usual row), else None."""
    m = next((k for k, lab in enumerate(labels) if lab != IGNORE_INDEX), len(labels))
    if len(labels) != len(ids) or list(labels[m:]) != list(ids[m:]):
        return None
    return m


class _Row(dict):
    """A row as read from TokenRows: a plain dict, except that a field set on it (a test that
    breaks a row, a tool that edits one) stays set: the row is then kept as edited, in place of
    its packed form, and every read of the rows as a whole goes through the edited rows."""

    def __init__(self, owner: TokenRows, index: int, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self._owner, self._index = owner, index

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._owner.edited[self._index] = self

    def __reduce__(self) -> Any:  # pickled (a DataLoader worker's batch) as the plain dict it is
        return (dict, (dict(self),))


class TokenRows(Sequence[dict[str, Any]]):
    """A split's tokenized rows, packed (module docstring); build with `TokenRows.build`."""

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, masked: np.ndarray,
                 labels: dict[int, np.ndarray] | None = None) -> None:
        self.ids = np.ascontiguousarray(ids, dtype=np.int32)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.masked = np.asarray(masked, dtype=np.int64)  # per row; -1 where `labels` holds the row's own
        self.labels = labels or {}
        self.edited: dict[int, dict[str, Any]] = {}  # rows changed after packing (_Row)
        self.starts = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.starts[1:])

    @classmethod
    def build(cls, features: Iterable[dict[str, Any]]) -> TokenRows:
        """Packed from rows as dicts of lists (or any sequences), a chunk of rows at a time, so that
        the lists of no more than CHUNK_ROWS rows are alive at once."""
        ids_parts: list[np.ndarray] = []
        lengths: list[int] = []
        masked: list[int] = []
        own: dict[int, np.ndarray] = {}
        chunk: list[Sequence[int]] = []
        for f in features:
            ids, labels = f["input_ids"], f["labels"]
            m = masked_start(ids, labels)
            if m is None:
                own[len(lengths)] = np.asarray(labels, dtype=np.int32)
            masked.append(-1 if m is None else m)
            lengths.append(len(ids))
            chunk.append(ids)
            if len(chunk) >= CHUNK_ROWS:
                ids_parts.append(_flat(chunk))
                chunk = []
        ids_parts.append(_flat(chunk))
        return cls(np.concatenate(ids_parts), np.asarray(lengths, dtype=np.int64), np.asarray(masked), own)

    def __len__(self) -> int:
        return len(self.lengths)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError("TokenRows index out of range")
        i = int(i) % n
        if i in self.edited:
            return self.edited[i]
        row = self.ids[self.starts[i]: self.starts[i + 1]].tolist()
        m = int(self.masked[i])
        labels = self.labels[i].tolist() if m < 0 else [IGNORE_INDEX] * m + row[m:]
        return _Row(self, i, {"input_ids": row, "labels": labels, "length": len(row)})

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TokenRows({len(self)} rows, {len(self.ids)} tokens)"

    def flat_labels(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """The labels of rows lo..hi as one int32 array, aligned with their ids."""
        hi = len(self) if hi is None else hi
        a, b = int(self.starts[lo]), int(self.starts[hi])
        out = self.ids[a:b].copy()
        lengths = self.lengths[lo:hi]
        within = np.arange(b - a, dtype=np.int64) - np.repeat(self.starts[lo:hi] - a, lengths)
        out[within < np.repeat(self.masked[lo:hi], lengths)] = IGNORE_INDEX
        for i in (k for k in self.labels if lo <= k < hi):
            s = int(self.starts[i]) - a
            out[s: s + int(self.lengths[i])] = self.labels[i]
        return out

    def take(self, rows: Sequence[int]) -> Sequence[dict[str, Any]]:
        """These rows, in this order, packed as well (the audit's sample of a split)."""
        if self.edited:
            return [self[i] for i in rows]
        idx = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[idx]
        firsts = np.zeros(len(idx), dtype=np.int64)
        np.cumsum(lengths[:-1], out=firsts[1:])
        at = np.repeat(self.starts[idx] - firsts, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
        where = {int(old): new for new, old in enumerate(idx.tolist()) if old in self.labels} if self.labels else {}
        return TokenRows(self.ids[at], lengths, self.masked[idx], {new: self.labels[old] for old, new in where.items()})

    def packed(self) -> dict[str, np.ndarray]:
        """The arrays as the tokenized-data cache packs a split (`input_ids`, `lengths`, and `masked`
        or, when a row keeps labels of its own, `labels` in full): what fingerprint.packed_row_hashes reads."""
        out = {"input_ids": self.ids, "lengths": self.lengths}
        if self.labels:
            out["labels"] = self.flat_labels()
        else:
            out["masked"] = self.masked
        return out

    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.lengths.nbytes + self.masked.nbytes + self.starts.nbytes
                   + sum(v.nbytes for v in self.labels.values()))


def row_lengths(features: Sequence[dict[str, Any]]) -> list[int]:
    """Each row's token count, read from the packed lengths when the rows are TokenRows."""
    if isinstance(features, TokenRows) and not features.edited:
        return features.lengths.tolist()
    return [len(f["input_ids"]) for f in features]


def shifted_supervised(features: TokenRows) -> int:
    """The supervised labels after the causal shift (labels[1:] != IGNORE_INDEX) of every row,
    counted from the packed form."""
    plain = features.masked >= 0
    lengths = features.lengths[plain]
    total = int(np.maximum(lengths - np.maximum(features.masked[plain], 1), 0).sum())
    return total + sum(int((lab[1:] != IGNORE_INDEX).sum()) for lab in features.labels.values())


def _flat(rows: list[Sequence[int]]) -> np.ndarray:
    return np.fromiter(chain.from_iterable(rows), np.int32, sum(len(r) for r in rows))


def concat_rows(parts: list[TokenRows]) -> TokenRows:
    """Packed rows one after the other, as one TokenRows (the chunks of a source tokenized as it is
    read). Consumes `parts`: each chunk is dropped from the list once copied, so that the tokens are
    not held twice (the joined array's pages are touched only as the chunks are copied in)."""
    if len(parts) == 1:
        return parts.pop()
    labels: dict[int, np.ndarray] = {}
    at = 0
    for p in parts:
        labels.update((at + k, v) for k, v in p.labels.items())
        at += len(p)
    lengths = np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.int64)
    masked = np.concatenate([p.masked for p in parts]) if parts else np.zeros(0, np.int64)
    ids = np.empty(sum(len(p.ids) for p in parts), dtype=np.int32)
    at = 0
    parts.reverse()
    while parts:
        chunk = parts.pop().ids
        ids[at: at + len(chunk)] = chunk
        at += len(chunk)
    return TokenRows(ids, lengths, masked, labels)


def keep_rows(rows: TokenRows, keep: np.ndarray) -> TokenRows:
    """The rows where `keep` (a bool per row) is set, in order, compacted in place: `rows` is
    consumed (its arrays become the result's), so that a split of nearly all of a source's
    rows costs no second copy of their tokens (TokenRows.take builds the copy and, for a
    moment, index arrays of 16 bytes a token)."""
    assert not rows.edited
    keep = np.asarray(keep, dtype=bool)
    idx = np.flatnonzero(keep)
    if len(idx) == len(rows):
        return rows
    # Runs of kept rows: each moved down to where the kept tokens before it end.
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    run_first = idx[np.r_[0, breaks]] if len(idx) else idx
    run_last = idx[np.r_[breaks - 1, len(idx) - 1]] + 1 if len(idx) else idx
    ids, starts, dst = rows.ids, rows.starts, 0
    for a, b in zip(run_first.tolist(), run_last.tolist(), strict=True):
        lo, hi = int(starts[a]), int(starts[b])
        if lo != dst:
            ids[dst: dst + hi - lo] = ids[lo:hi]
        dst += hi - lo
    labels = {int(new): rows.labels[int(old)] for new, old in enumerate(idx.tolist()) if old in rows.labels} if rows.labels else {}
    return TokenRows(ids[:dst], rows.lengths[idx], rows.masked[idx], labels)
