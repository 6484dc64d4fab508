"""How long `tuneguard audit` takes on 100,000 instruction rows (target: under 60 s on 2 cores).

Generates varied instruction rows with a seeded RNG (Zipf-distributed words from the
built-in tiny tokenizer's word list, so a word is about one token as with real tokenizers;
instruction 8-25 words, an input on half of the rows, lognormal answers; median about 150
words per row), plants 0.5% exact and 0.5% near duplicates, writes them to a temporary
JSONL file and runs `audit_config` with the `tiny` preset (data.max_length 1024). Prints one
JSON object: rows, seconds (wall, end to end: tokenizer, loading and tokenizing the data,
every check), rows/s, CPU seconds and the 1-minute load average (the machine may be
shared), the per-check timings and the findings (the planted duplicates must be found).

    python bench/audit_speed.py [--rows 100000] [--seed 0]

Tokenizing the data (prepare_data) dominates; `tuneguard`'s entry point sets
TOKENIZERS_PARALLELISM=false, so run with that variable set to measure what the CLI does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def make_rows(n: int, seed: int) -> tuple[list[dict], dict]:
    from tuneguard.model.load import _TINY_WORDS

    rng = np.random.default_rng(seed)
    vocab = np.array(sorted(set(_TINY_WORDS)) + [str(i) for i in range(100)], dtype=object)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 0.8
    p /= p.sum()
    perm = rng.permutation(len(vocab))
    vocab = vocab[perm]

    def text(k: int) -> str:
        return " ".join(rng.choice(vocab, size=k, p=p).tolist())

    rows: list[dict] = []
    n_dup = n // 200
    n_base = n - 2 * n_dup
    for _ in range(n_base):
        row = {"instruction": text(int(rng.integers(8, 26))).capitalize() + "?",
               "output": text(int(np.clip(rng.lognormal(np.log(110), 0.5), 20, 500))).capitalize() + "."}
        if rng.random() < 0.5:
            row["input"] = text(int(rng.integers(10, 61)))
        rows.append(row)
    for i in rng.choice(n_base, size=n_dup, replace=False):
        rows.append(dict(rows[int(i)]))
    for i in rng.choice(n_base, size=n_dup, replace=False):
        r = dict(rows[int(i)])
        w = r["output"].split()
        for j in rng.choice(len(w), size=2, replace=False):
            w[int(j)] = "changed"
        r["output"] = " ".join(w)
        rows.append(r)
    order = rng.permutation(len(rows))
    rows = [rows[int(i)] for i in order]
    lengths = [sum(len(str(v).split()) for v in r.values()) for r in rows[:5000]]
    return rows, {"exact_planted": n_dup, "near_planted": n_dup, "median_words": statistics.median(lengths)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from tuneguard.audit import audit_config
    from tuneguard.config.load import read_source, validate_config

    t = time.perf_counter()
    rows, planted = make_rows(args.rows, args.seed)
    gen_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
        raw, _ = read_source("tiny")
        raw["data"].update({"train_file": str(path), "max_length": 1024})
        cfg = validate_config(raw)
        t = time.perf_counter()
        cpu = time.process_time()
        result = audit_config(cfg)
        seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu
    out = {
        "rows": len(rows), "seconds": round(seconds, 2), "rows_per_s": round(len(rows) / seconds),
        "cpu_seconds": round(cpu, 2), "load_average_1m": round(os.getloadavg()[0], 2),
        "audit_checks_s": result.stats["timings_s"]["total"],
        "cpus": os.cpu_count(), "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM", "default"),
        "generate_s": round(gen_s, 2), "planted": planted,
        "timings_s": result.stats["timings_s"],
        "findings": [{"code": f.code, "severity": f.severity, "count": f.evidence.get("count")} for f in result.findings],
        "duplicates": {"exact": result.stats["duplicates_exact"]["duplicate_rows"],
                       "near_extra": result.stats["duplicates_near"]["extra_rows"],
                       "lsh_candidates": result.stats["duplicates_near"]["lsh_candidates"]},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
