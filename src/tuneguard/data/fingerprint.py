"""The order-free fingerprint of a split's tokenized rows (input ids and labels), computed on
flat int32 arrays a chunk of rows at a time (tuneguard.data.identity records it; the
tokenized-data cache computes it from the arrays it packs, so a run start does not convert
every row's Python ints again).

Scheme 2 (identity.SCHEME): each token's id and label make one 64-bit word, XORed with a key for
its position in the row and mixed (splitmix64's finaliser); a row's hash is the sum of its tokens' words mod
2^64 with its length mixed in; the split's fingerprint is blake2b over the sorted row hashes. The
same rows in any order give the same value; another id, label, length or row count gives
another (64 bits: collisions do not matter for comparing runs). The start gate digests the same
row hashes in their order instead (ordered_digest): ranks must hold the same rows in the same
order. Memory: the arrays a chunk of
CHUNK_TOKENS tokens needs and 8 bytes per row for the row hashes, never a second copy of the split.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

import numpy as np

from tuneguard.data.token_rows import TokenRows

log = logging.getLogger(__name__)
IGNORE_INDEX = -100  # tuneguard.data.tokenize's mask value
CHUNK_TOKENS = 1 << 20
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array (a bijection that spreads every bit)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row starts with the end appended, each token's position in its row) of rows of `lengths`."""
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    return starts, np.arange(starts[-1], dtype=np.int64) - np.repeat(starts[:-1], lengths)


def _position_keys(longest: int) -> np.ndarray:
    keys = np.arange(1, longest + 1, dtype=np.uint64)
    keys *= _GOLDEN
    return _mix(keys)


def row_hashes(ids: np.ndarray, labels: np.ndarray, lengths: np.ndarray,
               where: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """One uint64 per row of `lengths` (int64) over the flat int32 `ids` and `labels` of those rows
    (`where`: their positions() when the caller has them)."""
    starts, pos = where if where is not None else positions(lengths)
    words = np.empty(len(ids), dtype=np.uint64)
    halves = words.view(np.uint32).reshape(-1, 2)  # the id in the low 32 bits, the label in the high
    low, high = (0, 1) if sys.byteorder == "little" else (1, 0)
    halves[:, low] = ids.astype(np.int32, copy=False).view(np.uint32)
    halves[:, high] = labels.astype(np.int32, copy=False).view(np.uint32)
    if len(ids):
        words ^= _position_keys(int(lengths.max()))[pos]
    _mix(words)
    sums = np.zeros(len(ids) + 1, dtype=np.uint64)
    np.cumsum(words, out=sums[1:])
    row = sums[starts[1:]] - sums[starts[:-1]]
    row += lengths.astype(np.uint64) * _GOLDEN
    return _mix(row)


def combine(hashes: Sequence[np.ndarray]) -> str:
    """The split's fingerprint from its rows' hashes, in any order."""
    every = np.sort(np.concatenate(list(hashes)) if hashes else np.zeros(0, dtype=np.uint64))
    return hashlib.blake2b(every.astype("<u8").tobytes(), digest_size=8).hexdigest()


def _chunks(lengths: np.ndarray) -> Iterator[tuple[int, int, int, int]]:
    """(first row, end row, first token, end token) of successive chunks of about CHUNK_TOKENS."""
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    r0 = 0
    while r0 < len(lengths):
        r1 = max(int(np.searchsorted(starts, starts[r0] + CHUNK_TOKENS, side="right")) - 1, r0 + 1)
        yield r0, r1, int(starts[r0]), int(starts[r1])
        r0 = r1


def _numpy(t: Any) -> np.ndarray:
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def packed_row_hashes(entry: dict[str, Any]) -> np.ndarray:
    """The row hashes, in row order, of a split packed as the tokenized-data cache stores it
    (tuneguard.data.cache._packed: `input_ids`, `lengths` and one of `masked`, `supervised`,
    `labels`), the labels rebuilt a chunk at a time."""
    ids, lengths = _numpy(entry["input_ids"]), _numpy(entry["lengths"]).astype(np.int64)
    masked = _numpy(entry["masked"]).astype(np.int64) if "masked" in entry else None
    supervised = _numpy(entry["supervised"]) if "supervised" in entry else None
    full = _numpy(entry["labels"]) if "labels" in entry else None
    out = []
    for r0, r1, a, b in _chunks(lengths):
        part, lens = ids[a:b], lengths[r0:r1]
        where = positions(lens)
        if full is not None:
            labels = full[a:b]
        elif supervised is not None:
            labels = np.where(supervised[a:b].astype(bool), part, IGNORE_INDEX)
        else:
            labels = np.where(where[1] < np.repeat(masked[r0:r1], lens), IGNORE_INDEX, part)
        out.append(row_hashes(part, labels, lens, where))
    return _joined(out)


def packed_fingerprint(entry: dict[str, Any]) -> str:
    """The fingerprint of a split packed as the tokenized-data cache stores it (packed_row_hashes)."""
    return combine([packed_row_hashes(entry)])


def features_row_hashes(features: Sequence[dict[str, Any]]) -> np.ndarray:
    """The row hashes, in row order, of tokenized rows as lists (input ids and labels; a row
    without labels counts as all masked), converted a chunk of rows at a time."""
    if isinstance(features, TokenRows) and not features.edited:  # packed already: no row is converted
        return packed_row_hashes(features.packed())
    out = []
    at = 0
    while at < len(features):
        rows, total = [], 0
        while at < len(features) and (not rows or total < CHUNK_TOKENS):
            rows.append(features[at])
            total += len(features[at]["input_ids"])
            at += 1
        lens = np.fromiter((len(f["input_ids"]) for f in rows), np.int64, len(rows))
        ids = np.fromiter(chain.from_iterable(f["input_ids"] for f in rows), np.int32, total)
        labels = np.fromiter(chain.from_iterable(_labels(f) for f in rows), np.int32, total)
        out.append(row_hashes(ids, labels, lens))
    return _joined(out)


def features_fingerprint(features: Sequence[dict[str, Any]]) -> str:
    """The fingerprint of tokenized rows as lists (features_row_hashes)."""
    return combine([features_row_hashes(features)])


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def ordered_digest(hashes: np.ndarray) -> int:
    """A 64-bit digest of row hashes in their order (another order of the same rows gives another
    value): what the start gate compares between ranks (tuneguard.dist.gate)."""
    return int.from_bytes(hashlib.blake2b(hashes.astype("<u8").tobytes(), digest_size=8).digest(), "big")


def _labels(f: dict[str, Any]) -> Sequence[int]:
    labels = f.get("labels")
    if labels is not None and len(labels) == len(f["input_ids"]):
        return labels
    if not labels:
        return [IGNORE_INDEX] * len(f["input_ids"])
    raise ValueError(f"a row's labels ({len(labels)}) and input ids ({len(f['input_ids'])}) differ in length")
