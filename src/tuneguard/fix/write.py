"""Write the cleaned copies of data files: the same format, the kept rows in their order.

A file with nothing to remove is copied byte for byte. Otherwise JSONL and CSV keep every
kept line's bytes as they were (key order, escapes, quoting, line endings, a BOM), because
re-serialising would change rows the fix did not touch; only the removed rows' lines go
(a gzipped file is rewritten decompressed, then compressed again).
JSON arrays are written back as JSON (same wrapper key), Parquet through pyarrow with the
file's schema, saved dataset folders through `datasets` (a DatasetDict keeps its other
splits). The output folder is written next to its final place and moved there at the end,
so a failure leaves no half-written folder, and an earlier `tuneguard fix` output is the
only thing it replaces.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

from tuneguard.data.load import csv_delimiter, csv_text, is_gzip, read_bytes
from tuneguard.errors import RefusedError

log = logging.getLogger(__name__)

REPORT_NAME = "fix-report.md"
REPORT_MARK = "<!-- written by tuneguard fix -->"

# One physical line with its ending, split the way csv's reader counts lines (io.StringIO
# with newline="": \r\n, \r and \n each end a line).
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class OutputRefused(RefusedError):
    """The --out folder is not one `fix` may write (a message saying what to do)."""


def is_fix_output(folder: Path) -> bool:
    """True when `folder` holds an earlier `tuneguard fix` output (its fix-report.md mark)."""
    try:
        with (folder / REPORT_NAME).open("r", encoding="utf-8") as fh:
            return REPORT_MARK in fh.read(4096)
    except OSError:
        return False


def check_out(out: Path, sources: Collection[str]) -> None:
    """Raise OutputRefused unless `out` is new, an empty folder or an earlier fix output,
    and holds none of the files being fixed."""
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise OutputRefused(f"--out {out} is a file: give a folder for the cleaned data")
        if any(out.iterdir()) and not is_fix_output(out):
            raise OutputRefused(f"--out {out} is a folder that tuneguard fix did not write and it is not empty: "
                                "give a new folder")
    else:
        ancestor = next((p for p in out.parents if p.exists()), None)
        if ancestor is not None and not ancestor.is_dir():
            raise OutputRefused(f"--out {out}: {ancestor} is a file, not a folder")
    target = out.resolve()
    for s in sources:
        src = Path(s).expanduser().resolve()
        if src == target or target in src.parents:
            raise OutputRefused(f"--out {out} holds {s}, a file being fixed: write the cleaned copies to another "
                                "folder (the originals stay untouched)")


@contextlib.contextmanager
def staged(out: Path):  # type: ignore[no-untyped-def]
    """A temporary folder beside `out` to write into; on success it becomes `out` (an earlier
    fix output there is replaced), on failure it is removed and `out` is left as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _lines(raw: bytes) -> list[bytes]:
    return _LINE.findall(raw)


def _write_jsonl(src: Path, dst: Path, drop: Collection[int]) -> None:
    # The loader numbers the pieces between b"\n" (after a BOM); the same split, rejoined.
    raw = src.read_bytes()
    bom = b"\xef\xbb\xbf" if raw.startswith(b"\xef\xbb\xbf") else b""
    parts = raw[len(bom):].split(b"\n")
    dst.write_bytes(bom + b"\n".join(p for i, p in enumerate(parts, start=1) if i not in drop))


def _csv_spans(text: str, delimiter: str = ",") -> dict[int, tuple[int, int]]:
    """Each record's last line (the loader's line number) -> its first and last line; the
    header is never a record. Blank lines before a record belong to it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    spans: dict[int, tuple[int, int]] = {}
    prev = 0
    try:
        for i, _ in enumerate(reader):
            if i:
                spans[reader.line_num] = (prev + 1, reader.line_num)
            prev = reader.line_num
    except csv.Error:
        # The loader stops at this error too and reports it as a problem at this line.
        spans[reader.line_num] = (prev + 1, reader.line_num)
    return spans


def _write_csv(src: Path, dst: Path, drop: Collection[int]) -> None:
    raw = src.read_bytes()
    text, _ = csv_text(raw, src)
    csv.field_size_limit(64 * 1024 * 1024)
    spans = _csv_spans(text, csv_delimiter(src))
    gone: set[int] = set()
    for line in drop:
        a, b = spans.get(line, (line, line))  # undecodable lines are their own span
        gone.update(range(a, b + 1))
    lines = _lines(raw)
    dst.write_bytes(b"".join(ln for i, ln in enumerate(lines, start=1) if i not in gone))


def _write_json(src: Path, dst: Path, drop: Collection[int]) -> None:
    raw = src.read_bytes()
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return _write_jsonl(src, dst, drop)  # the loader read it as JSON Lines
    holder, key = None, None
    if isinstance(obj, dict):
        key = next((k for k in ("data", "rows", "examples", "train") if isinstance(obj.get(k), list)), None)
        holder, records = (obj, obj[key]) if key else (None, [obj])
    else:
        records = obj
    kept = [r for i, r in enumerate(records, start=1) if i not in drop]
    if holder is not None and key is not None:
        holder[key] = kept
        out = holder
    else:
        out = kept if isinstance(obj, list) or kept else []
    dst.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", "utf-8")


def _write_parquet(src: Path, dst: Path, drop: Collection[int]) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    keep = [i for i in range(table.num_rows) if i + 1 not in drop]
    pq.write_table(table.take(keep), dst)


def _write_hf(src: Path, dst: Path, drop: Collection[int]) -> None:
    import datasets

    ds = datasets.load_from_disk(str(src))
    if isinstance(ds, datasets.DatasetDict):
        # The loader reads the "train" split (or the first); the others are copied as they are.
        split = "train" if "train" in ds else next(iter(ds))
        part = ds[split]
        ds[split] = part.select([i for i in range(len(part)) if i + 1 not in drop])
        ds.save_to_disk(str(dst))
        return
    ds.select([i for i in range(len(ds)) if i + 1 not in drop]).save_to_disk(str(dst))


WRITERS: dict[str, Callable[[Path, Path, Collection[int]], None]] = {
    "jsonl": _write_jsonl, "json": _write_json, "csv": _write_csv, "parquet": _write_parquet, "hf": _write_hf,
}


def write_file(kind: str, src: Path, dst: Path, drop: Collection[int]) -> None:
    """`src` without the rows at `drop` (loader line numbers) to `dst`, in `src`'s format;
    a byte-for-byte copy when there is nothing to drop."""
    if not drop:
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
        return
    if is_gzip(src):
        # The writers keep kept rows byte for byte, so they work on the decompressed file.
        with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
            plain_src, plain_dst = Path(tmp) / src.name[:-3], Path(tmp) / f"out-{src.name[:-3]}"
            plain_src.write_bytes(read_bytes(src))
            WRITERS[kind](plain_src, plain_dst, set(drop))
            dst.write_bytes(gzip.compress(plain_dst.read_bytes()))
        return
    WRITERS[kind](src, dst, set(drop))
