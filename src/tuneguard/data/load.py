"""Read rows from JSONL, JSON, CSV/TSV (each also gzipped), Parquet files and saved Hugging Face dataset folders.

Every row keeps where it came from (file and line) so that every later message can point
at it. Bad rows (broken JSON, undecodable bytes, not an object) are collected as
`RowProblem`s instead of raising: the caller decides whether to skip them or refuse.
JSONL is parsed line by line by hand because `datasets`' JSON loader stops at the first
bad line without saying which one.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import gzip
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from tuneguard.catalog import say
from tuneguard.errors import UsageError

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64


@dataclasses.dataclass
class RowProblem:
    """A row that could not be used, with where it is and why."""

    file: str
    line: int | None
    reason: str
    # "fields": the row holds none of the fields of the file's format (a mapping to set, not
    # a row to repair); "" for every other fault.
    kind: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


@dataclasses.dataclass
class Row:
    data: dict[str, Any]
    file: str
    line: int | None  # 1-based line (JSONL, CSV) or record index + 1


@dataclasses.dataclass
class LoadedFile:
    rows: list[Row]
    problems: list[RowProblem]
    path: str


class DataError(UsageError):
    """Data the user must fix before training (missing file, too many bad rows)."""


class NoUsableRows(DataError):
    """Every row of the training data is malformed: nothing to train on or to audit but the
    problems themselves (the audit reports them as MALFORMED_ROWS)."""

    def __init__(self, message: str, problems: list[RowProblem], rows_read: int):
        super().__init__(message)
        self.problems = problems
        self.rows_read = rows_read


# --- bad rows, grouped: one reason once, with its line numbers -------------------------

_DETAIL = re.compile(r"\s*\(.*\)$|\s+at byte \d+$|\s+at position \d+\)?$")


def reason_kind(reason: str) -> str:
    """A problem's reason without its per-row detail ("invalid JSON (Expecting ...)" -> "invalid JSON")."""
    return _DETAIL.sub("", reason) or reason


def line_ranges(lines: list[int], limit: int = 8) -> str:
    """Sorted line numbers as ranges: [1, 2, 3, 7] -> "1-3, 7"; at most `limit` ranges, then "+N more"."""
    nums = sorted(set(lines))
    ranges: list[tuple[int, int]] = []
    for n in nums:
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    shown = [f"{a}-{b}" if b > a else str(a) for a, b in ranges[:limit]]
    rest = sum(b - a + 1 for a, b in ranges[limit:])
    return ", ".join(shown) + (f" (+{rest} more)" if rest else "")


def group_problems(problems: list[RowProblem]) -> list[dict[str, Any]]:
    """Problems grouped by file and kind of reason, largest group first: each with `file`,
    `reason` (the full reason when every row in the group shares it), `count`, `lines`
    and `where` ("train.jsonl lines 1-200")."""
    groups: dict[tuple[str, str], list[RowProblem]] = {}
    for p in problems:
        groups.setdefault((p.file, reason_kind(p.reason)), []).append(p)
    out = []
    for (file, kind), ps in groups.items():
        reasons = {p.reason for p in ps}
        lines = [p.line for p in ps if p.line is not None]
        label = "line" if len(lines) == 1 else "lines"
        out.append({"file": file, "reason": reasons.pop() if len(reasons) == 1 else kind, "count": len(ps),
                    "lines": sorted(lines), "where": f"{file} {label} {line_ranges(lines)}" if lines else file})
    return sorted(out, key=lambda g: -g["count"])


def describe_problems(problems: list[RowProblem], total: int, max_groups: int = 5) -> str:
    """One line for many bad rows, one part per reason: "200 of 200 rows: missing field
    'instruction' (train.jsonl lines 1-200)", or "train.jsonl:4: invalid JSON (...)" for a single row."""
    groups = group_problems(problems)
    parts = []
    for g in groups[:max_groups]:
        if g["count"] == 1 and len(g["lines"]) == 1:
            parts.append(f"{g['file']}:{g['lines'][0]}: {g['reason']}")
        else:
            parts.append(f"{g['count']} of {total} rows: {g['reason']} ({g['where']})")
    rest = groups[max_groups:]
    if rest:
        parts.append(f"{sum(g['count'] for g in rest)} more rows with {len(rest)} other reason(s)")
    return "; ".join(parts)


# A data source as the config names it: one path (file, folder or glob pattern) or a list of them.
Source = str | list[str]


def source_parts(source: Source) -> list[str]:
    """The paths a source names, in order: the list's elements, or the one path."""
    return [str(p) for p in source] if isinstance(source, list) else [str(source)]


def source_name(source: Source) -> str:
    """A source as messages name it: the path, or a list's paths joined with ", "."""
    return ", ".join(source_parts(source))


def check_sources(train_file: Source | None, validation_file: Source | None = None,
                  test_file: Source | None = None) -> None:
    """What can be checked about the data files without reading them or loading a tokenizer
    (which may mean a minute of hub retries without a network): set, present, readable kinds."""
    if not train_file:
        raise DataError("data.train_file is not set: point it at a JSONL/JSON/CSV/Parquet file or a saved "
                        "dataset folder (in the config, or --set data.train_file=PATH)")
    for key, value in (("data.train_file", train_file), ("data.validation_file", validation_file),
                       ("data.test_file", test_file)):
        for part in source_parts(value) if value else []:
            _check_path(part, key)


def is_pattern(path_str: str) -> bool:
    """Whether a data path is a glob pattern (shards/*.jsonl) rather than a file that exists.
    Only * and ? make one: brackets are common in real file names (train[v2].jsonl), and a
    missing file of that name must be said to be missing."""
    return ("*" in path_str or "?" in path_str) and not Path(path_str).expanduser().exists()


def _glob_pattern(path_str: str) -> str:
    """A data pattern as `glob` reads it: brackets are part of a name here (data/[2024]/*.jsonl),
    while glob would read [2024] as one of the characters 2, 0, 4; so each [ is escaped the
    way glob.escape does it ([[]). glob.escape itself would also escape the * and ?."""
    return path_str.replace("[", "[[]")


def _check_path(path_str: str, key: str) -> Path:
    path = Path(path_str).expanduser()
    if is_pattern(path_str):
        files = source_files(path_str)
        if not files:
            raise DataError(f"no data file matches {path_str}: check {key}")
        for f in files:
            _check_path(str(f), key)
        return path
    if not path.exists():
        if path.is_symlink():
            raise DataError(f"data file {path_str} is a symbolic link that leads nowhere (a loop or a missing "
                            f"target): check {key}")
        where = ""
        if not path.is_absolute():
            # The usual cause: a path relative to another directory than the one it is read from.
            where = (f" (looked for {path.absolute()}; a path in a config file is relative to that file, one "
                     "given with --set to the current directory)")
        raise DataError(f"data file {path_str} does not exist{where}: check {key}")
    if not path.is_dir() and not path.is_file():
        # A FIFO would block forever and /dev/zero would fill memory: only regular files are data.
        raise DataError(f"data file {path_str} is not a regular file (a device, FIFO or socket): "
                        f"point {key} at a data file")
    if not os.access(path, os.R_OK):
        raise DataError(f"cannot read data file {path_str}: permission denied ({key})")
    return path


def _depth(obj: Any, limit: int = MAX_JSON_DEPTH) -> int:
    stack = [(obj, 1)]
    deepest = 0
    while stack:
        o, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return deepest


def is_gzip(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _utf16_without_bom(head: bytes) -> bool:
    """Two ASCII characters as UTF-16 (little- or big-endian): every other byte is NUL."""
    if len(head) < 4:
        return False
    zeros = [b == 0 for b in head]
    return zeros in ([False, True, False, True], [True, False, True, False])


def read_bytes(path: Path) -> bytes:
    """A data file's bytes, decompressed when its name ends in .gz (data.jsonl.gz). Bytes that
    are not UTF-8 text for a reason the name hides (gzip under a plain name, UTF-16 as Windows
    editors save it) are refused with one line: read as lines, every row would be "malformed"."""
    raw = path.read_bytes()
    if is_gzip(path):
        try:
            raw = gzip.decompress(raw)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc}); decompress it or drop the .gz suffix") from None
    check_head(raw[:4], path)
    return raw


def check_head(head: bytes, path: Path) -> None:
    """Refuse, with one line, a file whose first bytes show it is not UTF-8 text: gzip under a
    plain name, or UTF-16 (with or without its byte-order mark)."""
    if not is_gzip(path) and head.startswith(GZIP_MAGIC):
        raise DataError(say("input.gzip_unnamed", path=str(path), renamed=f"{path.name}.gz"))
    if head.startswith(UTF16_BOMS) or _utf16_without_bom(head):
        raise DataError(say("input.utf16", path=str(path)))


def csv_delimiter(path: Path) -> str:
    """Tab for .tsv (and .tsv.gz) files, comma otherwise."""
    return "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else ","


def _lines(path: Path) -> Iterator[bytes]:
    """A JSON Lines file's lines as `bytes.split(b"\\n")` gives them, read from the file as they come
    (a .gz file from its decompressed bytes): a million-row file's bytes and its lines are never
    all in memory together."""
    with io.BytesIO(read_bytes(path)) if is_gzip(path) else path.open("rb") as fh:
        if not is_gzip(path):  # read_bytes checked a .gz file's decompressed head already
            check_head(fh.read(4), path)
            fh.seek(0)
        for line in fh:
            yield line[:-1] if line.endswith(b"\n") else line


def _read_jsonl(path: Path) -> LoadedFile:
    problems: list[RowProblem] = []
    rows = list(_jsonl_rows(path, problems))
    return LoadedFile(rows, problems, str(path))


def jsonl_lines(path: Path, only: Collection[int]) -> Iterator[Row]:
    """The rows at these line numbers of a JSON Lines file, the only lines parsed (tuneguard.data.sampled)."""
    return _jsonl_rows(path, [], only)


def _jsonl_rows(path: Path, problems: list[RowProblem], only: Collection[int] | None = None) -> Iterator[Row]:
    """A JSON Lines file's rows as they are read, its bad rows appended to `problems`."""
    name = str(path)  # one string for every row of the file
    for i, line in enumerate(_lines(path), start=1):
        if only is not None and i not in only:
            continue
        if i == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(RowProblem(name, i, f"invalid UTF-8 at byte {exc.start}"))
            continue
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            problems.append(RowProblem(name, i, f"invalid JSON ({msg})"))
            continue
        if not isinstance(obj, dict):
            problems.append(RowProblem(name, i, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        if _depth(obj) > MAX_JSON_DEPTH:
            problems.append(RowProblem(name, i, f"nested deeper than {MAX_JSON_DEPTH} levels"))
            continue
        yield Row(obj, name, i)


def _read_json(path: Path) -> LoadedFile:
    raw = read_bytes(path)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: invalid UTF-8 at byte {exc.start}; save the file as UTF-8") from None
    except (json.JSONDecodeError, RecursionError):
        # Many ".json" files are really JSON Lines.
        return _read_jsonl(path)
    if isinstance(obj, dict):
        for key in ("data", "rows", "examples", "train"):
            if isinstance(obj.get(key), list):
                obj = obj[key]
                break
        else:
            obj = [obj]
    if not isinstance(obj, list):
        raise DataError(f"{path}: expected a list of objects, got {type(obj).__name__}")
    rows, problems = [], []
    for i, o in enumerate(obj, start=1):
        if isinstance(o, dict) and _depth(o) <= MAX_JSON_DEPTH:
            rows.append(Row(o, str(path), i))
        else:
            problems.append(RowProblem(str(path), i, f"record {i} is not a JSON object"))
    return LoadedFile(rows, problems, str(path))


def csv_text(raw: bytes, path: Path) -> tuple[str, list[RowProblem]]:
    """A CSV file's text as the reader parses it, and its undecodable lines as problems
    (tuneguard.fix maps records back to lines through the same text)."""
    problems: list[RowProblem] = []
    try:
        return raw.decode("utf-8-sig"), problems
    except UnicodeDecodeError:
        # Keep the good lines; report the undecodable ones by line number.
        lines = raw.split(b"\n")
        good = []
        for i, ln in enumerate(lines, start=1):
            try:
                good.append(ln.decode("utf-8-sig"))
            except UnicodeDecodeError as exc:
                problems.append(RowProblem(str(path), i, f"invalid UTF-8 at byte {exc.start}"))
                good.append("")
        return "\n".join(good), problems


def _read_csv(path: Path) -> LoadedFile:
    text, problems = csv_text(read_bytes(path), path)
    csv.field_size_limit(64 * 1024 * 1024)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=csv_delimiter(path))
    rows: list[Row] = []
    try:
        for rec in reader:
            line = reader.line_num
            if None in rec:
                problems.append(RowProblem(str(path), line, "more fields than the header"))
                continue
            if all(v in (None, "") for v in rec.values()):
                continue
            rows.append(Row({k: v for k, v in rec.items() if k is not None}, str(path), line))
    except csv.Error as exc:
        problems.append(RowProblem(str(path), reader.line_num, f"CSV error: {exc}"))
    return LoadedFile(rows, problems, str(path))


def _records_from_dataset(ds: Any, path: Path) -> LoadedFile:
    return LoadedFile([Row(dict(r), str(path), i) for i, r in enumerate(ds, start=1)], [], str(path))


def _read_parquet(path: Path) -> LoadedFile:
    import datasets

    try:
        ds = datasets.Dataset.from_parquet(str(path))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
        raise DataError(f"{path}: cannot read Parquet ({type(exc).__name__}: {exc})") from None
    return _records_from_dataset(ds, path)


def _read_hf_dir(path: Path) -> LoadedFile:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: not a saved Hugging Face dataset ({exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        others = [k for k in ds if k != split]
        # Each split is a dataset folder of its own, so another split is used by pointing at it.
        hint = f"; to use another split, point data.validation_file at {path / others[0]}" if others else ""
        log.info("%s is a DatasetDict with splits %s; reading %r%s", path, ", ".join(ds), split, hint)
        ds = ds[split]
    return _records_from_dataset(ds, path)


HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
SPLIT_NAMES = ("train", "validation", "valid", "val", "dev", "test", "eval")


def _file_split(path: Path) -> str | None:
    """The split a hub export names in a file's name or folder: train-00000-of-00001.parquet,
    validation.jsonl, train/part-0.jsonl."""
    stem = path.name.split(".")[0].lower()
    for name in (stem.split("-")[0].split("_")[0], path.parent.name.lower()):
        if name in SPLIT_NAMES:
            return name
    return None


def source_files(source: Source) -> list[Path]:
    """The data files a source names, in order: a glob pattern's matches, the data files in a
    folder that is not a saved dataset (a hub export: data/train-00000-of-00002.parquet ...,
    only the train split's when the names say which split each holds), or the source itself;
    for a list, each element's files in the list's order."""
    if isinstance(source, list):
        return [f for part in source for f in source_files(part)]
    path_str = source
    path = Path(path_str).expanduser()
    if is_pattern(path_str):
        found = [Path(p) for p in sorted(glob.glob(_glob_pattern(str(path)), recursive=True))]
        return [p for p in found if p.is_file()]
    if not path.is_dir() or any((path / m).exists() for m in HF_MARKERS):
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and data_kind(p) not in (None, "hf")
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    splits = {p: _file_split(p.relative_to(path)) for p in found}
    if "train" in splits.values():
        others = sorted({s for s in splits.values() if s not in (None, "train")})
        if others:
            log.info("%s holds the splits %s; reading the train files (for another split, point "
                     "data.validation_file at a pattern such as %s)", path_str, ", ".join(["train", *others]),
                     path / "**" / f"{others[0]}*")
        found = [p for p in found if splits[p] == "train"]
    return found


def data_kind(path: Path) -> str | None:
    """How a data source is read: jsonl, json, csv, parquet, hf (a saved dataset folder) or
    files (a folder of data files, or a glob pattern); None for an unknown suffix."""
    if is_pattern(str(path)):
        return "files"
    if path.is_dir():
        return "hf" if any((path / m).exists() for m in HF_MARKERS) else "files"
    suffix = (path.suffixes[-2] if len(path.suffixes) > 1 else "").lower() if is_gzip(path) else path.suffix.lower()
    if is_gzip(path) and suffix in (".parquet", ".pq"):
        return None  # Parquet compresses inside the file; a gzipped one is not read
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv",
            ".parquet": "parquet", ".pq": "parquet"}.get(suffix)


def _shard_files(path_str: str) -> list[Path]:
    """The data files of a folder or glob pattern; DataError when it holds none."""
    files = source_files(path_str)
    if not files:
        raise DataError(f"{path_str}: not a saved Hugging Face dataset, and no data files in it (.jsonl, .json, "
                        ".csv, .tsv, .parquet, each also gzipped)")
    return files


def _read_files(path_str: str) -> LoadedFile:
    """Every data file of a folder or glob pattern (shards), each row keeping its own file and line."""
    files = _shard_files(path_str)
    rows: list[Row] = []
    problems: list[RowProblem] = []
    for f in files:
        one = read_rows(str(f))
        rows += one.rows
        problems += one.problems
    return LoadedFile(rows, problems, path_str)


def iter_rows(source: Source, problems: list[RowProblem]) -> Iterator[Row]:
    """read_rows' rows one at a time, its problems appended to `problems` as they are met. A JSON
    Lines file is read as it is iterated, so that a caller converting each row need not hold
    them all (a million rows as dicts are gigabytes); a list, a folder or a glob pattern one file
    at a time (a JSON Lines shard as it is iterated, another kind of shard whole, then the next);
    other files are read whole first."""
    if isinstance(source, list):
        for part in source:
            yield from iter_rows(part, problems)
        return
    path = _check_path(source, "data.train_file / validation_file / test_file")
    if data_kind(path) == "files":
        for f in _shard_files(source):
            yield from iter_rows(str(f), problems)
        return
    if data_kind(path) == "jsonl":
        try:
            yield from _jsonl_rows(path, problems)
        except OSError as exc:
            raise DataError(f"cannot read {source}: {exc.strerror or exc}") from None
        return
    loaded = read_rows(source)
    problems += loaded.problems
    yield from loaded.rows


def read_rows(source: Source) -> LoadedFile:
    """Read one data source (a list: each element in order, each row keeping its own file and
    line). Raises DataError for problems with a file as a whole."""
    if isinstance(source, list):
        parts = [read_rows(p) for p in source]
        return LoadedFile([r for p in parts for r in p.rows], [q for p in parts for q in p.problems],
                          source_name(source))
    path_str = source
    path = _check_path(path_str, "data.train_file / validation_file / test_file")
    kind = data_kind(path)
    if kind == "files":
        return _read_files(path_str)
    readers = {"hf": _read_hf_dir, "jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv,
               "parquet": _read_parquet}
    if kind is None:
        suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
        raise DataError(f"{path_str}: unknown data format {suffix!r}; use .jsonl, .json, .csv, .tsv (each also "
                        "gzipped: .jsonl.gz), .parquet or a saved Hugging Face dataset folder")
    try:
        return readers[kind](path)
    except OSError as exc:
        raise DataError(f"cannot read {path_str}: {exc.strerror or exc}") from None
