"""Run directories: one run per directory, one writer per run, nothing written where it must not be.

- A directory that holds a run is refused unless `--resume auto` (with the same config) or
  `--overwrite`; `--overwrite` really replaces the old run.
- Two trainers never write one run directory: while one trains, a second one (plain,
  --resume auto or --overwrite) exits 2 naming the first one's pid, and leaves its files alone.
- --run-dir that is a file, the filesystem root, inside a file, or a directory holding
  files a run would overwrite (config.yaml) but no run: exit 2 with one line, nothing written.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.helpers.cli import cli, tiny_config
from tests.helpers.reliability import start_train, train_inproc, wait_until
from tests.test_docs_sync import check_run_dir_documented
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow


def _refused(r, *phrases: str) -> str:
    text = r.stdout + r.stderr
    assert r.returncode == 2, text
    assert "Traceback" not in text and "error:" in text, text
    for p in phrases:
        assert p in " ".join(text.split()), (p, text)
    return text


def _run_id(run: Path) -> str:
    with RunStore(run) as s:
        return s.get_meta("run_id")


def test_existing_run_refused_unless_resume_with_same_config_or_overwrite(tmp_path, train_file, capsys):
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 4, "save_steps": 2, "logging_steps": 1},
                      eval={"steps": 2})
    run = tmp_path / "run"
    assert train_inproc(cfg, run) == 0
    check_run_dir_documented(run)  # every file and run.db key it wrote is in docs/ARCHITECTURE.md
    first = _run_id(run)
    capsys.readouterr()

    def refused(*phrases: str) -> None:
        err = " ".join(capsys.readouterr().err.split())
        assert "error:" in err and "Traceback" not in err, err
        for p in phrases:
            assert p in err, (p, err)

    assert train_inproc(cfg, run) == 2
    refused("already holds a run", "--resume auto", "--overwrite")
    assert train_inproc(cfg, run, "train.learning_rate=0.5", resume=True) == 2
    # What the run was started with, from its store: the command to resume with, for comparison.
    refused(f"--resume auto needs the same config as the run in {run} (it was started with `tuneguard train {cfg} "
            f"--run-dir {run} --resume auto`); changed: train.learning_rate")
    # A finished run has nothing to resume (the Trainer would run a step past max_steps).
    assert train_inproc(cfg, run, resume=True) == 2
    refused(f"the run in {run} finished at step 4 of 4: there is nothing to resume", "--overwrite")
    with RunStore(run) as s:
        assert [m["step"] for m in s.metrics("train")] == [1, 2, 3, 4] and s.state() == "finished"
    with RunStore(run) as s:
        s.set_state("stopped")  # as `tuneguard stop` leaves a run: one that can go on
    assert train_inproc(cfg, run) == 2
    refused(f"{run} already holds a run: continue it with `tuneguard train {cfg} --run-dir {run} --resume auto`, "
            "start over with --overwrite, or choose another --run-dir")
    assert _run_id(run) == first  # refusals touched nothing

    assert train_inproc(cfg, run, "train.max_steps=2", overwrite=True) == 0
    with RunStore(run) as s:
        assert s.get_meta("run_id") != first
        assert [m["step"] for m in s.metrics("train")] == [1, 2]  # nothing left of the old run
        assert s.summary()["max_steps"] == 2
        assert s.get_meta("world_size") == 1  # what a resume on another number of processes is told about
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2"]


def test_second_trainer_on_a_live_run_exits_2_naming_the_first(tmp_path, train_file, capsys):
    """Two live processes: the first trains (held in the middle of a checkpoint save), the
    second is the real CLI; then --resume auto and --overwrite from this process."""
    cfg = tiny_config(tmp_path, train_file)
    run = tmp_path / "run"
    first = start_train(tmp_path, "first", str(cfg), "--run-dir", str(run),
                        faults=[{"step": 20, "at": "optimizer", "sleep": 300}])
    try:
        wait_until(lambda: "FAULT optimizer 20" in first.stderr, "the first trainer to be busy", first)
        before = sorted(os.listdir(run))
        holder = f"in use by pid {first.pid} on {socket.gethostname()}"
        _refused(cli("train", str(cfg), "--run-dir", str(run)), holder)
        for kw in ({"resume": True}, {"overwrite": True}):
            assert train_inproc(cfg, run, **kw) == 2
            assert holder in " ".join(capsys.readouterr().err.split())
        assert first.alive()
        assert sorted(os.listdir(run)) == before and (run / "run.db").exists()
        with RunStore(run) as s:
            assert s.summary()["state"] == "running" and s.get_meta("pid") == first.pid
    finally:
        first.kill()
        first.wait(60)


@pytest.mark.parametrize("kind", ["file", "root", "inside_file", "foreign_config"])
def test_run_dir_in_the_wrong_place_exits_2(tmp_path, train_file, kind, capsys):
    cfg = tiny_config(tmp_path, train_file)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    other = tmp_path / "project"
    other.mkdir()
    (other / "config.yaml").write_text("my own config\n")
    run_dir, phrase = {
        "file": (afile, "is a file, not a directory"),
        # The directory it suggests is the config's default one (train_inproc records the command).
        "root": (Path("/"), f"refusing --run-dir /: a run writes config.yaml, run.db, checkpoints/ and adapter/ into "
                            f"its directory; give it a directory of its own, e.g. runs/{cfg.stem}"),
        "inside_file": (afile / "sub", "cannot create the run directory"),
        "foreign_config": (other, "holds config.yaml but no run store"),
    }[kind]
    root_before = set(os.listdir("/"))
    assert train_inproc(cfg, run_dir) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert phrase in err and "Traceback" not in err, err
    assert afile.read_text() == "mine"
    assert (other / "config.yaml").read_text() == "my own config\n"
    assert set(os.listdir(other)) <= {"config.yaml", ".lock"}  # the lock taken to look is all
    assert set(os.listdir("/")) == root_before


def test_resuming_on_another_number_of_processes_says_what_changes():
    from tuneguard.catalog import render
    from tuneguard.config.load import load_config
    from tuneguard.train.build import world_size_note

    cfg = load_config("tiny", ["train.batch_size=4", "train.gradient_accumulation_steps=2"])
    assert world_size_note(None, 1, cfg) is None and world_size_note(2, 2, cfg) is None
    note = world_size_note(2, 1, cfg)
    assert render(note) == (
        "This run trained on 2 process(es) and resumes on 1: each optimizer step now takes 8 examples instead of 16 "
        "(batch 4 x accumulation 2 x processes), so a step from here on is not worth an earlier one; the epochs, the "
        "guards and the report count the examples each step took and stay exact. Resume on 2 process(es) to keep the "
        "steps as they were.")
    assert render(note, "th").startswith("การรันนี้ฝึกด้วย 2 โปรเซส และฝึกต่อด้วย 1 โปรเซส: แต่ละ optimizer step ตอนนี้ใช้ 8 "
                                         "ตัวอย่างแทน 16")


@pytest.mark.parametrize(("language", "said"), [
    ("en", "--resume auto: no complete checkpoint in {ckpts} (the run had reached step 5 before its first save): "
           "training starts again from step 0"),
    ("th", "--resume auto: ยังไม่มี checkpoint ที่สมบูรณ์ใน {ckpts} (การรันเดิมไปถึง step 5 ก่อนบันทึกครั้งแรก) "
           "จึงเริ่มฝึกใหม่ตั้งแต่ step 0")])
def test_resume_auto_of_a_run_killed_before_its_first_checkpoint_says_it_starts_over(tmp_path, caplog, language, said):
    """Killed with SIGKILL at step 5 of a run that saves every 20 steps: `--resume auto` has
    nothing to resume from and trains from step 0, which it used to do without a word."""
    import logging

    from tuneguard.events import Event
    from tuneguard.store.run_store import RunStore
    from tuneguard.train.rundir import prepare_run_dir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    cfg = {"notify": {"language": language}}
    with RunStore(run, create=True) as store:
        store.init_run(config=cfg, max_steps=300)
        store.start_process()
        store.add_event(Event.STARTED, {})
        store.log_metrics(5, "train", {"loss": 6.7})
        store.heartbeat(5)
        store.set_state("failed")
    (run / "config.yaml").write_text("notify:\n  language: " + language + "\n", "utf-8")
    with caplog.at_level(logging.WARNING, logger="tuneguard.train.rundir"):
        assert prepare_run_dir(run, cfg, resume=True, overwrite=False) is None
    assert [r.getMessage() for r in caplog.records] == [said.format(ckpts=run / "checkpoints")]
