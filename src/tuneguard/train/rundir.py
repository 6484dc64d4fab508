"""The run directory: created with care (never a file, the filesystem root or home), locked
against a second trainer, checked before a run starts (a run already there, files a run
would overwrite, a resumed run's changed config), and cleared of what a run wrote."""

from __future__ import annotations

import fcntl
import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from tuneguard.checkpoints import latest_checkpoint
from tuneguard.errors import UsageError
from tuneguard.catalog import T, config_language, say
from tuneguard.store.invocation import resume_advice, resume_command, stored_invocation
from tuneguard.store.run_store import LIVE_STATES, RunStore

log = logging.getLogger(__name__)

# Keys a resumed run may change: they do not affect what is learned.
RESUME_MAY_CHANGE = ("notify.", "report.", "data.cache", "train.ddp_timeout", "train.control_every_steps",
                     "train.dataloader_num_workers", "train.report_to")


class RunDirLock:
    """An exclusive lock on the run directory so two trainers never write one run."""

    def __init__(self, run_dir: Path, language: str = "en"):
        self.path = run_dir / ".lock"
        self.fd: int | None = None
        self.language = language  # of the refusal: the run's config

    def acquire(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self.fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(self.fd)
            self.fd = None
            raise UsageError(say("rundir.in_use", self.language, run_dir=str(self.path.parent), other=other)) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {platform.node()}".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# What a run writes into its directory (and --overwrite deletes).
RUN_FILES = ("run.db", "run.db-wal", "run.db-shm", "checkpoints", "adapter", "base_model",
             "config.yaml", "report.html", "report.md", "recommended.yaml")


def make_run_dir(run_dir: Path, example: str = "runs/NAME", language: str = "en") -> None:
    """Create the run directory. Refuse a file, the filesystem root and the home directory:
    a run writes config.yaml, run.db, checkpoints/ there, and --overwrite deletes them.
    `example`: a directory to suggest instead (the default run directory of the config);
    `language`: the refusal's (the run's config)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(say("rundir.is_file", language, run_dir=str(run_dir)))
    if run_dir == Path(run_dir.anchor) or run_dir == Path.home().resolve():
        raise UsageError(say("rundir.wrong_place", language, run_dir=str(run_dir), example=example))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(say("rundir.cannot_create", language, run_dir=str(run_dir),
                             reason=str(exc.strerror or exc))) from None


def prepare_run_dir(run_dir: Path, cfg_dict: dict[str, Any], resume: bool, overwrite: bool) -> Path | None:
    """Check the run directory; return the checkpoint to resume from (or None)."""
    from tuneguard.config.load import parse_yaml

    language = config_language(cfg_dict)
    db = run_dir / "run.db"
    if db.exists() and not overwrite and never_trained(run_dir):
        # An attempt refused before training (the audit, a model that would not load) holds
        # nothing worth keeping, and its advice ("fix the data, or pass --force") must work here,
        # also with --resume auto (nothing to resume: the run starts, with the config given now).
        log.info("replacing the earlier attempt in %s, which never started training", run_dir)
        remove_run_files(run_dir)
        return None
    if db.exists() and not resume and not overwrite:
        raise UsageError(say("rundir.holds_run", language, run_dir=str(run_dir), resume=_resume(run_dir)))
    # An empty checkpoints/ (or a link to another disk) is a place prepared for a run, not one.
    ours = [n for n in RUN_FILES if (run_dir / n).exists() and not ((run_dir / n).is_dir() and
                                                                    not any((run_dir / n).iterdir()))]
    if not db.exists() and ours and not resume and not overwrite:
        raise UsageError(say("rundir.foreign_files", language, run_dir=str(run_dir), files=", ".join(ours)))
    if overwrite and not resume:
        remove_run_files(run_dir)
    if resume and (run_dir / "config.yaml").exists():
        old = parse_yaml((run_dir / "config.yaml").read_text("utf-8"), "config.yaml")
        changed = config_changes(_flat(old), _flat(cfg_dict))
        if changed:
            started = stored_invocation(run_dir)
            how = T("rundir.started_with", command=resume_command(started, run_dir)) if started is not None else ""
            raise UsageError(say("rundir.resume_changed", language, run_dir=str(run_dir), started=how,
                                 changed=", ".join(changed[:8])))
    if resume and db.exists():
        refuse_finished(run_dir, language)
    if not resume:
        return None
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None and db.exists():
        # Killed before its first save: the run starts over, which the user who asked to
        # resume must be told (the steps it had done are not kept).
        log.warning("%s", say("rundir.resume_from_scratch", language, checkpoints=str(run_dir / "checkpoints"),
                              step=_recorded_step(run_dir)))
    return ckpt


def _recorded_step(run_dir: Path) -> int:
    """The step the run in `run_dir` had reached by its store (0 when it cannot be read)."""
    try:
        with RunStore(run_dir, readonly=True) as store:
            return int(store.summary()["step"] or 0)
    except Exception:  # noqa: BLE001 - a number in a warning: an unreadable store says 0
        return 0


def _resume(run_dir: Path) -> Any:
    """How to continue the run in `run_dir`: the command it was started with plus --resume auto
    where its store keeps that command, else just the option (also for a finished run, which
    `refuse_finished` explains if that is tried)."""
    started = stored_invocation(run_dir)
    try:
        with RunStore(run_dir, readonly=True) as store:
            finished = store.state() == "finished"
    except Exception:  # noqa: BLE001 - advice only: an unreadable store gets the plain option
        finished = True
    return T("rundir.resume_option") if started is None or finished else resume_advice(started, run_dir)


def refuse_finished(run_dir: Path, language: str = "en") -> None:
    """A run that finished its last step has nothing to resume: the Trainer, given its last
    checkpoint, would run one step past max_steps, record it, and replace the adapter."""
    try:
        with RunStore(run_dir, readonly=True) as store:
            state, meta = store.state(), store.meta()
    except Exception:  # noqa: BLE001 - an unreadable store is reported by the steps that need it
        return
    step, planned = meta.get("step"), meta.get("max_steps")
    if state != "finished" or not isinstance(step, int) or not isinstance(planned, int) or step < planned:
        return  # a run that ended before its last step (early stopping, a callback) may go on
    raise UsageError(say("rundir.finished", language, run_dir=str(run_dir), step=step, planned=planned))


def interruption(store: RunStore) -> dict[str, Any]:
    """How the run that `--resume auto` continues had ended, read before this process takes
    the store over: its state as `status` reads it, the last step it recorded and whether it
    ended without recording an end (killed: no message ever said so). For the resumed event."""
    meta = store.meta()
    # This process holds the run directory's lock: a live state left behind is a dead process's
    # (also one on another host, whose heartbeat `status` would still trust for a while).
    killed = meta.get("state") in LIVE_STATES
    step = meta.get("step")
    return {"previous_state": "failed" if killed else meta.get("state"),
            "previous_step": step if isinstance(step, int) else None, "killed": killed}


def told_after(store: RunStore, step: int) -> set[tuple[str, int]]:
    """The guard findings (code, step) an earlier process of this run raised after `step` at
    a level that notifies (warning, error). A resume from the checkpoint at `step` trains
    those steps again and, on the same rows with the same state, raises them again: the phone
    was told once already (the resumed message says which steps are trained again)."""
    return {(f.code, f.step) for f in store.findings("guard")
            if f.step is not None and f.step > step and f.severity in ("warning", "error")}


def remove_run_files(run_dir: Path) -> None:
    """Delete what a run wrote into `run_dir` (RUN_FILES), nothing else."""
    for name in RUN_FILES:
        p = run_dir / name
        if p.is_symlink() and p.is_dir():  # a link to another disk: keep the link, empty it
            for child in p.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        elif p.is_dir():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def never_trained(run_dir: Path) -> bool:
    """True when the run in `run_dir` ended before its first training step: no start event,
    no metrics, no checkpoint, no adapter, and no live process (a refused attempt)."""
    from tuneguard.store.run_store import FINAL_STATES

    if any((run_dir / n).exists() and any((run_dir / n).iterdir()) for n in ("checkpoints", "adapter")
           if (run_dir / n).is_dir()):
        return False
    try:
        with RunStore(run_dir, readonly=True) as store:
            state, _ = store.view_state()
            return (state in FINAL_STATES and not store.metrics()
                    and not any(e["type"] in ("started", "resumed") for e in store.events()))
    except Exception:  # noqa: BLE001 - a store we cannot read is not ours to replace
        return False


_ABSENT = object()  # a key one side of a resume's config comparison lacks


def config_changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The keys (flattened) a resume may not change, in the new config's order, then the old's.
    Keys on either side count: an override the new config removes (a map emptied) is a change
    too. What another tuneguard version wrote is not: a key this version's schema no longer
    has, and a field it added that the old config.yaml therefore lacks, at its default (each
    said in a log line)."""
    from tuneguard.config.schema import schema_field

    keys = [k for k in [*now, *(k for k in before if k not in now)] if not k.startswith(RESUME_MAY_CHANGE)]
    changed = []
    for k in keys:
        was, is_ = before.get(k, _ABSENT), now.get(k, _ABSENT)
        if was == is_:
            continue
        known, field = schema_field(k)
        if not known:
            log.warning("resume: the run's config.yaml has %s, which this version of tuneguard no longer has: "
                        "ignored", k)
        elif was is _ABSENT and field is not None and _at_default(field, is_):
            log.info("resume: %s is new in this version of tuneguard; the run's config.yaml predates it, and "
                     "it stays at its default (%r)", k, is_)
        else:
            changed.append(k)
    return changed


def _at_default(field: Any, value: Any) -> bool:
    """`value` (as config.yaml holds it) is the field's default."""
    default = field.get_default(call_default_factory=True)
    return bool(value == default or (default is not None and str(value) == str(default)))


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out
