"""One trained tiny run shared by the tools tests (they only read it), with a QA probe so
that `evaluate` has probes to score."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import cli, tiny_config
from tests.helpers.tools import PROBE


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run: 60 steps, checkpoints at 20, 40, 60, the best adapter in adapter/.

    Session scope: training once (instead of once per module) keeps the suite within its
    time budget; no test writes into the run directory.
    """
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    root = tmp_path_factory.mktemp("tools-run")
    train_file = write_jsonl(make_instruction_rows(400, seed=0), root / "train.jsonl")
    cfg = tiny_config(root, train_file, eval={"qa_probes": [{"prompt": PROBE, "keywords": ["5", "sum"]}],
                                              "qa_max_new_tokens": 12})
    run = root / "run"
    r = cli("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    return run


