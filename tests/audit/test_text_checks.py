"""LOW_DIVERSITY, ANSWER_IN_PROMPT and MALFORMED_ROWS on planted faults."""

from __future__ import annotations

import json
import random

import pytest

from tests.audit.audit_corpus import clean_rows
from tests.audit.audit_helpers import get, serious
from tuneguard.audit.prompt_leak import longest_common_at_least

TEMPLATES = (
    ("Thank you for your question. The function described here is part of the standard library and "
     "behaves as documented in the official reference."),
    ("This is a helpful assistant answer. Please consult the documentation of the module for all details "
     "about arguments and return values."),
    ("The requested object is documented in the Python standard library. It is used as described in the "
     "reference manual for that module."),
    ("I am sorry, but I cannot provide more information about this function at the moment. Please refer to "
     "the official Python documentation."),
)


def _templated(rows: list[dict], share: float, seed: int) -> tuple[list[dict], int]:
    rng = random.Random(seed)
    k = round(share * len(rows))
    out = [dict(r) for r in rows]
    for i in rng.sample(range(len(rows)), k):
        out[i]["output"] = TEMPLATES[i % len(TEMPLATES)]
    return out, k


def test_templated_responses_warning(audit_rows):
    train, k = _templated(clean_rows(500), 0.3, seed=1)
    result, _ = audit_rows(train, validation=clean_rows(100, seed=1, offset=500))
    assert serious(result) == {"LOW_DIVERSITY": "warning"}
    f = get(result, "LOW_DIVERSITY")
    assert f.evidence["count"] == k == 150
    assert f.evidence["top20_share"] == 0.3
    assert len(f.evidence["signals"]) == 1
    assert len(f.evidence["top_responses"]) == 4


def test_mostly_templated_responses_error(audit_rows):
    train, k = _templated(clean_rows(500), 0.7, seed=2)
    result, _ = audit_rows(train, validation=clean_rows(100, seed=1, offset=500))
    f = get(result, "LOW_DIVERSITY")
    assert f.severity == "error"
    assert f.evidence["count"] == k == 350
    assert f.evidence["unique_response_share"] == round(154 / 500, 6)
    assert len(f.evidence["signals"]) >= 2
    # The exact copies of whole rows are a different fault: prompts still differ.
    assert "DUPLICATE_EXACT" not in serious(result)


def test_answer_in_prompt_error(audit_rows):
    rows = clean_rows(500)
    rng = random.Random(3)
    planted = rng.sample(range(500), 40)
    for i in planted:
        rows[i]["input"] = "Context: " + rows[i]["output"]
    result, _ = audit_rows(rows, validation=clean_rows(100, seed=1, offset=500))
    assert serious(result) == {"ANSWER_IN_PROMPT": "error"}
    f = get(result, "ANSWER_IN_PROMPT")
    assert f.evidence["count"] == 40
    assert f.evidence["share"] == 0.08
    assert f.evidence["examples"][0]["answer_share_in_prompt"] == 1.0
    assert f.evidence["examples"][0]["row"].endswith(f"train.jsonl:{min(planted) + 1}")


def test_partly_copied_answers_count_only_below_the_default_ratio_and_short_labels_never(audit_rows):
    rows = clean_rows(400)
    for i in range(10):  # the first 60% of the answer copied into the prompt
        out = rows[i]["output"]
        rows[i]["input"] = out[: int(len(out) * 0.6)]
    for i in range(10, 60):  # classification: the label appears among the options
        rows[i] = {"instruction": "Is this review positive or negative? Great value, works well.", "output": "positive"}
    validation = clean_rows(100, seed=1, offset=400)
    # By default a row counts when (nearly) all of its answer is in its prompt: real translations
    # and code completions copy names and patterns, up to 80% of an answer (bench/shapes.py).
    result, _ = audit_rows(rows, validation=validation)
    assert "ANSWER_IN_PROMPT" not in [f.code for f in result.findings]
    assert result.stats["answer_in_prompt"]["skipped_short"] == 50
    result, _ = audit_rows(rows, validation=validation, audit={"answer_in_prompt_ratio": 0.5})
    f = get(result, "ANSWER_IN_PROMPT")
    assert f.evidence["count"] == 10
    assert f.severity == "warning"
    assert f.evidence["skipped_short_answers"] == 50


def test_malformed_rows_with_line_numbers(audit_rows):
    rows: list = clean_rows(490)
    bad_lines = {17: "{not json", 101: json.dumps({"instruction": "no output here"}),
                 250: json.dumps(["a", "list"]), 400: json.dumps({"instruction": "x", "output": "   "})}
    for line, text in sorted(bad_lines.items()):
        rows.insert(line - 1, text)
    result, _ = audit_rows(rows, validation=clean_rows(100, seed=1, offset=500),
                           data={"max_malformed_fraction": 0.05})
    assert serious(result) == {"MALFORMED_ROWS": "warning"}
    f = get(result, "MALFORMED_ROWS")
    assert f.evidence["count"] == 4
    where = [e.split(": ", 1)[0].rsplit("/", 1)[-1] for e in f.evidence["examples"]]
    assert where == ["train.jsonl:17", "train.jsonl:101", "train.jsonl:250", "train.jsonl:400"]
    assert f.evidence["rows_read"] == 594  # train 494 + validation 100
    assert f.evidence["share"] == round(4 / 594, 6)
    # Every reason is in the message, not only the commonest (each of the four holds one row).
    path = f.evidence["groups"][0]["file"]
    assert f.message == (
        f"4 of 594 rows (0.7%) are malformed and will be skipped: invalid JSON (Expecting property name enclosed in "
        f"double quotes) ({path} line 17); missing field 'output' (found 'instruction': set data.output_field to the "
        f"field that holds it) ({path} line 101); expected a JSON object, got list ({path} line 250); "
        f"1 more row(s) with 1 other reason(s), listed in the evidence.")


@pytest.mark.parametrize("seed", range(30))
def test_longest_common_substring_matches_brute_force(seed):
    rng = random.Random(seed)
    alphabet = "ab c"
    p = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
    r = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
    best = max((k for i in range(len(r)) for k in range(1, len(r) - i + 1) if r[i:i + k] in p), default=0)
    for need in range(1, len(r) + 1):
        got = longest_common_at_least(p, r, need)
        assert (got >= need) == (best >= need)
        if got >= need:
            assert got == best


def test_the_templated_message_reads_for_every_task_name(audit_rows):
    train, _ = _templated(clean_rows(500), 0.3, seed=1)
    result, _ = audit_rows(train, validation=clean_rows(100, seed=1, offset=500))
    assert get(result, "LOW_DIVERSITY").message.startswith("The training responses look templated for this open task: ")
