"""Checkpoints: which are complete, which is the newest, marking a save complete, rotation.

The Trainer writes a checkpoint's files one after another; a SIGKILL in the middle leaves
a folder that looks like a checkpoint but is not. `CheckpointMarkerCallback.on_save` runs
after the Trainer has written everything, and writes a marker listing every file and its
size: only marked checkpoints whose files are all there at those sizes (or, for folders
from other tools, ones whose trainer_state.json parses) are resumed from. A file cut short
by a kill during a re-save, or a folder half deleted by a kill during rotation, fails that
check and is skipped.

Rotation (keeping `train.save_total_limit` checkpoints) is done here, after the new
checkpoint is marked, instead of by the Trainer (which rotates before the marker exists):
so there is always a complete checkpoint on disk, even with a limit of 1. A folder is
deleted marker first, so a kill in the middle of the deletion leaves it unmarked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

log = logging.getLogger(__name__)
MARKER = "tuneguard_complete.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(path: Path) -> int | None:
    m = _CKPT.match(path.name)
    return int(m.group(1)) if m else None


def checkpoint_files(path: Path) -> dict[str, int]:
    """{relative path: size} of every file in a checkpoint folder except the marker."""
    out: dict[str, int] = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            rel = p.relative_to(path).as_posix()
            if rel in (MARKER, MARKER + ".tmp"):
                continue
            try:
                out[rel] = p.stat().st_size
            except OSError:  # deleted while we looked: not part of the checkpoint
                continue
    return out


def checkpoint_bytes(path: Path) -> int:
    """Disk space a checkpoint takes (the sum of its files' sizes)."""
    return sum(checkpoint_files(path).values())


def _marker_ok(path: Path) -> bool:
    try:
        mark = json.loads((path / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    files = mark.get("files") if isinstance(mark, dict) else None
    if not isinstance(files, dict):
        return True  # a marker from before manifests: trust it
    for rel, size in files.items():
        try:
            if (path / rel).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def is_complete(path: Path) -> bool:
    if (path / MARKER).exists():
        return _marker_ok(path)
    state = path / "trainer_state.json"
    if not state.exists():
        return False
    try:
        json.loads(state.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    # A folder written by a tuneguard run without a marker was interrupted mid-save
    # (the marker comes after trainer_state.json only when everything else is on disk).
    return not (path.parent / ".tuneguard").exists()


def _checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Checkpoint folders, oldest (lowest step) first."""
    if not checkpoints_dir.is_dir():
        return []
    return sorted((p for p in checkpoints_dir.iterdir() if p.is_dir() and checkpoint_step(p) is not None),
                  key=lambda p: checkpoint_step(p) or 0)


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest complete checkpoint; incomplete ones are skipped with a warning."""
    for p in reversed(_checkpoints(checkpoints_dir)):
        if is_complete(p):
            return p
        log.warning("skipping incomplete checkpoint %s (interrupted while it was written or deleted)", p)
    return None


def complete_checkpoints(output_dir: str | Path) -> dict[int, Path]:
    """Complete `checkpoint-N` folders by step."""
    d = Path(output_dir)
    if not d.is_dir():
        return {}
    out = {}
    for p in d.iterdir():
        step = checkpoint_step(p) if p.is_dir() else None
        if step is not None and is_complete(p):
            out[step] = p
    return out


def checkpoint_before(output_dir: str | Path, step: int) -> Path | None:
    """The newest complete checkpoint with a step < `step`."""
    cands = {s: p for s, p in complete_checkpoints(output_dir).items() if s < step}
    return cands[max(cands)] if cands else None


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint folder, marker first: a kill half way leaves it incomplete, not broken."""
    try:
        (path / MARKER).unlink(missing_ok=True)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


def discard_after(output_dir: str | Path, step: int) -> list[str]:
    """Delete the checkpoints after `step` (the abandoned timeline of a rollback); returns their names."""
    d = Path(output_dir)
    gone = [p for p in _checkpoints(d) if (checkpoint_step(p) or 0) > step]
    for p in gone:
        remove_checkpoint(p)
    return [p.name for p in gone]


def rotate_checkpoints(checkpoints_dir: Path, keep: int | None, protect: tuple[Path | None, ...] = ()) -> list[Path]:
    """Keep the `keep` newest complete checkpoints plus the protected ones (the best);
    delete older ones and incomplete leftovers older than the newest complete one.
    Returns what was deleted."""
    if not keep or keep <= 0:
        return []
    folders = _checkpoints(checkpoints_dir)
    complete = [p for p in folders if is_complete(p)]
    if not complete:
        return []
    newest = complete[-1]
    newest_step = checkpoint_step(newest) or 0
    protected = {newest.resolve()} | {Path(p).resolve() for p in protect if p}
    deleted = [p for p in folders if p not in complete and (checkpoint_step(p) or 0) < newest_step]
    excess = len(complete) - max(keep, len(protected & {p.resolve() for p in complete}))
    for p in complete:
        if excess <= 0:
            break
        if p.resolve() not in protected:
            deleted.append(p)
            excess -= 1
    for p in deleted:
        remove_checkpoint(p)
    return deleted


class CheckpointMarkerCallback(TrainerCallback):
    """Marks a checkpoint complete after the Trainer has written all of its files, then
    rotates old checkpoints (`keep`: train.save_total_limit; None keeps all)."""

    def __init__(self, checkpoints_dir: Path, is_main: bool, keep: int | None = None):
        self.dir = checkpoints_dir
        self.is_main = is_main
        self.keep = keep

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.is_main:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / ".tuneguard").touch()

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
        if not self.is_main:
            return
        path = self.dir / f"checkpoint-{state.global_step}"
        if path.is_dir():
            tmp = path / (MARKER + ".tmp")
            tmp.write_text(json.dumps({"step": state.global_step, "epoch": state.epoch,
                                       "files": checkpoint_files(path)}))
            os.replace(tmp, path / MARKER)
            rotate_checkpoints(self.dir, self.keep, (Path(state.best_model_checkpoint)
                                                     if state.best_model_checkpoint else None,))
