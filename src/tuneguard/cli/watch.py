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

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from tuneguard.catalog import TABLE, config_language, say
from tuneguard.cli.run_clock import RunClock, clock_line, run_clock
from tuneguard.findings import Finding
from tuneguard.fmt import fmt_duration, num
from tuneguard.store.run_store import FINAL_STATES, RunStore

log = logging.getLogger(__name__)

BLOCKS = "▁▂▃▄▅▆▇█"
ROWS = ("loss", "eval", "tps", "memory")  # the grid's labelled rows (catalog watch.row.*)
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
    def language(self) -> str:
        """The run's language (its config's), which the dashboard speaks, like `status`."""
        return config_language(self.meta.get("config") or {})

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
        state, meta["exit_reason"] = self.store.view_state(meta, language=config_language(meta.get("config") or {}))
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

def _memory(row: dict[str, Any], lang: str) -> str:
    if row.get("mem_allocated_gb") is not None:
        total = f"/{row['mem_total_gb']:.1f}" if row.get("mem_total_gb") else ""
        reserved = (say("watch.gpu_reserved", lang, gb=row["mem_reserved_gb"])
                    if row.get("mem_reserved_gb") is not None else "")
        return say("watch.gpu", lang, used=row["mem_allocated_gb"], total=total, reserved=reserved)
    if row.get("rss_gb") is not None:
        return f"RSS {row['rss_gb']:.2f} GB"
    return "-"


def _eta(s: Snapshot) -> str:
    if s.final:
        return "-"
    if s.state == "paused":
        return say("watch.eta_paused", s.language)
    return fmt_duration(s.latest.get("eta_s"))


def _control_line(s: Snapshot, run_dir: Path) -> str:
    """The run's control requests: a pause, the pending ones, else the last one handled (its
    status in the run's language; the trainer's note as it recorded it)."""
    lang = s.language
    parts = []
    if s.state == "paused":
        since = s.meta.get("state_time")
        ago = say("watch.paused_for", lang, duration=fmt_duration(time.time() - since)) if since else ""
        parts.append(say("watch.paused", lang, step=s.meta.get("paused_at_step", s.step), since=ago, run_dir=run_dir))
    for r in s.pending:
        parts.append(say("watch.pending", lang, action=r["action"], who=r["requested_by"],
                         ago=fmt_duration(time.time() - r["time"])))
    if not parts and s.last_handled:
        r = s.last_handled
        key = f"control.status.{r['status']}"
        status = say(key, lang) if key in TABLE else r["status"]
        parts.append(say("watch.last_request", lang, action=r["action"], status=status, step=r["handled_step"],
                         note=f" ({r['note']})" if r.get("note") else ""))
    return "; ".join(parts) or say("watch.no_requests", lang)


def _ended(s: Snapshot) -> str | None:
    """Why the run ended, in its language (a halt's finding message, the recipe's reasons), as `status` says it."""
    from types import SimpleNamespace

    from tuneguard.report.components import exit_reason

    return exit_reason(SimpleNamespace(meta=s.meta, findings=s.findings), s.language)  # type: ignore[arg-type]


def render(s: Snapshot, run_dir: Path, width: int = 120, console: Console | None = None) -> RenderableType:
    """The dashboard for one snapshot (pure: easy to test and to reuse); `width`: the console's.
    With `console` (a live terminal view) the findings are cut to what fits its height."""
    lang = s.language
    spark = max(10, min(WINDOW, width - 45))
    header = Text.assemble(("tuneguard watch ", "bold"), (str(run_dir), ""), say("statuscli.state", lang),
                           (s.state.upper(), STATE_STYLE.get(s.state, "bold")))
    model = (s.meta.get("config") or {}).get("model", {}).get("name")
    if model:
        header.append(say("watch.model", lang, name=model))
    pct = s.pct
    bar = ProgressBar(total=float(s.max_steps or 1), completed=float(min(s.step, s.max_steps or s.step)), width=40)
    progress = Table.grid(padding=(0, 1))
    progress.add_row(bar, Text(f"{pct:.0f}%" if pct is not None else "?%"),
                     Text(say("watch.progress", lang, step=s.step, max_steps=s.max_steps or "?", epoch=_f(s.epoch, 3),
                              eta=_eta(s))))
    # The control line's label in the column of the rows' labels (measured as Rich measures Thai).
    label = say("watch.row.control", lang)
    pad = max(cell_len(say(f"watch.row.{k}", lang)) for k in ROWS) - cell_len(label)  # the grid column's width
    control = Text.assemble((label, "bold"), " " * (max(pad, 0) + 2), _control_line(s, run_dir))
    parts: list[RenderableType] = [header, progress, _metrics(s, spark), control]
    if s.clock is not None:
        parts.insert(2, Text(clock_line(s.clock, s.state, s.meta.get("config"))))
    ended = _ended(s) if s.final else None
    if ended:
        parts.append(Text(say("statuscli.ended", lang, code="", reason=ended)))
    if s.findings:
        from tuneguard.cli.findings_view import finding_renderable

        blocks = [finding_renderable(f, evidence=False, language=lang) for f in s.findings]
        at = parts.index(control) + 1
        parts[at:at] = [Text(say("watch.latest_findings", lang), style="bold"),
                        *_fit(parts, blocks, len(s.findings), run_dir, width, console, lang)]
    return Group(*parts)


def _metrics(s: Snapshot, spark: int) -> Table:
    """The rows of sparklines and latest values: loss, eval loss, tokens/s, memory."""
    lang = s.language
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(no_wrap=True, overflow="crop", min_width=spark)
    grid.add_column()
    losses = [r.get("loss") for r in s.train]
    finite = [x for x in losses if x is not None and math.isfinite(x)]
    loss = _f(s.latest.get("loss"))
    grid.add_row(say("watch.row.loss", lang), sparkline(losses, spark),
                 say("watch.loss_min", lang, loss=loss, min=_f(min(finite))) if finite else loss)
    grid.add_row(say("watch.row.eval", lang), sparkline([r.get("eval_loss") for r in s.evals], spark),
                 say("watch.eval_best", lang, loss=_f(s.eval_loss), best=_f(s.best_eval)))
    grid.add_row(say("watch.row.tps", lang), sparkline([r.get("tokens_per_s") for r in s.train], spark),
                 _f(s.latest.get("tokens_per_s"), 3))
    grid.add_row(say("watch.row.memory", lang), "", _memory(s.latest, lang))
    return grid


def _fit(fixed: list[RenderableType], blocks: list[RenderableType], total: int, run_dir: Path, width: int,
         console: Console | None, lang: str = "en") -> list[RenderableType]:
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
        kept.insert(0, Text(say("watch.hidden.many" if hidden > 1 else "watch.hidden.one", lang, n=hidden,
                                run_dir=run_dir), style="dim"))
    return kept


def compact_line(s: Snapshot) -> str:
    """One line per change for a non-terminal output, in the run's language."""
    lang = s.language
    pct = f" ({s.pct:.0f}%)" if s.pct is not None else ""
    line = say("watch.line", lang, state=s.state, step=s.step, max_steps=s.max_steps or "?", pct=pct,
               loss=_f(s.latest.get("loss")), eval=_f(s.eval_loss), best=_f(s.best_eval),
               tps=_f(s.latest.get("tokens_per_s"), 3), eta=_eta(s))
    if s.pending:
        line += say("watch.line.pending", lang, actions=",".join(r["action"] for r in s.pending))
    if s.findings:
        f = s.findings[-1]
        where = say("watch.line.audit", lang) if f.step is None else say("watch.line.step", lang, step=f.step)
        line += say("watch.line.finding", lang, code=f.code, where=where)
    return line


def final_line(s: Snapshot, run_dir: Path) -> str:
    """The last line: how the run ended, its best eval loss and why it ended, in the run's language."""
    from tuneguard.report.components import Words

    lang = s.language
    best = say("watch.final.best", lang, loss=_f(s.best_eval)) if s.best_eval is not None else ""
    ended = _ended(s)
    why = say("watch.final.why", lang, reason=ended) if ended else ""
    state = say("watch.final.unknown", lang) if s.state == "unknown" else Words(lang).state(s.state)
    return say("watch.final", lang, state=state, step=s.step, max_steps=s.max_steps or "?", best=best, why=why,
               run_dir=run_dir)


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
