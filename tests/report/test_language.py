"""report.language picks the report's language (default: notify.language); the Thai page and
report.md carry Thai headings, criteria and evidence, and a finding with its catalog specs
reads in Thai with the numbers of its English message."""

from __future__ import annotations

from pathlib import Path

from tuneguard.findings import apply_severity
from tuneguard.guard.overfit import PlateauDetector
from tuneguard.report import write_report
from tuneguard.report.html import render_html
from tuneguard.report.recommend import recommend_for_run
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import compute_verdict

from .runs import build_healthy


def test_report_language_follows_notify_language_unless_set(tmp_path: Path) -> None:
    plateau = PlateauDetector(evals=2, rel_change=0.5)
    plateau.update(20, 2.0, max_steps=60)
    finding = apply_severity(plateau.update(40, 1.9, max_steps=60), {"PLATEAU": "warning"}, "guard.severity")
    assert finding is not None and finding.text
    th_run = build_healthy(tmp_path / "th", config={"notify.language": "th"}, findings=[finding])
    html = write_report(th_run).read_text("utf-8")
    assert '<html lang="th">' in html
    for text in ("<h2>ผลสรุปตามเกณฑ์</h2>", "ค่า loss การฝึกลดลงอย่างค่อยเป็นค่อยไป", "ผ่านครบทั้ง 4 เกณฑ์ (ไม่ได้ตรวจ 1 เกณฑ์: ไม่ได้ตั้งค่า)",
                 # the finding, in Thai, with the English message's numbers (5.000% over 2 evaluations)
                 "eval loss เปลี่ยนไปเพียง 5.000% ใน 2 ครั้งล่าสุดของการประเมิน (step 20-40, 1.9 ถึง 2)",
                 '<figcaption>ค่า loss <span class="muted small">',
                 'class="axis" x="', ">loss การฝึก</text>", "คำสำคัญ 1",
                 "step 40 · ระดับกำหนดโดย guard.severity.PLATEAU (การตรวจให้ระดับ ข้อมูล) · ระบบป้องกัน"):
        assert text in html, text
    md = (th_run / "report.md").read_text("utf-8")
    assert "## ผลสรุปตามเกณฑ์" in md and "| ค่า loss validation ลดตาม loss การฝึก | ผ่าน |" in md

    en_run = build_healthy(tmp_path / "en", config={"notify.language": "th", "report.language": "en"},
                           findings=[finding])
    html = write_report(en_run).read_text("utf-8")
    assert '<html lang="en">' in html and "<h2>Verdict</h2>" in html
    assert "Eval loss has changed by only 5.000% over the last 2 evaluations (steps 20-40, 1.9 to 2)." in html


def test_the_thai_report_names_each_event_and_says_what_the_notifier_recorded(tmp_path: Path) -> None:
    """The events table of a Thai report: each event's name in Thai, the notifier's records (an
    outage's skipped and failed sends, a sent message) as sentences; the English page keeps
    the names and key=value details as recorded."""
    from tuneguard.catalog import T
    from tuneguard.store.run_store import RunStore

    run = build_healthy(tmp_path / "th", config={"notify.language": "th"})
    with RunStore(run) as s:
        s.add_event("notify_sent", {"event": "started", "scheme": "line"}, step=0)
        s.add_event("notify_failed", {
            "event": "finding", "target": "line://***", "status": None, "attempts": 0,
            "reason": "skipped: 3 failures in a row (last: connection refused); next try in 42 s",
            "text": T("notify.skipped_down", event="finding", target="line://***", failures=3,
                      last="connection refused", wait="42", then=T("notify.resend"))}, step=12)
        s.add_event("control_stop", {"requested_by": "cli"}, step=30)
        s.set_meta(exit_reason="stop requested by cli")  # as the recipe records a stop
    html = write_report(run).read_text("utf-8")
    assert "<tr><td>สาเหตุที่จบ</td><td>cli ขอให้หยุด</td></tr>" in html
    assert "<tr><td>เวลาตั้งแต่เริ่มจนจบ</td><td>1 นาที 35 วินาที</td></tr>" in html  # 95 s, in Thai units
    assert "<tr><td>เวลาฝึกจริง</td><td>1 นาที 35 วินาที</td></tr>" in html
    for text in ("<td>เริ่มการฝึก</td>", "<td>ส่งการแจ้งเตือนแล้ว</td>", "ส่งการแจ้งเตือน started แล้ว (line)",
                 "<td>ส่งการแจ้งเตือนไม่สำเร็จ</td>",
                 "ข้ามการแจ้งเตือน finding ถึง line://*** หลังส่งไม่สำเร็จ 3 ครั้งติดกัน (ครั้งล่าสุด: connection refused) "
                 "จะลองใหม่ในอีก 42 วินาที และจะส่งข้อความนี้ซ้ำเมื่อติดต่อได้อีกครั้ง",
                 "<td>คำขอควบคุม: stop</td>", "<td>การฝึกเสร็จสิ้น</td>"):
        assert text in html, text
    english = render_html(load_run(run), compute_verdict(load_run(run)), recommend_for_run(load_run(run)), "en")
    assert "<td>notify_failed</td>" in english and "reason=skipped: 3 failures in a row" in english


def test_a_thai_report_says_in_thai_that_the_training_process_is_gone(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from tuneguard.store.run_store import RunStore

    run = build_healthy(tmp_path / "th", config={"notify.language": "th"})
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid names no process now
    with RunStore(run) as s:
        s.set_state("running")
        s.set_meta(pid=ended.pid, exit_reason=None)
    loaded = load_run(run)
    reason = (f"โปรเซสที่ฝึกอยู่ (pid {ended.pid} บน {socket.gethostname()}) จบไปโดยไม่ได้บันทึกสถานะสุดท้าย"
              "ขณะอยู่ในสถานะ running: ถูกบังคับปิดหรือล่ม")
    assert (loaded.meta["state"], loaded.meta["exit_reason"]) == ("failed", reason)
    write_report(run)
    md = (run / "report.md").read_text("utf-8")
    assert reason in md and "ended without recording" not in md
