"""What recording a run's data identity (tuneguard.data.identity) adds at run start on a large
dataset: the rows fingerprint over every tokenized row (ids and labels), the part that grows
with the data (the file hashes come from the tokenized-data cache's key, computed for it anyway).

Builds `--rows` features of `--length` tokens (seeded; the first quarter of each row masked as
a prompt, as tokenize leaves them) and packs them as the tokenized-data cache does (not timed:
a run start with data.cache on, the default, packs them anyway to write tokens.pt). Then times,
in this process, each once plain and once under tracemalloc for the peak memory it allocates
beyond its input:

- `baseline`: the first scheme (before: blake2b per row over its ids and labels converted
  from Python ints, what a run start paid before scheme 2);
- `packed`: `packed_fingerprint` on the cache's arrays (what a run start pays now with the
  cache, and what compare pays on a run that recorded none, from tokens.pt);
- `lists`: `rows_fingerprint` on the rows as lists (a run with data.cache off);
- `gate_before`: the start gate's digest as it was (blake2b per row over its ids and labels
  converted to int64 one row at a time, on every rank of a multi-process run, on top of the
  identity's);
- `gate_lists`: the gate's digest now from the rows as lists (a rank other than 0 with
  data.cache off: the same conversion as `lists`);
- `gate_from_hashes`: the gate's digest now from the row hashes the identity computed (rank 0,
  and every rank with the cache: `PreparedData.row_hashes` computes them once per split).

Prints one JSON object: rows, tokens per row, per method seconds, microseconds per row, CPU
seconds, peak MB and fingerprint, the speed-ups against the baseline, and the 1-minute load
average (the machine may be shared). `--no-baseline` skips the slow first scheme.

    python bench/identity_cost.py [--rows 500000] [--length 128] [--seed 0] [--no-baseline]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from tuneguard.data.cache import _packed
from tuneguard.data.fingerprint import features_row_hashes, packed_fingerprint
from tuneguard.data.identity import rows_fingerprint
from tuneguard.dist.gate import data_fingerprint

log = logging.getLogger(__name__)


def make_features(rows: int, length: int, seed: int) -> list[dict[str, Any]]:
    ids = np.random.default_rng(seed).integers(0, 32000, size=(rows, length), dtype=np.int64).tolist()
    masked = length // 4
    return [{"input_ids": r, "labels": [-100] * masked + r[masked:], "length": length} for r in ids]


def scheme1_fingerprint(features: list[dict[str, Any]]) -> str:
    """The first scheme's fingerprint, as tuneguard.data.identity computed it before scheme 2."""
    digests = []
    for f in features:
        h = hashlib.blake2b(np.asarray(f["input_ids"], dtype=np.int64).tobytes(), digest_size=8)
        h.update(b"\x00")
        h.update(np.asarray(f.get("labels") or [], dtype=np.int64).tobytes())
        digests.append(h.digest())
    return hashlib.blake2b(b"".join(sorted(digests)), digest_size=8).hexdigest()


def gate_before(features: list[dict[str, Any]]) -> int:
    """The start gate's digest as tuneguard.dist.gate computed it before it read the row hashes."""
    h = hashlib.blake2b(digest_size=8)
    for f in features:
        h.update(np.asarray(f["input_ids"], dtype=np.int64).tobytes())
        h.update(b"\x00")
        labels = f.get("labels")
        if labels is not None:
            h.update(np.asarray(labels, dtype=np.int64).tobytes())
        h.update(b"\x01")
    return int.from_bytes(h.digest(), "big") >> 2


def measure(fingerprint: Callable[[Any], str], data: Any, rows: int) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fingerprint(data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tracemalloc.start()
    fingerprint(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": round(wall, 2), "us_per_row": round(wall / max(rows, 1) * 1e6, 2),
            "cpu_seconds": round(cpu, 2), "peak_mb": round(peak / 1e6, 1), "fingerprint": value}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=500_000)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baseline", action="store_true", help="skip the first scheme (about 10 s at 500,000 rows)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("building %d rows of %d tokens", args.rows, args.length)
    feats = make_features(args.rows, args.length, args.seed)
    packed = _packed(feats, {})
    result: dict[str, Any] = {"rows": args.rows, "tokens_per_row": args.length}
    if not args.no_baseline:
        result["baseline"] = measure(scheme1_fingerprint, feats, args.rows)
    result["packed"] = measure(packed_fingerprint, packed, args.rows)
    result["lists"] = measure(rows_fingerprint, feats, args.rows)
    if not args.no_baseline:
        result["gate_before"] = measure(gate_before, feats, args.rows)
    result["gate_lists"] = measure(data_fingerprint, feats, args.rows)
    hashes = features_row_hashes(feats)
    result["gate_from_hashes"] = measure(data_fingerprint, hashes, args.rows)
    if result["packed"]["fingerprint"] != result["lists"]["fingerprint"]:
        raise SystemExit("the packed and the lists fingerprints differ")
    if result["gate_lists"]["fingerprint"] != result["gate_from_hashes"]["fingerprint"]:
        raise SystemExit("the gate's digests from the lists and from the row hashes differ")
    if "baseline" in result:
        base = result["baseline"]["seconds"]
        result["speedup"] = {k: round(base / max(result[k]["seconds"], 1e-9), 1) for k in ("packed", "lists")}
        gate = result["gate_before"]["seconds"]
        result["gate_speedup"] = {k: round(gate / max(result[k]["seconds"], 1e-9), 1)
                                  for k in ("gate_lists", "gate_from_hashes")}
    result["load_1min"] = round(os.getloadavg()[0], 2)
    log.info("%s", json.dumps(result))


if __name__ == "__main__":
    main()
