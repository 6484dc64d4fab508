"""The tokenized data and the audit's findings of a run, kept in RUN_DIR/cache/ for the next start.

Tokenizing a 200,000-row file takes minutes and the audit most of a minute; a resumed run
(`--resume auto`, after a preemption) and a run started again in the same directory
(`--overwrite`, which leaves cache/ alone) would pay both again for the same result. The
cache is keyed on everything that changes that result: each data file (path, size,
mtime_ns and a SHA-256 of its bytes), the tokenizer (its serialised state, special tokens
and chat template), the whole data section of the config and the tuneguard version; the
audit's findings also on the audit section. A key that differs is said in one info line
("... recomputed: data.max_length changed") and the data are tokenized again.

Why the run directory and not a user cache dir: a preempted run resumes from the run
directory (it holds the checkpoints, so it is what survives on a rented machine's
persistent disk), nothing needs evicting (it goes with the run), and no two runs share an
entry. The files: `tokens.pt` (torch.save of int32 tensors and plain numbers, read back
with weights_only=True) and `audit.json`, each written to a temporary file and renamed, so
a reader sees a whole file or none. A missing, partial or corrupt file is a miss, never
an error: the run recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tuneguard.data.fingerprint import combine, packed_row_hashes
from tuneguard.data.load import Source, is_pattern, source_files
from tuneguard.data.token_rows import TokenRows
from tuneguard.data.tokenize import IGNORE_INDEX
from tuneguard.findings import Finding, json_safe

log = logging.getLogger(__name__)

# The version of what rows mean: raised whenever the same file and config tokenize to other
# labels (3: per-message weight/train flags, tool calls, chats that open with an answer; 4: an
# instruction row's system prompt; 5: the stats count truncated rows), so a cache of the old
# reading is never reused.
FORMAT = 5
CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def file_identity(path: Source) -> dict[str, Any]:
    """A data file (or every file of a folder, or every match of a glob pattern, or every file
    of each element of a list) as path, size, mtime_ns and hash."""
    if isinstance(path, list):
        parts = [file_identity(p) for p in path]
        return {"path": ", ".join(p["path"] for p in parts), "parts": parts}
    if is_pattern(path):
        found = [q.resolve() for q in source_files(path)]
        return {"path": str(Path(path).expanduser().absolute()),
                "files": [{"name": str(q), "size": q.stat().st_size, "mtime_ns": q.stat().st_mtime_ns,
                           "sha256": _sha256_file(q)} for q in found]}
    p = Path(path).resolve()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return {"path": str(p), "files": [{"name": str(q.relative_to(p)) if p.is_dir() else q.name,
                                       "size": q.stat().st_size, "mtime_ns": q.stat().st_mtime_ns,
                                       "sha256": _sha256_file(q)} for q in files]}


def tokenizer_identity(tokenizer: Any) -> str:
    """A hash of what decides a tokenizer's ids: its serialised state (fast tokenizers: vocab,
    merges, normalizer, pre- and post-processor), the vocabulary with added tokens, the special
    tokens and the chat template."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    h.update(json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode())
    special = {"map": getattr(tokenizer, "special_tokens_map", {}), "bos": tokenizer.bos_token_id,
               "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id,
               "chat_template": getattr(tokenizer, "chat_template", None)}
    h.update(json.dumps(special, sort_keys=True, default=str).encode())
    return h.hexdigest()


def data_key(data_cfg: Any, tokenizer: Any) -> dict[str, Any]:
    """Everything that changes the tokenized examples, as named parts (so a miss can say which)."""
    import tuneguard

    files = {name: file_identity(path) for name, path in (("train", data_cfg.train_file),
             ("validation", data_cfg.validation_file), ("test", data_cfg.test_file)) if path}
    return {"format": FORMAT, "version": tuneguard.__version__, "files": files, "tokenizer": tokenizer_identity(tokenizer),
            "data": data_cfg.model_dump(mode="json")}


def key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _changed_path(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The path of a source whose identity changed: of a list, the elements that changed."""
    old_parts, new_parts = old.get("parts"), new.get("parts")
    if isinstance(old_parts, list) and isinstance(new_parts, list) and len(old_parts) == len(new_parts):
        changed = [n["path"] for o, n in zip(old_parts, new_parts, strict=True) if o != n]
        if changed:
            return ", ".join(changed)
    return str(new["path"])


def why_different(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The first parts of two keys that differ, in words: 'data.max_length changed'."""
    reasons: list[str] = []
    if old.get("format") != new.get("format"):
        reasons.append(f"the way rows are read changed (cache format {old.get('format')} -> {new.get('format')})")
    elif old.get("version") != new.get("version"):
        reasons.append(f"tuneguard {old.get('version')} -> {new.get('version')}")
    for split, ident in new.get("files", {}).items():
        before = old.get("files", {}).get(split)
        if before != ident:
            reasons.append(f"{split} file {_changed_path(before, ident)} changed" if before else f"{split} file added")
    reasons += [f"{split} file removed" for split in old.get("files", {}) if split not in new.get("files", {})]
    if old.get("tokenizer") != new.get("tokenizer"):
        reasons.append("the tokenizer changed")
    old_data, new_data = old.get("data", {}), new.get("data", {})
    reasons += [f"data.{k} changed" for k in sorted(set(old_data) | set(new_data)) if old_data.get(k) != new_data.get(k)]
    return ", ".join(reasons[:4]) or "the key changed"


def _flat(feats: list[dict[str, Any]], field: str) -> torch.Tensor:
    total = sum(len(f[field]) for f in feats)
    return torch.from_numpy(np.fromiter(chain.from_iterable(f[field] for f in feats), np.int32, total))


def _packed(feats: list[dict[str, Any]], stats: dict[str, int]) -> dict[str, Any]:
    """One split as flat int32 tensors. Labels are the ids where they are not masked (tokenize.py's
    build_example), so they are stored as the length of each row's masked start when that is all
    of its masking (half the file), else as one byte per token saying whether it is supervised (a
    multi-turn chat row's earlier answers); a row whose labels are neither (none today) makes the
    split keep its labels in full."""
    if isinstance(feats, TokenRows) and not feats.labels and not feats.edited:  # packed already, as stored
        return {"input_ids": torch.from_numpy(feats.ids), "stats": dict(stats),
                "lengths": torch.from_numpy(feats.lengths.astype(np.int32)),
                "masked": torch.from_numpy(feats.masked.astype(np.int32))}
    masked = [next((k for k, lab in enumerate(f["labels"]) if lab != IGNORE_INDEX), len(f["labels"])) for f in feats]
    short = all(f["labels"][m:] == f["input_ids"][m:] for f, m in zip(feats, masked, strict=True))
    packed: dict[str, Any] = {"input_ids": _flat(feats, "input_ids"), "stats": dict(stats),
                              "lengths": torch.tensor([len(f["input_ids"]) for f in feats], dtype=torch.int32)}
    if short:
        packed["masked"] = torch.tensor(masked, dtype=torch.int32)
    elif all(lab in (IGNORE_INDEX, t) for f in feats for t, lab in zip(f["input_ids"], f["labels"], strict=True)):
        total = sum(len(f["labels"]) for f in feats)
        packed["supervised"] = torch.from_numpy(np.fromiter(
            (lab != IGNORE_INDEX for f in feats for lab in f["labels"]), np.uint8, total))
    else:
        packed["labels"] = _flat(feats, "labels")
    return packed


def _unpacked(entry: dict[str, Any], ids: list[int], lengths: list[int]) -> Iterator[dict[str, Any]]:
    """The rows of a split stored with labels of their own (`labels`, or `supervised` flags), as dicts."""
    labels = entry["labels"].tolist() if "labels" in entry else None
    if labels is None:
        labels = [t if sup else IGNORE_INDEX for t, sup in zip(ids, entry["supervised"].tolist(), strict=True)]
    at = 0
    for n in lengths:
        yield {"input_ids": ids[at: at + n], "labels": labels[at: at + n], "length": n}
        at += n


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write` into a temporary file beside `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from the run directory's other readers
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DataCache:
    """The cache of one run directory for one key: `features` / `save_features` for the tokenized
    splits, `audit` / `save_audit` for the audit's findings. Nothing here raises on a bad
    file; a failed write is logged and the run goes on without the cache. `write` false (every
    rank of several but 0): read only."""

    def __init__(self, directory: Path, key: dict[str, Any], *, write: bool = True) -> None:
        self.dir, self.key, self.hash, self.write = Path(directory), key, key_hash(key), write
        self.tokens_path, self.audit_path = self.dir / "tokens.pt", self.dir / "audit.json"
        self._loaded: dict[str, Any] | None = None
        self._said = False
        self._hashes: dict[str, np.ndarray] = {}  # split -> its row hashes in order (tuneguard.data.fingerprint)

    def _load(self) -> dict[str, Any]:
        """tokens.pt when it is whole and holds this key; {} (and one line saying why) otherwise."""
        if self._loaded is not None:
            return self._loaded
        self._loaded = {}
        if not self.tokens_path.exists():
            self._say(f"tokenized data computed: no cache in {self.dir} yet")
            return self._loaded
        try:
            blob = torch.load(self.tokens_path, weights_only=True)
            old_key = json.loads(blob["key"])
            if key_hash(old_key) != self.hash:
                self._say(f"tokenized data recomputed: {why_different(old_key, self.key)}")
                return self._loaded
            self._loaded = dict(blob["splits"])
        except Exception as exc:  # noqa: BLE001 - a partial or corrupt cache is a miss, never a failure
            self._say(f"tokenized data recomputed: the cache {self.tokens_path} is unreadable ({type(exc).__name__})")
            return self._loaded
        self._say(f"tokenized data reused from {self.tokens_path} (key matches)")
        return self._loaded

    def _say(self, line: str) -> None:
        if not self._said:
            self._said = True
            log.info("%s", line)

    @classmethod
    def read(cls, directory: Path) -> "DataCache | None":
        """The cache in `directory` under the key it was written with, read only; None when there
        is none or it cannot be read. What a run that recorded no data identity was trained on
        (tuneguard.data.identity.identity_from_cache)."""
        try:
            blob = torch.load(Path(directory) / "tokens.pt", weights_only=True)
            cache = cls(directory, json.loads(blob["key"]), write=False)
            cache._loaded, cache._said = dict(blob["splits"]), True
        except Exception:  # noqa: BLE001 - missing, partial or corrupt: no cache
            return None
        return cache

    def split_names(self) -> list[str]:
        """The splits this cache holds for its key."""
        return list(self._load())

    def cached_split(self, name: str) -> list[dict[str, Any]] | None:
        """The tokenized `name` split as stored, whatever its size; None when not held."""
        entry = self._load().get(name)
        got = self.features(name, len(entry["lengths"])) if entry and "lengths" in entry else None
        return got[0] if got else None

    def holds_key(self) -> bool:
        """Whether tokens.pt holds this key (when not, one info line has said why)."""
        return bool(self._load())

    def features(self, name: str, n_examples: int) -> tuple[list[dict[str, Any]], dict[str, int]] | None:
        """The tokenized `name` split (features, stats) when cached for this key, else None."""
        entry = self._load().get(name)
        if not entry:
            return None
        try:
            lengths = entry["lengths"].numpy().astype(np.int64)
            ids = entry["input_ids"].numpy()
            if len(lengths) != n_examples or int(lengths.sum()) != len(ids):
                return None
            stats = {k: int(v) for k, v in entry["stats"].items()}
            if "masked" in entry:
                return TokenRows(ids, lengths, entry["masked"].numpy()), stats
            return TokenRows.build(_unpacked(entry, ids.tolist(), lengths.tolist())), stats
        except Exception:  # noqa: BLE001 - a malformed entry is a miss
            return None

    def save_features(self, splits: dict[str, tuple[list[dict[str, Any]], dict[str, int]]]) -> None:
        """Store every split (name -> (features, stats)) under this key, replacing what was there."""
        if not self.write:
            return
        blob: dict[str, Any] = {"key": json.dumps(self.key, sort_keys=True, default=str), "splits": {}}
        for name, (feats, stats) in splits.items():
            blob["splits"][name] = _packed(feats, stats)
            self._remember_fingerprint(name, blob["splits"][name])
        try:
            atomic_write(self.tokens_path, lambda tmp: torch.save(blob, tmp))
        except OSError as exc:
            log.warning("could not write the tokenized-data cache %s (%s); the next start tokenizes again",
                        self.tokens_path, exc)

    def _remember_fingerprint(self, name: str, entry: dict[str, Any]) -> None:
        """The row hashes of a split just packed, taken from its arrays while they exist
        (tuneguard.data.identity records their fingerprint at the run's start, and the start gate
        compares their digest, without converting the rows again)."""
        try:
            self._hashes[name] = packed_row_hashes(entry)
        except Exception as exc:  # noqa: BLE001 - the identity falls back to the rows; the cache is unaffected
            log.warning("could not fingerprint the packed %s rows (%s: %s)", name, type(exc).__name__, exc)

    def rows(self, name: str) -> int | None:
        """How many rows of the `name` split this cache holds; None when it holds none."""
        entry = self._load().get(name)
        return len(entry["lengths"]) if entry and "lengths" in entry else None

    def row_hashes(self, name: str, rows: int | None = None) -> np.ndarray | None:
        """The row hashes in order (tuneguard.data.fingerprint) of the `name` split this cache stored
        or holds, from its packed arrays; None when it holds no such split (or not of `rows` rows)."""
        if name not in self._hashes:
            entry = self._load().get(name)
            if not entry or "lengths" not in entry:
                return None
            self._remember_fingerprint(name, entry)
        got = self._hashes.get(name)
        return got if got is not None and (rows is None or len(got) == rows) else None

    def fingerprint(self, name: str, rows: int | None = None) -> str | None:
        """The rows fingerprint (tuneguard.data.fingerprint) of the `name` split this cache stored or
        holds, from its packed arrays; None when it holds no such split (or not of `rows` rows)."""
        got = self.row_hashes(name, rows)
        return combine([got]) if got is not None else None

    def audit(self, audit_cfg: dict[str, Any]) -> tuple[list[Finding], dict[str, Any], int] | None:
        """The audit's (findings, task, distinct rows) stored for this key and audit section, else None."""
        try:
            blob = json.loads(self.audit_path.read_text("utf-8"))
            if blob.get("key") != self._audit_key(audit_cfg):
                return None
            found = ([Finding.from_dict(d) for d in blob["findings"]], dict(blob["task"]), int(blob["distinct"]))
        except Exception:  # noqa: BLE001 - missing, partial or corrupt: run the audit
            return None
        errors = sum(f.severity == "error" for f in found[0])
        log.info("audit: %d finding(s) (%d error(s)) reused from %s (key matches)", len(found[0]), errors,
                 self.audit_path)
        return found

    def save_audit(self, audit_cfg: dict[str, Any], findings: list[Finding], task: dict[str, Any],
                   distinct: int) -> None:
        """Store the audit's (findings, task, distinct rows) under this key and `audit_cfg`."""
        if not self.write:
            return
        blob = {"key": self._audit_key(audit_cfg), "findings": [json_safe(f.to_dict()) for f in findings],
                "task": json_safe(task), "distinct": distinct}
        text = json.dumps(blob, default=str)

        def write(tmp: Path) -> None:
            tmp.write_text(text, "utf-8")

        try:
            atomic_write(self.audit_path, write)
        except OSError as exc:
            log.warning("could not write the audit cache %s (%s)", self.audit_path, exc)

    def _audit_key(self, audit_cfg: dict[str, Any]) -> str:
        return key_hash({"data": self.hash, "audit": audit_cfg})
