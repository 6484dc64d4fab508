"""Helpers of the reliability tests: a trainer with injected faults, a status poller in its
own process, waiting with generous timeouts, and a tmpfs mount for a real full disk."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import invoke, missing
from tests.helpers.reliability import Poller
from tests.helpers.threads import one_torch_thread


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every trainer here, in this process or a child, uses one CPU thread: on a shared
    2-core machine OpenMP threads that spin while waiting for each other make a tiny run
    tens of times slower under load, and these tests must not depend on the load."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with one_torch_thread():
        yield


@pytest.fixture
def inproc_cli() -> Callable[..., subprocess.CompletedProcess]:
    """The real Typer app, invoked in this process (no interpreter start per case)."""
    return invoke


@pytest.fixture
def poller(tmp_path: Path) -> Iterator[Callable[[Path], Poller]]:
    started: list[Poller] = []

    def start(run_dir: Path, interval: float = 0.1) -> Poller:
        p = Poller(run_dir, tmp_path / f"poll{len(started)}.json", interval)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            os.killpg(p.proc.pid, signal.SIGKILL)
            p.proc.wait(30)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """mount(size_bytes) -> a fresh tmpfs of that size (a real disk that fills). Mounting needs
    root (CAP_SYS_ADMIN): without it the test is skipped, except under CI, which runs as root
    and must run it. Unmounted at teardown."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        mnt = tmp_path / f"disk{len(mounted)}"
        mnt.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            missing(f"cannot mount a tmpfs (needs root or CAP_SYS_ADMIN; running as uid {os.getuid()}): "
                    f"{r.stderr.strip() or r.returncode}")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
