"""`tuneguard train` at scale: what a large file costs before the first optimizer step.

For each size in `--rows` (default 300,000) it writes instruction rows with bench/audit_speed.py's
generator (median about 150 words a row) and runs the CLI as a user does, one optimizer step of
the `tiny` preset (random weights, CPU): `python -m tuneguard train tiny --run-dir RUN --set
data.train_file=... --set data.max_length=512 --set train.max_steps=1 ...`, in a child process
timed with os.wait4 (wall, user + system CPU, peak RSS of that process alone). The one step of
the tiny model costs well under a second, so nearly all of it is reading, tokenizing (every row:
training tokenizes the whole file), the audit of a sample, the data cache and the run's files.
The validation split is 1% of the rows (data.test_size 0.01) and evaluated once at the end.

`--prepare-only`: the child runs only what `tuneguard train` does before the audit and the model
(tuneguard.train.build.load_tokenizer_and_data: the tokenizer, every row read, split and
tokenized), so the peak is the data's at train start, not the audit's (whose sample is capped by
audit.max_rows) nor the model's; minutes fewer a size.

`--tree NAME=SRC` (repeatable): run each size with each source tree on PYTHONPATH (a checkout's
src/ folder), the first the baseline, the trees of one size side by side (concurrently, so that
they share the same load); each run prints its ratios to the baseline's, and the end prints each
tree's slope (peak RSS per 100,000 rows between the smallest and the largest size). Without
--tree the tree is the one this script imports tuneguard from. Prints one JSON object per run.

    python bench/train_scale.py [--rows 300000 1000000] [--prepare-only] [--tree base=/tmp/base/src --tree new=src]

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

PREPARE = """import sys
from tuneguard.config.load import read_source, validate_config
from tuneguard.train import build
raw, _ = read_source("tiny")
raw["data"].update(train_file=sys.argv[1], max_length=512, test_size=0.01)
tok, data = build.load_tokenizer_and_data(validate_config(raw))
print(len(data.train.features), len(data.validation.features), data.train.stats.total_tokens)
"""


def train_command(data: Path, run: Path, prepare_only: bool) -> list[str]:
    if prepare_only:
        return [sys.executable, "-c", PREPARE, str(data)]
    return [sys.executable, "-m", "tuneguard", "train", "tiny", "--run-dir", str(run), "--force",
            "--set", f"data.train_file={data}", "--set", "data.max_length=512", "--set", "data.test_size=0.01",
            "--set", "train.max_steps=1", "--set", "train.save_steps=1000", "--set", "eval.steps=1000",
            "--set", "eval.load_best_model_at_end=false"]


def start(cmd: list[str], src: str | None) -> tuple[subprocess.Popen, object, float]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = tempfile.TemporaryFile()
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env), out, time.perf_counter()


def finish(proc: subprocess.Popen, out, t: float) -> dict:
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    out.seek(0)
    tail = out.read().decode("utf-8", "replace")[-1500:]
    out.close()
    code = os.waitstatus_to_exitcode(status)
    return {"seconds": round(wall, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "exit_code": code, **({"output": tail} if code else {})}


def slopes(results: list[dict]) -> dict[str, float]:
    """Each tree's peak RSS growth per 100,000 rows, between its smallest and largest size."""
    out = {}
    for name in dict.fromkeys(r["tree"] for r in results):
        runs = sorted((r for r in results if r["tree"] == name and r["exit_code"] == 0), key=lambda r: r["rows"])
        if len(runs) > 1 and runs[-1]["rows"] > runs[0]["rows"]:
            lo, hi = runs[0], runs[-1]
            out[name] = round((hi["peak_rss_mb"] - lo["peak_rss_mb"]) / (hi["rows"] - lo["rows"]) * 100_000, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[300_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--tree", action="append", default=[], help="NAME=SRC: a source tree to run (first: baseline)")
    args = ap.parse_args()
    trees = [tuple(t.split("=", 1)) for t in args.tree] or [("this", None)]
    os.environ.pop("TOKENIZERS_PARALLELISM", None)
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            data = Path(tmp) / f"train-{n}.jsonl"
            rows, _ = make_rows(n, args.seed)
            with data.open("w", encoding="utf-8") as fh:
                for r in rows:
                    fh.write(json.dumps(r) + "\n")
            del rows
            running = [(name, start(train_command(data, Path(tmp) / f"run-{n}-{name}", args.prepare_only), src))
                       for name, src in trees]
            base = None
            for name, started in running:
                got = {"tree": name, "rows": n, "mb": round(data.stat().st_size / 1e6, 1), **finish(*started),
                       "load_1min": round(os.getloadavg()[0], 2)}
                if base is None:
                    base = got
                elif base["exit_code"] == 0 and got["exit_code"] == 0:
                    got["peak_rss_ratio"] = round(got["peak_rss_mb"] / base["peak_rss_mb"], 2)
                    got["cpu_ratio"] = round(got["cpu_seconds"] / max(base["cpu_seconds"], 1e-9), 2)
                results.append(got)
                print(json.dumps(got), flush=True)
            data.unlink()
    print(json.dumps({"peak_rss_mb_per_100k_rows": slopes(results)}), flush=True)


if __name__ == "__main__":
    main()
