"""The bilingual catalog: every text in English and Thai, with the same placeholders; every
finding code (the contract's and docs/FINDINGS.md's), event and verdict criterion has its
texts; every key the code asks for exists; a stored finding renders in Thai."""

from __future__ import annotations

import re
from pathlib import Path

from tests.thai_sentences import ALLOWED, english_sentences, kept_in_english
from tuneguard.catalog import LANGUAGES, TABLE, TABLES, J, T, placeholders, render
from tuneguard.config.schema import NOTIFY_EVENTS
from tuneguard.findings import AUDIT_CODES, GUARD_CODES, Finding
from tuneguard.notify.messages import EVENTS
from tuneguard.policy.policy import LIMIT_CODE
from tuneguard.report.verdict import CRITERIA_NAMES, Criterion
from tuneguard.store.run_store import RunStore

ROOT = Path(__file__).resolve().parents[1]
THAI = re.compile("[\u0e00-\u0e7f]")
ALL = {f"{name}:{k}": v for name, t in TABLES.items() for k, v in t.items()}


def test_every_text_has_both_languages_with_the_same_placeholders() -> None:
    wrong = []
    for key, entry in sorted(ALL.items()):
        if set(entry) != set(LANGUAGES) or placeholders(entry["en"]) != placeholders(entry["th"]):
            wrong.append(key)
        # Placeholders are lower-case names: "${LINE_URL}" meant literally must be written "${{LINE_URL}}".
        elif any(not re.fullmatch(r"[a-z_][a-z0-9_]*", name) for name, _, _ in placeholders(entry["en"])):
            wrong.append(key)
        # A Thai text may be empty only where English has a mark Thai does not use (a full stop).
        elif not entry["th"].strip() and re.search("[A-Za-z]", entry["en"]):
            wrong.append(key)
    assert wrong == [] and len(ALL) > 400


def test_the_check_sees_a_missing_language_and_a_placeholder_that_differs() -> None:
    assert placeholders("{a:.4g} and {b!p}") != placeholders("{a} และ {b!p}")
    assert placeholders("{a:.4g} and {b!p}") == placeholders("{b!p} และ {a:.4g}")


def test_tables_do_not_shadow_each_other() -> None:
    keys = [k for name, t in TABLES.items() if name not in ("event_titles", "event_lines", "diagnosis") for k in t]
    assert len(keys) == len(set(keys)) == len(TABLE)


def documented_codes() -> set[str]:
    """The finding codes of docs/FINDINGS.md's tables (first column)."""
    text = (ROOT / "docs" / "FINDINGS.md").read_text("utf-8")
    return set(re.findall(r"^\| *`?([A-Z][A-Z_]{4,})`?\b", text, flags=re.M))


def test_every_finding_code_has_a_message_and_a_recommendation_in_both_languages() -> None:
    codes = set(AUDIT_CODES) | set(GUARD_CODES) | {LIMIT_CODE}
    assert documented_codes() <= codes, documented_codes() - codes  # the docs name no code the catalog lacks
    for code in sorted(codes):
        keys = [k for k in TABLE if k.startswith(f"{code}.")]
        assert any(not k.endswith(".rec") for k in keys), f"{code}: no message"
        assert any(k.endswith(".rec") for k in keys) or code == "LOSS_COLLAPSE", f"{code}: no recommendation"
        for k in keys:  # Thai, or a text the two languages share ("step {step}", "{reason} ({where})")
            th, en = TABLE[k]["th"], TABLE[k]["en"]
            assert THAI.search(th) or th == en or not re.search("[A-Za-z]", re.sub(r"\{[^}]*\}", "", th)), k


def test_every_event_and_criterion_has_its_texts() -> None:
    assert set(NOTIFY_EVENTS) <= set(EVENTS) == set(TABLES["event_titles"])
    for event in EVENTS:
        assert THAI.search(TABLES["event_titles"][event]["th"]), event
    for name in CRITERIA_NAMES:
        c = Criterion(name, "pass", "")
        assert c.name_in("en") == name and THAI.search(c.name_in("th")), name
    for status in ("pass", "fail", "unknown"):
        assert THAI.search(Criterion(CRITERIA_NAMES[0], status, "").status_in("th"))  # type: ignore[arg-type]


SPEC_CALL = re.compile(r"""\b(?:T|V|say|w|t|Words\([^)]*\))\(\s*f?["']([A-Za-z_.]+)["']""")


def test_every_key_the_code_asks_for_exists() -> None:
    """Literal keys passed to T(...), V(...) (verdict.), say(...), the report's w(...) (report.) and
    the fix report's t(...) (fix.)."""
    asked = 0
    for path in (ROOT / "src" / "tuneguard").rglob("*.py"):
        text = path.read_text("utf-8")
        for m in SPEC_CALL.finditer(text):
            key = m.group(1)
            call = m.group(0).split("(")[0]
            if key.endswith("."):  # an f-string prefix: "overall.{x}"
                continue
            call = "w" if call.startswith("Words") else call
            full = {"V": f"verdict.{key}", "w": f"report.{key}", "t": f"fix.{key}"}.get(call, key)
            assert full in TABLE, f"{path.relative_to(ROOT)}: {call}({key!r})"
            asked += 1
    assert asked > 150


def test_numbers_and_nested_parts_render_the_same_in_both_languages() -> None:
    spec = T("LOSS_COLLAPSE.fault", change=T("LOSS_COLLAPSE.change.fell", initial=6.62634, loss=0.295512),
             rule=J("join.and", [T("LOSS_COLLAPSE.rule.floor", floor=0.1), T("LOSS_COLLAPSE.rule.ratio", ratio=0.05)]),
             when=T("LOSS_COLLAPSE.when.step", step=12), causes="DUPLICATE_EXACT",
             meaning=T("LOSS_COLLAPSE.meaning.repeats"))
    en, th = render(spec, "en"), render(spec, "th")
    assert en == ("Training loss fell from 6.626 to 0.2955 (below the floor 0.1 and below 5% of the initial loss) "
                  "at step 12, and the audit found the cause (DUPLICATE_EXACT): the rows repeat, so the model has "
                  "memorised the copies: the low loss measures memory of repeated rows, not learning.")
    assert th == ("ค่า loss การฝึกลดจาก 6.626 เหลือ 0.2955 (ต่ำกว่าเกณฑ์ล่าง 0.1 และ ต่ำกว่า 5% ของค่า loss เริ่มต้น) "
                  "ที่ step 12 และการตรวจข้อมูลพบสาเหตุ (DUPLICATE_EXACT): แถวข้อมูลซ้ำกัน โมเดลจึงจำสำเนาไว้ "
                  "ค่า loss ที่ต่ำวัดความจำของแถวซ้ำ ไม่ใช่การเรียนรู้")
    assert re.findall(r"\d+(?:\.\d+)?%?", en) == re.findall(r"\d+(?:\.\d+)?%?", th)


def test_a_stored_finding_renders_in_thai_and_keeps_its_english_contract(tmp_path: Path) -> None:
    from tuneguard.guard.overfit import EvalDivergenceDetector

    f = EvalDivergenceDetector(ratio=1.5, min_gap=0.1).update(40, 2.5, 1.0)
    assert f is not None
    with RunStore(tmp_path, create=True) as s:
        s.init_run(config={}, max_steps=10, run_id="r")
        s.add_finding(f)
        (back,) = s.findings()
    assert back.evidence == f.evidence and "__text__" not in back.evidence  # the evidence stays the evidence
    assert back.message == ("Eval loss 2.5 is 2.50x the training loss 1 at step 40 (limit 1.5x): the model does much "
                            "better on training rows than on validation rows.")
    assert back.message_in("th") == ("eval loss 2.5 สูงเป็น 2.50 เท่าของ loss การฝึก 1 ที่ step 40 (เกณฑ์ 1.5 เท่า) "
                                     "โมเดลทำได้ดีกับแถวข้อมูลฝึกมากกว่าแถว validation มาก")
    assert back.recommendation_in("th").startswith("ตรวจว่าแถว validation มาจากแหล่งและรูปแบบเดียวกับข้อมูลฝึก")
    assert back.to_dict()["text"] == f.text  # what --json and status --json carry
    old = Finding(code="X", severity="info", message="An old finding.")  # stored before the catalog: as stored
    assert old.message_in("th") == "An old finding." and "text" not in old.to_dict()


def test_every_text_renders_in_both_languages() -> None:
    """Each template filled with a value of the kind its placeholder formats (a number where it
    has a format spec or conversion, a word otherwise) renders in both languages."""
    for key, entry in ALL.items():
        table_key = key.split(":", 1)[1]
        params = {name: 0.25 if spec or conv else "x" for name, conv, spec in placeholders(entry["en"])}
        for language in LANGUAGES:
            text = entry[language].format_map(params) if key.startswith(("event", "diagnosis")) else \
                render({"key": table_key, "params": params}, language)
            assert not re.search(r"\{[a-z_][a-z0-9_]*(?:[!:][^}]*)?\}", text), (key, language, text)
    # Literal braces stay literal (the report's note on redacted notify URLs).
    assert "--set 'notify.urls=[\"${LINE_URL}\"]'" in render(T("report.rec.redacted"), "th")


def test_every_thai_text_passes_the_sentence_check_of_a_thai_run() -> None:
    """The rule of tests/integration/test_thai_run.py (no English sentence outside code names,
    config keys, commands, paths, numbers and docs/THAI.md's terms), applied to every Thai text
    of the catalog, so a finding no test run raises reads in Thai too."""
    allowed = kept_in_english()
    english = {}
    for key, entry in ALL.items():
        bad = english_sentences(re.sub(r"\{[^}]*\}", " ", entry["th"]), allowed)  # placeholders: numbers, codes
        if bad:
            english[key] = bad
    assert english == {}


def untranslated(thai: str, allowed: set[str]) -> list[str]:
    """The English words of a "Thai" text written without Thai script (a copy of the English,
    or a word nobody translated): words beyond the terms docs/THAI.md keeps in English,
    placeholders and identifiers (codes, config keys, names with underscores)."""
    if THAI.search(thai):
        return []
    rest = re.sub(r"\{[^}]*\}", " ", thai)
    for pattern in ALLOWED:
        if not pattern.pattern.startswith("[-+]"):  # numbers stay: distinct-2 is one term
            rest = pattern.sub(" ", rest)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9\-]*", rest) if w.lower() not in allowed]


def test_no_key_has_an_english_text_and_no_thai_one() -> None:
    """Every key's Thai is Thai: a text without Thai script holds only placeholders,
    identifiers and the terms kept in English ("step {step}", "LoRA: r={r}, alpha={alpha}"),
    never the English left in place of a translation; a key with no Thai at all fails the
    first test of this module."""
    allowed = kept_in_english()
    assert untranslated("Training halted", allowed) == ["Training", "halted"]  # the check sees a copy
    assert untranslated("ฝึกต่อจาก step {step}", allowed) == untranslated("step {step}", allowed) == []
    left = {key: words for key, entry in ALL.items() if (words := untranslated(entry["th"], allowed))}
    assert left == {}


def test_the_seen_line_says_in_english_what_fmt_says() -> None:
    """tuneguard.fmt.seen_text (no catalog import: the CLI's start-up) and the catalog's English agree."""
    from tuneguard.catalog import say
    from tuneguard.fmt import seen_text

    ev = {"examples_seen": 1240, "passes": 2.5, "exposures": 37, "rows": 100, "distinct_rows": 3}
    assert seen_text(ev) == say("seen.units.repeats", "en", examples=1240, passes="2.5", exposures="37")
    assert seen_text({"examples_seen": 1240, "passes": 0.41}) == say("seen.units.passes", "en", examples=1240,
                                                                    passes="0.41")
    assert seen_text({"examples_seen": 12}) == say("seen.units", "en", examples=12)


SEEN = T("seen.after", examples=16740, passes="2.5", rows=6696)
SPIKE = {"loss": 9.214, "step": 1240, "ratio": 3.41, "median": 2.702, "n": 48, "limit": 3.0, "jump": 6.02, "high": 3.19,
         "quantile": 0.95}


def test_the_spike_clauses_and_the_easy_task_read_as_thai_sentences() -> None:
    """LOSS_SPIKE with each rule it can name beyond the floor, and LOSS_COLLAPSE's easy-task
    note, rendered with a run's numbers: exact Thai, clauses joined with และ, no full stop."""
    spread = render(T("LOSS_SPIKE.found", **SPIKE, spread=T("LOSS_SPIKE.spread", z=5.1, limit=4.5, centre=2.95),
                      end=T("end.period")), "th")
    assert spread == ("ค่า loss การฝึกพุ่งขึ้นเป็น 9.214 ที่ step 1240 คิดเป็น 3.4 เท่าของค่ามัธยฐาน 2.702 ของ 48 step ก่อนหน้า "
                      "(เกณฑ์ 3 เท่า) และสูงกว่าขอบบนของช่วงปกติ (3.19, ควอนไทล์ที่ 95%) อยู่ 6.02 และสูงกว่า eval loss ล่าสุด "
                      "(2.95) อยู่ 5.1 เท่าของความผันผวนปกติระหว่าง step (เกณฑ์ 4.5 เท่า)")
    median = render(T("LOSS_SPIKE.found", **SPIKE, spread=T("LOSS_SPIKE.spread_median", z=8.23, limit=4.5),
                      end=T("LOSS_SPIKE.seen_suffix", seen=SEEN)), "th")
    assert median.endswith("อยู่ 6.02 และสูงกว่าค่ามัธยฐานนั้นอยู่ 8.2 เท่าของความผันผวนปกติระหว่าง step (เกณฑ์ 4.5 เท่า) "
                           "หลังจากโมเดลเห็นข้อมูล 16,740 ตัวอย่าง (2.5 รอบของข้อมูลทั้ง 6,696 แถว)")
    initial = render(T("LOSS_SPIKE.found", **{**SPIKE, "loss": 11.9, "ratio": 4.4, "jump": 8.7},
                       spread=T("LOSS_SPIKE.initial", ratio=3.3, initial=3.61, limit=3.0), end=T("end.period")), "th")
    assert initial.endswith("อยู่ 8.7 และคิดเป็น 3.3 เท่าของ loss ที่ step แรก (3.61) ซึ่งคือ loss ของข้อมูลนี้ก่อนเริ่มฝึก "
                            "(เกณฑ์ 3 เท่า)")
    easy = render(T("LOSS_COLLAPSE.easy", loss=0.0412, loss_step=60, rule=T("LOSS_COLLAPSE.rule.ratio", ratio=0.05),
                    eval_loss=0.0455, step=80, low=0.0398, limit=3.0, audit=T("LOSS_COLLAPSE.with_clean")), "th")
    assert easy == ("งานนี้ดูง่ายสำหรับโมเดลนี้ ไม่ใช่ข้อมูลผิดปกติ: ค่า loss การฝึกลดต่ำ (0.0412 ที่ step 60, ต่ำกว่า 5% ของค่า "
                    "loss เริ่มต้น) และ eval loss บนแถวที่ไม่ได้ใช้ฝึกอยู่ในระดับเดียวกัน (0.0455 ที่ step 80 เทียบกับ loss "
                    "การฝึกเฉลี่ย 0.0398 ตั้งแต่การประเมินครั้งก่อน ต่างกันไม่เกิน 3 เท่า) และการตรวจข้อมูลไม่พบปัญหา")
    # The English keeps its full stop; an empty Thai text is rendered empty, not replaced by the English one.
    assert render(T("LOSS_SPIKE.found", **SPIKE, spread="", end=T("end.period")), "en").endswith("quantile).")
    assert render(T("end.period"), "th") == ""


def test_a_collapse_link_names_what_the_audit_found_with_a_space_before_latin_text() -> None:
    """Each link is a whole clause: in Thai they follow each other as sentences do (a space), with
    no semicolon between them."""
    links = J("join.clauses", [
        T("LOSS_COLLAPSE.link_share", share=0.42, what=T("LOSS_COLLAPSE.related.DUPLICATE_EXACT"), code="DUPLICATE_EXACT"),
        T("LOSS_COLLAPSE.link", what=T("LOSS_COLLAPSE.related.PAD_IS_EOS"), code="PAD_IS_EOS")])
    assert render(links, "en").startswith("the audit found 42% exact duplicates: see DUPLICATE_EXACT; the audit found")
    assert render(links, "th") == ("การตรวจข้อมูลพบ แถวซ้ำทุกตัวอักษร คิดเป็น 42% (ดู DUPLICATE_EXACT) "
                                   "การตรวจข้อมูลพบ pad == eos (EOS ถูก mask ออกจาก labels) (ดู PAD_IS_EOS)")


def _config_sections() -> dict[str, set[str]]:
    from tuneguard.config.schema import Config

    return {name: set(field.annotation.model_fields) for name, field in Config.model_fields.items()}


FILE_SUFFIXES = {"jsonl", "json", "yaml", "yml", "html", "md", "csv", "txt", "py", "parquet"}


def named_config_keys(text: str, sections: dict[str, set[str]]) -> list[str]:
    """The config keys a text names (`train.learning_rate`, `guard.severity.LOSS_COLLAPSE`: the section
    and its key), leaving out file names such as report.html and train.jsonl."""
    pattern = re.compile(r"(?<![\w./-])(%s)\.([A-Za-z_]\w*)" % "|".join(sections))
    return [f"{m[1]}.{m[2]}" for m in pattern.finditer(text) if m[2] not in FILE_SUFFIXES]


def test_every_config_key_a_message_names_exists_in_the_schema():
    """A recommendation that names a key the config does not have sends the user to an error
    (or, worse, to a --set that is refused): every key named in any catalog text, in every language,
    and every key a recommendation changes (Change("KEY", ...) in the code) is a key of the schema."""
    import ast

    sections = _config_sections()
    unknown: dict[str, list[str]] = {}
    for table, entries in TABLES.items():
        for key, entry in entries.items():
            for lang, text in entry.items():
                for named in named_config_keys(text, sections):
                    if named.split(".")[1] not in sections[named.split(".")[0]]:
                        unknown.setdefault(named, []).append(f"{table}:{key}:{lang}")
    src = Path(__file__).resolve().parents[1] / "src" / "tuneguard"
    changed = 0
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Change" and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                changed += 1
                section, _, key = node.args[0].value.partition(".")
                if key.split(".")[0] not in sections.get(section, set()):
                    unknown.setdefault(node.args[0].value, []).append(f"{path.name}:{node.lineno}")
    assert unknown == {}
    assert changed >= 30  # the scan sees the recommendations
    # The check itself: a wrong key and a file name.
    assert named_config_keys("set train.warmup_ratios: 0.1, see report.html and train.jsonl", sections) == \
        ["train.warmup_ratios"]
