"""`tuneguard init --language th` and `tuneguard config diff` of a Thai config: the lines, the
table's heads and the comments of the config written are Thai; the config itself reads as the
preset does, with notify.language: th."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import invoke
from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.config.load import load_config, preset_text


def test_init_in_thai_writes_a_thai_config_and_says_so_in_thai(tmp_path: Path) -> None:
    out = tmp_path / "th.yaml"
    r = invoke("init", "--preset", "tiny", "--out", str(out), "--language", "th")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"เขียน {out} แล้ว (preset tiny) ขั้นต่อไป: แก้ data.train_file แล้วรัน `tuneguard audit {out}`\n"
    text = out.read_text("utf-8")
    head = text.splitlines()[:3]
    assert head[0] == f"# config สำหรับ `tuneguard train {out}` จาก preset tiny"
    assert [ln for ln in head if english_sentences(ln, kept_in_english())] == []
    assert text.endswith("\n# ภาษาของรายงาน การแจ้งเตือน และข้อความในเทอร์มินัลเกี่ยวกับการรันนี้\nnotify:\n  language: th\n")
    assert preset_text("tiny").rstrip("\n") in text
    cfg = load_config(str(out))
    assert cfg.notify.language == "th" and cfg.report.language in (None, "th")
    # A second init refuses in Thai; English stays as it was.
    again = invoke("init", "--preset", "tiny", "--out", str(out), "--language", "th")
    assert (again.returncode, again.stderr) == (2, f"error: มี {out} อยู่แล้ว: ใช้ --force เพื่อเขียนทับ หรือใช้ --out กับไฟล์อื่น\n")
    en = invoke("init", "--preset", "tiny", "--out", str(tmp_path / "en.yaml"))
    assert en.stdout.startswith("wrote ") and "notify:" not in (tmp_path / "en.yaml").read_text("utf-8")


def test_config_diff_speaks_the_first_configs_language(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("preset: tiny\nnotify:\n  language: th\ntrain:\n  max_steps: 12\n", "utf-8")
    r = invoke("config", "diff", str(a), "tiny", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].strip() == "ค่าที่ต่างกัน 3 ค่า"
    assert lines[2].split("┃")[1].strip() == "คีย์"
    rows = {cells[1].strip(): [c.strip() for c in cells[2:4]] for ln in lines if len(cells := ln.split("│")) > 3}
    assert rows == {"data.train_file": [str(tmp_path / "train.jsonl"), "train.jsonl"], "notify.language": ["th", "en"],
                    "train.max_steps": ["12", "60"]}
    same = invoke("config", "diff", str(a), str(a))
    assert same.stdout == f"{a} และ {a} เป็น config เดียวกัน\n"
    assert invoke("config", "diff", "tiny", str(a)).stdout.splitlines()[0].strip() == "3 parameter(s) differ"


def test_a_key_one_side_lacks_is_said_in_the_tables_language() -> None:
    from rich.console import Console

    from tuneguard.catalog import say
    from tuneguard.config.diff import MISSING, diff_table

    con = Console(width=100, record=True, color_system=None)
    con.print(diff_table([("x", {}, MISSING)], "a", "b", not_set=say("configcli.not_set", "th")))
    assert "(ไม่ได้ตั้ง)" in con.export_text() and "not set" not in con.export_text()
