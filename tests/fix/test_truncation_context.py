"""The fix report's ANSWER_TRUNCATED line when the rows need more than the model's context (the
audit's evidence context_length without a suggested_max_length): no max_length to raise to, so it
says to drop, shorten or split them; within the context it names the length the audit suggests."""

from __future__ import annotations

from tuneguard.findings import Finding
from tuneguard.fix.account import _finding_line
from tuneguard.fix.plan import FixPlan


def _plan(truncated: list[str]) -> FixPlan:
    return FixPlan(files=[], exact=[], near=[], leaked=[], malformed=[], truncated=truncated,
                   truncation_dropped=False, acted_on=[], left=[], notes=[], max_length=256)


def _finding(**evidence) -> Finding:
    return Finding("ANSWER_TRUNCATED", "warning", "cut", {"needed_length_p95": 681, **evidence}, "advice")


def test_rows_beyond_the_context_are_not_told_to_raise_max_length():
    line = _finding_line(_finding(context_length=512), _plan(["train.jsonl:3"]), "en")
    assert line.endswith("1 row listed below, kept: they need more tokens than the model's context (512), so no "
                         "`data.max_length` holds them: pass `--truncation drop` to remove them, or shorten or split "
                         "them.")
    prompts = _finding_line(_finding(context_length=512), _plan([]), "en")
    assert prompts.endswith("no row's answer is cut, only prompts: no row removed; they need more tokens than the "
                            "model's context (512), so shorten or split the prompts.")
    assert "context ของโมเดล (512)" in _finding_line(_finding(context_length=512), _plan(["train.jsonl:3"]), "th")


def test_rows_within_the_context_are_told_the_length_to_raise_to():
    line = _finding_line(_finding(context_length=2048, suggested_max_length=704), _plan(["train.jsonl:3"]), "en")
    assert line.endswith("or raise `data.max_length` (the audit suggests about 704).")


def test_the_terminal_line_on_kept_long_answers_reads_for_one_row_and_for_many() -> None:
    """`tuneguard fix` on one kept row said "1 row keep answers longer than ...": the line names
    the rows as the object of "kept", so it reads for one row and for many, in both languages."""
    from tuneguard.catalog import say

    for rows in ("1 row", "3 rows"):
        assert say("fixcli.truncated", "en", rows=rows, n=128) == (
            f"  kept: {rows} whose answer is longer than data.max_length (128), listed in fix-report.md; "
            "--truncation drop removes them")
        assert say("fixcli.truncated_raised", "en", rows=rows, n=128, raised=192).startswith(
            f"  kept: {rows} whose answer is longer than data.max_length (128, which the fixed config raises to 192)")
