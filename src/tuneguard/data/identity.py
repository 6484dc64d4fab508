"""What a run's losses were measured on, as fingerprints the run store keeps (meta `data_identity`).

Two runs with the same settings can still have been measured on different things: the
validation file edited in place between them, a training file replaced by its cleaned copy
under the same name, another tokenizer behind the same model name. `tuneguard compare`
reads these fingerprints to say which losses can stand side by side:

- `tokenizer`: tuneguard.data.cache.tokenizer_identity (vocabulary, merges, special tokens,
  chat template), shortened;
- per split (train, validation, test): `rows`, `fingerprint` (the tokenized rows, input ids
  and labels, as a set: the same rows in another order give the same value, one row more,
  less or tokenized otherwise does not) and `files` (a SHA-256 over the split's source
  files' contents, null for the validation rows split from the training file);
- `scheme`: how the rows fingerprints were computed (SCHEME; a record without it is scheme 1,
  blake2b per row over int64 bytes, before tuneguard hashed the packed arrays). Fingerprints of
  two schemes are never compared: compare takes a run's fingerprints again from its
  tokenized-data cache (identity_from_cache), else judges the runs by their settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuneguard.data.cache import DataCache, file_identity, tokenizer_identity
from tuneguard.data.fingerprint import combine, features_fingerprint

log = logging.getLogger(__name__)
SHORT = 16  # hex digits kept: collisions do not matter at 64 bits, and the store stays readable


SCHEME = 2  # tuneguard.data.fingerprint's; 1 (no `scheme` in the record): per-row blake2b over int64 bytes


def scheme_of(identity: Any) -> int | None:
    """The fingerprint scheme of a recorded identity (1 for a record from before schemes), None for none."""
    return int(identity.get("scheme", 1)) if isinstance(identity, dict) else None


def rows_fingerprint(features: Sequence[dict[str, Any]]) -> str:
    """A digest of the tokenized rows (input ids and labels) that ignores their order (SCHEME)."""
    return features_fingerprint(features)


def files_hash(identity: dict[str, Any]) -> str:
    """One SHA-256 over the contents of a source's files (tuneguard.data.cache.file_identity):
    names and bytes, not paths or times, so a copy elsewhere hashes the same."""
    def contents(ident: dict[str, Any]) -> list[Any]:
        if "parts" in ident:
            return [contents(p) for p in ident["parts"]]
        files = ident.get("files", [])
        return list(zip(_relative_names([f.get("name") for f in files]), [f.get("sha256") for f in files], strict=True))

    return hashlib.sha256(json.dumps(contents(identity)).encode()).hexdigest()[:SHORT]


def _relative_names(names: list[Any]) -> list[Any]:
    """A glob's matches are named by their absolute paths (tuneguard.data.cache.file_identity):
    named here from the folder they share, as a folder's files are, so that a copy elsewhere
    hashes the same."""
    if not names or not all(isinstance(n, str) and os.path.isabs(n) for n in names):
        return names
    base = os.path.commonpath([os.path.dirname(n) for n in names])
    return [os.path.relpath(n, base) for n in names]


def resumed_identity(previous: Any, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The identity a resumed run records: `current`, each split whose rows changed since the
    identity recorded before (`previous`, None for a run that starts) keeping the fingerprints it
    had under `before`, so that compare sees its losses mix two data sets."""
    if current is None or not isinstance(previous, dict) or not isinstance(previous.get("splits"), dict):
        return current
    if scheme_of(previous) != scheme_of(current):
        log.info("data identity: recorded under fingerprint scheme %s, taken again under scheme %s (the two "
                 "cannot say whether the rows changed)", scheme_of(previous), scheme_of(current))
        return current
    splits = {}
    for name, cur in current["splits"].items():
        prev = previous["splits"].get(name)
        before = list(prev.get("before") or []) if isinstance(prev, dict) else []
        if isinstance(prev, dict) and prev.get("fingerprint") != cur.get("fingerprint"):
            before.append(prev.get("fingerprint"))
        splits[name] = {**cur, "before": before} if before else cur
    return {**current, "splits": splits}


def _source_hash(cached: dict[str, Any] | None, source: Any) -> str | None:
    """The contents hash of a split's source: from the cache key's identity, else read from the
    files; None for no source (rows split from the training file) or a source that cannot be read
    again (the record is for comparing runs: it never stops one)."""
    if not cached and not source:
        return None
    try:
        return files_hash(cached or file_identity(source))
    except (OSError, ValueError) as exc:
        log.warning("cannot hash the data source %s (%s); compare judges its runs by their settings", source, exc)
        return None


def data_identity(data: Any, data_cfg: Any, tokenizer: Any) -> dict[str, Any] | None:
    """The fingerprints of a prepared run's data (tuneguard.data.pipeline.PreparedData) and
    tokenizer; None, with a warning, where they cannot be taken (the record is for comparing
    runs: it never stops one). The file hashes come from the tokenized-data cache's key when
    there is one (they were computed for it), else from the files."""
    try:
        return _data_identity(data, data_cfg, tokenizer)
    except Exception as exc:  # noqa: BLE001 - compare then judges the run by its settings
        log.warning("cannot fingerprint the run's data (%s: %s); compare judges it by its settings",
                    type(exc).__name__, exc)
        return None


def _data_identity(data: Any, data_cfg: Any, tokenizer: Any) -> dict[str, Any]:
    key_files = (getattr(getattr(data, "cache", None), "key", None) or {}).get("files", {})
    sources = {"train": data_cfg.train_file, "validation": data_cfg.validation_file, "test": data_cfg.test_file}
    splits: dict[str, Any] = {}
    for name in ("train", "validation", "test"):
        split = getattr(data, name, None)
        if split is None:
            continue
        splits[name] = {"rows": len(split.features), "fingerprint": _split_fingerprint(data, name, split.features),
                        "files": _source_hash(key_files.get(name), sources[name])}
    cache_key = getattr(getattr(data, "cache", None), "hash", None)
    return {"tokenizer": tokenizer_identity(tokenizer)[:SHORT], "splits": splits, "scheme": SCHEME,
            **({"key": cache_key[:SHORT]} if cache_key else {})}


def _split_fingerprint(data: Any, name: str, features: Sequence[dict[str, Any]]) -> str:
    """From the row hashes prepared data computes once (PreparedData.row_hashes: the
    tokenized-data cache's packed arrays when it stored or read this split, no row converted
    again), else from the rows."""
    row_hashes = getattr(data, "row_hashes", None)
    if callable(row_hashes):
        return combine([row_hashes(name)])
    return rows_fingerprint(features)


def record_identity(previous: Any, data: Any, data_cfg: Any, tokenizer: Any) -> dict[str, Any] | None:
    """What a run records at its start (`previous`: what it recorded before, None for a run that
    starts): the identity recorded before, as it is, where the tokenized-data cache's key is the
    one it was taken under (the key covers the files' contents, the tokenizer, the data settings
    and tuneguard's version, so the rows are the same: a resume does not hash them again); else
    the data's identity, keeping the earlier fingerprints of rows that changed (resumed_identity)."""
    cache_key = getattr(getattr(data, "cache", None), "hash", None)
    if cache_key and isinstance(previous, dict) and previous.get("key") == cache_key[:SHORT] \
            and scheme_of(previous) == SCHEME:
        log.info("data identity: as recorded (the tokenized-data cache key matches)")
        return previous
    return resumed_identity(previous, data_identity(data, data_cfg, tokenizer))


def is_current(identity: Any) -> bool:
    """Whether a recorded identity's fingerprints can be compared with ones taken now (SCHEME)."""
    return isinstance(identity, dict) and scheme_of(identity) == SCHEME


def identity_from_cache(cache_dir: Path) -> dict[str, Any] | None:
    """The data identity of a run that recorded none (trained before tuneguard recorded it), from
    its tokenized-data cache (RUN_DIR/cache/tokens.pt): the same fingerprints, computed from the
    packed arrays (never converted to lists) and the key stored there; None without a readable cache."""
    cache = DataCache.read(cache_dir)
    if cache is None:
        return None
    files = cache.key.get("files") or {}
    splits: dict[str, Any] = {}
    for name in cache.split_names():
        rows, fingerprint = cache.rows(name), cache.fingerprint(name)
        if fingerprint is not None:
            splits[name] = {"rows": rows, "fingerprint": fingerprint,
                            "files": files_hash(files[name]) if files.get(name) else None}
    tokenizer = cache.key.get("tokenizer")
    if not tokenizer or not splits:
        return None
    return {"tokenizer": str(tokenizer)[:SHORT], "splits": splits, "scheme": SCHEME, "key": cache.hash[:SHORT],
            "from": "cache"}
