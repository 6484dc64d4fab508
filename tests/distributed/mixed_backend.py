"""`tuneguard` as torchrun starts it, with the default process group in a GPU machine's shape.

On GPUs tuneguard creates the default group as "cpu:gloo,cuda:nccl"; this entry point makes
it "cpu:gloo,cuda:gloo", the same mixed shape on a CPU machine, and then runs the real CLI.
With TUNEGUARD_TEST_FAIL_AT_STEP=N every rank raises at the end of optimizer step N (a
failure that every rank meets at the same point, like a crash in a training step).

    python -m torch.distributed.run --nproc_per_node 2 tests/distributed/mixed_backend.py train ...
"""

from __future__ import annotations

import functools
import os
import sys


def plant_failure(step: int) -> None:
    from transformers import TrainerCallback

    from tuneguard.train import run

    class Fail(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer signature
            if state.global_step == step:
                raise RuntimeError(f"planted failure at step {step}")

    # The CLI calls the recipe by name at run time: hand it the extra callback through its seam.
    run.run_training = functools.partial(run.run_training, extra_callbacks=[Fail()])


def main() -> None:
    from tuneguard.dist import collectives

    collectives.default_backend = lambda use_cpu, cuda_available: "cpu:gloo,cuda:gloo"
    if os.environ.get("TUNEGUARD_TEST_FAIL_AT_STEP"):
        plant_failure(int(os.environ["TUNEGUARD_TEST_FAIL_AT_STEP"]))
    from tuneguard.cli.main import run as cli

    sys.argv = ["tuneguard", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
