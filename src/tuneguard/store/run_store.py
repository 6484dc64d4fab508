"""The run store: one SQLite file (RUN_DIR/run.db, WAL) that is the single record of a run.

Writers: the training process (rank 0 only) and the control commands (which only insert
control requests). Readers: status, watch, report, compare, the notifier. WAL mode lets
readers poll while the trainer writes; every connection sets a busy timeout so a reader
never sees "database is locked".

Metrics are keyed by (step, kind) and written with upsert, so a resumed run that logs a
step again replaces the row instead of duplicating it; `truncate_after(step)` drops rows
logged after the checkpoint a run resumes from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from tuneguard.catalog import Spec, T, render, say
from tuneguard.findings import Finding
from tuneguard.fmt import as_float  # a bool is no number here: not a time, a loss or a metric
from tuneguard.events import Event

# A finding's catalog specs ride in its evidence column (no schema change), under a key no
# evidence uses, and are taken out again on reading.
TEXT_KEY = "__text__"

log = logging.getLogger(__name__)

DB_NAME = "run.db"
LIVE_STATES = ("starting", "running", "paused")
FINAL_STATES = ("finished", "stopped", "halted", "failed")

METRIC_COLUMNS = (
    "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_s", "step_time_s",
    "mem_allocated_gb", "mem_reserved_gb", "mem_total_gb", "rss_gb", "eta_s",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS metrics (
  step INTEGER NOT NULL, kind TEXT NOT NULL, time REAL NOT NULL,
  epoch REAL, loss REAL, eval_loss REAL, learning_rate REAL, grad_norm REAL,
  tokens_per_s REAL, step_time_s REAL, mem_allocated_gb REAL, mem_reserved_gb REAL,
  mem_total_gb REAL, rss_gb REAL, eta_s REAL, extra TEXT,
  PRIMARY KEY (step, kind));
-- The views ask for one kind by step (the latest training row, every evaluation): without this
-- index each of those scanned every row of a 100,000-step run.
CREATE INDEX IF NOT EXISTS metrics_kind_step ON metrics(kind, step);
-- Every optimizer step's loss, gradient norm and supervised tokens (tuneguard.train.steps), with
-- the log (or evaluation: at_eval) that handed it over: what a resumed run replays into its guards.
-- Kept here, not in the Trainer's log history, so that a checkpoint's trainer_state.json does not
-- grow with the run. Non-finite values are NULL with their text in `nonfinite`.
CREATE TABLE IF NOT EXISTS steps (
  step INTEGER PRIMARY KEY, log_step INTEGER NOT NULL, at_eval INTEGER NOT NULL,
  loss REAL, grad_norm REAL, tokens INTEGER, nonfinite TEXT);
CREATE TABLE IF NOT EXISTS findings (
  id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, source TEXT NOT NULL,
  code TEXT NOT NULL, severity TEXT NOT NULL, step INTEGER, message TEXT NOT NULL,
  evidence TEXT NOT NULL, recommendation TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, step INTEGER,
  type TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS qa_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, step INTEGER NOT NULL,
  prompt TEXT NOT NULL, output TEXT NOT NULL, keywords TEXT NOT NULL,
  keyword_score REAL, emitted_eos INTEGER, distinct2 REAL, extra TEXT);
CREATE TABLE IF NOT EXISTS control (
  id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, action TEXT NOT NULL,
  arg TEXT, requested_by TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
  handled_time REAL, handled_step INTEGER, note TEXT);
-- Room held back while a run trains (RunStore.reserve_room): freed when the disk is full, so that
-- the run's end (state, exit reason) can still be written.
CREATE TABLE IF NOT EXISTS reserve (id INTEGER PRIMARY KEY, room BLOB NOT NULL);
"""
# 16 pages of 4 KiB: a long exit reason, the state and the `failed` event with its traceback.
RESERVE_BYTES = 64 * 1024


class NotARunStore(FileNotFoundError):
    """RUN_DIR/run.db exists but is no SQLite database (damaged, or not tuneguard's).

    A FileNotFoundError, so every reader that says "no run store here" says this too."""


def open_for_reading(run_dir: str | os.PathLike[str]) -> "RunStore":
    """A store to read (status, report): read-only, so that reading never changes run.db;
    read-write only where SQLite cannot open a WAL database read-only (no -shm file can be
    created next to it). FileNotFoundError (NotARunStore) when there is no store."""
    try:
        return RunStore(run_dir, readonly=True)
    except sqlite3.OperationalError:
        log.debug("read-only open of %s failed; opening read-write", run_dir, exc_info=True)
        return RunStore(run_dir)


def describe_store_error(run_dir: str | os.PathLike[str], exc: BaseException) -> str:
    """One line for a run store that cannot be read."""
    path = Path(run_dir) / DB_NAME
    if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
        return f"{path} holds no tuneguard run (it has none of the run store's tables): is {run_dir} a run directory?"
    return f"cannot read the run store {path}: {exc}"


def _json_safe(v: Any) -> Any:
    """JSON cannot hold NaN/Inf portably; store them as strings so evidence survives."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def _loads(text: Any, default: Any = None, where: str = "") -> Any:
    """A stored JSON cell; `default` for one that is damaged (edited by hand, or cut by a disk
    fault): everything that shows a run shows the rest of it rather than fail on one cell."""
    if text is None:
        return default
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        log.warning("run.db: a damaged %s value was skipped", where or "stored")
        return default


# The kinds of the meta values every reader does arithmetic or lookups on; a value of another
# kind (a hand-edited store) reads as absent, like a damaged one.
_META_KINDS: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(("config", "invocation", "environment", "hardware", "task", "performance", "data_sizes"), dict),
    **dict.fromkeys(("max_steps", "step", "best_step", "world_size", "pid", "trainer_pid", "exit_code"), int),
    **dict.fromkeys(("created", "started", "first_started", "ended", "heartbeat", "state_time", "best_eval_loss",
                     "train_seconds", "paused_at_step", "paused_since", "paused_s"), (int, float)),
    **dict.fromkeys(("state", "exit_reason", "run_id", "host", "trainer_host"), str),
}


def _meta_value(key: str, text: Any, default: Any = None) -> Any:
    value = _loads(text, default, f"meta {key!r}")
    kind = _META_KINDS.get(key)
    if value is None or kind is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    if key not in _SKIPPED:  # once per key: every view reads the meta again and again (watch: each second)
        _SKIPPED.add(key)
        log.warning("run.db: the meta %r value is not %s; it was skipped", key, _KIND_NAMES.get(kind, "a number"))
    return default


_KIND_NAMES: dict[Any, str] = {int: "an integer", str: "a string", dict: "a mapping"}
_SKIPPED: set[str] = set()


def _dumps(v: Any) -> str:
    return json.dumps(_json_safe(v), ensure_ascii=False, default=str)


def _zombie(pid: int) -> bool:
    """A process that has exited but whose parent has not collected it yet (a notebook or a
    script that started `tuneguard train` with Popen and has not waited): signal 0 still
    reaches it, yet it trains no more. Without this, `status` said "running" and `stop` was
    "accepted" by a run killed minutes ago."""
    import psutil

    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _recorded(value: Any) -> bool:
    """A pid or a host name as run.db should hold it: not missing, null, empty or a NaN."""
    return value is not None and value != "" and not (isinstance(value, float) and math.isnan(value))


def process_spec(meta: dict[str, Any]) -> Spec:
    """The run's process as the views name it: "pid 4242 on gpu-1", "pid 4242" where run.db
    records no host, "process unknown" where it records no pid (a damaged store)."""
    pid, host = meta.get("pid"), meta.get("host")
    if not _recorded(pid):
        return T("run.process_unknown")
    return T("run.process", pid=pid, host=host) if _recorded(host) else T("run.process_pid", pid=pid)


def _create_atomically(path: Path) -> None:
    """Write a new store with its tables under a temporary name, then link it into place.

    SQLite creates the file on connect and the tables only later, so a `status` or `watch`
    started in that moment found a run.db without tables and failed. A hard link is the
    atomic no-clobber step (os.replace would overwrite a store another process just made).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # recorded in the file header
            conn.executescript(SCHEMA)
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        except OSError:  # a filesystem without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)


@dataclasses.dataclass(frozen=True)
class RunTimes:
    """When a run first started training and how long it has taken, over every process that
    trained it (the first `tuneguard train` and each `--resume auto`): `wall_s` from the first
    start to the last sign of life (a pause counts: the process holds the GPU), `train_s` the sum
    of each process's own time less the pauses (`paused_time`), None when an older tuneguard
    kept only the last process's times."""

    first_started: float | None
    last_seen: float | None
    train_s: float | None
    processes: int

    @property
    def wall_s(self) -> float | None:
        if self.first_started is None or self.last_seen is None:
            return None
        return max(0.0, self.last_seen - self.first_started)


def _last_sign(meta: Mapping[str, Any], since: float) -> float:
    """The last time the process that started training at `since` was seen: its end, else its
    last heartbeat (a killed process records no end). An end recorded by a later process that
    failed before it trained (same `started`, another pid) is not this process's end."""
    own = meta.get("trainer_pid") is None or (meta.get("pid"), meta.get("host")) == (
        meta.get("trainer_pid"), meta.get("trainer_host"))
    seen = [t for t in (as_float(meta.get("ended")) if own else None, as_float(meta.get("heartbeat")))
            if t is not None and math.isfinite(t) and t >= since]
    return max(seen, default=since)


def _segments(meta: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(start, last seen) of every process that trained the run, oldest first."""
    out = []
    for seg in meta.get("earlier_processes") or []:
        a, b = (as_float(x) for x in seg) if isinstance(seg, list) and len(seg) == 2 else (None, None)
        if a is not None and b is not None:
            out.append((a, b))
    started = as_float(meta.get("started"))
    if started is not None:
        out.append((started, _last_sign(meta, started)))
    return out


def paused_time(meta: Mapping[str, Any]) -> float:
    """Seconds the run spent paused (`tuneguard pause`): the pauses that ended (`paused_s`, over
    every process) and the one going on (`paused_since`, up to the process's last sign of life)."""
    total = as_float(meta.get("paused_s")) or 0.0
    since, started = as_float(meta.get("paused_since")), as_float(meta.get("started"))
    if since is not None and started is not None:
        total += max(0.0, _last_sign(meta, started) - since)
    return total


def run_times(meta: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> RunTimes:
    """The run's times from its meta and events. A store written before tuneguard kept each
    process's times has only the last process's `started`; its first start then comes from the
    first start event, and its training time is unknown when it was resumed."""
    starts = [float(e["time"]) for e in events if e.get("type") in (Event.STARTED, Event.RESUMED)]
    segs = _segments(meta)
    firsts = [t for t in (as_float(meta.get("first_started")), *(a for a, _ in segs), *starts[:1]) if t is not None]
    first = min(firsts) if firsts else as_float(meta.get("created"))
    last = max((b for _, b in segs), default=None)
    n = max(len(segs), len(starts))
    train = sum(b - a for a, b in segs) if segs and len(segs) >= len(starts) else None
    if train is not None:
        train = max(0.0, train - paused_time(meta))
    return RunTimes(first_started=first, last_seen=last, train_s=train, processes=n)


class RunStore:
    """Access to one run's SQLite store. Cheap to open; open one per thread/process."""

    def __init__(self, run_dir: str | os.PathLike[str], *, create: bool = False, readonly: bool = False):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        if not create and not self.path.exists():
            if not self.run_dir.exists():
                raise FileNotFoundError(f"{self.run_dir} does not exist: give the directory of a tuneguard run")
            if not self.run_dir.is_dir():
                raise FileNotFoundError(f"{self.run_dir} is a file, not a run directory: give the directory of a "
                                        "tuneguard run")
            if (self.run_dir / ".lock").exists():  # a trainer took the directory, then ended before its store
                raise FileNotFoundError(f"no run store at {self.path}: a `tuneguard train` used {self.run_dir} but "
                                        "ended before it recorded anything (killed while it prepared the data, or "
                                        "refused: its error line said why); run that command again")
            raise FileNotFoundError(f"no run store at {self.path}: is {self.run_dir} a tuneguard run directory?")
        if self.path.exists() and not self.path.is_file():
            raise NotARunStore(f"{self.path} is not a file (a directory, device or socket), so it is no tuneguard "
                               f"run store: is {self.run_dir} a tuneguard run directory?")
        if create:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                _create_atomically(self.path)
        uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
        self._conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the header
            if not readonly:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(SCHEMA)
                self._add_missing_columns()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                raise NotARunStore(f"{self.path} is not a tuneguard run store ({exc}): "
                                   "is it damaged, or not from tuneguard?") from None
            raise

    def _add_missing_columns(self) -> None:
        """Stores written by an older tuneguard lack columns added since; add them (NULL in old rows)."""
        have = {r[1] for r in self._conn.execute("PRAGMA table_info(qa_samples)")}
        if "extra" not in have:
            try:
                self._conn.execute("ALTER TABLE qa_samples ADD COLUMN extra TEXT")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise

    # -- lifecycle ------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, args)

    # -- meta / state ---------------------------------------------------------------
    def set_meta(self, **kv: Any) -> None:
        def write() -> None:
            with self._conn:
                for k, v in kv.items():
                    self._exec("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET "
                               "value=excluded.value", (k, _dumps(v)))

        self._even_when_full(write)

    def reserve_room(self) -> None:
        """Hold RESERVE_BYTES of pages in the store while a run trains: on a full disk they are
        freed (`_even_when_full`), and the run's end is written into them instead of being lost."""
        with self._conn:
            if self._exec("SELECT count(*) FROM reserve").fetchone()[0] == 0:
                self._exec("INSERT INTO reserve(room) VALUES(zeroblob(?))", (RESERVE_BYTES,))

    def _even_when_full(self, write: Any) -> None:
        """Run `write`; when the disk (or the store's page limit) is full, free the reserved room
        and run it once more. SQLite reuses freed pages without growing the file."""
        try:
            write()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
                raise
            with self._conn:
                freed = self._exec("DELETE FROM reserve").rowcount
            if not freed:
                raise
            log.warning("run.db: the disk is full; the room reserved for the run's end is used")
            write()

    def meta(self) -> dict[str, Any]:
        return {k: _meta_value(k, v) for k, v in self._exec("SELECT key, value FROM meta")}

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._exec("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return _meta_value(key, row[0], default) if row else default

    def init_run(self, *, config: dict[str, Any], max_steps: int | None, run_id: str | None = None) -> str:
        rid = run_id or self.get_meta("run_id") or uuid.uuid4().hex[:12]
        self.set_meta(run_id=rid, config=config, max_steps=max_steps, created=self.get_meta("created", time.time()))
        return rid

    def set_state(self, state: str, **extra: Any) -> None:
        self.set_meta(state=state, state_time=time.time(), pid=os.getpid(), host=socket.gethostname(), **extra)

    def start_process(self) -> None:
        """This process starts training (the first start or a resume): the process before it,
        if any, joins `earlier_processes` as (start, last seen), so that the run's first start
        and its training time over every process survive the resume (`run_times`)."""
        self.reserve_room()
        now, m = time.time(), self.meta()
        earlier = [list(seg) for seg in _segments(m)]
        first = run_times(m, self.events()).first_started if earlier else None
        # A process killed while paused: its pause so far joins the ended ones.
        self.set_state("running", started=now, first_started=first if first is not None else now,
                       paused_s=paused_time(m) or None, paused_since=None, paused_at_step=None,
                       earlier_processes=earlier, ended=None, exit_code=None, trainer_pid=os.getpid(),
                       trainer_host=socket.gethostname())

    def times(self) -> RunTimes:
        """When the run first started, and its wall and training time (`run_times`)."""
        return run_times(self.meta(), self.events())

    def state(self) -> str | None:
        return self.get_meta("state")

    def heartbeat(self, step: int) -> None:
        self.set_meta(heartbeat=time.time(), step=step)

    def is_live(self) -> bool:
        """A run is live when its state says so and its process still exists on this host."""
        m = self.meta()
        if m.get("state") not in LIVE_STATES:
            return False
        pid, host = m.get("pid"), m.get("host")
        if host and host != socket.gethostname():
            # Another machine (shared storage): trust a recent heartbeat.
            return time.time() - float(m.get("heartbeat", 0)) < 600
        try:
            os.kill(int(pid), 0)  # type: ignore[arg-type]  # None: TypeError, caught below
        except (ProcessLookupError, TypeError, ValueError):
            return False
        except PermissionError:
            return True
        return not _zombie(int(pid))  # type: ignore[arg-type]  # an int: os.kill took it

    def view_state(self, meta: dict[str, Any] | None = None, language: str = "en") -> tuple[str, str | None]:
        """(state, exit reason) as every view of a run shows them (status, watch, report):
        a live state whose process is gone reads "failed", with a reason saying so (in
        `language`); a store that records no state reads "unknown", and says that."""
        m = self.meta() if meta is None else meta
        state = m.get("state") or "unknown"
        reason = m.get("exit_reason")
        if state == "failed" and not reason:
            reason = self._failed_event_reason()
        if state in LIVE_STATES and not self.is_live():
            if reason is None:
                gone = (T("run.gone", process=process_spec(m), state=state) if _recorded(m.get("pid"))
                        else T("run.gone_unknown", state=state))
                reason = render(gone, language)
            state = "failed"
        if state == "unknown":
            reason = say("run.no_state", language) + (say("run.no_state_reason", language, reason=reason) if reason else "")
        return state, reason

    def _failed_event_reason(self) -> str | None:
        """The error of the run's last `failed` event: its exit reason when the meta row could
        not take it (a full disk lets a run store change a row in place, not grow one, while the
        event went into another table's free room)."""
        row = self._exec("SELECT payload FROM events WHERE type=? ORDER BY id DESC LIMIT 1",
                         (str(Event.FAILED),)).fetchone()
        payload = _loads(row[0], {}, "event") if row else {}
        error = payload.get("error") if isinstance(payload, dict) else None
        return error if isinstance(error, str) and error else None

    # -- metrics --------------------------------------------------------------------
    def log_metrics(self, step: int, kind: str, values: dict[str, Any]) -> None:
        cols = {c: as_float(values.get(c)) for c in METRIC_COLUMNS if c in values}
        extra = {k: v for k, v in values.items() if k not in METRIC_COLUMNS}
        # SQLite stores NaN as NULL: remember non-finite values so readers see them.
        nonfinite = {c: str(v) for c, v in cols.items() if v is not None and not math.isfinite(v)}
        if nonfinite:
            extra["_nonfinite"] = nonfinite
        names = ["step", "kind", "time", *cols, "extra"]
        params = [step, kind, time.time(), *cols.values(), _dumps(extra)]
        updates = ", ".join(f"{c}=excluded.{c}" for c in names[2:])
        sql = (f"INSERT INTO metrics({', '.join(names)}) VALUES({', '.join('?' * len(names))}) "
               f"ON CONFLICT(step, kind) DO UPDATE SET {updates}")
        with self._conn:
            self._exec(sql, tuple(params))

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM metrics" + (" WHERE kind=?" if kind else "") + " ORDER BY step, kind"
        return self._metric_rows(self._exec(sql, (kind,) if kind else ()))

    def latest_metrics(self, kind: str) -> dict[str, Any] | None:
        """The metrics row of `kind` with the highest step (None: none): one indexed row, where
        `metrics(kind)[-1]` reads every row of a long run."""
        rows = self._metric_rows(self._exec("SELECT * FROM metrics WHERE kind=? ORDER BY step DESC LIMIT 1", (kind,)))
        return rows[0] if rows else None

    @staticmethod
    def _metric_rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
        names = [d[0] for d in cur.description]
        fetched = cur.fetchall()
        at = names.index("extra")
        # One JSON document for every row's extra: a 100,000-step run parses in a quarter less time.
        try:
            extras = json.loads("[" + ",".join(r[at] or "{}" for r in fetched) + "]")
        except ValueError:  # a damaged cell: read row by row, that one as empty
            extras = [_loads(r[at], {}, "metrics") for r in fetched]
        rows = []
        for r, extra in zip(fetched, extras, strict=True):
            d = dict(zip(names, r, strict=False))
            del d["extra"]
            d.update(extra if isinstance(extra, dict) else {})
            for c, v in d.pop("_nonfinite", {}).items():
                d[c] = float(v)
            rows.append(d)
        return rows

    def log_steps(self, log_step: int, records: Sequence[Sequence[Any]], *, at_eval: bool = False) -> None:
        """The per-step records ([step, loss, grad_norm, tokens]) one log (or evaluation) handed
        over; a step recorded again (after a resume or rollback) replaces its row."""
        rows = []
        for step, loss, grad, tokens in records:
            bad = {k: str(v) for k, v in (("loss", loss), ("grad_norm", grad))
                   if v is not None and not math.isfinite(v)}
            rows.append((int(step), log_step, int(at_eval), as_float(loss), as_float(grad), tokens,
                         json.dumps(bad) if bad else None))
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO steps(step, log_step, at_eval, loss, grad_norm, tokens, "
                                   "nonfinite) VALUES(?, ?, ?, ?, ?, ?, ?)", rows)

    def step_records(self, up_to: int | None = None) -> list[tuple[int, bool, list[Any]]]:
        """(log step, at an evaluation, [step, loss, grad_norm, tokens]) of every recorded step up
        to `up_to`, in step order."""
        sql = "SELECT step, log_step, at_eval, loss, grad_norm, tokens, nonfinite FROM steps"
        try:
            cur = self._exec(sql + (" WHERE step <= ? ORDER BY step" if up_to is not None else " ORDER BY step"),
                             (up_to,) if up_to is not None else ())
        except sqlite3.OperationalError as exc:  # read-only, written by a tuneguard without the table
            if "no such table" not in str(exc):
                raise
            return []
        out = []
        for step, log_step, at_eval, loss, grad, tokens, bad in cur:
            if bad:
                b = _loads(bad, {}, "steps")
                b = b if isinstance(b, dict) else {}
                loss = float(b["loss"]) if "loss" in b else loss
                grad = float(b["grad_norm"]) if "grad_norm" in b else grad
            out.append((log_step, bool(at_eval), [step, loss, grad, tokens]))
        return out

    def truncate_after(self, step: int, *, findings: bool = False) -> None:
        """Drop what was recorded after `step` (a resume from the checkpoint at `step`):
        metrics, per-step records and QA samples; with `findings`, also the guards' findings, which a run
        resumed after a crash records again as it replays those steps (events stay: they
        are the log of what happened, kills and resumes included)."""
        with self._conn:
            self._exec("DELETE FROM metrics WHERE step > ?", (step,))
            self._exec("DELETE FROM qa_samples WHERE step > ?", (step,))
            self._exec("DELETE FROM steps WHERE step > ?", (step,))
            if findings:
                self._exec("DELETE FROM findings WHERE step > ? AND source != 'audit'", (step,))
        if int(self.get_meta("step") or 0) > step:
            self.set_meta(step=step)  # the step `status` shows goes back with the rows

    # -- findings -------------------------------------------------------------------
    def add_finding(self, f: Finding) -> None:
        with self._conn:
            self._exec("INSERT INTO findings(time, source, code, severity, step, message, evidence, recommendation) "
                       "VALUES(?,?,?,?,?,?,?,?)",
                       (time.time(), f.source, f.code, f.severity, f.step, f.message,
                        _dumps({**(f.evidence or {}), TEXT_KEY: f.text} if f.text else f.evidence), f.recommendation))

    def replace_audit_findings(self, findings: list[Finding]) -> None:
        with self._conn:
            self._exec("DELETE FROM findings WHERE source='audit'")
        for f in findings:
            f.source = "audit"
            self.add_finding(f)

    def findings(self, source: str | None = None) -> list[Finding]:
        sql = "SELECT source, code, severity, step, message, evidence, recommendation FROM findings"
        sql += " WHERE source=?" if source else ""
        rows = self._exec(sql + " ORDER BY id", (source,) if source else ()).fetchall()
        out = []
        for src, c, s, st, m, e, r in rows:
            ev = _loads(e, {}, "finding evidence")
            text = ev.pop(TEXT_KEY, None) if isinstance(ev, dict) else None
            out.append(Finding(code=c, severity=s, step=st, message=m, evidence=ev, recommendation=r, source=src,
                               text=text))
        return out

    # -- events ---------------------------------------------------------------------
    def add_event(self, type_: str, payload: dict[str, Any] | None = None, step: int | None = None) -> None:
        def write() -> None:
            with self._conn:
                self._exec("INSERT INTO events(time, step, type, payload) VALUES(?,?,?,?)",
                           (time.time(), step, type_, _dumps(payload or {})))

        self._even_when_full(write)

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, time, step, type, payload FROM events" + (" WHERE type=?" if type_ else "") + " ORDER BY id"
        out = []
        for i, t, s, ty, p in self._exec(sql, (type_,) if type_ else ()).fetchall():
            payload = _loads(p, None, f"{ty} event")
            if isinstance(payload, dict):  # every event is written with a mapping: a damaged one is left out
                out.append({"id": i, "time": t, "step": s, "type": ty, "payload": payload})
        return out

    # -- QA samples -----------------------------------------------------------------
    def add_qa_sample(self, step: int, prompt: str, output: str, keywords: list[str],
                      keyword_score: float | None, emitted_eos: bool, distinct2: float | None, *,
                      expected: list[str] | None = None, correct: bool | None = None, base: bool = False) -> None:
        """One generated answer to a QA probe. `expected`/`correct`: the probe's expected
        answers and whether the output gives one; `base`: answered by the base model (the
        adapter disabled) rather than the model being trained."""
        extra = {k: v for k, v in (("expected", expected), ("correct", correct), ("base", base or None))
                 if v is not None}
        with self._conn:
            self._exec("INSERT INTO qa_samples(time, step, prompt, output, keywords, keyword_score, emitted_eos, distinct2, "
                       "extra) VALUES(?,?,?,?,?,?,?,?,?)",
                       (time.time(), step, prompt, output, _dumps(keywords), keyword_score, int(emitted_eos), distinct2,
                        _dumps(extra) if extra else None))

    def qa_samples(self, base: bool = False) -> list[dict[str, Any]]:
        """The QA samples of the model being trained, by step; `base`: the base model's answers instead.
        Each has step, prompt, output, keywords, keyword_score, emitted_eos, distinct2, expected, correct."""
        cols = {r[1] for r in self._exec("PRAGMA table_info(qa_samples)")}
        extra = "extra" if "extra" in cols else "NULL"  # a read-only store from before the column existed
        cur = self._exec("SELECT step, prompt, output, keywords, keyword_score, emitted_eos, distinct2, "
                         f"{extra} FROM qa_samples ORDER BY step, id")  # noqa: S608 - a fixed column name
        out = []
        for s, p, o, k, ks, e, d, x in cur.fetchall():
            more = _loads(x, {}, "QA sample") if x else {}
            more = more if isinstance(more, dict) else {}
            if bool(more.get("base")) != base:
                continue
            out.append({"step": s, "prompt": p, "output": o, "keywords": _loads(k, [], "QA sample"), "keyword_score": ks,
                        "emitted_eos": bool(e), "distinct2": d, "expected": more.get("expected"),
                        "correct": more.get("correct")})
        return out

    # -- control requests -----------------------------------------------------------
    def request_control(self, action: str, arg: str | None = None, requested_by: str | None = None) -> int:
        who = requested_by or f"{os.environ.get('USER', 'user')}@{socket.gethostname()} pid {os.getpid()}"
        with self._conn:
            cur = self._exec("INSERT INTO control(time, action, arg, requested_by) VALUES(?,?,?,?)",
                             (time.time(), action, arg, who))
        return int(cur.lastrowid or 0)  # an INSERT always sets it

    def pending_control(self) -> list[dict[str, Any]]:
        cur = self._exec("SELECT id, time, action, arg, requested_by FROM control WHERE status='pending' ORDER BY id")
        return [{"id": i, "time": t, "action": a, "arg": g, "requested_by": w} for i, t, a, g, w in cur.fetchall()]

    def mark_control(self, req_id: int, status: str, step: int | None = None, note: str | None = None) -> None:
        with self._conn:
            self._exec("UPDATE control SET status=?, handled_time=?, handled_step=?, note=? WHERE id=?",
                       (status, time.time(), step, note, req_id))

    def control_requests(self) -> list[dict[str, Any]]:
        cur = self._exec("SELECT id, time, action, arg, requested_by, status, handled_time, handled_step, note FROM control ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=False)) for r in cur.fetchall()]

    # -- summaries ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The `status --json` object (contract: DESIGN section 4)."""
        m = self.meta()
        last_train = self.latest_metrics("train") or {}
        evals = self.metrics("eval")  # one row per evaluation: hundreds in the longest run
        eval_losses = [r["eval_loss"] for r in evals if r.get("eval_loss") is not None]
        finite = [x for x in eval_losses if math.isfinite(x)]
        state, exit_reason = self.view_state(m)
        # The meta step is the latest heartbeat's or the step the run ended at (ahead of the
        # last logged row when a stop or a halt came between two logs).
        step = max([r["step"] for r in ([last_train] if last_train else []) + evals] + [m.get("step", 0) or 0])
        if m.get("state") == "paused" and isinstance(m.get("paused_at_step"), int):
            step = max(step, m["paused_at_step"])  # paused between two logs: the step it holds at
        return {
            "state": state,
            "step": step,
            "max_steps": m.get("max_steps"),
            "epoch": last_train.get("epoch") if last_train else (evals[-1].get("epoch") if evals else None),
            "train_loss": last_train.get("loss"),
            "eval_loss": eval_losses[-1] if eval_losses else None,
            "best_eval_loss": min(finite) if finite else None,
            "findings": [f.to_dict() for f in self.findings()],
            "run_id": m.get("run_id"),
            "tokens_per_s": last_train.get("tokens_per_s"),
            "eta_s": last_train.get("eta_s"),
            "notify_failures": len(self.events(Event.NOTIFY_FAILED)),
            "exit_reason": exit_reason,
            "exit_code": m.get("exit_code") if state == m.get("state") else None,
        }

    def iter_tables(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        for (name,) in self._exec("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            yield name, self._exec(f"SELECT * FROM {name}").fetchall()  # noqa: S608 - table names from sqlite_master
