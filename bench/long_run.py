"""Long runs at 10,000 and 100,000 logged steps: what grows with the run, before and after.

    python bench/long_run.py [--steps 10000 100000] [--baseline REV] [--json OUT] [--checkpoints]

For each length it simulates a healthy run without a model (tuneguard.bench.long_run: the real
MetricsCallback and GuardCallback, a log every step, an evaluation every 500 steps, a checkpoint
every 1,000, three resumes, one with twice the batch, a pause of five hours; simulated wall time,
so the run spans days), then prints:

- the simulation: real seconds in the callbacks per 1,000 steps at the start and at the end (a
  guard that rescans a growing list shows as a rising ratio), peak memory of the process, run.db
  size and rows, the findings by code and severity (a healthy run must have no warning or error);
- each reading command on that run dir, in a fresh process, with this tree's code (`after`) and with
  the code of `--baseline` (`before`, exported with `git archive`; default: the commit before the
  long-run fixes), in the same run: seconds and peak RSS of `status`, `status --json`, `watch` (one
  refresh: the run is finished), `report` (HTML + Markdown) and `compare` (the run with itself), the
  sizes of report.html and the compare page, and the after/before ratios.

`--checkpoints` instead measures what every checkpoint writes: the simulated run with each side's
code, then its last checkpoint's trainer_state.json written and read back as the Trainer does.

The baseline reads the same run.db without the index this tree adds (dropped from a copy), as a
store written by that code would be. Timings are of this machine under whatever else runs on it:
compare ratios, not absolute seconds, between machines.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "fc38e68"  # the last commit before the long-run fixes (report, status, PLATEAU)

# One command in a fresh interpreter; prints its wall seconds and peak RSS (MB) as JSON last.
RUNNER = """
import json, runpy, sys, time
sys.argv = ["tuneguard", *sys.argv[1:]]
t = time.perf_counter()
code = 0
try:
    runpy.run_module("tuneguard", run_name="__main__")
except SystemExit as exc:
    code = exc.code or 0
# VmHWM, not ru_maxrss: after fork + exec Linux's ru_maxrss still counts the parent's pages.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"s": time.perf_counter() - t, "rss_mb": hwm / 1024, "rc": code}))
"""


def export_baseline(rev: str, into: Path) -> Path:
    """The baseline's src/ under `into` (git archive: no worktree, nothing of the repo changed)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def command(src: Path, args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "120"}
    out = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, env=env, check=False)
    return json.loads(out.stdout.strip().splitlines()[-1])


def simulate(run_dir: Path, steps: int) -> dict[str, Any]:
    from tuneguard.bench.long_run import simulate as sim

    t = time.perf_counter()
    res = sim(run_dir, steps)
    total = time.perf_counter() - t
    cost = [c for _, c in res.segment_cost]
    head, tail = sum(cost[:3]) / 3, sum(cost[-3:]) / 3
    with sqlite3.connect(res.store_path) as conn:
        rows = dict(conn.execute("SELECT kind, count(*) FROM metrics GROUP BY kind").fetchall())
    findings = collections.Counter(f"{f.code}:{f.severity}" for f in res.ctx_findings)
    history_mb = len(json.dumps(res.log_history)) / 2**20
    return {"steps": steps, "sim_s": round(total, 1), "callbacks_ms_per_step_start": round(head, 3),
            "callbacks_ms_per_step_end": round(tail, 3), "end_over_start": round(tail / head, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "run_db_mb": round(res.store_path.stat().st_size / 2**20, 2), "metric_rows": rows,
            "log_history_json_mb": round(history_mb, 1), "findings": dict(findings)}


# The last checkpoint's trainer_state.json of a simulated run, written and read back as the
# Trainer does (TrainerState.save_to_json / load_from_json), in a fresh interpreter with one side's
# code; prints its size, the seconds to write and to read it, and the log history's entries.
CHECKPOINT_RUNNER = """
import json, sys, time
from pathlib import Path
from transformers import TrainerState
from tuneguard.bench.long_run import simulate
run_dir, steps = Path(sys.argv[1]), int(sys.argv[2])
res = simulate(run_dir, steps)
state = TrainerState(global_step=steps, max_steps=steps, log_history=res.log_history)
path = run_dir / "trainer_state.json"
t = time.perf_counter(); state.save_to_json(str(path)); write_s = time.perf_counter() - t
t = time.perf_counter(); TrainerState.load_from_json(str(path)); read_s = time.perf_counter() - t
saves = getattr(res, "saves", [])
print(json.dumps({"kb": path.stat().st_size / 1024, "write_s": write_s, "read_s": read_s,
                  "entries": len(res.log_history), "run_db_mb": res.store_path.stat().st_size / 2**20,
                  "first_save_kb": saves[0][1] / 1024 if saves else None,
                  "save_s_total": sum(x[2] for x in saves) if saves else None,
                  "findings": sorted({f.code + ":" + f.severity for f in res.ctx_findings})}))
"""


def checkpoints(steps: int, before_src: Path, work: Path) -> dict[str, Any]:
    """trainer_state.json at the last checkpoint of a `steps`-step run, before and after."""
    out: dict[str, Any] = {"steps": steps}
    for side, src in (("before", before_src), ("after", ROOT / "src")):
        env = {**os.environ, "PYTHONPATH": str(src)}
        run_dir = work / f"ckpt-{side}-{steps}"
        r = subprocess.run([sys.executable, "-c", CHECKPOINT_RUNNER, str(run_dir), str(steps)], capture_output=True,
                           text=True, env=env, check=True)
        out[side] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def commands(run_dir: Path, before_src: Path, work: Path) -> dict[str, Any]:
    before_dir = work / "before" / run_dir.name
    shutil.copytree(run_dir, before_dir)
    with sqlite3.connect(before_dir / "run.db") as conn:
        conn.execute("DROP INDEX IF EXISTS metrics_kind_step")
        conn.execute("VACUUM")
    out: dict[str, Any] = {}
    for name, args in (("status", ["status", "{d}"]), ("status --json", ["status", "{d}", "--json"]),
                       ("watch", ["watch", "{d}"]), ("report", ["report", "{d}", "--out", "{d}/report.html"]),
                       ("compare", ["compare", "{d}", "{d}", "--out", "{d}/compare.html"])):
        row = {}
        for side, src, d in (("before", before_src, before_dir), ("after", ROOT / "src", run_dir)):
            r = command(src, [a.format(d=d) for a in args])
            row[side] = {"s": round(r["s"], 2), "rss_mb": round(r["rss_mb"]), "rc": r["rc"]}
        row["ratio"] = round(row["after"]["s"] / row["before"]["s"], 3) if row["before"]["s"] else None
        out[name] = row
    for f in ("report.html", "compare.html", "report.md"):
        out[f + " KB"] = {"before": round((before_dir / f).stat().st_size / 1024),
                          "after": round((run_dir / f).stat().st_size / 1024)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--checkpoints", action="store_true",
                    help="only the last checkpoint's trainer_state.json (size, write and read seconds), before "
                         "and after")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
                               "baseline": a.baseline, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        before_src = export_baseline(a.baseline, work)
        for n in a.steps:
            if a.checkpoints:
                results["runs"].append(checkpoints(n, before_src, work))
                print(json.dumps(results["runs"][-1], indent=1), flush=True)
                continue
            run_dir = work / "after" / f"run{n}"
            run = {"simulation": simulate(run_dir, n)}
            run["commands"] = commands(run_dir, before_src, work)
            results["runs"].append(run)
            print(json.dumps(run, indent=1), flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
