"""Scoring QA answers: expected answers by normalised exact match or whole containment on
word boundaries, keywords on word boundaries; the answers the issue saw counted wrong."""

from __future__ import annotations

import pytest

from tuneguard.guard.qa import ProbeResult, answer_correct, contains_whole, keyword_score, normalise, summarise


@pytest.mark.parametrize(("output", "expected"), [
    ("2, 5, 9", "2, 5, 9"),
    ("In order: 2, 5, 9.", "2, 5, 9"),
    ("Twenty-Seven.", "twenty-seven"),
    ("  The sum is 42.\n", "42"),
    ("12 + 30 = 42", "42"),
    ("1989-07-14", "1989-07-14"),
    ("G.S.", "G.S."),
    ("The answer is \"Paris\", of course", "Paris"),
    ("ｆｉｆｔｙ", "fifty"),  # full-width letters normalise (NFKC)
])
def test_right(output: str, expected: str) -> None:
    assert answer_correct(output, [expected]) is True


@pytest.mark.parametrize(("output", "expected"), [
    ("27 in words.", "twenty-seven"),  # the demo's answer the issue quotes: wrong
    ("The answer is 57.", "fifty-seven"),
    ("2, 5, 9", "1, 5, 9"),
])
def test_wrong(output: str, expected: str) -> None:
    assert answer_correct(output, [expected]) is False


@pytest.mark.parametrize(("output", "expected"), [
    ("9, 2, 5, 9, 2, 5", "2, 5, 9"),  # the sort answer: "2, 5, 9" only as a piece of a longer list
    ("142", "42"),
    ("The total is 4.2", "4"),
    ("It is 42, 43 or 44", "42"),
    ("1,000 people", "1"),
    ("thirty-seven", "seven"),
    ("seventy-one", "seventy"),
    ("concatenate", "cat"),
])
def test_right_only_as_a_substring_is_wrong(output: str, expected: str) -> None:
    assert answer_correct(output, [expected]) is False


def test_any_of_several_expected_answers_and_none() -> None:
    assert answer_correct("It is 5.", ["five", "5"]) is True
    assert answer_correct("anything", []) is None


def test_normalise_and_keywords_on_word_boundaries() -> None:
    assert normalise('  "The  Answer:  42."  ') == "the answer: 42"
    assert keyword_score("The CAPITAL is Paris.", ["paris", "france"]) == 0.5
    assert keyword_score("a concatenated catalogue", ["cat"]) == 0.0
    assert keyword_score("Paris, France", ["Paris", "France"]) == 1.0  # word lists are fine for keywords
    assert contains_whole("2, 5, 9 and 11", "2, 5, 9", lists=False) is True


def test_summary_counts_right_answers() -> None:
    def r(correct: bool | None) -> ProbeResult:
        return ProbeResult("p", "o", [], None, True, 1.0, 3, ["x"] if correct is not None else [], correct)

    s = summarise([r(True), r(False), r(None)])
    assert (s["answered"], s["correct"], s["probes"]) == (2, 1, 3)

