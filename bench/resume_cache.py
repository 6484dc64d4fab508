"""Time to the first step of a resumed run, with and without the data cache (data.cache).

Writes ROWS varied instruction rows (bench/audit_speed.py's generator: median about 150
words a row, data.max_length 512, the tiny model's context), trains one step of the `tiny` preset (CPU) with a
checkpoint, then resumes it twice in this process, each resume training one more step:
first with data.cache=false (tokenizing and auditing again: what a resume cost before),
then with data.cache=true (the cache the first run wrote). Prints one JSON object: rows, the
file's size and the seconds to hash it, and for each resume the seconds from
`run_training` to the end of its first step, and the size of RUN_DIR/cache/tokens.pt.

    TOKENIZERS_PARALLELISM=false python bench/resume_cache.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).parent))
from audit_speed import make_rows  # noqa: E402

from tuneguard.config.load import load_config  # noqa: E402
from tuneguard.train.run import run_training  # noqa: E402


class OneStep(TrainerCallback):
    """Ends training after one step of this process; notes when that step ended."""

    def __init__(self) -> None:
        self.t: float | None = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.t is None:
            self.t = time.perf_counter()
        control.should_training_stop = True
        control.should_save = True


def timed_run(cfg_sets: list[str], run: Path, resume: bool) -> float:
    cb = OneStep()
    t = time.perf_counter()
    out = run_training(load_config("tiny", cfg_sets), run, resume=resume, force=True,
                       console=Console(file=io.StringIO()), extra_callbacks=[cb])
    assert out.exit_code == 0 and cb.t is not None, out
    return round(cb.t - t, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as d:
        rows, _ = make_rows(args.rows, 0)
        data = Path(d) / "train.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
        t = time.perf_counter()
        hashlib.sha256(data.read_bytes()).hexdigest()
        hash_s = round(time.perf_counter() - t, 2)
        sets = [f"data.train_file={data}", "data.max_length=512", "train.max_steps=10", "train.save_steps=1",
                "eval.steps=1000", "eval.load_best_model_at_end=false"]
        run = Path(d) / "run"
        first = timed_run(sets, run, resume=False)
        before = timed_run([*sets, "data.cache=false"], run, resume=True)
        after = timed_run(sets, run, resume=True)
        print(json.dumps({"rows": args.rows, "file_mb": round(data.stat().st_size / 1e6, 1), "sha256_s": hash_s,
                          "first_run_to_step_s": first, "resume_to_step_no_cache_s": before,
                          "resume_to_step_cached_s": after,
                          "cache_mb": round((run / "cache" / "tokens.pt").stat().st_size / 1e6, 1)}))


if __name__ == "__main__":
    main()
