"""Which rows `tuneguard fix` removes, and why: the audit's faults traced to every row.

The audit says *that* a fault is there (on a sample of at most audit.max_rows rows, with a
few example rows in the evidence); this module finds *every* row of it in the whole data
files, with the audit's own functions (`duplicates.build_index`, `exact_groups`,
`near_groups`, `leakage.leaks`, `labels.is_truncated`), so "duplicate" means here exactly
what it means to the audit. Only codes the audit reported at warning or error are acted
on: info is a fact, and a code set to off in audit.severity is the user's call.

Rules (docs/FINDINGS.md, "tuneguard fix"):
- DUPLICATE_EXACT: in each group of equal rows of the training file the first row in file
  order is kept, the later copies removed.
- DUPLICATE_NEAR: in each near-duplicate cluster the text whose first row comes first in
  the file is kept (with its exact copies, unless DUPLICATE_EXACT is fixed too); every row
  of the cluster's other texts is removed.
- TRAIN_VAL_LEAKAGE: validation and test rows that occur in training (exactly or as a near
  copy) are removed from the validation / test file, never from training. When validation
  is drawn from data.train_file, a leak is a duplicate in that file: the file is
  deduplicated (exact, and near when the leaks include near copies) before the split.
- MALFORMED_ROWS: every row the loader could not use is removed (file:line and reason).
- ANSWER_TRUNCATED / EMPTY_LABELS: rows whose answer does not fit data.max_length are listed,
  and removed only with `truncation="drop"`.
A row removed for one reason is not counted again for a later one (in the order above).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from tuneguard.audit.common import SplitText
from tuneguard.catalog import Spec, T
from tuneguard.audit.duplicates import build_index, exact_groups, near_groups
from tuneguard.audit.labels import is_truncated
from tuneguard.audit.leakage import leaks
from tuneguard.config.schema import Config
from tuneguard.data.formats import Example
from tuneguard.data.load import RowProblem, Source, data_kind, source_files
from tuneguard.data.pipeline import load_examples
from tuneguard.data.tokenize import tokenize_examples
from tuneguard.findings import Finding

log = logging.getLogger(__name__)

TRUNCATION_CODES = ("ANSWER_TRUNCATED", "EMPTY_LABELS")
FAULT = ("warning", "error")

# What to do instead, for the audit codes that removing rows does not fix.
# Faults fix does not remove rows for; what to do instead is the catalog's "fix.left.CODE".
NOT_ROWS = ("LOW_DIVERSITY", "ANSWER_IN_PROMPT", "PAD_IS_EOS", "PAD_IN_LABELS", "EOS_MISSING", "PROMPT_NOT_MASKED",
            "TOKENIZER_MISMATCH")


@dataclasses.dataclass
class Drop:
    """One removed row: the code it is removed for and a few words on why (e.g. "copy of
    train.jsonl:3")."""

    code: str
    why: str


@dataclasses.dataclass
class DataFile:
    """One data file of the config and the rows to remove from it, by line (the loader's
    line: the JSONL/CSV line, or the record number of JSON, Parquet and dataset folders).
    A source of several files (a list, a folder of shards, a glob pattern) is one DataFile
    per file, each with the role and key of its source."""

    role: str  # train, validation, test
    key: str  # data.train_file ...
    path: str
    kind: str  # jsonl, json, csv, parquet, hf
    records: int
    drops: dict[int, Drop] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def ident(self) -> str:
        """The file in its role (a file given as training and validation data is two DataFiles)."""
        return f"{self.role}:{self.path}"

    @property
    def kept(self) -> int:
        return self.records - len(self.drops)

    def removed(self, code: str | None = None) -> int:
        return sum(1 for d in self.drops.values() if code is None or d.code == code)


@dataclasses.dataclass
class Group:
    """A duplicate group as the report lists it: the row kept and the rows removed."""

    kept: str
    removed: list[str]


@dataclasses.dataclass
class FixPlan:
    files: list[DataFile]  # in the order of the config's sources and of each source's files
    exact: list[Group]
    near: list[Group]
    leaked: list[tuple[str, str, str]]  # (removed row, training row it repeats, exact|near)
    malformed: list[tuple[str, str]]  # (row, reason)
    truncated: list[str]  # rows whose answer does not fit data.max_length
    truncation_dropped: bool
    acted_on: list[str]  # the codes whose rows were removed
    left: list[tuple[Finding, Spec]]  # faults fix does not remove rows for, with what to do instead
    notes: list[Spec]  # decisions about the data (catalog specs: the report renders them in its language)
    max_length: int
    sources: dict[str, Source] = dataclasses.field(default_factory=dict)  # role -> the config's value

    def removed(self) -> int:
        return sum(len(f.drops) for f in self.files)

    def by_code(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for d in f.drops.values():
                out[d.code] = out.get(d.code, 0) + 1
        return out

    def of_role(self, role: str) -> list[DataFile]:
        return [f for f in self.files if f.role == role]

    def several(self, role: str) -> bool:
        """Whether the role's source names several files (its fixed config lists their copies)."""
        source = self.sources.get(role)
        return source is not None and (isinstance(source, list) or data_kind(Path(str(source)).expanduser()) == "files")


def _absolute(file: str) -> str:
    return str(Path(file).expanduser().absolute())


def _shown_names(paths: list[str]) -> dict[str, str]:
    """How rows name their file in the report: its name, or, where two files of the config
    share a name (data/2024/train.jsonl, data/2025/train.jsonl), its path below their common folder."""
    names = [Path(p).name for p in paths]
    if len(set(names)) == len(names):
        return dict(zip(paths, names, strict=True))
    common = Path(os.path.commonpath([str(Path(p).parent) for p in paths]))
    return {p: str(Path(p).relative_to(common)) for p in paths}


def plan_fix(cfg: Config, findings: list[Finding], tokenizer: Any, truncation: str = "keep") -> FixPlan:
    """The rows to remove from each data file of `cfg`, given the audit's `findings` (of the
    same config) and the tokenizer training uses. Raises DataError for unreadable files."""
    planner = _Planner(cfg, findings, tokenizer)
    planner.drop_malformed()
    index = build_index([SplitText.build(role, planner.examples[role]) for role in planner.roles], cfg.audit)
    planner.drop_duplicates(index)
    planner.drop_leaked(index)
    planner.find_truncated(truncation)
    left = [(f, T(f"fix.left.{f.code}")) for f in findings if f.code in NOT_ROWS and f.severity in FAULT]
    return FixPlan(planner.files, planner.exact, planner.near, planner.leaked, planner.malformed, planner.truncated,
                   planner.dropping, planner.acted, left, planner.notes, cfg.data.max_length, planner.sources)


class _Planner:
    """The rows of each file and the drops decided so far, one fault family at a time, in the
    order the report lists them (a row is dropped for its first fault only)."""

    def __init__(self, cfg: Config, findings: list[Finding], tokenizer: Any) -> None:
        self.dcfg, self.tokenizer = cfg.data, tokenizer
        self.faulted = {f.code for f in findings if f.severity in FAULT}
        self.found = {f.code: f for f in findings}
        self.files: list[DataFile] = []
        self.examples: dict[str, list[Example]] = {}
        self.problems: dict[str, list[RowProblem]] = {}
        self.sources: dict[str, Source] = {}
        self._paths: dict[str, str] = {}  # a row's file as the loader names it -> the absolute path
        self._load()
        self.roles = list(self.sources)
        self.by_ident = {f.ident: f for f in self.files}
        self.shown = _shown_names([f.path for f in self.files])
        self.notes: list[Spec] = []
        self.acted: list[str] = []
        self.malformed: list[tuple[str, str]] = []
        self.exact: list[Group] = []
        self.near: list[Group] = []
        self.leaked: list[tuple[str, str, str]] = []
        self.truncated: list[str] = []
        self.dropping = False

    def _load(self) -> None:
        dcfg = self.dcfg
        fmt: str | None = None
        for role, key, source in (("train", "data.train_file", dcfg.train_file),
                                  ("validation", "data.validation_file", dcfg.validation_file),
                                  ("test", "data.test_file", dcfg.test_file)):
            if not source:
                continue
            ex, probs, _, fmt = load_examples(source, dcfg, self.tokenizer, fmt)
            # Each file's records: its rows (examples and rows the format refused) and its bad lines.
            records = collections.Counter(self.path_of(r.file) for r in [*ex, *probs])
            for f in source_files(source):
                full = _absolute(str(f))
                self.files.append(DataFile(role, key, full, data_kind(Path(full)) or "jsonl", records[full]))
            self.sources[role] = source
            self.examples[role], self.problems[role] = ex, probs

    def path_of(self, file: str) -> str:
        """The absolute path of a row's file (rows name it as their source did: relative, with ~)."""
        if file not in self._paths:
            self._paths[file] = _absolute(file)
        return self._paths[file]

    def where(self, file: str, line: int | None) -> str:
        """A row as the report names it: "train.jsonl:4"."""
        name = self.shown.get(self.path_of(file), Path(file).name)
        return f"{name}:{line}" if line is not None else name

    def drop(self, role: str, file: str, line: int | None, code: str, why: str) -> bool:
        f = self.by_ident[f"{role}:{self.path_of(file)}"]
        if line is None or line in f.drops:
            return False
        f.drops[line] = Drop(code, why)
        return True

    def dropped(self, role: str, ex: Example) -> bool:
        return ex.line in self.by_ident[f"{role}:{self.path_of(ex.file)}"].drops

    def drop_malformed(self) -> None:
        if "MALFORMED_ROWS" not in self.faulted:
            return
        self.acted.append("MALFORMED_ROWS")
        order = {f.ident: k for k, f in enumerate(self.files)}
        for role in self.roles:
            for p in sorted(self.problems[role], key=lambda p: (order.get(f"{role}:{self.path_of(p.file)}", -1),
                                                                p.line if p.line is not None else -1)):
                if self.drop(role, p.file, p.line, "MALFORMED_ROWS", p.reason):
                    self.malformed.append((self.where(p.file, p.line), p.reason))

    def drop_duplicates(self, index: Any) -> None:
        """Exact and near copies within the training file (also when validation is drawn from
        it and its leaked rows are such copies)."""
        leak = self.found.get("TRAIN_VAL_LEAKAGE")
        leak_faulted, from_train = "TRAIN_VAL_LEAKAGE" in self.faulted, not self.dcfg.validation_file
        leak_splits = (leak.evidence or {}).get("splits", {}) if leak is not None else {}
        near_leaks = any((s or {}).get("near") for s in leak_splits.values())
        if leak_faulted and from_train:
            self.notes.append(T("fix.note.leak_split", which=T("fix.note.exact_near" if near_leaks else "fix.note.exact")))
        train_ex = self.examples["train"]
        if "DUPLICATE_EXACT" in self.faulted or (leak_faulted and from_train):
            self.acted.append("DUPLICATE_EXACT")
            for rows in exact_groups(index, "train"):
                kept = self.where(train_ex[rows[0]].file, train_ex[rows[0]].line)
                gone = [train_ex[r] for r in rows[1:] if self.drop("train", train_ex[r].file, train_ex[r].line,
                                                                   "DUPLICATE_EXACT", f"copy of {kept}")]
                if gone:
                    self.exact.append(Group(kept, [self.where(e.file, e.line) for e in gone]))
        if "DUPLICATE_NEAR" in self.faulted or (leak_faulted and from_train and near_leaks):
            self.acted.append("DUPLICATE_NEAR")
            for cluster in near_groups(index, "train"):
                first = train_ex[cluster[0][0]]
                kept = self.where(first.file, first.line)
                gone = [train_ex[r] for rows in cluster[1:] for r in rows
                        if self.drop("train", train_ex[r].file, train_ex[r].line, "DUPLICATE_NEAR",
                                     f"near copy of {kept}")]
                if gone:
                    self.near.append(Group(kept, [self.where(e.file, e.line) for e in gone]))

    def drop_leaked(self, index: Any) -> None:
        """Validation and test rows that repeat a training row (training keeps its rows)."""
        if "TRAIN_VAL_LEAKAGE" not in self.faulted:
            return
        train_ex = self.examples["train"]
        for role in ("validation", "test"):
            if role not in self.sources:
                continue
            is_exact, is_near, source = leaks(index, role)
            for r in np.flatnonzero(is_exact | is_near).tolist():
                ex, kind = self.examples[role][r], "exact" if is_exact[r] else "near"
                repeated = train_ex[int(source[r])]
                of = self.where(repeated.file, repeated.line)
                why = f"{'repeats' if kind == 'exact' else 'near copy of'} {of}"
                if self.drop(role, ex.file, ex.line, "TRAIN_VAL_LEAKAGE", why):
                    self.leaked.append((self.where(ex.file, ex.line), of, kind))
        if "TRAIN_VAL_LEAKAGE" not in self.acted:
            self.acted.append("TRAIN_VAL_LEAKAGE")

    def find_truncated(self, truncation: str) -> None:
        """Training rows whose answer does not fit data.max_length; dropped with `drop`."""
        trunc_codes = [c for c in TRUNCATION_CODES if c in self.found]
        self.dropping = truncation == "drop" and bool(trunc_codes)
        if not trunc_codes:
            return
        dcfg, train_ex = self.dcfg, self.examples["train"]
        feats, _ = tokenize_examples(self.tokenizer, train_ex, dcfg.max_length, dcfg.train_on_prompt)
        eos = self.tokenizer.eos_token_id
        for ex, feat in zip(train_ex, feats, strict=False):
            if not is_truncated(feat, eos, dcfg.max_length) or self.dropped("train", ex):
                continue
            self.truncated.append(self.where(ex.file, ex.line))
            if self.dropping:
                self.drop("train", ex.file, ex.line, trunc_codes[0], f"the answer does not fit data.max_length ({dcfg.max_length})")
        if self.dropping:
            self.acted += trunc_codes
