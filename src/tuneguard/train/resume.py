"""Checkpoints: which are complete, which is the newest, and marking a save complete.

The Trainer writes a checkpoint's files one after another; a SIGKILL in the middle leaves
a folder that looks like a checkpoint but is not. `CheckpointMarkerCallback.on_save` runs
after the Trainer has written everything, and writes a marker: only marked checkpoints
(or, for folders from other tools, ones whose trainer_state.json parses) are resumed from.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from transformers import TrainerCallback

log = logging.getLogger(__name__)
MARKER = "tuneguard_complete.json"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(path: Path) -> int | None:
    m = _CKPT.match(path.name)
    return int(m.group(1)) if m else None


def is_complete(path: Path) -> bool:
    if (path / MARKER).exists():
        return True
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


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest complete checkpoint; incomplete ones are skipped with a warning."""
    if not checkpoints_dir.is_dir():
        return None
    cands = sorted((p for p in checkpoints_dir.iterdir() if p.is_dir() and checkpoint_step(p) is not None),
                   key=lambda p: checkpoint_step(p) or 0, reverse=True)
    for p in cands:
        if is_complete(p):
            return p
        log.warning("skipping incomplete checkpoint %s (interrupted while it was written)", p)
    return None


class CheckpointMarkerCallback(TrainerCallback):
    """Marks a checkpoint complete after the Trainer has written all of its files."""

    def __init__(self, checkpoints_dir: Path, is_main: bool):
        self.dir = checkpoints_dir
        self.is_main = is_main

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
            tmp.write_text(json.dumps({"step": state.global_step, "epoch": state.epoch}))
            os.replace(tmp, path / MARKER)
