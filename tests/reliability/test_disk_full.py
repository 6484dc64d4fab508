"""Disk full: ENOSPC while a checkpoint, the run store or the report is written.

Each case ends the run with exit 1, state `failed`, and one message that says what was
being written, how much space a checkpoint of this run needs (the size of the previous
checkpoint) and which checkpoint to continue from; the previous checkpoint stays intact
and the half-written one is removed. The first three inject the failure in-process
(deterministic); the last fills a real (tmpfs) disk and then continues the run after
space is freed.
"""

from __future__ import annotations

import errno
import io
import json
import pathlib
import subprocess

import pytest
import torch
from rich.console import Console

from tests.helpers.cli import cli, tiny_config
from tuneguard.config.load import load_config
from tuneguard.store.invocation import Invocation
from tuneguard.store.run_store import RunStore
from tuneguard.cli.errors import show_outcome
from tuneguard.train.run import run_training
from tuneguard.train.diskfull import fmt_bytes
from tuneguard.checkpoints import (
    MARKER,
    checkpoint_bytes,
    is_complete,
    latest_checkpoint,
)

pytestmark = pytest.mark.slow

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def _train(cfg_path: pathlib.Path, run: pathlib.Path, **kw) -> int:
    out = io.StringIO()
    return show_outcome(run_training(load_config(str(cfg_path)), run, console=Console(file=out, width=300), **kw))


def _intact(folder: pathlib.Path) -> bool:
    if not (folder / MARKER).exists() or not is_complete(folder):
        return False
    torch.load(folder / "optimizer.pt", weights_only=True)
    json.loads((folder / "trainer_state.json").read_text())
    return True


def _failed_with(run: pathlib.Path, *parts: str) -> str:
    with RunStore(run) as s:
        summary = s.summary()
        failed = s.events("failed")
    assert summary["state"] == "failed", summary
    reason = summary["exit_reason"] or ""
    for p in parts:
        assert p in reason, (p, reason)
    assert failed and failed[-1]["payload"]["error"].startswith("disk full"), failed
    return reason


def test_enospc_while_writing_a_checkpoint(tmp_path, train_file, monkeypatch, capsys):
    cfg = tiny_config(tmp_path, train_file)
    run = tmp_path / "run"
    real_save = torch.save

    def full_at_40(obj, f, *a, **kw):
        if "checkpoint-40" in str(f):
            pathlib.Path(f).write_bytes(b"\0" * 1000)  # what got written before the disk filled
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", full_at_40)
    invocation = Invocation.given(str(cfg), ["train.logging_steps=5"])  # as `tuneguard train` records it
    assert _train(cfg, run, invocation=invocation) == 1
    prev = run / "checkpoints" / "checkpoint-20"
    assert _intact(prev)
    assert not (run / "checkpoints" / "checkpoint-40").exists()  # the half-written one is gone
    need = fmt_bytes(checkpoint_bytes(prev))
    reason = _failed_with(run, "disk full while writing", f"needs about {need}", "checkpoint-20")
    # The command that continues it: the config and the --set as given, not CONFIG (the failed
    # event and the terminal have the whole message; the state's exit_reason keeps 500 characters).
    with RunStore(run) as s:
        error = s.events("failed")[-1]["payload"]["error"]
    assert error.endswith("checkpoint-20 is complete and intact: free space, then continue from it with "
                          f"`tuneguard train {cfg} --run-dir {run.resolve()} --set train.logging_steps=5 "
                          "--resume auto`"), error
    err = capsys.readouterr().err
    assert "training failed: disk full" in err and need in err and "Traceback" not in err
    assert "\n" not in reason


def test_enospc_in_the_run_store(tmp_path, train_file, monkeypatch, capsys):
    """SQLite's own "database or disk is full" (a page limit makes it real and deterministic)."""
    cfg = tiny_config(tmp_path, train_file, train={"logging_steps": 1})
    run = tmp_path / "run"
    real_log = RunStore.log_metrics

    def log_metrics(self, step, kind, values):
        if step >= 30:  # the disk is full from here on: no page may be added
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            self._conn.execute(f"PRAGMA max_page_count={pages}")
        return real_log(self, step, kind, values)

    monkeypatch.setattr(RunStore, "log_metrics", log_metrics)
    assert _train(cfg, run) == 1
    newest = latest_checkpoint(run / "checkpoints")
    assert newest is not None and _intact(newest)
    _failed_with(run, "disk full while writing the run store (run.db)",
                 f"needs about {fmt_bytes(checkpoint_bytes(newest))}", f"{newest.name} is complete")
    err = capsys.readouterr().err
    assert "database or disk is full" in err and "Traceback" not in err
    with RunStore(run) as s:  # the store is consistent: every row up to the failure, once
        steps = [r["step"] for r in s.metrics("train")]
    assert steps == list(range(1, len(steps) + 1)) and 30 <= len(steps) + 1 < 60


def test_the_runs_end_is_written_into_the_room_reserved_at_its_start(tmp_path):
    """The store fills up (no page may be added, and every page is full of metrics): the
    failure's long exit reason and its event still go in, into the pages held back when
    training started; without them neither write had room."""
    import sqlite3

    reason = "disk full while writing the run store (run.db): " + "free space, then resume " * 200
    with RunStore(tmp_path, create=True) as s:
        s.init_run(config={"model": {"name": "builtin:tiny-gptj"}}, max_steps=10)
        s.start_process()
        pages = s._conn.execute("PRAGMA page_count").fetchone()[0]
        s._conn.execute(f"PRAGMA max_page_count={pages}")
        step = 0
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            while True:
                s.log_metrics(step, "train", {"loss": 1.0})
                step += 1
        s.set_state("failed", exit_reason=reason, exit_code=1)
        s.add_event("failed", {"error": reason, "traceback": "File ...\n" * 300}, step=step)
    with RunStore(tmp_path, readonly=True) as s:
        assert s.view_state() == ("failed", reason)
        assert s.events("failed")[-1]["payload"]["error"] == reason
        assert [m["step"] for m in s.metrics("train")] == list(range(step))  # nothing recorded was lost


def test_enospc_while_writing_the_report(tmp_path, train_file, monkeypatch, capsys, inproc_cli):
    cfg = tiny_config(tmp_path, train_file)
    run = tmp_path / "run"
    real_write = pathlib.Path.write_text

    def write_text(self, *a, **kw):
        if "report.html" in self.name or "report.md" in self.name:
            real_write(self, "<html>half a rep", **{k: v for k, v in kw.items() if k == "encoding"})
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, *a, **kw)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    assert _train(cfg, run) == 1
    _failed_with(run, "disk full while writing the report", "needs about", "checkpoint-60")
    assert (run / "adapter" / "adapter_model.safetensors").exists()  # the trained adapter is kept
    assert _intact(run / "checkpoints" / "checkpoint-60")
    assert "Traceback" not in capsys.readouterr().err
    assert not list(run.glob("*report*"))  # no half-written report left behind

    # `tuneguard report` on a full disk: one line, exit 1; once there is room, the report.
    r = inproc_cli("report", str(run))
    assert r.returncode == 1 and "cannot write the report: No space left on device" in r.stderr, r.stderr
    monkeypatch.undo()
    r = inproc_cli("report", str(run))
    assert r.returncode == 0, r.stderr
    assert (run / "report.html").read_text().rstrip().endswith("</html>")


def test_a_real_full_disk_then_resume_after_freeing_space(tmp_path, train_file, tmpfs):
    """checkpoints/ on its own small disk (a tmpfs; as when it links to a mounted drive) with
    room for one checkpoint: the second fills it, and torch.save reports that only as
    "unexpected pos ..."; tuneguard still says the disk is full. Then the disk grows and
    `--resume auto` finishes the run from the checkpoint that survived."""
    cfg = tiny_config(tmp_path, train_file)
    disk = tmpfs(1_100_000)
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoints").symlink_to(disk)
    r = cli("train", str(cfg), "--run-dir", str(run), env={"COLUMNS": "400"})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "disk full while writing" in r.stderr, r.stderr
    prev = run / "checkpoints" / "checkpoint-20"
    assert f"needs about {fmt_bytes(checkpoint_bytes(prev))}" in r.stderr and "--resume auto" in r.stderr
    assert sorted(p.name for p in disk.glob("checkpoint-*")) == ["checkpoint-20"]  # the partial one is removed
    assert _intact(prev)
    with RunStore(run) as s:
        assert s.summary()["state"] == "failed"

    subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
    r = cli("train", str(cfg), "--run-dir", str(run), "--resume", "auto", env={"COLUMNS": "400"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resuming from checkpoint-20" in r.stdout
    with RunStore(run) as s:
        assert s.summary()["state"] == "finished"
        assert [m["step"] for m in s.metrics("eval")] == [20, 40, 60]
