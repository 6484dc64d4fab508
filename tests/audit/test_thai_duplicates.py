"""Near copies, one-word edits and leaked validation rows on Thai text get the finding and
severity their English mirror gets. The rows are LibreOffice's messages of test_thai_text:
English -> Thai translations, and their mirror Thai -> English."""

from __future__ import annotations

from typing import Any

import pytest

from tests.audit.audit_helpers import serious
from tests.audit.test_thai_text import CANNED, TEMPLATE, _rows

Rows = list[dict[str, str]]
# The word put between two joined messages of an answer: one word inserted mid-row.
AND = {"th": " และ ", "en": " and "}
JOIN = " | "


def _typo(text: str) -> str:
    """One letter changed in the middle of the text (a Thai consonant, or a Latin letter)."""
    i = len(text) // 2
    while not text[i].isalpha():
        i += 1
    new = ("ข" if text[i] != "ข" else "ค") if text[i] > "\u0e00" else ("x" if text[i] != "x" else "z")
    return text[:i] + new + text[i + 1:]


def _joined(rows: Rows, k: int) -> Rows:
    """Each row's answer followed by the next k - 1 rows' answers: longer rows of real text."""
    return [dict(r, output=JOIN.join(rows[(i + j) % len(rows)]["output"] for j in range(k))) for i, r in enumerate(rows)]


def _fixture(name: str, lang: str) -> tuple[Rows, Rows | None]:
    """(train, validation) of one fixture, answers in `lang`."""
    rows = _rows(lang)
    if name == "near_copies":
        return rows + [dict(r, output=_typo(r["output"])) for r in rows[:10]], None
    if name == "canned":
        return [dict(r, output=CANNED[lang]) if i % 2 == 0 and i < 38 else r for i, r in enumerate(rows)], None
    if name == "templated":
        return [dict(r, output=TEMPLATE[lang].format(x=r["output"])) for r in rows], None
    if name == "leaked_validation":
        return rows[:30], [dict(r, output=_typo(r["output"])) for r in rows[22:]]
    k, edit = int(name[-1]), name[:-2]
    long = _joined(rows, k)
    if edit == "word_added":
        return long + [dict(r, output=r["output"].replace(JOIN, AND[lang], 1)) for r in long[:10]], None
    return long + [dict(r, output=_typo(r["output"])) for r in long[:10]], None


@pytest.mark.parametrize(("name", "expected"), [
    ("near_copies", {"DUPLICATE_NEAR": "error", "TRAIN_VAL_LEAKAGE": "error"}),
    ("canned", {"LOW_DIVERSITY": "error"}),
    ("templated", {"LOW_DIVERSITY": "warning"}),
    ("leaked_validation", {"TRAIN_VAL_LEAKAGE": "error"}),
    ("word_added_2", {"DUPLICATE_NEAR": "error", "TRAIN_VAL_LEAKAGE": "error"}),
    ("word_added_3", {"DUPLICATE_NEAR": "error", "TRAIN_VAL_LEAKAGE": "error"}),
    ("typo_2", {"DUPLICATE_NEAR": "error", "TRAIN_VAL_LEAKAGE": "error"}),
])
def test_thai_faults_get_the_findings_of_their_english_mirror(audit_rows: Any, name: str, expected: dict[str, str]) -> None:
    """Ten rows copied with one letter or one word changed (a fifth of the rows: an error),
    validation rows that are train rows with a typo, canned and templated answers."""
    for lang in ("th", "en"):
        train, validation = _fixture(name, lang)
        result, _ = audit_rows(train, validation=validation)
        assert serious(result) == expected, lang
