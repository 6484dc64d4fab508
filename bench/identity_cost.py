"""What recording a run's data identity (tuneguard.data.identity) adds at run start on a large
dataset: the rows fingerprint over every tokenized row (ids and labels), the part that grows
with the data (the file hashes come from the tokenized-data cache's key, computed for it anyway).

Builds `--rows` features of `--length` tokens (seeded; the first quarter of each row masked as
a prompt, as tokenize leaves them), then times `rows_fingerprint` once plain and once under
tracemalloc for the peak memory it allocates beyond the features. Prints one JSON object:
rows, tokens per row, seconds, microseconds per row, CPU seconds, peak MB and the 1-minute
load average (the machine may be shared).

    python bench/identity_cost.py [--rows 500000] [--length 128] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import tracemalloc
from typing import Any

from tuneguard.data.identity import rows_fingerprint


def make_features(rows: int, length: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    masked = length // 4
    out = []
    for _ in range(rows):
        ids = [rng.randrange(32000) for _ in range(length)]
        out.append({"input_ids": ids, "labels": [-100] * masked + ids[masked:], "length": length})
    return out


def measure(feats: list[dict[str, Any]]) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    fingerprint = rows_fingerprint(feats)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tracemalloc.start()
    rows_fingerprint(feats)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": round(wall, 2), "us_per_row": round(wall / max(len(feats), 1) * 1e6, 1),
            "cpu_seconds": round(cpu, 2), "peak_mb": round(peak / 1e6, 1), "fingerprint": fingerprint}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=500_000)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    feats = make_features(args.rows, args.length, args.seed)
    result = {"rows": args.rows, "tokens_per_row": args.length, **measure(feats), "load_1min": os.getloadavg()[0]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
