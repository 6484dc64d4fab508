"""The two-process side of the guard matrix: one torchrun launch runs a list of `tuneguard
train` commands in turn (each process starting torch and transformers costs more than a
tiny run, so one launch serves every scenario).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/integration/matrix_worker.py SPEC.json

SPEC.json: a list of {"args": [train arguments], "spike_at": step or null, "accum": n}. Each
command goes through the real Typer app in this process (tests.conftest.invoke) with the
scenario's planted fault on the recipe's base model; its exit code goes into
RUN_DIR/exit_code.rank{N}. The process group is created here once, so the recipe adopts it
instead of creating and destroying one per run; and a halted run's "let rank 0 exit first"
wait is skipped, since here every rank goes on to the next run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `tests` is importable


def main(spec_file: str) -> None:
    import torch
    import torch.distributed as dist

    from tests.helpers.cli import invoke
    from tests.integration.matrix import ScaleLogitsAtStep
    from tests.integration.planted import planted
    from tuneguard.dist import collectives

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    collectives.Collectives.wait_for_exit = lambda self, rank=0, timeout_s=60.0: None
    rank = dist.get_rank()
    for run in json.loads(Path(spec_file).read_text("utf-8")):
        plants = (ScaleLogitsAtStep(run["spike_at"], 30.0, run["accum"]),) if run.get("spike_at") else ()
        with planted(*plants):
            r = invoke(*run["args"])
        run_dir = Path(run["args"][run["args"].index("--run-dir") + 1])
        (run_dir / f"exit_code.rank{rank}").write_text(str(r.returncode))
        dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(sys.argv[1])
