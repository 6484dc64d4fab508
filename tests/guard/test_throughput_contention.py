"""THROUGHPUT_DROP under CPU contention, replayed from step times (never the clock): another
process takes the cores for a while (a test suite on a shared 2-core machine) and the steps
slow down, then recover. A slowdown that recovers is one info finding when it recovers; one
that lasts `sustained_s` is one warning; either names other processes' CPU use when that is
what the probe saw while training was slow."""

from __future__ import annotations

from tuneguard.guard.resources import ThroughputDetector

TOKENS_PER_STEP = 2048.0


def replay(det: ThroughputDetector, step_times: list[float]) -> list:
    """Feed one log per step of the given durations (tokens/s = tokens per step / step time)."""
    out = []
    for step, t in enumerate(step_times, start=1):
        if isinstance(det.other_cpu, Probe):
            det.other_cpu.step = step
        f = det.update(step, TOKENS_PER_STEP / t, step_time_s=t, window_s=t)
        if f is not None:
            out.append(f)
    return out


class Probe:
    """Other processes' busy cores during each step's window, as OtherCpu would report them
    when read at that step's log; counts its reads."""

    def __init__(self, cores_by_step: list[float], cores: int = 2) -> None:
        self.by_step = cores_by_step
        self.cores = cores
        self.step = 0
        self.reads = 0

    def __call__(self) -> float | None:
        self.reads += 1
        return self.by_step[self.step - 1]


def contention(quiet: int, busy: int, after: int, busy_cores: float = 1.8) -> tuple[list[float], Probe]:
    """Steps of 1 s; `busy` steps of 2.5 s while another process holds `busy_cores` of 2 cores."""
    times = [1.0] * quiet + [2.5] * busy + [1.0] * after
    cores = [0.05] * quiet + [busy_cores] * busy + [0.05] * after
    return times, Probe(cores)


def detector(probe: Probe | None) -> ThroughputDetector:
    return ThroughputDetector(ratio=0.5, window_s=600, warmup_s=10, patience_s=60, sustained_s=300,
                              other_cpu=probe)


def test_a_slowdown_that_recovers_is_one_info_finding_naming_the_other_processes():
    times, probe = contention(quiet=100, busy=40, after=50)  # 100 s slow, then quiet again
    [f] = replay(detector(probe), times)
    assert (f.code, f.severity, f.step) == ("THROUGHPUT_DROP", "info", 141)
    assert (f.evidence["slow_since_step"], f.evidence["slow_for_s"], f.evidence["recovered"]) == (101, 100.0, True)
    assert f.evidence["other_processes_cpu_cores"] == 1.8 and f.evidence["cpu_cores"] == 2
    assert f.message == ("Throughput fell to 819 tokens/s from step 101, 40% of its running median 2,048, for "
                         "100.0 s of training, and recovered at step 141. Other processes kept 1.8 of the 2 CPU "
                         "cores busy meanwhile: the likely cause.")
    assert f.recommendation.startswith("Find the processes sharing the CPU")
    assert "ระหว่างนั้นโปรเซสอื่นใช้ CPU ไป 1.8 จาก 2 คอร์" in f.message_in("th")
    assert probe.reads == 40  # read at the slow logs only


def test_a_sustained_slowdown_is_one_warning_and_nothing_when_it_ends():
    times, probe = contention(quiet=400, busy=200, after=50)  # 500 s slow
    [f] = replay(detector(probe), times)
    assert (f.severity, f.step, f.evidence["slow_for_s"], f.evidence["recovered"]) == ("warning", 520, 300.0, False)
    assert f.message.endswith("for 300.0 s of training. Other processes kept 1.8 of the 2 CPU cores busy "
                              "meanwhile: the likely cause.")


def test_without_other_processes_busy_no_cause_is_named():
    times, probe = contention(quiet=400, busy=200, after=0, busy_cores=0.3)  # slow on its own (throttling, disk)
    [f] = replay(detector(probe), times)
    assert f.severity == "warning" and "Other processes" not in f.message
    assert f.evidence["other_processes_cpu_cores"] == 0.3
    assert f.recommendation.startswith("Look for other processes on the accelerator or CPU")
    [g] = replay(detector(None), times)  # no probe (psutil cannot tell): the same warning, cause unknown
    assert g.message == f.message and g.evidence["other_processes_cpu_cores"] is None


def test_a_short_hiccup_says_nothing_and_each_slowdown_is_its_own_finding():
    times = [1.0] * 100 + [2.5] * 20 + [1.0] * 50 + [2.5] * 30 + [1.0] * 10  # 50 s, then 75 s slow
    found = replay(detector(None), times)
    assert [(f.severity, f.step, f.evidence["slow_for_s"]) for f in found] == [("info", 201, 75.0)]
