"""`tuneguard report RUN_DIR` of a run configured in Thai: what it prints (the diagnosis, the
verdict and its criteria, where it wrote the report) is in the run's language, like the report."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import invoke
from tests.report.runs import build_healthy
from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.catalog import say
from tuneguard.findings import Finding
from tuneguard.report.recommend import diagnose_run
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import compute_verdict


def test_report_of_a_thai_run_prints_thai(tmp_path: Path) -> None:
    over = Finding("OVERFITTING", "warning", "Eval loss rose.", {"triggers": ["rising"]}, "", 40, "guard")
    run = build_healthy(tmp_path / "run", findings=[over], config={"notify.language": "th"})
    r = invoke("report", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    loaded = load_run(run)
    verdict = compute_verdict(loaded)
    want = [diagnose_run(loaded).line("th"), verdict.headline("th")]
    want += [f"  {c.status_in('th')}  {c.name_in('th')}" for c in verdict.criteria]
    want += [f"รายงาน: {run / 'report.html'}", f"รายงาน markdown: {run / 'report.md'}",
             say("reportcli.recommended", "th", path=str(run / "recommended.yaml"),
                 command=f"tuneguard config diff {run / 'config.yaml'} {run / 'recommended.yaml'}")]
    assert r.stdout.splitlines() == want
    assert want[1].startswith("ผลสรุป: ") and "  ไม่ได้ตรวจ  " in r.stdout
    allowed = kept_in_english()
    assert [ln for ln in r.stdout.splitlines() if english_sentences(ln, allowed)] == []
    # The recommended config it wrote beside the report speaks Thai too.
    assert (run / "recommended.yaml").read_text("utf-8").startswith(f"# config ที่ tuneguard แนะนำหลังการรัน {run}\n")
