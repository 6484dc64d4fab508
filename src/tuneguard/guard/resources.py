"""MEMORY_HIGH and THROUGHPUT_DROP, from the numbers the metrics callback adds to each
training log (mem_reserved_gb, mem_total_gb, rss_gb, machine_mem_gb, tokens_per_s).

Nothing here queries the device: the metrics callback reads memory once per log.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque

from tuneguard.catalog import T
from tuneguard.findings import Finding
from tuneguard.guard.episode import Episode, is_finite

log = logging.getLogger(__name__)

MIN_PRIOR_POINTS = 3  # logs in the running median before it is a baseline

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


class ThroughputDetector:
    """THROUGHPUT_DROP (warning): tokens/s below `ratio` x its own running median, for long
    enough to be a slowdown and not a hiccup.

    Counted in seconds of training, not in logs: a logging window is as long as
    `train.logging_steps` makes it, so "three slow logs" meant 3 steps with logging_steps 1 (one
    scheduling hiccup) and 30 with 10. This guard is about the machine, not about what the
    model learns, so its natural unit is how long a slowdown lasts:

    - the first `warmup_s` seconds of training are ignored (allocator growth, kernel
      selection, dataloader start-up: slow for reasons that say nothing about the run);
    - the median is over the logs of the last `window_s` seconds (at least 3 of them);
    - a finding needs slow logs without a break for at least `patience_s` seconds;
    - logging windows shorter than `min_window_s` are not measured (timing noise), and the
      caller skips the log right after an evaluation or a checkpoint save (skip=True: its
      wall time is not training time).

    Time is training time: the sum of the logging windows' own durations (evaluations and
    pauses excluded by the metrics callback).
    """

    code = "THROUGHPUT_DROP"

    def __init__(self, ratio: float, window_s: float, warmup_s: float = 0.0, patience_s: float = 0.0,
                 min_window_s: float = 0.0) -> None:
        self.ratio = ratio
        self.window_s = window_s
        self.warmup_s = warmup_s
        self.patience_s = patience_s
        self.min_window_s = min_window_s
        self.elapsed = 0.0  # training seconds seen
        self.slow_s = 0.0  # seconds of the current run of slow logs
        self.points: deque[tuple[float, float]] = deque()  # (elapsed at the log, tokens/s)
        self.episode = Episode()

    def update(self, step: int, tokens_per_s: float | None, skip: bool = False,
               step_time_s: float | None = None, window_s: float | None = None) -> Finding | None:
        if not is_finite(tokens_per_s) or tokens_per_s <= 0:
            return None
        dt = window_s if is_finite(window_s) and window_s > 0 else (step_time_s if is_finite(step_time_s) else 0.0)
        self.elapsed += dt
        if self.elapsed <= self.warmup_s or skip:
            return None
        if window_s is not None and window_s < self.min_window_s:
            return None
        while self.points and self.points[0][0] < self.elapsed - self.window_s:
            self.points.popleft()
        med = statistics.median(x for _, x in self.points) if len(self.points) >= MIN_PRIOR_POINTS else None
        self.points.append((self.elapsed, tokens_per_s))
        slow = med is not None and tokens_per_s < self.ratio * med
        self.slow_s = self.slow_s + dt if slow else 0.0
        if not self.episode.update((slow and self.slow_s >= self.patience_s) or (slow and self.episode.active)):
            return None
        message = T("THROUGHPUT_DROP.found", tps=tokens_per_s, step=step, ratio=tokens_per_s / med, median=med,
                    limit=self.ratio, slow=self.slow_s)
        recommendation = T("THROUGHPUT_DROP.found.rec")
        evidence = {"step": step, "tokens_per_s": tokens_per_s, "running_median": med,
                    "ratio": tokens_per_s / med, "throughput_ratio": self.ratio, "step_time_s": step_time_s,
                    "slow_for_s": self.slow_s, "throughput_patience_s": self.patience_s,
                    "throughput_window_s": self.window_s, "training_s": self.elapsed}
        return Finding.said(self.code, "warning", message, recommendation, evidence, step=step, source="guard")
