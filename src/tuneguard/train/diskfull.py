"""A full disk: recognise it, clean up what it left, and tell the user what to do.

A full disk shows up in many shapes: `OSError(ENOSPC)` from Python writes, SQLite's
"database or disk is full", safetensors' "No space left on device (os error 28)", and
torch.save's "[enforce fail at inline_container.cc] unexpected pos N vs M", which does not
mention the disk at all. So besides the error itself we look at the free space: an error
raised while the run directory has less room than one checkpoint needs is a full disk.

The message names what was being written, how much space one checkpoint of this run takes
(the newest complete checkpoint's size), how much is free, and which checkpoint the run
can continue from. The incomplete checkpoint the failure left behind is deleted: it can
never be resumed from and it holds the space the next try needs.
"""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
from pathlib import Path

from tuneguard.checkpoints import (
    checkpoint_bytes,
    checkpoint_step,
    is_complete,
    latest_checkpoint,
    remove_checkpoint,
)
from tuneguard.catalog import render
from tuneguard.errors import TuneguardError
from tuneguard.store.invocation import Invocation, resume_advice, stored_invocation

log = logging.getLogger(__name__)

_FULL_TEXTS = ("no space left on device", "os error 28", "disk is full", "disk quota exceeded")
MIN_FREE_BYTES = 1 << 20  # below this, any write error on the run directory is a full disk


class DiskFull(TuneguardError):
    """Raised where the caller knows what it was writing (e.g. the report)."""

    def __init__(self, writing: str, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.writing = writing
        self.__cause__ = cause


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen and len(seen) < 10:
        seen.append(e)
        e = e.__cause__ or e.__context__
    return seen


def free_bytes(path: Path) -> int | None:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _free_for_run(run_dir: Path) -> tuple[int, Path] | None:
    """(free bytes, where): the fuller of the run directory's disk and that of its
    checkpoints/ (often a link to another disk, e.g. a mounted drive)."""
    places = [(f, p) for p in (Path(run_dir), Path(run_dir) / "checkpoints") if (f := free_bytes(p)) is not None]
    return min(places, key=lambda x: x[0]) if places else None


def is_disk_full(exc: BaseException, run_dir: Path) -> bool:
    """Whether `exc` (or what caused it) means the run directory's disk is full."""
    for e in _chain(exc):
        if isinstance(e, DiskFull):
            return True
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(e, sqlite3.Error) and getattr(e, "sqlite_errorcode", None) == getattr(sqlite3, "SQLITE_FULL", 13):
            return True
        if any(t in str(e).lower() for t in _FULL_TEXTS):
            return True
    found = _free_for_run(run_dir)
    if found is None:
        return False
    free = found[0]
    newest = latest_checkpoint(Path(run_dir) / "checkpoints")
    needed = max(MIN_FREE_BYTES, checkpoint_bytes(newest) if newest else 0)
    return free < needed


def _what(exc: BaseException, run_dir: Path, partial: list[Path]) -> str:
    for e in _chain(exc):
        if isinstance(e, DiskFull):
            return e.writing
    for e in _chain(exc):
        if isinstance(e, sqlite3.Error):
            return "the run store (run.db)"
        name = getattr(e, "filename", None)
        if isinstance(e, OSError) and name:
            try:
                return str(Path(name).resolve().relative_to(run_dir))
            except ValueError:
                return str(name)
    if partial:
        return partial[-1].name
    return "the run directory"


def fmt_bytes(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1024
        if n < 1024 or unit == "TB":
            break
    return f"{n:.1f} {unit}"


def handle_disk_full(exc: BaseException, run_dir: Path, invocation: Invocation | None = None) -> str | None:
    """If `exc` is a full disk: delete the incomplete checkpoint(s) newer than the newest
    complete one and return a message for the user; otherwise None (and touch nothing).
    `invocation`: the command that started the run (else the one its store holds), which the
    message repeats with --resume auto."""
    run_dir = Path(run_dir)
    if not is_disk_full(exc, run_dir):
        return None
    ckpts = run_dir / "checkpoints"
    newest = latest_checkpoint(ckpts)
    newest_step = checkpoint_step(newest) if newest else -1
    partial = sorted((p for p in (ckpts.iterdir() if ckpts.is_dir() else [])
                      if p.is_dir() and (checkpoint_step(p) or -1) > (newest_step or -1) and not is_complete(p)),
                     key=lambda p: checkpoint_step(p) or 0)
    writing = _what(exc, run_dir, partial)
    partial_size = max((checkpoint_bytes(p) for p in partial), default=0)
    for p in partial:
        log.info("removing the incomplete %s to free its space", p)
        remove_checkpoint(p)
    found = _free_for_run(run_dir)
    where = f"{fmt_bytes(found[0])} free in {found[1]}" if found is not None else f"free space unknown in {run_dir}"
    if newest is not None:
        need = (f"a checkpoint of this run needs about {fmt_bytes(checkpoint_bytes(newest))} "
                f"(the size of {newest.name}); {where}")
        command = render(resume_advice(invocation or stored_invocation(run_dir), run_dir))
        resume = f"{newest.name} is complete and intact: free space, then continue from it with {command}"
    else:
        need = (f"no checkpoint was complete yet (the one being written had reached {fmt_bytes(partial_size)}); "
                f"{where}")
        resume = "free space and start the run again"
    cause = next((e for e in _chain(exc) if not isinstance(e, DiskFull)), exc)
    return f"disk full while writing {writing} ({type(cause).__name__}: {str(cause)[:200]}): {need}. {resume}"
