"""Shared fixtures: data the tests make, configs based on the tiny preset, CLI runners."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tiny models gain nothing from a second torch thread, and on a loaded 2-core machine
# OpenMP threads spinning while they wait for each other slow them down many times over
# (docs/BENCHMARKS.md, "Soak"). Subprocesses started by the tests inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# tuneguard's own cache (a GGUF file's converted tokenizer) in a folder of this session's, not
# the user's ~/.cache; subprocesses inherit it.
if "TUNEGUARD_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["TUNEGUARD_CACHE_DIR"] = tempfile.mkdtemp(prefix="tuneguard-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TUNEGUARD_CACHE_DIR"], True)

# datasets gives its logger a StreamHandler on the sys.stderr of the moment it is first imported:
# imported inside a test that captures stderr (capsys), the handler keeps that test's stream, which
# is closed afterwards, and every later datasets log is a "--- Logging error ---" traceback in
# another test's output. Imported here, the handler writes to the session's stderr. The GPU
# machine's image has no datasets (bench/gpu_gptj.sh runs the CUDA lane there): nothing to route.
try:
    import datasets  # noqa: E402,F401
except ImportError:
    pass


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Local time is UTC, so clock times read the same on every machine."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cuda` need a GPU: the GPU script (bench/gpu_gptj.sh) runs them; without
    one they are skipped and say why (CI has no GPU, so CI skipping them hides nothing)."""
    if not any("cuda" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: run by `bash bench/gpu_gptj.sh` on the GPU machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU path even on a machine with a GPU, for tests that claim CPU behaviour: no CUDA
    device for subprocesses (CUDA_VISIBLE_DEVICES) nor for this process."""
    import torch

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    return write_jsonl(make_instruction_rows(400, seed=0), tmp_path / "train.jsonl")


