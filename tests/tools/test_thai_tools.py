"""`tuneguard plan` of a config in Thai: every line of the plan and its warning in Thai, with the
same numbers as the English plan (docs/TOOLS.md shows the English)."""

from __future__ import annotations

import re

from tests.helpers.cli import invoke, tiny_config
from tests.thai_sentences import english_sentences, kept_in_english


def test_plan_of_a_thai_config_speaks_thai(tmp_path, train_file):
    en_cfg = tiny_config(tmp_path, train_file)
    (tmp_path / "th").mkdir()
    th_cfg = tiny_config(tmp_path / "th", train_file, notify={"language": "th"})
    sets = ["--set", "train.max_steps=4", "--set", "eval.steps=1", "--set", "train.save_steps=1"]
    en, th = invoke("plan", str(en_cfg), *sets), invoke("plan", str(th_cfg), *sets)
    assert en.returncode == th.returncode == 0, th.stderr
    lines = th.stdout.splitlines()
    assert lines == [
        f"แผนการฝึก {th_cfg}: โมเดล builtin:tiny-gptj ใช้ 1 โปรเซส",
        "ข้อมูล (instruction): อ่าน 400 แถว -> ข้อมูลฝึก 360, validation 40",
        lines[2],  # token counts: the same digits as English, below
        "step ต่อ epoch: 45 (ปัดขึ้นของ 360 / (batch 8 × train.gradient_accumulation_steps 1 × 1 โปรเซส))",
        "step ทั้งหมด: 4 (0.09 epoch)",
        "การประเมินผล: 4 ครั้ง (steps) ที่ step 1, 2, 3, 4 ครั้งละ 5 batch",
        "checkpoint: 4 ครั้ง ที่ step 1, 2, 3, 4 เก็บไว้ 3 อัน",
        "คำเตือน: การประเมินผล 4 ครั้งใช้ 20 batch (ครั้งละ 5 batch บนแถว validation 40 แถว) มากกว่า batch ของการฝึก "
        "(4 batch): ตั้ง data.eval_samples (สุ่มแถว validation แบบกำหนด seed เช่น --set data.eval_samples=64) "
        "หรือประเมินผลให้ห่างขึ้น (eval.steps)",
    ]
    assert lines[2].startswith("token ต่อ epoch: ")
    # The same numbers, line by line, as the English plan.
    digits = [re.findall(r"\d+(?:[,.]\d+)*", ln) for ln in en.stdout.replace(str(en_cfg), "C").splitlines()]
    assert digits == [re.findall(r"\d+(?:[,.]\d+)*", ln) for ln in th.stdout.replace(str(th_cfg), "C").splitlines()]
    assert [ln for ln in lines if english_sentences(ln, kept_in_english())] == []
