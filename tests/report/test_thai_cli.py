"""`tuneguard report RUN_DIR` and `tuneguard status RUN_DIR` of a run configured in Thai: what
they print (the diagnosis, the verdict and its criteria, where the report went; the state, the
numbers, the findings, the policy's actions, the notifier's records) is in the run's language,
like the report. States, codes and actions stay as stored (the names --json and the config use)."""

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


def test_status_of_a_thai_run_prints_thai(tmp_path: Path) -> None:
    from tuneguard.guard.overfit import EvalDivergenceDetector
    from tuneguard.store.run_store import RunStore

    f = EvalDivergenceDetector(ratio=1.5, min_gap=0.1).update(40, 2.5, 1.0)
    assert f is not None
    run = build_healthy(tmp_path / "run", findings=[f], config={"notify.language": "th"})
    with RunStore(run) as s:
        s.set_meta(exit_code=0, exit_reason="completed")
    r = invoke("status", str(run), env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{run}  สถานะ finished  step 60/60 (100%)  epoch 1"
    assert lines[1].startswith("loss การฝึก 1.658  eval loss 1.778  eval loss ดีที่สุด 1.778  token/วินาที ")
    assert "จบแล้ว (รหัสออก 0): ฝึกครบตามแผน" in lines
    i = lines.index("สิ่งที่ตรวจพบ (1)")
    assert lines[i + 1:i + 3] == ["คำเตือน EVAL_DIVERGENCE (step 40)", "  " + f.message_in("th")]
    assert lines[i + 3] == "  -> " + f.recommendation_in("th")
    allowed = kept_in_english()
    assert [ln for ln in lines if english_sentences(ln, allowed)] == []
    # --json stays as it was: the records the Thai lines are rendered from are not in it.
    en = invoke("status", str(run), "--json")
    assert en.returncode == 0 and "notify_stopped_payloads" not in en.stdout
