"""`tuneguard watch` of a run configured in Thai: the dashboard, its line per change off a
terminal and its last line speak the run's language, as `status` does (states, codes and
actions as stored)."""

from __future__ import annotations

from pathlib import Path

from control_helpers import build_finished_run, watch_screen, watch_snapshot
from typer.testing import CliRunner

from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.cli.main import app
from tuneguard.cli.watch import compact_line
from tuneguard.findings import Finding
from tuneguard.guard.overfit import EvalDivergenceDetector
from tuneguard.store.run_store import RunStore


def _thai_run(run_dir: Path) -> tuple[Path, Finding]:
    """A finished Thai run whose last finding keeps its catalog text (rendered in Thai on the dashboard)."""
    run = build_finished_run(run_dir, language="th")
    f = EvalDivergenceDetector(ratio=1.5, min_gap=0.1).update(38, 2.5, 1.0)
    assert f is not None
    with RunStore(run) as s:
        s.add_finding(f)
    return run, f


def test_watch_of_a_finished_thai_run_prints_thai_lines(tmp_path: Path) -> None:
    run, _ = _thai_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["watch", str(run), "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    first, last = result.output.strip().splitlines()
    assert first.split(" ", 1)[1] == ("finished step 40/40 (100%) loss 2 eval loss 2.6 ดีที่สุด 2.6 token/วินาที 1,040 "
                                      "เหลือเวลา - สิ่งที่ตรวจพบล่าสุด EVAL_DIVERGENCE (step 38)")
    assert last == f"การรัน {run} จบที่ step 40/40 (เสร็จสิ้น) eval loss ดีที่สุด 2.6 สาเหตุที่จบ: ฝึกครบตามแผน"
    assert english_sentences(result.output, kept_in_english()) == []


def test_the_dashboard_of_a_paused_thai_run_speaks_thai(tmp_path: Path) -> None:
    run, f = _thai_run(tmp_path / "run")
    with RunStore(run) as s:
        s.set_state("paused", paused_at_step=40)
        s.request_control("stop", requested_by="me@box pid 7")
    snap = watch_snapshot(run)
    lines = [" ".join(ln.split()) for ln in watch_screen(snap, run, 400).splitlines()]
    assert lines[0] == f"tuneguard watch {run} สถานะ PAUSED โมเดล builtin:tiny-gptj"
    assert lines[1].endswith("100% step 40/40 epoch 2 เหลือเวลา หยุดชั่วคราว")
    assert any(ln.startswith("loss การฝึก ") and ln.endswith(" 2 ต่ำสุด 2") for ln in lines)
    assert any(ln.startswith("eval loss ") and ln.endswith(" 2.6 ดีที่สุด 2.6") for ln in lines)
    assert "หน่วยความจำ RSS 1.20 GB" in lines
    control = next(ln for ln in lines if ln.startswith("คำสั่งควบคุม "))
    assert control.startswith("คำสั่งควบคุม หยุดชั่วคราวที่ step 40 มาแล้ว ")
    assert control.endswith(f"สั่งฝึกต่อด้วย `tuneguard continue {run}`; stop จาก me@box pid 7 รอดำเนินการ "
                            f"(ส่งมา {control.rsplit('(ส่งมา ', 1)[1].split(' ')[0]} ที่แล้ว)")
    i = lines.index("สิ่งที่ตรวจพบล่าสุด")
    assert lines[i + 1:i + 3] == ["คำเตือน PLATEAU (step 30)", "The eval loss has not improved for 2 evaluations."]
    j = lines.index("คำเตือน EVAL_DIVERGENCE (step 38)")
    assert lines[j + 1] == f.message_in("th") and lines[j + 2].startswith("-> " + f.recommendation_in("th")[:80])
    # The stored English message of a finding without its catalog text is the only English here
    # (beside the requester's own name).
    allowed = kept_in_english()
    said = [ln.replace("me@box pid 7", "") for ln in lines]
    assert [ln for ln in said if english_sentences(ln, allowed)] == ["The eval loss has not improved for 2 evaluations."]
    assert compact_line(snap).endswith(" รอดำเนินการ stop สิ่งที่ตรวจพบล่าสุด EVAL_DIVERGENCE (step 38)")


def test_the_last_request_and_the_hidden_findings_in_thai(tmp_path: Path) -> None:
    run, _ = _thai_run(tmp_path / "run")
    with RunStore(run) as s:
        s.set_state("running")
        for step in (32, 34, 36):
            s.add_finding(EvalDivergenceDetector(ratio=1.5, min_gap=0.1).update(step, 2.5, 1.0))  # type: ignore[arg-type]
    snap = watch_snapshot(run)
    text = " ".join(watch_screen(snap, run, 80, height=24).split())
    assert "คำสั่งควบคุม คำสั่งล่าสุด: checkpoint ทำแล้ว ที่ step 12 (checkpoint-12 written)" in text
    assert f"สิ่งที่ตรวจพบก่อนหน้าอีก 4 รายการไม่ได้แสดงที่นี่ ดูได้ด้วย tuneguard status {run}" in text


def test_errors_about_a_thai_run_are_said_in_thai(tmp_path: Path, monkeypatch) -> None:
    """The one-line errors of commands that know the run's language keep the `error:` label (the
    contract's marker, the same for every command) and say the reason in Thai."""
    import errno
    import pathlib

    run, _ = _thai_run(tmp_path / "run")
    with RunStore(run) as s:
        s.set_state("running")  # this process: a live run
    r = CliRunner().invoke(app, ["rollback", str(run), "--to", "7"])
    assert r.exit_code == 2
    assert " ".join(r.output.split()) == (f"error: {run} ไม่มี checkpoint ที่สมบูรณ์ที่ step 7 "
                                         "checkpoint ที่สมบูรณ์อยู่ที่ step: ยังไม่มี")
    with RunStore(run) as s:
        s.set_state("finished", exit_reason="completed")
    real_write = pathlib.Path.write_text

    def full_disk(self, *a, **kw):  # type: ignore[no-untyped-def]
        if "report.html" in self.name or "report.md" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, *a, **kw)

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    r = CliRunner().invoke(app, ["report", str(run)])
    assert (r.exit_code, " ".join(r.output.split())) == (1, "error: เขียนรายงานไม่ได้: No space left on device")


def test_a_findings_block_in_thai_says_when_and_its_evidence_words_in_thai() -> None:
    """`status`, `audit` and `watch` show a finding as a block: in Thai, where it happened (the
    examples seen, the passes over the rows) and the words the evidence lines add are Thai; the
    evidence's keys stay as stored."""
    import io

    from rich.console import Console

    from tuneguard.cli.findings_view import print_findings

    seen = {"examples_seen": 96, "passes": 0.1333, "exposures": 96.0, "rows": 720, "distinct_rows": 1}
    collapse = Finding("LOSS_COLLAPSE", "error", "Training loss fell.", seen, "", 12, "guard")
    leak = Finding("TRAIN_VAL_LEAKAGE", "error", "Rows leaked.", {
        "count": 30, "share": 0.75, "splits": {"validation": {"rows": 24}, "test": {"rows": 16}},
        "rows": [f"train.jsonl:{i}" for i in range(1, 12)]}, "", None, "audit")
    out = io.StringIO()
    print_findings(Console(file=out, width=300, color_system=None), [collapse, leak], language="th")
    lines = out.getvalue().splitlines()
    assert lines[0] == ("ข้อผิดพลาด LOSS_COLLAPSE (step 12 หลังจากโมเดลเห็นข้อมูล 96 ตัวอย่าง (0.13 รอบของข้อมูลทั้งชุด "
                        "โดยแต่ละแถวที่ไม่ซ้ำกันถูกเห็นเฉลี่ย 96 ครั้ง))")
    assert "  share: 75.0% ของแถว validation และชุด test รวมกัน" in lines
    assert "  rows: " + ", ".join(f"train.jsonl:{i}" for i in range(1, 10)) + " (และอีก 2)" in lines
