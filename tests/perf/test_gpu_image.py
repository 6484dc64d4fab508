"""What bench/gpu_gptj.sh needs on the GPU machine: that machine starts bare from an image with
its own Python packages and no package index, so every dependency of tuneguard it lacks either
travels as a wheel (`prepare`) or is never imported by the steps the script runs. A dependency
added to pyproject.toml and missed here would stop every `tuneguard` step of the one GPU call
at its first import (as apprise would have: the notifier imports it, and train imports that)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# tuneguard's dependencies that the GPU image holds (the device machine's package list: torch
# 2.11 with CUDA 13, transformers 5.17, accelerate 1.15, ...); the script carries a newer
# transformers and peft anyway.
ON_THE_IMAGE = {"torch", "transformers", "peft", "accelerate", "pyyaml", "typer", "rich", "psutil", "numpy"}
# Dependencies neither on the image nor carried, because no step imports them: datasets reads
# Parquet files and saved datasets (the session writes JSON Lines), datasketch is not imported.
NOT_NEEDED = {"datasets", "datasketch"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")


def carried_wheels() -> set[str]:
    script = (ROOT / "bench" / "gpu_gptj.sh").read_text("utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in script.splitlines())  # comments hold parentheses
    block = re.search(r"^WHEELS=\(([^)]*)\)", code, re.M)
    assert block, "bench/gpu_gptj.sh has no WHEELS=(...) list"
    return {_name(w) for w in block.group(1).split()}


def test_every_dependency_is_on_the_gpu_image_carried_or_never_imported_there():
    deps = {_name(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]}
    wheels = carried_wheels()
    assert {"apprise", "requests-oauthlib", "oauthlib", "pydantic", "transformers", "bitsandbytes"} <= wheels
    assert deps - ON_THE_IMAGE - wheels == NOT_NEEDED
    # What the steps import, with the modules of NOT_NEEDED made unimportable.
    code = ("import sys\n"
            "for name in ('datasets', 'datasketch'):\n"
            "    sys.modules[name] = None\n"
            "import tuneguard.train.build, tuneguard.train.run, tuneguard.tools.plan, tuneguard.cli.main\n"
            "import tuneguard.bench.gpu_session, tuneguard.bench.levers, tuneguard.bench.throughput\n"
            "import tuneguard.bench.loss_match\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
