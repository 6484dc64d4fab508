"""The audit judges each check against the task's shape: a classifier's few labels and an
extractor's copied spans are what those tasks are, not faults; a pasted answer in an open
task still is. Rows are Python's own docstrings (tests.audit.audit_corpus)."""

from __future__ import annotations

import json
import random
import re

from typer.testing import CliRunner

from tests.audit.audit_corpus import clean_rows, docstrings
from tests.audit.audit_helpers import get, serious
from tests.audit.test_cli import app, config_file  # noqa: F401 - the Typer app fixture
from tuneguard.audit import task_shape

LABELS = ("os", "re", "json", "socket", "logging", "pathlib", "typing", "email")  # 8 label words


def classification_rows(n: int, majority: float = 0.0, seed: int = 0) -> list[dict[str, str]]:
    """Which module documents this text? The answer: one of eight module names."""
    rng = random.Random(seed)
    rows = []
    for k, (_mod, _, doc) in enumerate(docstrings()[:n]):
        label = LABELS[0] if rng.random() < majority else LABELS[k % len(LABELS)]
        rows.append({"instruction": f"Which module is this from: {', '.join(LABELS)}?", "input": doc, "output": label})
    return rows


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0]


def extraction_rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    """The answer is the first sentence of the passage given as input."""
    rows = []
    for _mod, _name, doc in docstrings()[offset: offset + n]:
        if first_sentence(doc) != doc:
            rows.append({"instruction": "Quote the first sentence of this passage.", "input": doc,
                         "output": first_sentence(doc)})
    return rows


def rewriting_rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    """The answer is the first sentence with its second word in upper case."""
    rows = []
    for _mod, _name, doc in docstrings()[offset: offset + n]:
        w = first_sentence(doc).split()
        if len(w) < 4:
            continue
        rows.append({"instruction": "Rewrite the sentence with its second word in capitals.", "input": " ".join(w),
                     "output": " ".join(w[:1] + [w[1].upper() + "!"] + w[2:])})
    return rows


def test_classifier_with_eight_labels_is_no_low_diversity_error(audit_rows):
    result, _ = audit_rows(classification_rows(200), validation=classification_rows(240)[200:])
    task = result.stats["task"]
    assert (task["shape"], task["source"], task["distinct_responses"]) == ("classification", "inferred", 8)
    assert [x["label"] for x in task["labels"]] == list(LABELS)
    assert task["label_majority_share"] == 0.125
    assert serious(result) == {} and not result.has_errors()
    assert result.stats["diversity"]["judged_as"] == "classification: label distribution"


def test_classifier_label_imbalance_and_a_single_label(audit_rows):
    result, _ = audit_rows(classification_rows(200, majority=0.95, seed=3))
    f = get(result, "LOW_DIVERSITY")
    assert f.severity == "warning" and f.evidence["thresholds"] == {"audit.label_majority_warning": 0.9}
    assert f.evidence["labels"][0]["label"] == "os" and f.evidence["share"] > 0.9
    assert "always answers it" in f.message
    one = [dict(r, output="os") for r in classification_rows(100)]
    result, _ = audit_rows(one, data={"task": "classification"})
    f = get(result, "LOW_DIVERSITY")
    assert (f.severity, f.evidence["count"], f.evidence["share"]) == ("error", 90, 1.0)  # 90% train split


def test_stating_another_task_judges_the_same_rows_differently(audit_rows):
    rows = classification_rows(200)
    result, _ = audit_rows(rows, data={"task": "open"})
    assert result.stats["task"]["source"] == "data.task"
    assert get(result, "LOW_DIVERSITY").severity == "error"  # templated answers, were this an open task
    rows = extraction_rows(220)
    result, _ = audit_rows(rows, data={"task": "open"})
    assert get(result, "ANSWER_IN_PROMPT").severity == "error"


def test_extraction_answers_in_the_input_are_the_task(audit_rows):
    rows = extraction_rows(220)
    result, _ = audit_rows(rows, validation=extraction_rows(60, offset=450))
    task = result.stats["task"]
    assert task["shape"] == "extraction" and task["span_share"] > 0.95  # the rest: a sentence most of its passage
    assert "verbatim spans of their prompt" in task["reason"]
    assert serious(result) == {}
    assert result.stats["answer_in_prompt"]["skipped"] == "extraction: answers are expected to repeat the input"


def test_rewriting_is_recognised(audit_rows):
    result, _ = audit_rows(rewriting_rows(200))
    task = result.stats["task"]
    assert task["shape"] == "rewriting" and task["rewrite_share"] > 0.8
    assert "ANSWER_IN_PROMPT" not in serious(result)


def test_open_questions_are_open_and_a_pasted_answer_still_an_error(audit_rows):
    rows = clean_rows(300)
    for i in random.Random(3).sample(range(300), 30):
        rows[i]["input"] = "Context: " + rows[i]["output"]
    result, _ = audit_rows(rows)
    assert result.stats["task"]["shape"] == "open"
    assert get(result, "ANSWER_IN_PROMPT").severity == "error"


def test_audit_severity_overrides_change_the_severity_and_keep_the_default(audit_rows):
    rows = extraction_rows(220)
    overrides = {"ANSWER_IN_PROMPT": "warning", "TOKENIZER_MISMATCH": "off"}
    result, _ = audit_rows(rows, data={"task": "open"}, audit={"severity": overrides})
    f = get(result, "ANSWER_IN_PROMPT")
    assert f.severity == "warning" and not result.has_errors()
    assert f.evidence["severity_override"] == {"set_by": "audit.severity.ANSWER_IN_PROMPT", "default": "error"}
    assert result.stats["severity_overrides"] == {"config": overrides,
                                                  "applied": {"ANSWER_IN_PROMPT": {"default": "error", "set": "warning"}}}
    result, _ = audit_rows(rows, data={"task": "open"}, audit={"severity": {"ANSWER_IN_PROMPT": "off"}})
    assert [f.code for f in result.findings if f.code == "ANSWER_IN_PROMPT"] == []
    assert result.stats["severity_overrides"]["applied"] == {"ANSWER_IN_PROMPT": {"default": "error", "set": "off"}}


def test_shape_rules_on_plain_text_and_thai(tmp_path):
    from tuneguard.audit.common import SplitText
    from tuneguard.config.schema import AuditConfig
    from tuneguard.data.formats import Example

    text = SplitText.build("train", [Example("", f"plain text number {i} of a corpus", "t", i) for i in range(30)])
    assert task_shape.infer(text, AuditConfig(), "auto", 0).shape == "open"
    # English prompt, Thai answer: no shared words, an open task (translation).
    thai = SplitText.build("train", [Example(f"Translate into Thai: message {i} could not be opened",
                                             f"ไม่สามารถเปิดข้อความที่ {i} ได้", "t", i) for i in range(30)])
    shape = task_shape.infer(thai, AuditConfig(), "auto", 0)
    assert (shape.shape, shape.stats["span_share"], shape.stats["rewrite_share"]) == ("open", 0.0, 0.0)


def test_cli_shows_the_task_and_exits_0_on_an_extraction_set(app, tmp_path):  # noqa: F811
    cfg = config_file(tmp_path, extraction_rows(300), extraction_rows(60, offset=300))
    res = CliRunner().invoke(app, ["audit", cfg, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["stats"]["task"]["shape"] == "extraction"
    table = CliRunner().invoke(app, ["audit", cfg], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "Task: extraction (inferred: 99.3% of answers are verbatim spans" in table.stdout
