"""MEMORY_HIGH and THROUGHPUT_DROP, from the numbers the metrics callback adds to each
training log (mem_reserved_gb, mem_total_gb, rss_gb, machine_mem_gb, tokens_per_s).

Nothing here queries the device: the metrics callback reads memory once per log.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from tuneguard.catalog import J, T
from tuneguard.findings import Finding, Severity
from tuneguard.guard.episode import Episode, is_finite

log = logging.getLogger(__name__)

MIN_PRIOR_POINTS = 3  # logs in the running median before it is a baseline
# Other processes keeping this share of the CPU cores busy while training is slow are named as
# the likely cause (a test suite on a 2-core machine takes 1-2 cores).
OTHER_CPU_SHARE = 0.5

GB = 1024**3


def machine_memory_gb() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.virtual_memory().total / GB


class MemoryDetector:
    """MEMORY_HIGH (warning): reserved accelerator memory > `fraction` of the device total,
    or the process RSS > `fraction` of the machine's memory. The two are separate episodes
    (a GPU run can also exhaust host memory)."""

    code = "MEMORY_HIGH"

    def __init__(self, fraction: float, machine_mem_gb: float | None = None) -> None:
        self.fraction = fraction
        self.machine_mem_gb = machine_mem_gb
        self.device = Episode()
        self.host = Episode()

    def update(self, step: int, *, mem_reserved_gb: float | None = None, mem_total_gb: float | None = None,
               mem_allocated_gb: float | None = None, rss_gb: float | None = None,
               machine_mem_gb: float | None = None) -> list[Finding]:
        out: list[Finding] = []
        dev_ok = is_finite(mem_reserved_gb) and is_finite(mem_total_gb) and mem_total_gb > 0
        if self.device.update(dev_ok and mem_reserved_gb / mem_total_gb > self.fraction):
            share = mem_reserved_gb / mem_total_gb
            out.append(Finding.said(
                self.code, "warning",
                T("MEMORY_HIGH.device", step=step, reserved=mem_reserved_gb, total=mem_total_gb, share=share,
                  limit=self.fraction),
                T("MEMORY_HIGH.device.rec"),
                {"step": step, "memory": "device", "mem_reserved_gb": mem_reserved_gb,
                 "mem_allocated_gb": mem_allocated_gb, "mem_total_gb": mem_total_gb, "share": share,
                 "memory_fraction": self.fraction}, step=step, source="guard"))
        total = machine_mem_gb if is_finite(machine_mem_gb) else self.machine_mem_gb
        if total is None and is_finite(rss_gb):
            total = self.machine_mem_gb = machine_memory_gb()
        host_ok = is_finite(rss_gb) and is_finite(total) and total > 0
        if self.host.update(host_ok and rss_gb > self.fraction * total):
            share = rss_gb / total
            out.append(Finding.said(
                self.code, "warning",
                T("MEMORY_HIGH.host", step=step, rss=rss_gb, total=total, share=share, limit=self.fraction),
                T("MEMORY_HIGH.host.rec"),
                {"step": step, "memory": "host", "rss_gb": rss_gb, "machine_mem_gb": total,
                 "share": share, "memory_fraction": self.fraction}, step=step, source="guard"))
        return out


class OtherCpu:
    """CPU cores other processes kept busy since the previous call (psutil: the machine's busy
    CPU time minus this process's), or None where psutil cannot tell. Two reads of cumulative
    counters per call, no sampling interval: cheap enough for every log."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._proc = psutil.Process()
        self.cores = psutil.cpu_count() or 1
        self._last = self._read()

    def _read(self) -> tuple[float, float, float]:
        t = self._psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        own = self._proc.cpu_times()
        return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system

    def __call__(self) -> float | None:
        try:
            now = self._read()
        except Exception:  # noqa: BLE001 - a process table that cannot be read: no cause named
            return None
        (t0, busy0, own0), self._last = self._last, now
        wall = now[0] - t0
        return max(0.0, (now[1] - busy0) - (now[2] - own0)) / wall if wall > 0 else None


def other_cpu_probe() -> OtherCpu | None:
    try:
        return OtherCpu()
    except Exception:  # noqa: BLE001 - psutil missing or the platform without CPU times
        return None


class ThroughputDetector:
    """THROUGHPUT_DROP: tokens/s below `ratio` x its own running median, for long enough to be a
    slowdown and not a hiccup; a warning only when it lasts.

    Counted in seconds of training, not in logs: a logging window is as long as
    `train.logging_steps` makes it, so "three slow logs" meant 3 steps with logging_steps 1 (one
    scheduling hiccup) and 30 with 10. This guard is about the machine, not about what the
    model learns, so its natural unit is how long a slowdown lasts:

    - the first `warmup_s` seconds of training are ignored (allocator growth, kernel
      selection, dataloader start-up: slow for reasons that say nothing about the run);
    - the median is over the logs of the last `window_s` seconds (at least 3 of them);
    - slow logs without a break for `sustained_s` seconds make one warning; a slowdown that
      lasted at least `patience_s` and then recovered makes one info finding when it recovers
      (another process took the cores for a while: a test suite on a shared machine, a noisy
      neighbour; worth knowing, not worth a phone call). One finding per slowdown.
    - the likely cause is named when `other_cpu` (OtherCpu) says other processes kept at least
      OTHER_CPU_SHARE of the CPU cores busy while training was slow (read from the second slow
      log of a slowdown on);
    - logging windows shorter than `min_window_s` are not measured (timing noise).

    Time is training time: the sum of the logging windows' own durations. The metrics callback
    leaves evaluations, the callbacks' work after them (QA probes), checkpoint saves and pauses
    out of a window and of its tokens/s (tuneguard.train.metrics.OutsideTraining), so the log
    right after an evaluation is measured like any other.
    """

    code = "THROUGHPUT_DROP"

    def __init__(self, ratio: float, window_s: float, warmup_s: float = 0.0, patience_s: float = 0.0,
                 min_window_s: float = 0.0, sustained_s: float | None = None,
                 other_cpu: Callable[[], float | None] | None = None, cores: int | None = None) -> None:
        self.ratio = ratio
        self.window_s = window_s
        self.warmup_s = warmup_s
        self.patience_s = patience_s
        self.sustained_s = max(patience_s, sustained_s if sustained_s is not None else patience_s)
        self.min_window_s = min_window_s
        self.other_cpu = other_cpu
        self.cores = cores or getattr(other_cpu, "cores", None) or 1
        self.elapsed = 0.0  # training seconds seen
        self.slow_s = 0.0  # seconds of the current run of slow logs
        self.points: deque[tuple[float, float]] = deque()  # (elapsed at the log, tokens/s)
        self.slowdown: dict[str, Any] | None = None  # the current slowdown: first step, worst, others' CPU
        self.warned = False

    def update(self, step: int, tokens_per_s: float | None,
               step_time_s: float | None = None, window_s: float | None = None) -> Finding | None:
        if not is_finite(tokens_per_s) or tokens_per_s <= 0:
            return None
        dt = window_s if is_finite(window_s) and window_s > 0 else (step_time_s if is_finite(step_time_s) else 0.0)
        self.elapsed += dt
        if self.elapsed <= self.warmup_s:
            return None
        if window_s is not None and window_s < self.min_window_s:
            return None
        while self.points and self.points[0][0] < self.elapsed - self.window_s:
            self.points.popleft()
        med = statistics.median(x for _, x in self.points) if len(self.points) >= MIN_PRIOR_POINTS else None
        self.points.append((self.elapsed, tokens_per_s))
        if med is None or tokens_per_s >= self.ratio * med:
            return self._recovered(step)
        self.slow_s += dt
        # Other processes' CPU is read on slow logs only (a read costs about 0.2 ms): the first
        # read of a slowdown starts the count (it covers the time since the last slowdown), each
        # later one covers its own logging window.
        others = self.other_cpu() if self.other_cpu is not None else None
        if self.slowdown is None:
            self.slowdown, others = {"from_step": step, "median": med, "worst": tokens_per_s,
                                     "cpu_s": 0.0, "cpu_known_s": 0.0}, None
        sd = self.slowdown
        sd["worst"] = min(sd["worst"], tokens_per_s)
        if others is not None:
            sd["cpu_s"] += others * dt
            sd["cpu_known_s"] += dt
        if self.warned or self.slow_s < self.sustained_s:
            return None
        self.warned = True
        return self._finding("warning", step, T("THROUGHPUT_DROP.found", tps=tokens_per_s, step=step,
                                                 ratio=tokens_per_s / med, median=med, limit=self.ratio,
                                                 slow=self.slow_s), tokens_per_s, med, step_time_s)

    def _recovered(self, step: int) -> Finding | None:
        """The end of a slowdown: one info finding when it lasted `patience_s` without a warning."""
        sd, slow_s, warned = self.slowdown, self.slow_s, self.warned
        self.slowdown, self.slow_s, self.warned = None, 0.0, False
        if sd is None or warned or slow_s < self.patience_s:
            return None
        msg = T("THROUGHPUT_DROP.recovered", worst=sd["worst"], ratio=sd["worst"] / sd["median"], median=sd["median"],
                first=sd["from_step"], slow=slow_s, step=step)
        return self._finding("info", step, msg, sd["worst"], sd["median"], None, sd=sd, slow_s=slow_s)

    def _others(self, sd: dict[str, Any]) -> float | None:
        """Cores other processes kept busy on average while training was slow (None: unknown)."""
        return sd["cpu_s"] / sd["cpu_known_s"] if sd["cpu_known_s"] > 0 else None

    def _finding(self, severity: Severity, step: int, message: dict[str, Any], tps: float, med: float,
                 step_time_s: float | None, sd: dict[str, Any] | None = None, slow_s: float | None = None) -> Finding:
        sd = sd or self.slowdown or {}
        slow_s = self.slow_s if slow_s is None else slow_s
        others = self._others(sd) if sd else None
        busy = others is not None and others >= OTHER_CPU_SHARE * self.cores
        if busy:
            message = J("join.none", [message, T("THROUGHPUT_DROP.cause.cpu", cores=others, total=self.cores)])
        rec = T("THROUGHPUT_DROP.cpu.rec" if busy else "THROUGHPUT_DROP.found.rec")
        evidence = {"step": step, "tokens_per_s": tps, "running_median": med,
                    "ratio": tps / med, "throughput_ratio": self.ratio, "step_time_s": step_time_s,
                    "slow_for_s": slow_s, "slow_since_step": sd.get("from_step"),
                    "throughput_patience_s": self.patience_s, "throughput_sustained_s": self.sustained_s,
                    "throughput_window_s": self.window_s, "training_s": self.elapsed,
                    "other_processes_cpu_cores": None if others is None else round(others, 2), "cpu_cores": self.cores,
                    "recovered": severity == "info"}
        return Finding.said(self.code, severity, message, rec, evidence, step=step, source="guard")
