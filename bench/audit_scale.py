"""`tuneguard audit` at scale: wall time, CPU time and peak memory on large files, and the same
findings whatever the size.

For each size in `--rows` (default 200,000 and 1,000,000) it generates instruction rows of
realistic length with bench/audit_speed.py's generator (median about 150 words a row, 0.5%
exact and 0.5% near copies planted), plus a validation file of `--val-rows` fresh rows, and
runs the CLI as a user does (`python -m tuneguard audit tiny --json --set data.train_file=...
--set data.validation_file=... --set data.max_length=1024`) in a child process, timed with
os.wait4 (wall, user + system CPU, peak RSS of that process alone). Two variants per size:

- `clean`: the generated rows as they are;
- `faulty`: the same rows with 6% of them copied once more (exact duplicates, in random places:
  about 6% of the file extra copies, an error, clear of the 5% threshold) and 10% of the
  validation rows replaced by training rows (leaked validation, an error).

The baseline is the smallest size, `--base-rows` (default 20,000, below audit.max_rows so every
row is audited), run first in the same process under the same load: each larger run prints
its ratios to it (seconds per row, peak memory). The faulty variant must give the same
finding codes and severities at every size (the duplicate and leakage shares of a sample are
estimated for the whole file); the script exits 1 when it does not. Prints one JSON object per
run as it ends, then a summary.

    python bench/audit_scale.py [--rows 200000 1000000] [--base-rows 20000] [--variants clean faulty]

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
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from audit_speed import make_rows  # noqa: E402

DUP_SHARE = 0.06  # faulty: this share of the rows copied once more (about 6% of the file extra copies,
# with the generator's 0.5%: above audit.exact_dup_error, 5%, by more than a sample's estimate can miss)
LEAK_SHARE = 0.10  # faulty: this share of the validation rows taken from training


def write_files(folder: Path, n: int, val_rows: int, seed: int) -> dict[str, Any]:
    """train/val files of both variants for `n` rows; returns their paths and what was planted."""
    rng = np.random.default_rng(seed + 1)
    rows, planted = make_rows(n, seed)
    train = [json.dumps(r) for r in rows]
    del rows
    val = [json.dumps(r) for r in make_rows(val_rows, seed + 7)[0]]
    copies = rng.choice(n, size=int(n * DUP_SHARE), replace=False)
    faulty_train = train + [train[int(i)] for i in copies]
    order = rng.permutation(len(faulty_train))
    leaked = rng.choice(n, size=int(val_rows * LEAK_SHARE), replace=False)
    faulty_val = [train[int(i)] for i in leaked] + val[len(leaked):]
    paths = {}
    for name, lines in (("clean_train", train), ("clean_val", val), ("faulty_val", faulty_val),
                        ("faulty_train", (faulty_train[int(i)] for i in order))):
        paths[name] = folder / f"{name}-{n}.jsonl"
        with paths[name].open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
    return {"paths": paths, "planted": {**planted, "faulty_copies": len(copies), "faulty_leaked": len(leaked)},
            "mb": round(paths["clean_train"].stat().st_size / 1e6, 1)}


def run_audit(train: Path, val: Path) -> dict[str, Any]:
    """`tuneguard audit` in a child process: wall s, CPU s, peak RSS MB, exit code, its --json."""
    cmd = [sys.executable, "-m", "tuneguard", "audit", "tiny", "--json", "--set", f"data.train_file={train}",
           "--set", f"data.validation_file={val}", "--set", "data.max_length=1024"]
    with tempfile.TemporaryFile() as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)  # progress lines dropped
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS and CPU
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    try:
        report = json.loads(text[text.index("{"):])
    except ValueError:
        report = {"findings": [], "stats": {}, "output": text[-2000:]}
    return {"seconds": round(wall, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "exit_code": proc.returncode, "report": report}


def summary(n: int, variant: str, got: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    report = got.pop("report")
    stats = report.get("stats", {})
    findings = sorted((f["code"], f["severity"]) for f in report.get("findings", []))
    shares = {f["code"]: {"measured": round(f["evidence"].get("share", 0.0), 4),
                          "estimated": round(f["evidence"].get("sampled", {}).get("estimated_share",
                                                                                  f["evidence"].get("share", 0.0)), 4)}
              for f in report.get("findings", []) if f["code"] in ("DUPLICATE_EXACT", "DUPLICATE_NEAR", "TRAIN_VAL_LEAKAGE")}
    out = {"rows": n, "variant": variant, **got, "us_per_row": round(got["seconds"] / n * 1e6),
           "timings_s": stats.get("timings_s"), "findings": findings, "shares": shares, "load_1min": round(os.getloadavg()[0], 2)}
    if base is not None:
        out["vs_base"] = {"rows": round(n / base["rows"], 1), "seconds": round(got["seconds"] / base["seconds"], 2),
                          "per_row": round(out["us_per_row"] / base["us_per_row"], 2),
                          "peak_rss": round(got["peak_rss_mb"] / base["peak_rss_mb"], 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--base-rows", type=int, default=20_000)
    ap.add_argument("--val-rows", type=int, default=5_000)
    ap.add_argument("--variants", nargs="+", default=["clean", "faulty"], choices=["clean", "faulty"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.pop("TOKENIZERS_PARALLELISM", None)  # the CLI's entry point then turns it on, as for a user
    results: list[dict[str, Any]] = []
    bases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in [args.base_rows, *args.rows]:
            files = write_files(Path(tmp), n, args.val_rows, args.seed)
            for variant in args.variants:
                p = files["paths"]
                got = run_audit(p[f"{variant}_train"], p[f"{variant}_val"])
                row = summary(n, variant, got, bases.get(variant))
                row.update(mb=files["mb"], planted=files["planted"])
                bases.setdefault(variant, row)
                results.append(row)
                print(json.dumps(row), flush=True)
            for path in files["paths"].values():
                path.unlink()
    faulty = {r["rows"]: r["findings"] for r in results if r["variant"] == "faulty"}
    same = len({json.dumps(f) for f in faulty.values()}) <= 1
    print(json.dumps({"faulty_findings_same_at_every_size": same, "faulty_findings": faulty,
                      "table": [{k: r.get(k) for k in ("rows", "variant", "seconds", "cpu_seconds", "peak_rss_mb",
                                                       "us_per_row", "vs_base", "exit_code")} for r in results]},
                     indent=1))
    if faulty and not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
