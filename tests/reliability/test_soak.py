"""Soak (small): bench/soak.py at a size that runs in about half a minute.

A tiny run of 600 steps (an evaluation every 30) notifies an endpoint that stalls (an outage
that lasts until the run has recorded 4 more evaluations: at least 3 evaluation messages queue
behind it, one more than the queue holds, so the backlog overflows on a machine of any
speed), answers 500, answers late and resets connections, while a thread reads the store like
`status --json` every 100 ms and the real `status --json` runs every 5 s. It must finish; its
memory (RSS, from the run store) must stay flat (under 12 MB from 10-20% of the steps to the
last 10%: about 30 KB a step, the bound the 1,200-step version had with 25 MB); the
notifier's backlog must never exceed notify.queue_size, and every message dropped for it must
be recorded in the store. The long version is `python bench/soak.py` (3,000 steps; figures in
docs/BENCHMARKS.md, "Soak").
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.reliability import ROOT

pytestmark = pytest.mark.slow


def test_soak_finishes_with_flat_memory_and_a_bounded_backlog(tmp_path):
    out = tmp_path / "soak.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--steps", "600", "--queue-size", "2",
                        "--stall-s", "1", "--stall-evals", "4", "--stall-max-s", "300", "--logging-steps", "5",
                        "--json", str(out), "--keep", str(tmp_path / "w")],
                       capture_output=True, text=True, timeout=900, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["exit_code"] == 0 and res["state"] == "finished" and res["step"] == 600, res

    # Readers never saw an error ("database is locked" or anything else).
    assert res["reader"]["error_count"] == 0 and res["reader"]["polls"] > 20, res["reader"]
    assert res["status_cli"]["calls"] >= 1 and res["status_cli"]["errors"] == [], res["status_cli"]

    # The backlog is bounded; what the outage cost is counted and recorded, message for message.
    n = res["notify"]
    assert n["queue_size"] == 2 and 1 <= n["max_pending"] <= 2, n
    assert n["dropped"] > 0 and n["dropped_recorded"] == n["dropped"], n
    assert n["sent"] > 0 and n["server"].get("stall") == 1, n

    # Memory is flat: after warm-up, RSS grows by less than 12 MB (it is ~600 MB).
    rss = res["rss"]
    assert rss["samples"] >= 50, rss
    assert rss["growth_mb"] < 12 and rss["max_mb"] - rss["early_mb"] < 40, rss
