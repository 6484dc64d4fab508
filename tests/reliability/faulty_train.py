"""Test-only entry point: run `tuneguard ARGS` with faults injected while checkpoints are written.

`python tests/reliability/faulty_train.py train CONFIG ...` behaves like `tuneguard train`,
except that TG_FAULTS (a JSON list) makes chosen checkpoint writes slow, so that a test can
SIGKILL the process at a known point of a save:

- {"step": 20, "at": "optimizer", "sleep": 60}: torch.save of checkpoint-20/optimizer.pt
  writes the first half of the file, then sleeps (a kill leaves a truncated file);
- {"step": 40, "at": "trainer_state", "sleep": 60}: sleeps right after
  checkpoint-40/trainer_state.json is written, before the marker.

Each fault prints "FAULT <at> <step>" on stderr when it starts sleeping.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time


def _install(faults: list[dict]) -> None:
    import torch
    from transformers.trainer_callback import TrainerState

    def match(path: object, at: str) -> dict | None:
        p = str(path)
        for f in faults:
            if f["at"] == at and f"checkpoint-{f['step']}{os.sep}" in p:
                return f
        return None

    real_save = torch.save

    def slow_save(obj, f, *a, **kw):  # noqa: ANN001, ANN002, ANN003
        fault = match(f, "optimizer") if isinstance(f, (str, os.PathLike)) and str(f).endswith("optimizer.pt") else None
        if fault is None:
            return real_save(obj, f, *a, **kw)
        buf = io.BytesIO()
        real_save(obj, buf, *a, **kw)
        data = buf.getvalue()
        with open(f, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            print(f"FAULT optimizer {fault['step']}", file=sys.stderr, flush=True)
            time.sleep(fault["sleep"])
            fh.write(data[len(data) // 2:])
        return None

    real_to_json = TrainerState.save_to_json

    def slow_to_json(self, json_path):  # noqa: ANN001
        real_to_json(self, json_path)
        fault = match(json_path, "trainer_state")
        if fault is not None:
            print(f"FAULT trainer_state {fault['step']}", file=sys.stderr, flush=True)
            time.sleep(fault["sleep"])

    torch.save = slow_save
    TrainerState.save_to_json = slow_to_json


def main() -> None:
    _install(json.loads(os.environ.get("TG_FAULTS", "[]")))
    from tuneguard.cli.main import run

    sys.argv = ["tuneguard", *sys.argv[1:]]
    run()


if __name__ == "__main__":
    main()
