"""`tuneguard train` at scale: what a large file costs before the first optimizer step.

For each size in `--rows` (default 300,000) it writes instruction rows with bench/audit_speed.py's
generator (median about 150 words a row) and runs the CLI as a user does, one optimizer step of
the `tiny` preset (random weights, CPU): `python -m tuneguard train tiny --run-dir RUN --set
data.train_file=... --set data.max_length=512 --set train.max_steps=1 ...`, in a child process
timed with os.wait4 (wall, user + system CPU, peak RSS of that process alone). The one step of
the tiny model costs well under a second, so nearly all of it is reading, tokenizing (every row:
training tokenizes the whole file), the audit of a sample, the data cache and the run's files.
The validation split is 1% of the rows (data.test_size 0.01) and evaluated once at the end.
Prints one JSON object per size.

    python bench/train_scale.py [--rows 300000 1000000]

Not part of the test suite (minutes per million rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from audit_speed import make_rows  # noqa: E402


def run_train(data: Path, run: Path) -> dict:
    cmd = [sys.executable, "-m", "tuneguard", "train", "tiny", "--run-dir", str(run), "--force",
           "--set", f"data.train_file={data}", "--set", "data.max_length=512", "--set", "data.test_size=0.01",
           "--set", "train.max_steps=1", "--set", "train.save_steps=1000", "--set", "eval.steps=1000",
           "--set", "eval.load_best_model_at_end=false"]
    with tempfile.TemporaryFile() as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        tail = out.read().decode("utf-8", "replace")[-1500:]
    code = os.waitstatus_to_exitcode(status)
    return {"seconds": round(wall, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "exit_code": code, **({"output": tail} if code else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[300_000])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.pop("TOKENIZERS_PARALLELISM", None)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            data = Path(tmp) / f"train-{n}.jsonl"
            rows, _ = make_rows(n, args.seed)
            with data.open("w", encoding="utf-8") as fh:
                for r in rows:
                    fh.write(json.dumps(r) + "\n")
            del rows
            got = run_train(data, Path(tmp) / f"run-{n}")
            print(json.dumps({"rows": n, "mb": round(data.stat().st_size / 1e6, 1), **got,
                              "load_1min": round(os.getloadavg()[0], 2)}), flush=True)
            data.unlink()


if __name__ == "__main__":
    main()
