"""Structured answers (JSON objects of one key set) are judged by their values: labels on several
fields are a classifier's, whatever number of combinations they make; free values (a name, a
date, an amount) keep the rows' other shape; canned or copied JSON is still caught. Rows are
Python's own docstrings (tests.audit.audit_corpus)."""

from __future__ import annotations

import json
import random

from tests.audit.audit_corpus import docstrings
from tests.audit.audit_helpers import get, serious
from tuneguard.audit import task_shape
from tuneguard.config.schema import AuditConfig

MODULE_GROUPS = ("text", "files", "network", "data", "runtime", "math")
KINDS = ("function", "class", "method", "constant")
LENGTHS = ("short", "medium", "long")  # 6 x 4 x 3 = 72 combinations, more than audit.task_max_labels (50)


def tagging_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Tag a docstring with three fields, each from a small set: an extraction task whose answers
    all share one JSON template by design."""
    rng = random.Random(seed)
    rows = []
    for _mod, _name, doc in docstrings()[:n]:
        tags = {"group": rng.choice(MODULE_GROUPS), "kind": rng.choice(KINDS), "length": rng.choice(LENGTHS)}
        rows.append({"instruction": "Tag this documentation with its group, kind and length as JSON.", "input": doc,
                     "output": json.dumps(tags)})
    return rows


def test_labels_on_several_fields_are_classification_not_templated_answers(audit_rows):
    rows = tagging_rows(300)
    assert len({r["output"] for r in rows[:270]}) > 50  # too many combinations for the single-label rule
    result, _ = audit_rows(rows)
    task = result.stats["task"]
    assert (task["shape"], task["source"]) == ("classification", "inferred")
    assert task["reason"].startswith("labels on several fields: 100.0% of answers are JSON objects with the keys "
                                     "group, kind, length")
    assert task["structured"] == {"keys": ["group", "kind", "length"],
                                  "values_per_key": {"group": 6, "kind": 4, "length": 3}, "share": 1.0,
                                  "labels": True}
    assert "LOW_DIVERSITY" not in {f.code for f in result.findings}
    assert serious(result) == {} and not result.has_errors()
    assert task["labels"][0]["label"].startswith(("group=", "kind=", "length="))  # key=value, readable


def test_structured_labels_still_catch_canned_and_copied_answers(audit_rows):
    rows = tagging_rows(300)
    canned = [dict(r, output=rows[0]["output"]) for r in rows]  # one answer whatever the input
    f = get(audit_rows(canned)[0], "LOW_DIVERSITY")
    assert (f.severity, f.evidence["share"]) == ("error", 1.0)
    mostly = [dict(r, output=rows[0]["output"]) if k % 20 else r for k, r in enumerate(rows)]  # 95% one answer
    f = get(audit_rows(mostly)[0], "LOW_DIVERSITY")
    assert f.severity == "warning" and f.evidence["share"] > 0.9
    copied = [r for r in rows[:15] for _ in range(20)]  # 15 rows, each 20 times
    result, _ = audit_rows(copied)
    assert get(result, "DUPLICATE_EXACT").severity == "error"


def test_extraction_rows_copied_20_times_are_not_labels(audit_rows):
    """Free values (names, amounts) of 20 rows each copied 20 times take 20 values per field: the
    copies must not make them labels; each distinct row counts once."""
    rows = [{"instruction": "Extract the module, the name and the first words as JSON.", "input": f"{mod}.{name}: {doc}",
             "output": json.dumps({"module": mod, "name": name, "first_words": " ".join(doc.split()[:4])})}
            for mod, name, doc in docstrings()[:20]]
    result, _ = audit_rows([r for r in rows for _ in range(20)])
    task = result.stats["task"]
    assert task["shape"] != "classification" and task["structured"]["labels"] is False
    assert get(result, "DUPLICATE_EXACT").severity == "error"


def test_free_values_keep_the_other_shape_and_templated_free_answers_are_still_caught(audit_rows):
    rng = random.Random(1)
    rows = []
    for mod, name, doc in docstrings()[:300]:
        rows.append({"instruction": "Return the module, the name and the first word of this documentation as JSON.",
                     "input": f"{mod}.{name}: {doc}", "output": json.dumps({"module": mod, "name": name,
                                                                             "first": doc.split()[0]})})
    result, _ = audit_rows(rows)
    task = result.stats["task"]
    assert task["structured"]["labels"] is False  # names take hundreds of values
    assert task["shape"] == "extraction" and task["reason"].startswith(
        "structured extraction: 100.0% of answers are JSON objects with the keys first, module, name")
    assert serious(result) == {}
    # The same template with one placeholder answer in every row is the fault LOW_DIVERSITY exists for.
    placeholder = json.dumps({"module": "unknown", "name": "unknown", "first": "unknown"})
    canned = [dict(r, output=placeholder) if rng.random() < 0.97 else r for r in rows]
    assert get(audit_rows(canned)[0], "LOW_DIVERSITY").severity in ("warning", "error")


def test_structured_labels_rule_on_made_up_answers():
    acfg = AuditConfig()
    tags = [json.dumps({"a": f"x{i % 7}", "b": i % 3 == 0}) for i in range(100)]
    assert task_shape.structured(tags, acfg) == {"keys": ["a", "b"], "values_per_key": {"a": 7, "b": 2},
                                                  "share": 1.0, "labels": True}
    # Fewer than audit.task_share (80%) of the answers of one key set: not structured.
    mixed = tags[:70] + [json.dumps({"c": "y"})] * 30
    assert task_shape.structured(mixed, acfg) is None
    # A field of many values (ids): free values, not labels.
    ids = [json.dumps({"a": f"x{i % 7}", "id": i}) for i in range(100)]
    assert task_shape.structured(ids, acfg) == {"keys": ["a", "id"], "values_per_key": {"a": 7, "id": 100},
                                                "share": 1.0, "labels": False}
    # Not JSON objects: lists, numbers, prose with braces.
    assert task_shape.structured(["[1, 2]", "42", "{not json}"] * 40, acfg) is None
