"""report.language picks the report's language (default: notify.language); the Thai page and
report.md carry Thai headings, criteria and evidence, and a finding with its catalog specs
reads in Thai with the numbers of its English message."""

from __future__ import annotations

from pathlib import Path

from tuneguard.findings import apply_severity
from tuneguard.guard.overfit import PlateauDetector
from tuneguard.report import write_report

from .runs import build_healthy


def test_report_language_follows_notify_language_unless_set(tmp_path: Path) -> None:
    plateau = PlateauDetector(evals=2, rel_change=0.5)
    plateau.update(20, 2.0, max_steps=60)
    finding = apply_severity(plateau.update(40, 1.9, max_steps=60), {"PLATEAU": "warning"}, "guard.severity")
    assert finding is not None and finding.text
    th_run = build_healthy(tmp_path / "th", config={"notify.language": "th"}, findings=[finding])
    html = write_report(th_run).read_text("utf-8")
    assert '<html lang="th">' in html
    for text in ("<h2>ผลสรุปตามเกณฑ์</h2>", "ค่า loss การฝึกลดลงอย่างค่อยเป็นค่อยไป", "ผ่าน 4 จาก 5, ไม่ทราบ 1",
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
