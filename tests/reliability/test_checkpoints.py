"""Checkpoint completeness and rotation without training (fast), and damaged run stores.

A marker lists every file of a checkpoint and its size, so a file cut short (a kill during
a re-save of the same step) or a folder half deleted (a kill during rotation) is
incomplete; rotation runs only after the new checkpoint is marked, deletes the marker
first, and always leaves a complete checkpoint, even with save_total_limit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tuneguard.store.run_store import NotARunStore, RunStore
from tuneguard.checkpoints import (
    MARKER,
    CheckpointMarkerCallback,
    checkpoint_before,
    discard_after,
    is_complete,
    latest_checkpoint,
    remove_checkpoint,
    rotate_checkpoints,
)

FILES = {"adapter_model.safetensors": 300, "optimizer.pt": 600, "scheduler.pt": 10, "rng_state.pth": 20,
         "trainer_state.json": 0}


def _save(ckpts: Path, step: int, cb: CheckpointMarkerCallback, best: Path | None = None) -> Path:
    """What the Trainer writes, then the marker callback's on_save."""
    d = ckpts / f"checkpoint-{step}"
    d.mkdir(parents=True)
    for name, size in FILES.items():
        (d / name).write_bytes(b"x" * size if size else json.dumps({"global_step": step}).encode())
    state = SimpleNamespace(global_step=step, epoch=step / 10, best_model_checkpoint=str(best) if best else None)
    cb.on_save(None, state, None)
    return d


def _steps(ckpts: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in ckpts.glob("checkpoint-*"))


def test_marker_lists_files_and_detects_a_truncated_or_missing_one(tmp_path):
    ckpts = tmp_path / "checkpoints"
    cb = CheckpointMarkerCallback(ckpts, True)
    cb.on_train_begin(None, None, None)
    a, b = _save(ckpts, 10, cb), _save(ckpts, 20, cb)
    assert json.loads((b / MARKER).read_text())["files"]["optimizer.pt"] == 600
    assert latest_checkpoint(ckpts) == b
    (b / "optimizer.pt").write_bytes(b"x" * 100)  # a re-save of step 20 killed half way
    assert not is_complete(b) and latest_checkpoint(ckpts) == a
    (a / "scheduler.pt").unlink()  # a deletion killed half way (marker first, so: unmarked too)
    assert not is_complete(a) and latest_checkpoint(ckpts) is None


def test_old_markers_without_a_file_list_are_trusted(tmp_path):
    d = tmp_path / "checkpoints" / "checkpoint-5"
    d.mkdir(parents=True)
    (d / MARKER).write_text(json.dumps({"step": 5, "epoch": 0.1}))
    assert is_complete(d)


def test_unmarked_folder_with_trainer_state_is_incomplete_in_a_tuneguard_run(tmp_path):
    ckpts = tmp_path / "checkpoints"
    cb = CheckpointMarkerCallback(ckpts, True)
    cb.on_train_begin(None, None, None)
    done = _save(ckpts, 10, cb)
    half = ckpts / "checkpoint-20"
    half.mkdir()
    (half / "trainer_state.json").write_text("{}")  # everything written, killed before the marker
    assert latest_checkpoint(ckpts) == done


@pytest.mark.parametrize("keep", [1, 2, 3])
def test_rotation_after_marking_always_leaves_a_complete_checkpoint(tmp_path, keep):
    ckpts = tmp_path / "checkpoints"
    cb = CheckpointMarkerCallback(ckpts, True, keep=keep)
    cb.on_train_begin(None, None, None)
    stale = ckpts / "checkpoint-15"  # left by a killed save, older than what comes next
    for step in (10, 20, 30, 40):
        if step == 20:
            stale.mkdir()
            (stale / "optimizer.pt").write_bytes(b"x")
        _save(ckpts, step, cb)
        assert latest_checkpoint(ckpts) == ckpts / f"checkpoint-{step}"
    assert _steps(ckpts) == [10, 20, 30, 40][-keep:]  # the stale incomplete one is gone too


def test_rotation_keeps_the_best_checkpoint(tmp_path):
    ckpts = tmp_path / "checkpoints"
    cb = CheckpointMarkerCallback(ckpts, True, keep=1)
    best = _save(ckpts, 10, cb)
    for step in (20, 30):
        _save(ckpts, step, cb, best=best)
    assert _steps(ckpts) == [10, 30]


def test_rotation_leaves_newer_incomplete_folders_and_deletes_marker_first(tmp_path, monkeypatch):
    ckpts = tmp_path / "checkpoints"
    cb = CheckpointMarkerCallback(ckpts, True, keep=1)
    cb.on_train_begin(None, None, None)
    for step in (10, 20):
        _save(ckpts, step, cb)
    newer = ckpts / "checkpoint-30"  # a stale partial save from a killed attempt: re-written later
    newer.mkdir()
    assert rotate_checkpoints(ckpts, 1) == [] and _steps(ckpts) == [20, 30]

    import shutil

    def killed_rmtree(path, ignore_errors=False):  # the process dies during the deletion
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed_rmtree)
    with pytest.raises(KeyboardInterrupt):
        remove_checkpoint(ckpts / "checkpoint-20")
    assert not is_complete(ckpts / "checkpoint-20")  # unmarked before any file went


def test_every_reader_of_checkpoints_skips_an_incomplete_one(tmp_path):
    """--resume auto, a rollback and NON_FINITE's "resume from" all take the same checkpoint:
    the newest complete one (here 2, while 3 was cut short and 4 is after the step)."""
    from tuneguard.config.schema import Config
    from tuneguard.context import RunContext
    from tuneguard.guard.callbacks import GuardCallback

    ckpts = tmp_path / "checkpoints"
    cb = CheckpointMarkerCallback(ckpts, is_main=True)
    cb.on_train_begin(None, None, None)
    for step in (1, 2, 3, 4):
        _save(ckpts, step, cb)
    (ckpts / "checkpoint-3" / "optimizer.pt").write_bytes(b"x")
    assert latest_checkpoint(ckpts) == ckpts / "checkpoint-4"
    assert checkpoint_before(ckpts, 4) == ckpts / "checkpoint-2"
    guard = GuardCallback(RunContext(cfg=Config(), run_dir=tmp_path))
    guard.output_dir = str(ckpts)
    assert guard.nonfinite.last_checkpoint(4) == str(ckpts / "checkpoint-2")
    assert discard_after(ckpts, 2) == ["checkpoint-3", "checkpoint-4"]
    assert _steps(ckpts) == [1, 2]


@pytest.mark.parametrize("content", [b"\x00garbage" * 500, b"SQLite format 3\x00" + b"\xff" * 200])
def test_a_damaged_run_store_is_a_clear_error(tmp_path, content, inproc_cli):
    (tmp_path / "run.db").write_bytes(content)
    with pytest.raises(NotARunStore, match="is not a tuneguard run store"):
        RunStore(tmp_path)
    for cmd in (["status", str(tmp_path), "--json"], ["report", str(tmp_path)]):
        r = inproc_cli(*cmd)
        assert r.returncode == 2 and "not a tuneguard run store" in r.stderr, (cmd, r)
    r = inproc_cli("stop", str(tmp_path))  # no live run there: exit 1, one line (no traceback)
    assert r.returncode == 1 and r.stderr.startswith("error:"), r
