"""An info finding on the console is one line (code, step, headline, where its full text is);
a warning keeps its full text. The stored finding, the report and notifications are unchanged."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console

from tuneguard.catalog import T
from tuneguard.cli.findings_view import info_line, print_findings
from tuneguard.config.schema import Config
from tuneguard.context import RunContext
from tuneguard.findings import Finding, first_sentence, headline


def easy_task() -> Finding:
    message = T("LOSS_COLLAPSE.easy", loss=0.0421, loss_step=12, rule=T("LOSS_COLLAPSE.rule.floor", floor=0.1),
                eval_loss=0.245, step=15, low=0.129, limit=4.0, audit=T("LOSS_COLLAPSE.with_clean"))
    return Finding.said("LOSS_COLLAPSE", "info", message, T("LOSS_COLLAPSE.easy.rec"),
                        {"at_step": 12, "verdict": "easy task"}, step=15, source="guard")


def spike() -> Finding:
    return Finding.said("GRAD_NORM_HIGH", "warning", T("GRAD_NORM_HIGH.found", norm=12.5, step=7, limit=10.0),
                        T("GRAD_NORM_HIGH.found.rec"), {"grad_norm": 12.5}, step=7, source="guard")


def plain(findings: list[Finding], width: int = 80, **kw) -> list[str]:
    out = io.StringIO()
    print_findings(Console(file=out, width=width, force_terminal=False), findings, **kw)
    return out.getvalue().splitlines()


def test_an_info_finding_is_one_line_and_a_warning_keeps_its_full_text() -> None:
    info, warn = easy_task(), spike()
    lines = plain([info, info, warn], brief_info=True)
    one = ("INFO LOSS_COLLAPSE at step 15: The task looks easy for this model, not broken: the eval loss on unseen "
           "rows (0.245) is low too (full text: the same command with --json)")
    assert lines[:2] == [one, one]  # one physical line each at 80 columns; consecutive ones not set apart
    assert lines[2:] == [""] + plain([warn])
    assert plain([warn], brief_info=True) == plain([warn])
    assert plain([warn], 400, brief_info=True) == ["WARNING GRAD_NORM_HIGH (step 7)", "  " + warn.message,
                                                   "  -> " + warn.recommendation]
    # Without brief_info (status, where the full text is) the info finding keeps its block.
    assert plain([info], 400) == ["INFO LOSS_COLLAPSE (first seen at step 12; judged at step 15)", "  " + info.message,
                                  "  -> " + info.recommendation]
    assert info_line(info.to_dict(), language="th").plain == (
        "ข้อมูล LOSS_COLLAPSE ที่ step 15: งานนี้ดูง่ายสำหรับโมเดลนี้ ไม่ใช่ข้อมูลผิดปกติ: eval loss บนแถวที่ไม่ได้ใช้ฝึก "
        "(0.245) ก็ต่ำเช่นกัน (ข้อความเต็ม: คำสั่งเดิมที่เติม --json)")


@pytest.mark.parametrize("language", ["en", "th"])
def test_train_logs_an_info_finding_in_one_line_and_keeps_it_whole(language: str, caplog: pytest.LogCaptureFixture) -> None:
    cfg = Config.model_validate({"model": {"name": "tiny"}, "data": {"train_file": "x.jsonl"},
                                 "report": {"language": language}})
    ctx = RunContext(cfg=cfg, run_dir=Path("/runs/demo"))
    info, warn = easy_task(), spike()
    with caplog.at_level(logging.INFO, logger="tuneguard.context"):
        ctx.record_finding(info)
        ctx.record_finding(warn)
    got = [(r.levelname, r.getMessage()) for r in caplog.records]
    where = {"en": "(full text: `tuneguard status /runs/demo`, and report.md when the run ends)",
             "th": "(ข้อความเต็ม: `tuneguard status /runs/demo` และ report.md เมื่อการรันจบ)"}[language]
    assert got == [("INFO", f"LOSS_COLLAPSE {'at' if language == 'en' else 'ที่'} step 15: {headline(info, language)} {where}"),
                   ("WARNING", f"GRAD_NORM_HIGH {warn.message_in(language)}")]
    # What is stored (report, status, notifications) is the whole finding.
    assert ctx.findings == [info, warn] and info.message.startswith("The task looks easy") and info.recommendation


def test_a_headline_without_a_catalog_text_is_the_message_opening_clause() -> None:
    assert headline({"message": "4 of 160 rows are malformed. Fix them."}) == "4 of 160 rows are malformed"
    assert first_sentence("no stop here") == "no stop here"
    assert first_sentence("word " * 50, limit=20) == "word word word word…"
