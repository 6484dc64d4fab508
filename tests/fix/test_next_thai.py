"""`tuneguard next` of a run configured in Thai (`notify.language: th`): every line it prints,
its refusal of an --out file, and the comments of the next config it writes are Thai sentences
from the catalog (English only for code names, config keys, commands, paths, numbers and the
terms docs/THAI.md keeps in English); the Thai next config reads back as one that `next` wrote.
Runs are hand-built stores (tests/report/runs.py)."""

from __future__ import annotations

from pathlib import Path

from tests.fix.test_next import diff_keys, with_config_file
from tests.helpers.cli import invoke
from tests.report.runs import build_healthy
from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.catalog import T, say
from tuneguard.config.diff import change_reasons
from tuneguard.findings import Finding
from tuneguard.nextrun import fix_command, next_command
from tuneguard.report.recommend import recommend_for_run
from tuneguard.report.rundata import load_run
from tuneguard.store.run_store import RunStore

TH = {"notify.language": "th"}
WIDE = {"COLUMNS": "400"}


def english_lines(text: str) -> list[str]:
    """The lines of `text` with English beyond the kept terms (the table's borders dropped)."""
    allowed = kept_in_english()
    lines = [ln.strip("│┃ ") for ln in text.splitlines()]
    return [ln for ln in lines if english_sentences(ln.replace("│", "  ").replace("┃", "  "), allowed)]


def test_next_of_a_thai_run_speaks_thai_and_writes_a_thai_next_config(tmp_path: Path) -> None:
    over = Finding("OVERFITTING", "warning", "Eval loss rose.", {"triggers": ["rising"]}, "", 40, "guard")
    run = with_config_file(build_healthy(tmp_path / "over", findings=[over], config=TH, stalled=True))
    with RunStore(run) as s:
        s.set_meta(best_step=20)
    recs = recommend_for_run(load_run(run))
    out = run / "next.yaml"
    r = invoke("next", str(run), env=WIDE)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == [recs.diagnosis.line("th"), recs.diagnosis.because("th"), "เปลี่ยน 3 ค่า"]
    assert lines[0].startswith("ผลวินิจฉัย: โมเดลจำข้อมูลฝึก (overfitting)")
    head = lines[4].strip("┃").split("┃")
    assert [h.strip() for h in head] == ["คีย์", "การรันนี้", "การรันถัดไป", "เหตุผล"]
    for c in recs.changes:  # each reason in Thai, from the same spec as the English
        assert any(c.key in ln and c.reason_in("th") in ln for ln in lines), c.key
    assert lines[-2:] == [f"config ถัดไป: {out} (tuneguard config diff {run / 'config.yaml'} {out})",
                          f"เริ่มฝึก: {next_command(run)}"]
    assert english_lines(r.stdout) == [] and r.stderr == ""
    assert english_lines(say("next.starting_from_fix", "en", path=str(out))), "the check sees English"

    # The next config: Thai comments, the change lines read back as the reasons of its keys.
    text = out.read_text("utf-8")
    assert text.startswith(f"# config ที่ tuneguard แนะนำหลังการรัน {run}\n# {recs.diagnosis.line('th')}\n")
    for c in recs.changes:
        assert f"# เปลี่ยน {c.key}: {c.reason_in('th')} (OVERFITTING)\n" in text
    assert change_reasons(str(out)) == {c.key: f"{c.reason_in('th')} (OVERFITTING)" for c in recs.changes}
    comments = "\n".join(ln[2:] for ln in text.splitlines() if ln.startswith("# "))
    assert english_lines(comments) == []
    assert diff_keys(run / "config.yaml", out) == {c.key: str(c.value) for c in recs.changes}

    # Written again over its own Thai file, --set named in Thai; a file it did not write is refused in Thai.
    r = invoke("next", str(run), "--set", "lora.r=4", env=WIDE)
    assert r.returncode == 0, r.stderr
    assert "# เปลี่ยน lora.r: ตั้งด้วย --set\n" in out.read_text("utf-8")
    mine = tmp_path / "mine.yaml"
    mine.write_text("my notes\n", "utf-8")
    r = invoke("next", str(run), "--out", str(mine))
    assert r.returncode == 2
    assert " ".join(r.stderr.split()) == "error: " + say("next.out_foreign", "th", path=str(mine))
    assert mine.read_text("utf-8") == "my notes\n"


def test_next_of_a_thai_run_with_a_data_fault_says_fix_first_in_thai(tmp_path: Path) -> None:
    audit = [Finding("DUPLICATE_EXACT", "error", "copies", {"count": 40}, "dedupe", None, "audit"),
             Finding("LOW_DIVERSITY", "error", "templated", {"count": 50}, "vary", None, "audit")]
    run = with_config_file(build_healthy(tmp_path / "run", findings=audit, config=TH))
    recs = recommend_for_run(load_run(run))
    (low,) = [a for a in recs.actions if a.codes == ["LOW_DIVERSITY"]]
    r = invoke("next", str(run), env=WIDE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2:] == [
        "แก้ข้อมูลก่อน (DUPLICATE_EXACT, LOW_DIVERSITY): การเปลี่ยน hyperparameter จะไม่ช่วย ตราบใดที่โมเดลยังจำ"
        "แถวที่ซ้ำหรือรั่วอยู่ ให้รัน:",
        f"  {fix_command(run)}",
        "นอกจากนี้ ถ้าข้อมูลที่แก้แล้วยังมี LOW_DIVERSITY (ผลการตรวจข้อมูลหลังแก้จะบอก): " + low.text_in("th"),
        "จากนั้น:",
        f"  {next_command(run)}"]
    assert english_lines(r.stdout) == [] and not (run / "next.yaml").exists()

    # Leaked validation rows alone: the other reason, in Thai.
    audit = [Finding("TRAIN_VAL_LEAKAGE", "error", "leaked", {"count": 12}, "split", None, "audit")]
    run = with_config_file(build_healthy(tmp_path / "leak", findings=audit, config=TH))
    r = invoke("next", str(run), env=WIDE)
    first = say("next.fix_first", "th") + say("next.fix_first_why", "th", codes="TRAIN_VAL_LEAKAGE",
                                               why=T("next.why.leak"))
    assert first in r.stdout.splitlines() and english_lines(r.stdout) == []


def test_a_thai_run_with_nothing_to_change_says_so_in_thai(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "healthy", decay=0.15, config=TH)  # converged: the eval loss flat at the end
    r = invoke("next", str(run), "--train", env=WIDE)
    assert r.returncode == 0, r.stderr
    d = recommend_for_run(load_run(run)).diagnosis
    assert r.stdout.splitlines() == [d.line("th"), d.because("th"), say("next.nothing", "th")]
    assert r.stderr.splitlines() == ["หมายเหตุ: " + say("next.train_not_started", "th")]  # the label in the run's language too
    assert english_lines(r.stdout) == [] and english_lines(r.stderr) == []
    assert not (tmp_path / "healthy-next").exists()


def test_next_after_fix_of_a_thai_run_starts_from_the_fixed_config_in_thai(tmp_path: Path) -> None:
    """`tuneguard fix RUN/config.yaml` of a Thai run, then `next`: the fix's terminal lines, the
    fixed config's comments and `next`'s start and reasons (read back from those comments) are Thai."""
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    rows = make_instruction_rows(80, seed=5)
    data = write_jsonl(rows + [rows[2]] * 30, tmp_path / "train.jsonl")
    audit = [Finding("DUPLICATE_EXACT", "error", "copies", {"count": 30}, "dedupe", None, "audit")]
    run = with_config_file(build_healthy(tmp_path / "run", findings=audit,
                                         config={**TH, "data.train_file": str(data)}))
    fixed = tmp_path / "run-fixed-data"
    r = invoke("fix", str(run / "config.yaml"), "--out", str(fixed))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "ลบไป 30 แถว จากทั้งหมด 110 แถว (DUPLICATE_EXACT 30)"
    assert english_lines(r.stdout) == []
    text = (fixed / "config.yaml").read_text("utf-8")
    assert f"# เปลี่ยน data.train_file: ลบ 30 แถว (DUPLICATE_EXACT 30) เดิมคือ {data}\n" in text
    assert english_lines("\n".join(ln[2:] for ln in text.splitlines() if ln.startswith("# "))) == []

    r = invoke("next", str(run), env=WIDE)
    assert r.returncode == 0, r.stdout + r.stderr
    assert say("next.starting_from_fix", "th", path=str(fixed.absolute() / "config.yaml")) in r.stdout.splitlines()
    (row,) = [ln for ln in r.stdout.splitlines() if "data.train_file" in ln]
    assert f"ลบ 30 แถว (DUPLICATE_EXACT 30) เดิมคือ {data}" in row
    assert english_lines(r.stdout) == []
    assert "# เปลี่ยน data.train_file: ลบ 30 แถว" in (run / "next.yaml").read_text("utf-8")
