"""`tuneguard fix`: exactly the planted rows go (by identity), in every format the loader
reads; the audit of the fixed config has none of the fixed faults; the originals are
byte-identical afterwards; a clean dataset comes out byte-equal; bad input exits 2."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import invoke
from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.data.synthetic import make_instruction_rows

FIXED_CODES = {"DUPLICATE_EXACT", "DUPLICATE_NEAR", "TRAIN_VAL_LEAKAGE", "MALFORMED_ROWS", "ANSWER_TRUNCATED"}
STORY = ("the lighthouse keeper walked along the harbor wall every evening counting the fishing boats that came "
         "home before dark and writing their names in a worn leather book that his grandfather had started more "
         "than sixty years ago when the town still had a railway station and a market on thursdays where farmers "
         "from the valley sold cheese apples and honey to sailors who waited for the tide to turn so that they "
         "could leave the bay before the storms of late autumn closed the narrow passage between the rocks")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config(tmp: Path, train: Path, validation: Path | None = None, **data_keys: object) -> Path:
    data = {"train_file": str(train), **data_keys}
    if validation is not None:
        data["validation_file"] = str(validation)
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", "data": data}), "utf-8")
    return path


def audit_codes(cfg: Path) -> set[str]:
    r = invoke("audit", str(cfg), "--json")
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return {f["code"] for f in json.loads(r.stdout)["findings"]}


@pytest.fixture
def planted(tmp_path: Path) -> dict:
    """300 clean training rows with planted faults, each line marked planted (True) or not;
    a validation file with two exact and one near copy of training rows."""
    clean = [json.dumps(r) for r in make_instruction_rows(300, seed=3)]
    story = {"instruction": "Tell the story.", "output": STORY}
    lines: list[tuple[str, bool]] = [(x, False) for x in clean]

    def put(at: int, line: str, planted_: bool = True) -> None:
        lines.insert(at, (line, planted_))

    put(40, json.dumps(story), False)  # the first of its near-duplicate cluster: kept
    for i, (old, new) in enumerate([("evening", "night"), ("boats", "ships"), ("worn", "old"), ("sixty", "fifty")]):
        put(100 + 30 * i, json.dumps({"instruction": "Tell the story.", "output": STORY.replace(old, new)}))
    for at in (50, 80, 200, 210):  # later copies of line 6 (the first copy is kept)
        put(at, clean[5])
    put(260, json.dumps({"instruction": "Say something."}))  # no 'output': malformed
    put(120, '{"instruction": "Add 2 and 2.", "output": "4"')  # broken JSON
    put(150, json.dumps({"instruction": "Repeat the words.", "output": " ".join(["apple pear plum"] * 80)}))
    # A copy of a clean row that differs in case and spacing only: an exact duplicate after normalisation.
    row9 = json.loads(clean[9])
    put(230, json.dumps({**row9, "output": "  " + row9["output"].upper().replace(" ", "   ")}))
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    train.write_text("\n".join(x for x, _ in lines) + "\n", "utf-8")
    val_rows = [json.dumps(r) for r in make_instruction_rows(40, seed=99)]
    val = [(x, False) for x in val_rows] + [(clean[20], True), (clean[33], True),
                                           (json.dumps({"instruction": "Tell the story.",
                                                        "output": STORY.replace("leather", "brown")}), True)]
    validation = tmp_path / "data" / "validation.jsonl"
    validation.write_text("\n".join(x for x, _ in val) + "\n", "utf-8")
    # max_length 384: the story fits, the repeated words (800 tokens) do not.
    return {"cfg": config(tmp_path, train, validation, max_length=384), "train": train, "validation": validation,
            "train_lines": lines, "validation_lines": val}


def test_fix_removes_exactly_the_planted_rows_and_the_audit_then_finds_none_of_them(planted: dict, tmp_path: Path) -> None:
    before = {k: digest(planted[k]) for k in ("train", "validation")}
    out = tmp_path / "fixed"
    long_line = next(i for i, (x, _) in enumerate(planted["train_lines"], 1) if "apple pear plum" in x)

    # Default: the over-long answer is listed, not removed.
    r = invoke("fix", str(planted["cfg"]), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    kept = (out / "train.jsonl").read_text("utf-8").splitlines()
    assert any("apple pear plum" in x for x in kept)
    report = (out / "fix-report.md").read_text("utf-8")
    assert f"kept (`--truncation drop` removes them)\n\n`train.jsonl:{long_line}`\n" in report

    # Asked to: the over-long answer goes too, and the earlier output is replaced.
    r = invoke("fix", str(planted["cfg"]), "--out", str(out), "--truncation", "drop")
    assert r.returncode == 0, r.stdout + r.stderr
    for role in ("train", "validation"):
        want = [x for x, bad in planted[f"{role}_lines"] if not bad]
        got = (out / f"{role}.jsonl").read_text("utf-8").splitlines()
        assert got == want, role  # the same rows, byte for byte, in the same order
        assert digest(planted[role]) == before[role]  # the originals are untouched
    assert r.stdout.splitlines()[0] == ("Removed 15 of 356 rows (DUPLICATE_EXACT 5, DUPLICATE_NEAR 4, "
                                        "TRAIN_VAL_LEAKAGE 3, MALFORMED_ROWS 2, ANSWER_TRUNCATED 1).")
    assert (r.stdout + r.stderr).count("Removed 15 of 356 rows") == 1  # said once, not also as a log line
    assert ("The audit of the fixed config no longer finds TRAIN_VAL_LEAKAGE, MALFORMED_ROWS, DUPLICATE_EXACT, "
            "DUPLICATE_NEAR.") in r.stdout.splitlines()
    assert "still finds" not in r.stdout

    report = (out / "fix-report.md").read_text("utf-8")
    # Which row of each group is kept is stated: the first in file order.
    story_line = next(i for i, (x, _) in enumerate(planted["train_lines"], 1) if STORY in x)
    copies = [i for i, (x, _) in enumerate(planted["train_lines"], 1) if x == planted["train_lines"][5][0]]
    assert f"| `train.jsonl:{copies[0]}` | `train.jsonl:{', '.join(map(str, copies[1:]))}` |" in report
    near = [i for i, (x, bad) in enumerate(planted["train_lines"], 1) if bad and "lighthouse" in x]
    assert f"| `train.jsonl:{story_line}` | `train.jsonl:{', '.join(map(str, near))}` |" in report
    assert "| `validation.jsonl:43` | `train.jsonl:" in report and "| near |" in report
    assert "invalid JSON" in report and "missing field 'output'" in report

    # The audit of the fixed config: none of the fixed faults, while the original's had them all.
    fixed = out / "config.yaml"
    assert FIXED_CODES <= audit_codes(planted["cfg"])
    assert not FIXED_CODES & audit_codes(fixed)
    # The fixed config is the same config with its data files pointing at the copies.
    r = invoke("config", "diff", str(planted["cfg"]), str(fixed), env={"COLUMNS": "300"})
    keys = {ln.split("│")[1].strip() for ln in r.stdout.splitlines() if ln.startswith("│")} - {""}
    assert keys == {"data.train_file", "data.validation_file"}, r.stdout


def test_a_clean_dataset_comes_out_byte_equal_and_nothing_needed_fixing(tmp_path: Path, train_file: Path) -> None:
    """Legitimate data with one repeated row in 401 (DUPLICATE_EXACT at info: a fact, not a
    fault) is left exactly as it is."""
    with train_file.open("a", encoding="utf-8") as fh:
        fh.write(train_file.read_text("utf-8").splitlines()[7] + "\n")
    out = tmp_path / "fixed"
    secret = "json://bot:s3cretT0kenValue@127.0.0.1:9/hook"
    r = invoke("fix", str(config(tmp_path, train_file)), "--out", str(out), "--set", f"notify.urls=[{secret}]")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "Nothing needed fixing: the copies are identical to the originals."
    # A secret given in the config never reaches a file fix writes; the user is told.
    assert not [p for p in out.iterdir() if b"s3cretT0ken" in p.read_bytes()]
    assert "Secrets (`notify.urls`, `model.hub_token`) are redacted in `config.yaml`" in r.stderr
    assert yaml.safe_load((out / "config.yaml").read_text("utf-8"))["notify"]["urls"] == ["json://***"]
    assert (out / "train.jsonl").read_bytes() == train_file.read_bytes()
    assert "- **DUPLICATE_EXACT** (info): not changed (info is a fact, not a fault)." in (
        out / "fix-report.md").read_text("utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "fix-report.md", "train.jsonl"]
    # The fixed config's data lives in --out: fixing it into the same folder would replace it.
    r = invoke("fix", str(out / "config.yaml"), "--out", str(out))
    assert r.returncode == 2 and "a file being fixed" in r.stderr, r.stderr
    assert (out / "train.jsonl").read_bytes() == train_file.read_bytes()


def _rows(n: int = 60) -> list[dict]:
    return make_instruction_rows(n, seed=11)


def _write(kind: str, rows: list[dict], path: Path) -> Path:
    """`rows` in format `kind`; None stands for a malformed row (a missing output)."""
    recs = [r if r is not None else {"instruction": "No answer here."} for r in rows]
    if kind in ("csv", "tsv"):
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=["instruction", "input", "output"], lineterminator="\r\n",
                           delimiter="," if kind == "csv" else "\t")
        w.writeheader()
        w.writerows(recs)
        path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    elif kind == "jsonl.gz":
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in recs).encode("utf-8")))
    elif kind == "json":
        path.write_text(json.dumps({"data": recs}, ensure_ascii=False), "utf-8")
    else:
        import datasets

        full = [{"instruction": r.get("instruction"), "input": r.get("input"), "output": r.get("output")} for r in recs]
        ds = datasets.Dataset.from_list(full)
        if kind == "parquet":
            ds.to_parquet(str(path))
        else:
            ds.save_to_disk(str(path))
    return path


def _read(kind: str, path: Path) -> list[dict]:
    if kind in ("csv", "tsv"):
        text = io.StringIO(path.read_text("utf-8-sig"))
        return [{k: v for k, v in r.items() if v} for r in csv.DictReader(text, delimiter="," if kind == "csv" else "\t")]
    if kind == "jsonl.gz":
        return [{k: v for k, v in json.loads(ln).items() if v} for ln in gzip.decompress(path.read_bytes()).splitlines()]
    if kind == "json":
        return json.loads(path.read_text("utf-8"))["data"]
    import datasets

    ds = datasets.Dataset.from_parquet(str(path)) if kind == "parquet" else datasets.load_from_disk(str(path))
    return [{k: v for k, v in r.items() if v is not None} for r in ds]


@pytest.mark.parametrize("kind,name", [("csv", "train.csv"), ("tsv", "train.tsv"), ("jsonl.gz", "train.jsonl.gz"),
                                       ("json", "train.json"), ("parquet", "train.parquet"), ("hf", "train_ds")])
def test_every_format_comes_out_in_the_same_format_without_the_faulted_rows(tmp_path: Path, kind: str,
                                                                            name: str) -> None:
    """Validation drawn from the training file: its duplicates are removed before the split.
    A CSV answer spanning lines, CRLF endings and a BOM survive byte for byte."""
    rows = _rows()
    rows[7] = {**rows[7], "output": "line one\nline two, with a comma"}
    planted = [dict(rows[3]), dict(rows[7]), dict(rows[3]), None]
    data = rows[:20] + [planted[0]] + rows[20:40] + [planted[1], planted[2]] + rows[40:] + [planted[3]]
    src = _write(kind, data, tmp_path / name)
    before = {p: digest(p) for p in ([src] if src.is_file() else sorted(src.rglob("*.*")))}
    out = tmp_path / "fixed"
    r = invoke("fix", str(config(tmp_path, src)), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert {p: digest(p) for p in before} == before
    copy = out / name
    assert _read(kind, copy) == [{k: v for k, v in row.items() if v} for row in rows]
    if kind in ("csv", "tsv"):
        assert copy.read_bytes() == _write(kind, rows, tmp_path / f"want.{kind}").read_bytes()
    assert r.stdout.splitlines()[0] == "Removed 4 of 64 rows (DUPLICATE_EXACT 3, MALFORMED_ROWS 1)."


def test_a_validation_file_that_is_all_leaked_rows_gives_way_to_a_split_of_the_training_file(tmp_path: Path) -> None:
    rows = [json.dumps(r) for r in _rows()]
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(rows) + "\n", "utf-8")
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(rows[10:15]) + "\n", "utf-8")
    out = tmp_path / "fixed"
    r = invoke("fix", str(config(tmp_path, train, val)), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[:3] == [
        "Removed 5 of 65 rows (TRAIN_VAL_LEAKAGE 5).", f"  train: {train} -> train.jsonl: 60 rows -> 60",
        f"  validation: {val} -> (no copy: no row left): 5 rows -> 0 (TRAIN_VAL_LEAKAGE 5)"]
    assert "`data.validation_file`: every row was removed, so the fixed config draws validation" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "fix-report.md", "train.jsonl"]
    assert yaml.safe_load((out / "config.yaml").read_text("utf-8"))["data"]["validation_file"] is None
    assert "TRAIN_VAL_LEAKAGE" not in audit_codes(out / "config.yaml")


def test_a_validation_file_that_was_mostly_copies_of_training_gives_way_to_a_split_too(tmp_path: Path) -> None:
    """5 of 7 validation rows repeat training rows: the 2 left are fewer than the 6 rows a split of
    the 60 training rows holds (data.test_size 0.1), so the fixed config splits validation from
    the training file, and says so with the counts; a remnant as large as that split stays."""
    rows = [json.dumps(r) for r in _rows()]
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(rows) + "\n", "utf-8")
    fresh = [json.dumps(r) for r in make_instruction_rows(6, seed=77)]
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(rows[10:15] + fresh[:2]) + "\n", "utf-8")
    out = tmp_path / "fixed"
    r = invoke("fix", str(config(tmp_path, train, val)), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[:3] == [
        "Removed 5 of 67 rows (TRAIN_VAL_LEAKAGE 5).", f"  train: {train} -> train.jsonl: 60 rows -> 60",
        f"  validation: {val} -> (no copy: split from the training file instead): 7 rows -> 2 (TRAIN_VAL_LEAKAGE 5)"]
    assert ("note: `data.validation_file`: 5 of its 7 rows repeated training rows, and the 2 left are fewer than a "
            "split of the cleaned training file holds (6 rows at `data.test_size` 0.1), so the fixed config draws "
            "validation from the training file instead: rows the model does not train on, without the copies."
            ) in " ".join(r.stderr.split())
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "fix-report.md", "train.jsonl"]
    assert yaml.safe_load((out / "config.yaml").read_text("utf-8"))["data"]["validation_file"] is None
    assert "| validation | `" + str(val) + "` | (not written) | 7 | 2 | 5 |" in (out / "fix-report.md").read_text("utf-8")

    val.write_text("\n".join(rows[10:15] + fresh) + "\n", "utf-8")  # 6 left: as many as the split, kept
    r = invoke("fix", str(config(tmp_path, train, val)), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[2] == f"  validation: {val} -> val.jsonl: 11 rows -> 6 (TRAIN_VAL_LEAKAGE 5)"
    assert (out / "val.jsonl").read_text("utf-8").splitlines() == fresh


def test_labels_built_wrong_are_fixed_in_the_fixed_config_not_in_the_rows(tmp_path: Path) -> None:
    """Prompts supervised (data.train_on_prompt: true) on rows with long prompts and short answers:
    no row is removed, and the fixed config `fix` says to train on sets data.train_on_prompt: false
    (the report's and `next`'s value), so training it does not repeat the fault."""
    rows = [{"instruction": f"{r['instruction']} {STORY}", "output": r["output"]}
            for r in _rows()]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    cfg = config(tmp_path, train, train_on_prompt=True, max_length=512)
    assert "PROMPT_NOT_MASKED" in audit_codes(cfg)
    out = tmp_path / "fixed"
    r = invoke("fix", str(cfg), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "No row needed removing: the copies are identical to the originals."
    assert ("note: PROMPT_NOT_MASKED: the data files need no change for this; the fixed config sets "
            "`data.train_on_prompt: false`.") in " ".join(r.stderr.split())
    assert "The audit of the fixed config no longer finds PROMPT_NOT_MASKED." in r.stdout.splitlines()
    assert r.stdout.splitlines()[-1] == f"train on it: tuneguard train {out.absolute() / 'config.yaml'}"
    text = (out / "config.yaml").read_text("utf-8")
    assert "# change data.train_on_prompt: supervise the response only (PROMPT_NOT_MASKED)" in text
    assert yaml.safe_load(text)["data"]["train_on_prompt"] is False
    assert "PROMPT_NOT_MASKED" not in audit_codes(out / "config.yaml")
    report = (out / "fix-report.md").read_text("utf-8")
    assert "No row needed removing" in report and "the fixed config sets `data.train_on_prompt: false`." in report


def test_bad_input_is_one_line_and_exit_2_and_leaves_nothing(tmp_path: Path, train_file: Path) -> None:
    cfg = config(tmp_path, train_file)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", "utf-8")
    cases = [
        (["fix", str(cfg), "--out", str(foreign)], "is a folder that tuneguard fix did not write"),
        (["fix", str(cfg), "--out", str(train_file.parent)], "is a folder that tuneguard fix did not write"),
        (["fix", str(cfg), "--out", str(train_file)], "is a file"),
        (["fix", str(cfg), "--out", str(tmp_path / "x"), "--truncation", "cut"], "--truncation takes keep or drop"),
        (["fix", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "x")], "does not exist"),
        (["fix", str(cfg), "--out", str(tmp_path / "x"), "--set", f"data.train_file={tmp_path / 'gone.jsonl'}"],
         "does not exist"),
    ]
    one_row = tmp_path / "one_row.jsonl"  # 40 copies of one row: the fix leaves one, no validation split
    one_row.write_text("".join(json.dumps({"instruction": "Say hello.", "output": "Hello."}) + "\n"
                               for _ in range(40)), "utf-8")
    cases.append((["fix", str(cfg), "--out", str(tmp_path / "x"), "--set", f"data.train_file={one_row}"],
                  f"the fix would leave 1 row(s) of {one_row}, too few to train on (no validation rows: "))
    for args, words in cases:
        r = invoke(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (foreign / "notes.txt").read_text("utf-8") == "keep me" and len(list(foreign.iterdir())) == 1
    assert not (tmp_path / "x").exists()


def test_fix_report_in_thai_when_the_config_reads_thai(planted: dict, tmp_path: Path) -> None:
    """notify.language: th (report.language unset) writes fix-report.md in Thai: every heading,
    table head, line per finding, note and next command; the terminal's lines are Thai too."""
    out = tmp_path / "fixed"
    # answer_in_prompt_ratio 0.5 (the default is 0.9): two rows that copy half their answer keep an
    # info finding in the report, whose Thai line is checked below.
    r = invoke("fix", str(planted["cfg"]), "--out", str(out), "--truncation", "drop", "--set", "notify.language=th",
               "--set", "audit.answer_in_prompt_ratio=0.5")
    assert r.returncode == 0, r.stdout + r.stderr
    cfg, data = planted["cfg"], planted["train"].parent
    assert r.stdout.splitlines() == [
        "ลบไป 15 แถว จากทั้งหมด 356 แถว (DUPLICATE_EXACT 5, DUPLICATE_NEAR 4, TRAIN_VAL_LEAKAGE 3, MALFORMED_ROWS 2, "
        "ANSWER_TRUNCATED 1)",
        f"  ข้อมูลฝึก: {data / 'train.jsonl'} -> train.jsonl: 313 แถว -> 301 (DUPLICATE_EXACT 5, DUPLICATE_NEAR 4, "
        "MALFORMED_ROWS 2, ANSWER_TRUNCATED 1)",
        f"  validation: {data / 'validation.jsonl'} -> validation.jsonl: 43 แถว -> 40 (TRAIN_VAL_LEAKAGE 3)",
        "การตรวจข้อมูลของ config ที่แก้แล้วไม่พบ TRAIN_VAL_LEAKAGE, MALFORMED_ROWS, DUPLICATE_EXACT, DUPLICATE_NEAR อีก",
        f"รายงาน: {out / 'fix-report.md'}",
        f"config: {out / 'config.yaml'} (tuneguard config diff {cfg} {out / 'config.yaml'})",
        f"ตรวจข้อมูลที่แก้แล้ว: tuneguard audit {out.absolute() / 'config.yaml'}",
        f"ฝึกด้วยข้อมูลนี้: tuneguard train {out.absolute() / 'config.yaml'}"]
    allowed = kept_in_english()
    assert [ln for ln in r.stdout.splitlines() if english_sentences(ln, allowed)] == []
    report = (out / "fix-report.md").read_text("utf-8")
    assert report.startswith(f"# การแก้ข้อมูล: `{planted['cfg']}`\n\n<!-- written by tuneguard fix -->\n\n"
                             "ลบไป 15 แถว จากทั้งหมด 356 แถว (DUPLICATE_EXACT 5, DUPLICATE_NEAR 4, TRAIN_VAL_LEAKAGE 3, "
                             "MALFORMED_ROWS 2, ANSWER_TRUNCATED 1)\n")
    for line in ("| ไฟล์ | ต้นฉบับ | สำเนา | แถวก่อนแก้ | แถวหลังแก้ | ลบไป |", "## สิ่งที่การตรวจข้อมูลพบ",
                 "- **TRAIN_VAL_LEAKAGE** (ข้อผิดพลาด): ลบแถว validation/test 3 แถวที่มีอยู่ในข้อมูลฝึกด้วยออกจากไฟล์ของชุดนั้น "
                 "ส่วนข้อมูลฝึกยังคงครบทุกแถว",
                 "- **MALFORMED_ROWS** (คำเตือน): ลบ 2 แถว",
                 "- **DUPLICATE_EXACT** (คำเตือน): ลบ 5 แถว จาก 2 กลุ่ม แต่ละกลุ่มเก็บแถวแรกตามลำดับในไฟล์ไว้",
                 "- **ANSWER_IN_PROMPT** (ข้อมูล): ไม่ได้แก้ (ระดับข้อมูลเป็นเพียงข้อเท็จจริง ไม่ใช่ข้อบกพร่อง)",
                 "| เก็บไว้ | ลบ (สำเนาที่เกือบเหมือนแถวที่เก็บไว้) |", "| `validation.jsonl:43` | `train.jsonl:165` | เกือบซ้ำ |",
                 "## คำตอบที่ยาวเกิน `data.max_length` (384 token): ลบแล้ว", "## ผลการตรวจข้อมูลหลังแก้",
                 "ไม่พบอีกแล้ว: TRAIN_VAL_LEAKAGE, MALFORMED_ROWS, DUPLICATE_EXACT, DUPLICATE_NEAR",
                 "- พบด้วย: **ANSWER_IN_PROMPT** (ข้อมูล): ในงานแบบคำตอบอิสระ ข้อมูลฝึก 2 จาก 301 แถว (0.7%) มีคำตอบอย่างน้อย "
                 "50.0% อยู่ใน prompt แบบตรงตัว โมเดลจึงเรียนรู้การลอกแทนการตอบ",
                 "## ขั้นตอนถัดไป", "# ตรวจข้อมูลที่แก้แล้ว", "# ฝึกด้วยข้อมูลนี้"):
        assert f"\n{line}\n" in report, line
    for english in ("What the audit found", "removed in", "Audit of the fixed data", "check the cleaned data", "| kept |"):
        assert english not in report, english


def _inline_tokens(markdown: str) -> tuple[list[str], list[str]]:
    """(the code spans' contents, the plain texts) of a markdown text, read as CommonMark with tables."""
    from markdown_it import MarkdownIt

    codes, texts = [], []
    for tok in MarkdownIt("commonmark").enable("table").parse(markdown):
        for child in tok.children or []:
            (codes if child.type == "code_inline" else texts).append(child.content)
    return codes, texts


def test_fix_report_shows_paths_rows_and_keys_as_code_with_balanced_backticks(tmp_path: Path) -> None:
    """Data in a folder whose name holds markdown's own characters (`_`, `*`, a backtick): in
    fix-report.md, English and Thai, every path, row and config key is a code span that shows it
    as typed; no backtick is left outside a code span (unbalanced or escaped)."""
    rows = [json.dumps(r) for r in _rows(60)]
    folder = tmp_path / "my_*odd*`data`_dir"
    folder.mkdir()
    train = folder / "train_set.jsonl"
    train.write_text("\n".join(rows + [rows[3], rows[3], '{"instruction": "broken']) + "\n", "utf-8")
    cfg = config(folder, train, max_length=64)  # the config in that folder too: the report's title names it
    for language in ("en", "th"):
        out = tmp_path / f"fixed-{language}"
        r = invoke("fix", str(cfg), "--out", str(out), "--set", f"notify.language={language}")
        assert r.returncode == 0, r.stdout + r.stderr
        report = (out / "fix-report.md").read_text("utf-8")
        codes, texts = _inline_tokens(report)
        assert [t for t in texts if "`" in t] == [], language
        assert "\\`" not in report
        for want in (str(cfg), str(train), "train_set.jsonl", "config.yaml", "train_set.jsonl:4",
                     "train_set.jsonl:61-62", "train_set.jsonl:63"):
            assert want in codes, (language, want, codes)
    en = (tmp_path / "fixed-en" / "fix-report.md").read_text("utf-8")
    assert "| `train_set.jsonl:4` | `train_set.jsonl:61-62` |" in en
    # At max_length 64 the prompts are cut, no answer is: nothing to list, and the line says so.
    assert ("- **ANSWER_TRUNCATED** (warning): no row's answer is cut, only prompts: no row removed; raise "
            "`data.max_length` (the audit suggests about 128) or shorten the prompts.") in en.splitlines()
    assert f"# Data fix: ``{cfg}``" in en.splitlines()  # one backtick more than the path holds in a row
