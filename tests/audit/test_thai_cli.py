"""`tuneguard audit` of a config in Thai (`notify.language: th`): every line it prints is a Thai
sentence from the catalog (the header, the task and why, audit.severity's changes, each finding's
block, the totals and the command of the full evidence); `--json` stays English, and the task's
reason there is the English of the spec the console says in Thai, and a Thai report says it from
the spec a run keeps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from tests.audit.audit_corpus import clean_rows
from tests.audit.audit_helpers import write_jsonl
from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.catalog import T, render, say
from tuneguard.cli.audit_cmd import audit, timing_text

WIDE = {"COLUMNS": "400"}


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app with the audit command registered as the main CLI does."""

    app.command("audit")(audit)
    return app


def _thai_config(tmp_path: Path) -> str:
    base = clean_rows(300)
    raw = {"preset": "tiny", "notify": {"language": "th"},
           "data": {"train_file": write_jsonl(tmp_path / "train.jsonl", base + [dict(base[0]) for _ in range(30)]),
                    "validation_file": write_jsonl(tmp_path / "val.jsonl", clean_rows(60, seed=1, offset=300)),
                    "max_length": 1024}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    return str(path)


def test_audit_of_a_thai_config_prints_thai_lines(tmp_path: Path) -> None:
    cfg = _thai_config(tmp_path)
    args = ["audit", cfg, "--set", "audit.max_rows=200", "--set", "audit.severity.DUPLICATE_EXACT=warning"]
    out = CliRunner().invoke(_app(), [*args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    task, findings = data["stats"]["task"], data["findings"]
    assert task["shape"] == "open" and task["reason"].startswith("answers are neither labels")  # --json: English
    why = T("auditcli.why.open", distinct=task["distinct_responses"], spans=task["span_share"],
            rewrites=task["rewrite_share"], limit=0.8)
    assert render(why, "en") == task["reason"]

    res = CliRunner().invoke(_app(), args, env=WIDE)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = say("auditcli.header_sampled", "th", audited="200", whole="330", sizes="ข้อมูลฝึก 200, validation 60",
               took="@").split("@")
    assert lines[0].startswith(head[0]) and lines[0].endswith(head[1]), lines[0]
    assert re.fullmatch(r"\d+\.\d วินาที \(tokenizer \d+\.\d วินาที, ข้อมูล \d+\.\d วินาที, การตรวจ \d+\.\d วินาที\)",
                        lines[0][len(head[0]):len(lines[0]) - len(head[1])]), lines[0]
    assert lines[1] == f"งาน: คำตอบอิสระ (อนุมานจากข้อมูล: {render(why, 'th')}) ทุกการตรวจตัดสินตามงานแบบนี้"
    assert lines[2] == "ระดับความรุนแรงที่ตั้งใน audit.severity: DUPLICATE_EXACT ข้อผิดพลาด -> คำเตือน"
    for f in findings:  # each block: the Thai severity word, the Thai message and recommendation
        sev = say(f"report.sev.{f['severity']}", "th")
        assert f"{sev} {f['code']} (การตรวจข้อมูล)" in lines
        assert "  " + render(f["text"]["message"], "th") in lines
        assert "  -> " + render(f["text"]["recommendation"], "th") in lines
    n_err = sum(f["severity"] == "error" for f in findings)
    n_warn = sum(f["severity"] == "warning" for f in findings)
    assert (n_err, n_warn) == (0, 1) and "คำเตือน DUPLICATE_EXACT (การตรวจข้อมูล)" in lines
    assert lines[-4:] == [f"ข้อผิดพลาด {n_err} รายการ คำเตือน {n_warn} รายการ หลักฐานทั้งหมด:",
                          f"  tuneguard audit {cfg} --json (พร้อมตัวเลือก --set ชุดเดิม)",
                          "สำเนาข้อมูลที่ลบแถวที่เป็นต้นเหตุของ DUPLICATE_EXACT ออกแล้ว (ไฟล์เดิมไม่ถูกแก้) "
                          "(พร้อมตัวเลือก --set ชุดเดิม):",
                          f"  tuneguard fix {cfg} --out {tmp_path / 'config-fixed-data'}"]
    allowed = kept_in_english()
    # What stays English: evidence keys (`count: 30`) and the user's file:line; no sentence.
    assert [ln for ln in lines if english_sentences(ln, allowed)] == []
    assert english_sentences("Audited 200 training rows", allowed), "the check sees English"


def test_the_timing_and_the_clean_line_in_thai() -> None:
    timings = {"load_tokenizer": 32.1, "prepare_data": 7.9, "total": 1.04}
    assert timing_text(timings, "th") == "41.0 วินาที (tokenizer 32.1 วินาที, ข้อมูล 7.9 วินาที, การตรวจ 1.0 วินาที)"
    assert timing_text({"total": 1.04}, "th") == "1.0 วินาที"
    assert say("auditcli.clean", "th") == "ไม่มีสิ่งที่ตรวจพบ: ข้อมูลผ่านการตรวจทุกข้อ"


def test_the_report_says_the_audits_reason_for_the_task_in_thai(tmp_path: Path) -> None:
    from tests.report.runs import build_healthy
    from tuneguard.report.rundata import load_run
    from tuneguard.store.run_store import RunStore

    run = build_healthy(tmp_path / "run", config={"notify.language": "th"})
    why = T("auditcli.why.no_prompt")
    with RunStore(run) as s:
        s.set_meta(task={"shape": "open", "source": "inferred", "reason": render(why, "en"), "text": why})
    loaded = load_run(run)
    assert ("ประเภทงาน", "คำตอบอิสระ (อนุมานจากข้อมูล: แถวไม่มี prompt (ข้อความล้วน))") in loaded.diagnosis_settings("th")
    assert ("task", "open (inferred: rows have no prompt (plain text))") in loaded.diagnosis_settings("en")
    with RunStore(run) as s:  # a run that kept only the English reason: the Thai row names no reason
        s.set_meta(task={"shape": "open", "source": "inferred", "reason": render(why, "en")})
    assert ("ประเภทงาน", "คำตอบอิสระ (อนุมานจากข้อมูล)") in load_run(run).diagnosis_settings("th")
