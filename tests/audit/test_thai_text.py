"""The audit on Thai text: Thai has no spaces between words, so every measure that counts words
(distinct-2, the frequent 8-grams, the task's shape, answers as rewrites of their prompt) reads
it through `words`' pseudo-words. Healthy Thai data raises nothing above info, and each fault
gets the finding and severity its English mirror gets. The rows are LibreOffice's own English
messages and their Thai translations."""

from __future__ import annotations

from typing import Any

from tests.audit.audit_helpers import get, serious
from tuneguard.audit.common import words

PAIRS = [
    ('Second array for forming the argument differences.',
     'อาร์เรย์ที่สองที่เป็นตัวลบในการหาผลต่าง'),
    ('Includes background styles in the selected table style.',
     'ใช้รูปแบบของพื้นหลังจากกระบวนแบบตารางที่เลือก'),
    ('Cell merge not possible if cells already merged!',
     'ผสานเซลล์ไม่ได้ถ้าเซลล์ผสานอยู่แล้ว!'),
    ('Tests whether two values are equal',
     'ทดสอบว่าค่าสองค่าเท่ากันหรือไม่'),
    ('The spellcheck of this sheet has been completed.',
     'ตรวจการสะกดคำในแผ่นงานนี้เสร็จแล้ว'),
    ('Not all attributes could be recorded.',
     'ไม่สามารถบันทึกคุณลักษณะได้ครบทั้งหมด'),
    ('Displays or hides a preview of the selected file.',
     'แสดงหรือซ่อนภาพตัวอย่างของแฟ้มที่เลือก'),
    ('Returns TRUE if value refers to an empty cell.',
     'คืนค่า TRUE ถ้าค่าอ้างถึงเซลล์ว่าง'),
    ('Displays the completed word as a Help Tip.',
     'แสดงคำที่จะเติมให้สมบูรณ์โดยผุดกล่องคำแนะนำ'),
    ('Inserts index keys as separate index entries.',
     'แทรกคีย์ต่างๆ ของดัชนีเป็นรายการดัชนีคนละรายการแยกกัน'),
    ('Creates index entries from object captions.',
     'สร้างรายการดัชนีจากคำบรรยายวัตถุ'),
    ('Returns the inverse hyperbolic sine of a number.',
     'คืนค่าไฮเพอร์โบลิกไซน์ผกผันของตัวเลข'),
    ('A general error occurred while accessing your central configuration. ',
     'เกิดข้อผิดพลาดทั่วไปขณะเข้าถึงค่าตั้งส่วนกลางของคุณ '),
    ("Input required in field '#'. Please enter a value.",
     "ต้องการการป้อนเข้าในเขตข้อมูล '#' กรุณาใส่ค่า"),
    ('Substitutes new text for old text in a string.',
     'ข้อความใหม่แทนข้อความเก่าในสายอักขระ'),
    ('Select Range for Negative Error Bars',
     'เลือกช่วงสำหรับแท่งความคลาดเคลื่อนค่าลบ'),
    ('Type your company email address.',
     'ป้อนที่อยู่อีเมลของบริษัทของคุณ'),
    ('Asian characters and Korean syllables',
     'จำนวนตัวอักษรแบบเอเชียและพยางค์ภาษาเกาหลี'),
    ('The list was modified without saving.',
     'รายชื่อนี้มีการเปลี่ยนแปลงโดยยังไม่ได้บันทึก'),
    ('StarWriter 4.0 / 5.0 Master Document',
     'เอกสารเค้าโครงหลัก StarWriter 4.0 / 5.0'),
    ('The file already exists. Overwrite?',
     'แฟ้มนี้มีอยู่แล้ว ต้องการเขียนทับหรือไม่?'),
    ('At present, no TWAIN source is available.',
     'ไม่มีแหล่ง TWAIN ที่ใช้ได้ในขณะนี้'),
    ('Paste the following markup into the help file:',
     'วางข้อความมาร์กอัปต่อไปนี้ลงในแฟ้มคู่มือวิธีใช้:'),
    ('Security Warning: Server Certificate Invalid',
     'คำเตือนด้านความปลอดภัย: ใบรับรองของเครื่องแม่ข่ายไม่ถูกต้อง'),
    ('This operation is not supported on this operating system.',
     'ไม่สนับสนุนปฏิบัติการนี้บนระบบปฏิบัติการนี้'),
    ('Calculates the arc cosine in radians.',
     'คำนวณค่า arc cosine เป็นเรเดียน'),
    ('Animates the paragraphs in reverse order.',
     'เคลื่อนไหวย่อหน้าต่างๆ ในลำดับย้อนกลับ'),
    ('Connection to the file could not be established.',
     'ไม่สามารถสร้างการเชื่อมต่อกับแฟ้มได้'),
    ('Enter the number of rows to include in the heading.',
     'ป้อนจำนวนแถวที่จะซ้ำในหัวตาราง'),
    ('Returns the most common value in a sample.',
     'คืนค่าข้อมูลที่มีความถี่สูงที่สุดในกลุ่มตัวอย่าง'),
    ('Opens a file dialog to select the email program.',
     'เปิดกล่องโต้ตอบเลือกแฟ้มเพื่อเลือกโปรแกรมอีเมล'),
    ('The success probability of a trial.',
     'ความน่าจะเป็นของความสำเร็จของการทดลองแต่ละครั้ง'),
    ('The extension cannot be updated because:',
     'ส่วนขยายไม่สามารถปรับรุ่นได้เพราะ:'),
    ('Correct accidental use of cAPS LOCK key',
     'แก้ไขการกดปุ่ม cAPS LOCK โดยไม่ได้ตั้งใจ'),
    ('Eastern Europe (Apple Macintosh/Croatian)',
     'ยุโรปตะวันออก (Apple Macintosh/โครเอเชีย)'),
    ('Calculates the number of days between two dates.',
     'คำนวณจำนวนวันระหว่างวันที่สองวัน'),
    ('The driver does not support table renaming.',
     'ไดรเวอร์ไม่สนับสนุนการเปลี่ยนชื่อตาราง'),
    ('Perform check for default file associations on start-up',
     'ตรวจสอบการเชื่อมโยงแฟ้มปริยายขณะเริ่มระบบ'),
    ('When printing, print or ignore this particular layer.',
     'เมื่อจัดพิมพ์ จะพิมพ์หรือข้ามชั้นงานนี้'),
    ('Set page number for first title page',
     'กำหนดเลขหน้าสำหรับหน้านำเรื่องหน้าแรก'),
]
CANNED = {"th": "ขออภัย ฉันไม่สามารถช่วยเรื่องนี้ได้ในขณะนี้ กรุณาติดต่อฝ่ายสนับสนุนเพื่อขอความช่วยเหลือเพิ่มเติม",
          "en": "Sorry, I cannot help with this right now. Please contact support for further assistance."}
TEMPLATE = {"th": "สวัสดีครับ ขอบคุณที่สอบถามเข้ามา คำแปลของข้อความที่คุณต้องการคือ {x} หวังว่าคำตอบนี้จะเป็นประโยชน์"
                  "กับคุณนะครับ หากมีคำถามเพิ่มเติมสามารถสอบถามได้ตลอดเวลา",
            "en": "Hello, thank you for your question. The translation of the text you asked for is {x} I hope this "
                  "answer is useful to you. If you have more questions you can ask at any time."}


def _rows(lang: str) -> list[dict[str, str]]:
    """Translation rows whose answers are in `lang`: English -> Thai, or its mirror Thai -> English."""
    if lang == "th":
        return [{"instruction": f"Translate into Thai: {e}", "output": t} for e, t in PAIRS]
    return [{"instruction": f"แปลเป็นภาษาอังกฤษ: {t}", "output": e} for e, t in PAIRS]


def test_words_cut_thai_runs_into_word_sized_units_and_keep_english_words() -> None:
    # Pseudo-words are not dictionary words, only units of about a word's size; "pdf" stays a word.
    assert words("บันทึกไฟล์ pdf ของคุณ") == ["บั", "นทึกไฟล์", "pdf", "ของ", "คุณ"]
    assert words("hello, world.") == ["hello", "world"]
    # Chinese by ideograph pairs on average, Japanese kana, Lao, Khmer and Myanmar by clusters of three.
    assert words("打开文件时发生错误，请检查文件名。") == ["打", "开", "文件时", "发生错", "误", "请检查文", "件名"]
    assert words("ファイルを開くときにエラーが発生しました。") == ["ファイルを開", "く", "と", "き", "にエラーが", "発", "生しま", "した"]
    assert words("ເປີດໄຟລ໌ບໍ່ໄດ້") == ["ເປີດ", "ໄຟ", "ລ໌ບໍ່", "ໄດ້"]
    assert words("មិនអាចបើកឯកសារបានទេ") == ["មិន", "អាចបើកឯក", "សារបា", "ន", "ទេ"]
    # A phrase cuts the same inside other sentences: an inserted value moves the cuts only next to it.
    phrase = words("ตรวจการสะกดคำในแผ่นงานนี้เสร็จแล้ว")
    assert " ".join(phrase[1:-1]) in " ".join(words("ผู้ใช้ตรวจการสะกดคำในแผ่นงานนี้เสร็จแล้วครับ"))
    # About one pseudo-word per English word of the same message.
    th = sum(len(words(t)) for _, t in PAIRS)
    en = sum(len(words(e.lower())) for e, _ in PAIRS)
    assert 0.8 * en <= th <= 1.6 * en, (th, en)


def test_healthy_thai_translations_raise_nothing(audit_rows: Any) -> None:
    for lang in ("th", "en"):
        result, _ = audit_rows(_rows(lang))
        assert serious(result) == {}, lang


def test_canned_thai_replies_are_the_error_english_gets(audit_rows: Any) -> None:
    for lang in ("th", "en"):
        rows = [dict(r, output=CANNED[lang]) if i % 2 == 0 and i < 38 else r for i, r in enumerate(_rows(lang))]
        result, _ = audit_rows(rows)
        f = get(result, "LOW_DIVERSITY")
        assert f.severity == "error", (lang, f.evidence["signals"])


def test_templated_thai_answers_get_the_finding_english_gets(audit_rows: Any) -> None:
    """40 rows wrapped in one long template: the template's 8-grams cover most words in both
    languages (one signal: a warning); before pseudo-words a Thai sentence had no 8-gram at all."""
    for lang in ("en", "th"):
        rows = [dict(r, output=TEMPLATE[lang].format(x=r["output"])) for r in _rows(lang)]
        result, _ = audit_rows(rows)
        f = get(result, "LOW_DIVERSITY")
        assert (f.severity, f.evidence["frequent_8gram_coverage"] > 0.75) == ("warning", True), lang


def test_thai_answers_that_rewrite_their_prompt_are_a_rewriting_task(audit_rows: Any) -> None:
    """A Thai answer that restates its prompt with a polite particle added shares its pseudo-words."""
    rows = [{"instruction": f"เขียนประโยคนี้ใหม่ให้สุภาพขึ้น: {t}", "output": f"{t}ค่ะ"} for _, t in PAIRS]
    result, _ = audit_rows(rows)
    assert result.stats["task"]["shape"] == "rewriting"
    assert serious(result) == {}


def test_thai_answers_pasted_in_the_prompt_are_the_error_english_gets(audit_rows: Any) -> None:
    for lang in ("th", "en"):
        rows = [dict(r, instruction=f"{r['instruction']}\nคำตอบ: {r['output']}") if i % 8 == 0 else r
                for i, r in enumerate(_rows(lang))]
        result, _ = audit_rows(rows)
        assert serious(result) == {"ANSWER_IN_PROMPT": "error"}, lang
