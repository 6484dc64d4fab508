"""Soak: a long tiny run against a flaky notification endpoint and a busy `status` reader.

    python bench/soak.py [--steps 3000] [--seed 0] [--queue-size 8] [--stall-s 12] [--stall-steps 0]
                         [--stall-evals 0] [--threads 1] [--json OUT] [--keep DIR]

What it runs: `tuneguard train` (the tiny preset, CPU, --threads) for --steps optimizer steps, with a
progress message every 0.5 s, every evaluation and finding notified to a local HTTP
endpoint that holds its third request for --stall-s seconds, and further until the run has
trained --stall-steps more steps and recorded --stall-evals more evaluations (at most
--stall-max-s: an outage that outlasts the backlog on a machine of any speed; messages pile up
behind it), then answers 500 (15%), answers after 0.3-2 s (10%), resets the connection (5%)
or answers 200; meanwhile one thread reads the run store the way `tuneguard status --json`
does every 100 ms, and the real `tuneguard status --json` runs every 5 s.

What it reports (one JSON object): whether the run finished; the trainer's resident memory
(RSS) over the training steps from the run store (the MetricsCallback logs it with every
training log): at 10-20% of the steps, at the end, the peak, and the least-squares slope in
MB per 1,000 steps, so "memory stays flat" is a number; the notifier's backlog (most
messages ever waiting against notify.queue_size, dropped messages and the drops recorded in
the store, sent and failed counts); and the readers' polls and errors.

Speed is not measured here (see bench/throughput.py); the run is long so that a leak or an
unbounded queue would show.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    """500s, slow answers and connection resets, drawn from a seeded generator."""

    server: Any

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with srv.lock:
            srv.requests += 1
            stall = srv.requests == srv.stall_at
            r = srv.rng.random()
            delay = srv.rng.uniform(0.3, 2.0)
            kind = "stall" if stall else "reset" if r < 0.05 else "500" if r < 0.20 else "slow" if r < 0.30 else "200"
            srv.counts[kind] = srv.counts.get(kind, 0) + 1
        if kind == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of a clean FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if stall:  # an outage: events pile up behind this request
            hold(srv)
        elif kind == "slow":
            time.sleep(delay)
        self._answer(500 if kind == "500" else 200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


class FlakyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow answer (BrokenPipe) is part of the test


def progress(run: Path | None) -> tuple[int, int]:
    """The run's last recorded step and how many evaluations it has recorded ((0, 0) before
    the store exists)."""
    from tuneguard.store.run_store import RunStore

    if run is None or not (run / "run.db").exists():
        return 0, 0
    try:
        with RunStore(run, readonly=True) as s:
            return int(s.summary().get("step") or 0), len(s.metrics("eval"))
    except Exception:  # noqa: BLE001 - a store being written may not be readable this instant
        return 0, 0


def hold(srv: Any) -> None:
    """The outage: `stall_s` seconds, then until the run has trained `stall_steps` more steps and
    recorded `stall_evals` more evaluations (at most `stall_max_s` in all). Counted in steps and
    evaluations, not only seconds, the backlog overflows however slowly a loaded machine trains:
    an evaluation is recorded, then notified, so when `stall_evals` more are recorded at least
    `stall_evals - 1` evaluation messages have queued behind the outage, and a queue of
    `stall_evals - 2` must drop one. The test of its bound does not depend on timing."""
    t0, (step0, evals0) = time.monotonic(), progress(srv.run)
    time.sleep(srv.stall_s)
    while (srv.stall_steps or srv.stall_evals) and time.monotonic() - t0 < srv.stall_max_s:
        step, evals = progress(srv.run)
        if step >= step0 + srv.stall_steps and evals >= evals0 + srv.stall_evals:
            break
        time.sleep(0.2)


def start_server(seed: int, stall_s: float, stall_at: int = 3, *, stall_steps: int = 0, stall_evals: int = 0,
                 stall_max_s: float = 120.0, run: Path | None = None) -> FlakyServer:
    """The endpoint; its `stall_at`-th request is held (an outage, see `hold`)."""
    srv = FlakyServer(("127.0.0.1", 0), FlakyHandler)
    srv.requests, srv.stall_at, srv.stall_s = 0, stall_at, stall_s  # type: ignore[attr-defined]
    srv.stall_steps, srv.stall_evals = stall_steps, stall_evals  # type: ignore[attr-defined]
    srv.stall_max_s, srv.run = stall_max_s, run  # type: ignore[attr-defined]
    srv.rng = random.Random(seed)  # type: ignore[attr-defined]
    srv.lock = threading.Lock()  # type: ignore[attr-defined]
    srv.counts = {}  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


class StoreReader(threading.Thread):
    """Reads the store as `status --json` does (fresh connection, summary, notification
    failures, control requests) every `interval` s; counts polls and errors."""

    def __init__(self, run_dir: Path, interval: float = 0.1):
        super().__init__(daemon=True)
        self.run_dir, self.interval = run_dir, interval
        self.stop = threading.Event()
        self.polls, self.errors = 0, []

    def run(self) -> None:
        from tuneguard.store.run_store import RunStore

        while not self.stop.is_set():
            t = time.monotonic()
            if (self.run_dir / "run.db").exists():
                try:
                    with RunStore(self.run_dir) as s:
                        s.summary()
                        s.events("notify_failed")
                        s.control_requests()
                    self.polls += 1
                except Exception as exc:  # noqa: BLE001 - an error is what we count
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - t)))


def write_inputs(work: Path, steps: int, port: int, queue_size: int, stall_s: float, logging_steps: int) -> Path:
    import yaml

    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    train = write_jsonl(make_instruction_rows(400, seed=0), work / "train.jsonl")
    every = max(10, min(200, steps // 20) // 10 * 10)
    cfg = {
        "preset": "tiny",
        "data": {"train_file": str(train)},
        "train": {"max_steps": steps, "logging_steps": logging_steps, "save_steps": every, "save_total_limit": 2},
        "eval": {"steps": every},
        # The soak exercises the plumbing: no guard may end it early.
        "guard": {"actions": {"NON_FINITE": "warn", "LOSS_COLLAPSE": "warn"}},
        "notify": {"urls": [f"json://127.0.0.1:{port}/soak"], "progress_interval_s": 0.5,
                   # A steady stream through the outage (no doubling wait, every evaluation): the backlog must fill.
                   "periodic_max_s": 0.5, "every_evaluation": True, "timeout_s": stall_s + 3,
                   "retries": 1, "queue_size": queue_size, "flush_timeout_s": 5},
    }
    path = work / "soak.yaml"
    path.write_text(yaml.safe_dump(cfg), "utf-8")
    return path


def rss_figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """RSS (MB) over the training steps, from 10% of the steps on (after warm-up)."""
    pts = [(r["step"], r["rss_gb"] * 1024) for r in rows if r.get("rss_gb")]
    if len(pts) < 10:
        return {}
    last = pts[-1][0]
    warm = [p for p in pts if p[0] >= 0.1 * last]
    early = [v for s, v in warm if s <= 0.2 * last] or [warm[0][1]]
    late = [v for s, v in warm if s >= 0.9 * last] or [warm[-1][1]]
    xs, ys = [s for s, _ in warm], [v for _, v in warm]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs) or 1.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return {"early_mb": round(statistics.median(early), 1), "end_mb": round(statistics.median(late), 1),
            "growth_mb": round(statistics.median(late) - statistics.median(early), 1),
            "max_mb": round(max(ys), 1), "slope_mb_per_1k_steps": round(slope * 1000, 2), "samples": len(pts)}


def soak(steps: int, seed: int, queue_size: int, work: Path, stall_s: float = 12.0,
         logging_steps: int = 10, threads: int = 1, stall_steps: int = 0, stall_max_s: float = 120.0,
         stall_evals: int = 0) -> dict[str, Any]:
    from tuneguard.store.run_store import RunStore

    run = work / "run"
    srv = start_server(seed, stall_s, stall_steps=stall_steps, stall_evals=stall_evals, stall_max_s=stall_max_s, run=run)
    longest = stall_max_s if stall_steps or stall_evals else stall_s
    cfg = write_inputs(work, steps, srv.server_address[1], queue_size, longest, logging_steps)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    reader = StoreReader(run)
    reader.start()
    t0 = time.monotonic()
    trainer = subprocess.Popen([sys.executable, "-m", "tuneguard", "train", str(cfg), "--run-dir", str(run)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    cli_calls, cli_errors = 0, []
    while trainer.poll() is None:
        time.sleep(5)
        if (run / "run.db").exists() and trainer.poll() is None:
            r = subprocess.run([sys.executable, "-m", "tuneguard", "status", str(run), "--json"],
                               capture_output=True, text=True, env=env, check=False)
            cli_calls += 1
            try:
                json.loads(r.stdout)["state"]
                assert r.returncode == 0
            except Exception:  # noqa: BLE001
                cli_errors.append(f"exit {r.returncode}: {r.stderr.strip()[-300:]}")
    stderr = trainer.stderr.read() if trainer.stderr else ""
    wall = time.monotonic() - t0
    reader.stop.set()
    reader.join(10)
    srv.shutdown()
    with RunStore(run) as s:
        summary = s.summary()
        rows = s.metrics("train")
        backlog = s.get_meta("notify_backlog") or {}
        sent = len(s.events("notify_sent"))
        failed = len(s.events("notify_failed"))
        dropped_recorded = sum(e["payload"].get("count", 0) for e in s.events("notify_dropped"))
    return {
        "steps": steps, "seed": seed, "exit_code": trainer.returncode, "state": summary["state"],
        "step": summary["step"], "wall_s": round(wall, 1), "rss": rss_figures(rows),
        "notify": {"queue_size": backlog.get("queue_size"), "max_pending": backlog.get("max_pending"),
                   "dropped": backlog.get("dropped"), "dropped_recorded": dropped_recorded,
                   "sent": sent, "failed": failed, "server": dict(srv.counts)},  # type: ignore[attr-defined]
        "reader": {"polls": reader.polls, "errors": reader.errors[:5], "error_count": len(reader.errors)},
        "status_cli": {"calls": cli_calls, "errors": cli_errors[:5]},
        "stderr_tail": stderr[-1500:] if trainer.returncode else "",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queue-size", type=int, default=8)
    ap.add_argument("--stall-s", type=float, default=12.0, help="how long the endpoint holds its 3rd request")
    ap.add_argument("--stall-steps", type=int, default=0,
                    help="and hold it further until the run has trained this many more steps")
    ap.add_argument("--stall-evals", type=int, default=0,
                    help="and until the run has recorded this many more evaluations (queue size + 2 must drop one)")
    ap.add_argument("--stall-max-s", type=float, default=120.0, help="the longest the outage may last")
    ap.add_argument("--logging-steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the trainer (a tiny model needs one)")
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--keep", type=Path, help="run in this directory and keep it (default: a temporary one)")
    a = ap.parse_args()
    if a.keep:
        a.keep.mkdir(parents=True, exist_ok=True)
        result = soak(a.steps, a.seed, a.queue_size, a.keep, a.stall_s, a.logging_steps, a.threads,
                          a.stall_steps, a.stall_max_s, a.stall_evals)
    else:
        with tempfile.TemporaryDirectory(prefix="tuneguard-soak-") as d:
            result = soak(a.steps, a.seed, a.queue_size, Path(d), a.stall_s, a.logging_steps, a.threads,
                          a.stall_steps, a.stall_max_s, a.stall_evals)
    text = json.dumps(result, indent=2)
    if a.json:
        a.json.write_text(text + "\n", "utf-8")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
