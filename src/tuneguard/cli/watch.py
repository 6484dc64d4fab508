"""`tuneguard watch RUN_DIR`: a live dashboard of a run, read from its run store only.

The store is the single record of a run, so the dashboard works from another terminal,
another user, or over shared storage, and never slows the trainer (WAL readers do not block
the writer). On a terminal it is a Rich Live view redrawn every interval; elsewhere (a log
file, CI, a notebook's captured output) it prints one compact line whenever something
changed. It ends by itself when the run reaches a final state.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from tuneguard.cli.run_clock import RunClock, clock_line, run_clock
from tuneguard.findings import Finding
from tuneguard.fmt import fmt_duration, num
from tuneguard.store.run_store import FINAL_STATES, RunStore

log = logging.getLogger(__name__)

BLOCKS = "▁▂▃▄▅▆▇█"
WINDOW = 60  # recent logged steps shown in the sparklines
STARTING_GRACE_S = 30.0  # how long a run.db without tables may be a trainer that is starting
STATE_STYLE = {"running": "bold green", "paused": "bold yellow", "starting": "bold cyan", "finished": "bold green",
               "stopped": "bold yellow", "halted": "bold red", "failed": "bold red"}


def sparkline(values: Sequence[float | None], width: int = WINDOW) -> str:
    """The last `width` values as unicode blocks scaled to their own min..max.

    None (not logged) is a space and a non-finite value is "!", so a NaN stays visible.
    """
    vals = list(values)[-width:] if width > 0 else []
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    if not finite:
        return "".join(" " if v is None else "!" for v in vals)
    lo, hi = min(finite), max(finite)
    out = []
    for v in vals:
        if v is None:
            out.append(" ")
        elif not math.isfinite(v):
            out.append("!")
        elif hi == lo:
            out.append(BLOCKS[len(BLOCKS) // 2])
        else:
            out.append(BLOCKS[round((v - lo) / (hi - lo) * (len(BLOCKS) - 1))])
    return "".join(out)


def _f(v: Any, nd: int = 4) -> str:
    return num(v, nd)


@dataclasses.dataclass
class Snapshot:
    """What the dashboard shows, read in one pass over the store."""

    state: str
    step: int
    max_steps: int | None
    epoch: float | None
    train: list[dict[str, Any]]  # recent train rows, oldest first
    evals: list[dict[str, Any]]  # recent eval rows, oldest first
    best_eval: float | None
    findings: list[Finding]
    pending: list[dict[str, Any]]
    last_handled: dict[str, Any] | None
    meta: dict[str, Any]
    clock: RunClock | None = None  # when it started, how long it has run, the time left

    @property
    def final(self) -> bool:
        """Nothing more will change: an end state, or no state at all (a store that lost it:
        the wait would never end)."""
        return self.state in FINAL_STATES or self.state == "unknown"

    @property
    def pct(self) -> float | None:
        return 100.0 * self.step / self.max_steps if self.max_steps else None

    @property
    def latest(self) -> dict[str, Any]:
        return self.train[-1] if self.train else {}

    @property
    def eval_loss(self) -> float | None:
        return self.evals[-1].get("eval_loss") if self.evals else None


class StoreReader:
    """Reads snapshots of one run; only the recent window of metrics, however long the run.

    `RunStore.metrics()` returns the whole history (fine for reports); a dashboard redrawn
    every second of an 18-hour run with logging_steps=1 needs the last rows only, so those
    come from an indexed `ORDER BY step DESC LIMIT` on a read-only connection of its own.
    """

    def __init__(self, run_dir: Path, window: int = WINDOW):
        self.store = RunStore(run_dir, readonly=True)
        self.window = window
        self._conn = sqlite3.connect(f"file:{self.store.path}?mode=ro", uri=True, timeout=30.0)
        self._conn.execute("PRAGMA busy_timeout=30000")

    def close(self) -> None:
        self._conn.close()
        self.store.close()

    def _recent(self, kind: str, n: int) -> list[dict[str, Any]]:
        cur = self._conn.execute("SELECT * FROM metrics WHERE kind=? ORDER BY step DESC LIMIT ?", (kind, n))
        return RunStore._metric_rows(cur)[::-1]  # the store's reading: non-finite values, a damaged cell

    def snapshot(self) -> Snapshot:
        try:
            return self._snapshot()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            # The trainer creates run.db and its tables at once: a file that has had no
            # tables for a while is not a run being started.
            if time.time() - self.store.path.stat().st_mtime > STARTING_GRACE_S:
                raise
            # The trainer has just created run.db and not yet its tables.
            return Snapshot(state="starting", step=0, max_steps=None, epoch=None, train=[], evals=[],
                            best_eval=None, findings=[], pending=[], last_handled=None, meta={})

    def _snapshot(self) -> Snapshot:
        meta = self.store.meta()
        state, meta["exit_reason"] = self.store.view_state(meta)
        if state == "unknown" and time.time() - self.store.path.stat().st_mtime <= STARTING_GRACE_S:
            state = "starting"  # a store created this moment: the trainer records its state next
        train = self._recent("train", self.window)
        evals = self._recent("eval", self.window)
        best = self._conn.execute("SELECT MIN(eval_loss) FROM metrics WHERE kind='eval'").fetchone()[0]
        steps = [r["step"] for r in train[-1:] + evals[-1:]]
        step = max(steps + [int(meta.get("step") or 0)])
        control = self.store.control_requests()
        handled = [r for r in control if r["status"] != "pending"]
        epoch = (train[-1] if train else evals[-1] if evals else {}).get("epoch")
        return Snapshot(state=state, step=step, max_steps=meta.get("max_steps"), epoch=epoch, train=train,
                        evals=evals, best_eval=best, findings=self.store.findings()[-5:],
                        pending=[r for r in control if r["status"] == "pending"],
                        last_handled=handled[-1] if handled else None, meta=meta,
                        clock=run_clock(self.store.times(), state, train[-1].get("eta_s") if train else None))


# --- rendering -----------------------------------------------------------------------

def _memory(row: dict[str, Any]) -> str:
    if row.get("mem_allocated_gb") is not None:
        total = f"/{row['mem_total_gb']:.1f}" if row.get("mem_total_gb") else ""
        reserved = f" (reserved {row['mem_reserved_gb']:.1f})" if row.get("mem_reserved_gb") is not None else ""
        return f"GPU {row['mem_allocated_gb']:.1f}{total} GB{reserved}"
    if row.get("rss_gb") is not None:
        return f"RSS {row['rss_gb']:.2f} GB"
    return "-"


def _eta(s: Snapshot) -> str:
    if s.final:
        return "-"
    if s.state == "paused":
        return "paused"
    return fmt_duration(s.latest.get("eta_s"))


def _control_line(s: Snapshot, run_dir: Path) -> str:
    parts = []
    if s.state == "paused":
        since = s.meta.get("state_time")
        ago = f" for {fmt_duration(time.time() - since)}" if since else ""
        parts.append(f"PAUSED at step {s.meta.get('paused_at_step', s.step)}{ago}: "
                     f"`tuneguard continue {run_dir}` resumes")
    for r in s.pending:
        parts.append(f"pending {r['action']} by {r['requested_by']} ({fmt_duration(time.time() - r['time'])} ago)")
    if not parts and s.last_handled:
        r = s.last_handled
        parts.append(f"last request: {r['action']} {r['status']} at step {r['handled_step']}"
                     + (f" ({r['note']})" if r.get("note") else ""))
    return "; ".join(parts) or "no requests"


def render(s: Snapshot, run_dir: Path, width: int = 120, console: Console | None = None) -> RenderableType:
    """The dashboard for one snapshot (pure: easy to test and to reuse); `width`: the console's.
    With `console` (a live terminal view) the findings are cut to what fits its height."""
    spark = max(10, min(WINDOW, width - 45))
    header = Text.assemble(("tuneguard watch ", "bold"), (str(run_dir), ""), "  state ",
                           (s.state.upper(), STATE_STYLE.get(s.state, "bold")))
    model = (s.meta.get("config") or {}).get("model", {}).get("name")
    if model:
        header.append(f"  model {model}")
    pct = s.pct
    bar = ProgressBar(total=float(s.max_steps or 1), completed=float(min(s.step, s.max_steps or s.step)), width=40)
    progress = Table.grid(padding=(0, 1))
    progress.add_row(bar, Text(f"{pct:.0f}%" if pct is not None else "?%"),
                     Text(f"step {s.step}/{s.max_steps or '?'}  epoch {_f(s.epoch, 3)}  ETA {_eta(s)}"))

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(no_wrap=True, overflow="crop", min_width=spark)
    grid.add_column()
    losses = [r.get("loss") for r in s.train]
    finite = [x for x in losses if x is not None and math.isfinite(x)]
    grid.add_row("loss", sparkline(losses, spark), f"{_f(s.latest.get('loss'))}" + (f"  min {_f(min(finite))}" if finite else ""))
    grid.add_row("eval loss", sparkline([r.get("eval_loss") for r in s.evals], spark),
                 f"{_f(s.eval_loss)}  best {_f(s.best_eval)}")
    grid.add_row("tokens/s", sparkline([r.get("tokens_per_s") for r in s.train], spark), _f(s.latest.get("tokens_per_s"), 3))
    grid.add_row("memory", "", _memory(s.latest))
    control = Text.assemble(("control    ", "bold"), _control_line(s, run_dir))

    parts: list[RenderableType] = [header, progress, grid, control]
    if s.clock is not None:
        parts.insert(2, Text(clock_line(s.clock, s.state, s.meta.get("config"))))
    if s.final and s.meta.get("exit_reason"):
        parts.append(Text(f"ended: {s.meta['exit_reason']}"))
    if s.findings:
        from tuneguard.cli.findings_view import finding_renderable

        blocks = [finding_renderable(f, evidence=False) for f in s.findings]
        at = parts.index(control) + 1
        parts[at:at] = [Text("latest findings", style="bold"), *_fit(parts, blocks, len(s.findings), run_dir, width, console)]
    return Group(*parts)


def _fit(fixed: list[RenderableType], blocks: list[RenderableType], total: int, run_dir: Path, width: int,
         console: Console | None) -> list[RenderableType]:
    """The newest finding blocks that fit the live view's height under the rest of the dashboard
    (Rich's Live view would cut the last one mid-sentence on an 80 x 24 terminal), and a line
    saying where the others are."""
    if console is None or not console.is_terminal:
        return blocks
    opts = console.options.update_width(width)
    room = console.height - sum(len(console.render_lines(p, opts, pad=False)) for p in fixed) - 3
    kept: list[RenderableType] = []
    for block in reversed(blocks):
        rows = len(console.render_lines(block, opts, pad=False))
        if rows > room:
            break
        kept.insert(0, block)
        room -= rows
    hidden = total - len(kept)
    if hidden:
        kept.insert(0, Text(f"{hidden} earlier finding{'s' if hidden > 1 else ''} not shown here: "
                            f"tuneguard status {run_dir}", style="dim"))
    return kept


def compact_line(s: Snapshot) -> str:
    """One line per change for a non-terminal output."""
    pct = f" ({s.pct:.0f}%)" if s.pct is not None else ""
    line = (f"{s.state} step {s.step}/{s.max_steps or '?'}{pct} loss {_f(s.latest.get('loss'))} "
            f"eval {_f(s.eval_loss)} best {_f(s.best_eval)} tok/s {_f(s.latest.get('tokens_per_s'), 3)} "
            f"ETA {_eta(s)}")
    if s.pending:
        line += " pending " + ",".join(r["action"] for r in s.pending)
    if s.findings:
        f = s.findings[-1]
        line += f" last finding {f.code}@{f.step if f.step is not None else 'audit'}"
    return line


def final_line(s: Snapshot, run_dir: Path) -> str:
    best = f"; best eval loss {_f(s.best_eval)}" if s.best_eval is not None else ""
    why = f"; {s.meta['exit_reason']}" if s.meta.get("exit_reason") else ""
    state = "state unknown" if s.state == "unknown" else s.state
    return f"run {state} at step {s.step}/{s.max_steps or '?'}{best}{why} ({run_dir})"


def watch_run(run_dir: Path, console: Console, interval: float = 2.0,
              sleep: Callable[[float], None] = time.sleep) -> Snapshot:
    """Show the run until it reaches a final state; returns the last snapshot.

    Raises FileNotFoundError when RUN_DIR holds no run store; KeyboardInterrupt passes
    through (the command turns it into a clean exit).
    """
    reader = StoreReader(run_dir)
    try:
        snap = reader.snapshot()
        if console.is_terminal and not snap.final:
            from rich.live import Live

            live_view = Live(render(snap, run_dir, console.width, console), console=console, auto_refresh=False)
            with live_view as live:
                while not snap.final:
                    sleep(interval)
                    snap = reader.snapshot()
                    live.update(render(snap, run_dir, console.width, console), refresh=True)
        elif console.is_terminal:
            console.print(render(snap, run_dir, console.width))
        else:
            last = None
            while True:
                line = compact_line(snap)
                if line != last:
                    console.print(f"{time.strftime('%H:%M:%S')} {line}", markup=False, highlight=False)
                    last = line
                if snap.final:
                    break
                sleep(interval)
                snap = reader.snapshot()
        console.print(final_line(snap, run_dir), markup=False, highlight=False)
        return snap
    finally:
        reader.close()
