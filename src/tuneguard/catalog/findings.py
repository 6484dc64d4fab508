"""What every finding says, English and Thai side by side: KEY -> {"en": ..., "th": ...}.

Keys are CODE.variant (the message) and CODE.variant.rec (the recommendation); the parts a
sentence is built from (the signals of LOW_DIVERSITY, the rule a loss crossed) have their own
keys. The detectors choose a key and give the numbers; these tables make the sentences
(docs/THAI.md: the glossary the Thai follows).
"""

# ruff: noqa: E501 - one sentence per line reads better than a sentence cut in pieces

COMMON: dict[str, dict[str, str]] = {
    "join.and": {"en": " and ", "th": " และ "},
    "join.semi": {"en": "; ", "th": "; "},
    # whole clauses one after another: Thai separates sentences with a space, not a semicolon
    "join.clauses": {"en": "; ", "th": " "},
    "join.comma": {"en": ", ", "th": ", "},
    "join.none": {"en": "", "th": ""},
    # A sentence's closing period: Thai ends a sentence with a space, not a mark.
    "end.period": {"en": ".", "th": ""},
    "task.classification": {"en": "classification", "th": "จัดหมวดหมู่ (classification)"},
    "task.extraction": {"en": "extraction", "th": "ดึงข้อความ (extraction)"},
    "task.rewriting": {"en": "rewriting", "th": "เขียนใหม่ (rewriting)"},
    "task.open": {"en": "open", "th": "คำตอบอิสระ"},
    "seen.after": {"en": "after {examples:,} examples ({passes} passes over the {rows:,} rows)",
                   "th": "หลังจากโมเดลเห็นข้อมูล {examples:,} ตัวอย่าง ({passes} รอบของข้อมูลทั้ง {rows:,} แถว)"},
    "seen.after_one": {
        "en": "after {examples:,} examples ({passes} passes over the {rows:,} rows, which hold one distinct row, seen {exposures} times)",
        "th": "หลังจากโมเดลเห็นข้อมูล {examples:,} ตัวอย่าง ({passes} รอบของข้อมูลทั้ง {rows:,} แถว ซึ่งทุกแถวเหมือนกันหมด: แถวนั้นถูกเห็น {exposures} ครั้ง)"},
    "seen.after_repeats": {
        "en": "after {examples:,} examples ({passes} passes over the {rows:,} rows, which hold {distinct:,} distinct rows: each seen {exposures} times on average)",
        "th": "หลังจากโมเดลเห็นข้อมูล {examples:,} ตัวอย่าง ({passes} รอบของข้อมูลทั้ง {rows:,} แถว ซึ่งมีแถวที่ไม่ซ้ำกัน {distinct:,} แถว: แต่ละแถวถูกเห็นเฉลี่ย {exposures} ครั้ง)"},
    # What the model had seen when a guard finding appeared (tuneguard.fmt.seen_text is the English).
    "seen.units": {"en": "after {examples:,} examples", "th": "หลังจากโมเดลเห็นข้อมูล {examples:,} ตัวอย่าง"},
    "seen.units.passes": {
        "en": "after {examples:,} examples ({passes} passes over the rows)",
        "th": "หลังจากโมเดลเห็นข้อมูล {examples:,} ตัวอย่าง ({passes} รอบของข้อมูลทั้งชุด)"},
    "seen.units.repeats": {
        "en": "after {examples:,} examples ({passes} passes over the rows; each distinct row seen {exposures} times on average)",
        "th": "หลังจากโมเดลเห็นข้อมูล {examples:,} ตัวอย่าง ({passes} รอบของข้อมูลทั้งชุด โดยแต่ละแถวที่ไม่ซ้ำกันถูกเห็นเฉลี่ย {exposures} ครั้ง)"},
    # When a guard finding happened (tuneguard.findings.when_spec): the step where the condition was
    # first seen, with what the model had seen by then, and the step of the log or evaluation that
    # judged it, when that is a later one (an evaluation judges the low loss of earlier steps).
    "when.step": {"en": "step {step}", "th": "step {step}"},
    "when.step_seen": {"en": "step {step}, {seen}", "th": "step {step} {seen}"},
    "when.first": {"en": "first seen at step {at}; judged at step {step}", "th": "พบครั้งแรกที่ step {at} และตัดสินที่ step {step}"},
    "when.first_seen": {
        "en": "first seen at step {at}, {seen}; judged at step {step}",
        "th": "พบครั้งแรกที่ step {at} {seen} และตัดสินที่ step {step}"},
    # A finding in one line (tuneguard.findings.brief_line): an info finding on the console, whose
    # full text (evidence, recommendation) is where `where` says.
    "brief.line": {"en": "{code}: {headline} (full text: {where})", "th": "{code}: {headline} (ข้อความเต็ม: {where})"},
    "brief.line.step": {"en": "{code} at step {step}: {headline} (full text: {where})",
                        "th": "{code} ที่ step {step}: {headline} (ข้อความเต็ม: {where})"},
    "brief.where.run": {"en": "`tuneguard status {run}`, and report.md when the run ends",
                        "th": "`tuneguard status {run}` และ report.md เมื่อการรันจบ"},
    "brief.where.json": {"en": "the same command with --json", "th": "คำสั่งเดิมที่เติม --json"},
}

AUDIT: dict[str, dict[str, str]] = {
    # -- LOW_DIVERSITY ------------------------------------------------------------------
    "LOW_DIVERSITY.signal.unique": {
        "en": "only {unique!p} of responses are unique (< {min!p})",
        "th": "คำตอบที่ไม่ซ้ำกันมีเพียง {unique!p} (< {min!p})"},
    "LOW_DIVERSITY.signal.top": {
        "en": "the {n} most common responses cover {share!p} of rows (> {max!p})",
        "th": "คำตอบที่พบบ่อยที่สุด {n} แบบครอบคลุม {share!p} ของแถว (> {max!p})"},
    "LOW_DIVERSITY.signal.distinct2": {
        "en": "distinct-2 of responses is {d2:.3f} (< {min:g})",
        "th": "ค่า distinct-2 ของคำตอบคือ {d2:.3f} (< {min:g})"},
    "LOW_DIVERSITY.signal.template": {
        "en": "{coverage!p} of response words sit inside 8-word phrases shared by more than {row_share!p} of rows (> {max!p})",
        "th": "{coverage!p} ของคำในคำตอบอยู่ในวลียาว 8 คำที่ซ้ำกันในแถวมากกว่า {row_share!p} ของแถวทั้งหมด (> {max!p})"},
    "LOW_DIVERSITY.templated": {
        "en": "The training responses look templated for this {task} task: {signals}, so once the template is learned the loss says little about the model.",
        "th": "คำตอบในข้อมูลฝึกดูเหมือนมาจากแม่แบบเดียวกัน สำหรับงานแบบ{task}: {signals} เมื่อโมเดลเรียนรู้แม่แบบแล้ว ค่า loss จะบอกอะไรเกี่ยวกับโมเดลได้น้อย"},
    "LOW_DIVERSITY.templated.rec": {
        "en": "Cap rows per template or source, deduplicate repeated responses, and mix in varied data; if the answers really are a fixed set of labels, say so with data.task: classification, and the audit judges the label distribution instead.",
        "th": "จำกัดจำนวนแถวต่อแม่แบบหรือต่อแหล่งข้อมูล ลบคำตอบที่ซ้ำ และเพิ่มข้อมูลที่หลากหลาย ถ้าคำตอบเป็นชุด label ที่ตายตัวจริง ให้ตั้ง data.task: classification แล้วการตรวจจะดูการกระจายของ label แทน"},
    "LOW_DIVERSITY.single_label": {
        "en": "Every one of the {n} training rows has the answer {label!r}: there is nothing to learn but that answer, and the loss will reach zero whatever the input says.",
        "th": "ข้อมูลฝึกทั้ง {n} แถวมีคำตอบเดียวคือ {label!r} โมเดลไม่มีอะไรให้เรียนนอกจากคำตอบนี้ และค่า loss จะลงถึงศูนย์ไม่ว่าอินพุตจะเป็นอะไร"},
    "LOW_DIVERSITY.single_label.rec": {
        "en": "Add rows of the other labels (or check data.output_field: it may name a constant column).",
        "th": "เพิ่มแถวของ label อื่น (หรือตรวจ data.output_field: อาจชี้ไปที่คอลัมน์ที่มีค่าเดียว)"},
    "LOW_DIVERSITY.majority": {
        "en": "The label {label!r} is the answer in {share!p} of {n} training rows (more than {limit!p}): a model that always answers it scores {share!p} and its loss is low without having learned the task.",
        "th": "label {label!r} เป็นคำตอบใน {share!p} ของข้อมูลฝึก {n} แถว (เกิน {limit!p}) โมเดลที่ตอบคำนี้ตลอดจะได้คะแนน {share!p} และค่า loss ต่ำ ทั้งที่ยังไม่ได้เรียนรู้งาน"},
    "LOW_DIVERSITY.majority.rec": {
        "en": "Balance the labels (down-sample the majority label or add rows of the others) and judge the run by per-label accuracy on a clean holdout, not by the loss.",
        "th": "ปรับ label ให้สมดุล (ลดแถวของ label ที่มากเกินหรือเพิ่มแถวของ label อื่น) และวัดผลด้วยความแม่นยำราย label บนชุดทดสอบที่สะอาด ไม่ใช่ด้วยค่า loss"},
    # -- DUPLICATE_EXACT / DUPLICATE_NEAR -----------------------------------------------
    "DUPLICATE_EXACT.copies": {
        "en": "{extra} of {n} training rows ({share!p}) are exact copies of another row (normalised prompt + response) in {groups} group(s); the largest repeats {largest} times, so the model memorises them instead of learning.",
        "th": "ข้อมูลฝึก {extra} จาก {n} แถว ({share!p}) ซ้ำกับแถวอื่นตรงทุกตัวอักษร (เทียบ prompt + response หลัง normalize) รวม {groups} กลุ่ม กลุ่มที่ใหญ่ที่สุดซ้ำกัน {largest} ครั้ง โมเดลจะจำแถวเหล่านี้แทนที่จะเรียนรู้"},
    "DUPLICATE_EXACT.copies.info": {
        "en": "{extra} of {n} training rows ({share!p}) are exact copies of another row (normalised prompt + response) in {groups} group(s); the largest repeats {largest} times: too few to change what the run learns or what its loss says.",
        "th": "ข้อมูลฝึก {extra} จาก {n} แถว ({share!p}) ซ้ำกับแถวอื่นตรงทุกตัวอักษร (เทียบ prompt + response หลัง normalize) รวม {groups} กลุ่ม กลุ่มที่ใหญ่ที่สุดซ้ำกัน {largest} ครั้ง ซึ่งน้อยเกินกว่าจะเปลี่ยนสิ่งที่โมเดลเรียนรู้หรือความหมายของค่า loss"},
    "DUPLICATE_EXACT.copies.rec": {
        "en": "Deduplicate data.train_file (keep one row per normalised prompt + response) before sampling or splitting, then run `tuneguard audit` again; the largest groups are listed in the evidence.",
        "th": "ลบแถวซ้ำใน data.train_file (เก็บไว้แถวเดียวต่อ prompt + response ที่ normalize แล้ว) ก่อนสุ่มหรือแบ่งข้อมูล แล้วรัน `tuneguard audit` อีกครั้ง ดูกลุ่มที่ใหญ่ที่สุดได้ในหลักฐาน"},
    "audit.sampled": {
        "en": " Measured on a sample of {audited!n} of {population!n} training rows (audit.max_rows), where a copy shows only when both of its rows are drawn: about {estimate!p} of all of them, which sets the severity.",
        "th": " วัดจากแถวที่สุ่มมา {audited!n} จาก {population!n} แถวของข้อมูลฝึก (audit.max_rows) ซึ่งจะเห็นสำเนาก็ต่อเมื่อสุ่มได้ทั้งสองแถว คาดว่าข้อมูลฝึกทั้งหมดมีประมาณ {estimate!p} และระดับความรุนแรงตัดสินจากค่านี้"},
    "audit.sampled_leaks": {
        "en": " Compared with a sample of {audited!n} of {population!n} training rows (audit.max_rows), so only that part of the leaks shows: about {estimate!p} against all of them, which sets the severity.",
        "th": " เทียบกับแถวที่สุ่มมา {audited!n} จาก {population!n} แถวของข้อมูลฝึก (audit.max_rows) จึงเห็นแถวที่รั่วเพียงส่วนนั้น คาดว่าเมื่อเทียบกับข้อมูลฝึกทั้งหมดมีประมาณ {estimate!p} และระดับความรุนแรงตัดสินจากค่านี้"},
    "DUPLICATE_NEAR.copies": {
        "en": "{extra} training rows ({share!p}) are near copies (word {ngram}-gram Jaccard >= {threshold}, or a short row one word edit apart) of another row, in {clusters} cluster(s); the largest holds {biggest} distinct rows ({big_share!p} of the data).",
        "th": "ข้อมูลฝึก {extra} แถว ({share!p}) เกือบซ้ำกับแถวอื่น (Jaccard ของ {ngram}-gram ระดับคำ >= {threshold} หรือแถวสั้นที่ต่างกันเพียงหนึ่งคำ) รวม {clusters} กลุ่ม กลุ่มที่ใหญ่ที่สุดมี {biggest} แถวที่ต่างกัน ({big_share!p} ของข้อมูล)"},
    "DUPLICATE_NEAR.copies.rec": {
        "en": "Deduplicate near copies before training: keep one row per cluster (or cap rows per cluster), e.g. with the clusters listed in the evidence; lower audit.near_dup_threshold to see looser matches.",
        "th": "ลบแถวที่เกือบซ้ำก่อนฝึก: เก็บไว้แถวเดียวต่อกลุ่ม (หรือจำกัดจำนวนแถวต่อกลุ่ม) ดูกลุ่มได้ในหลักฐาน ลด audit.near_dup_threshold เพื่อดูแถวที่คล้ายกันน้อยกว่านี้"},
    # -- TRAIN_VAL_LEAKAGE --------------------------------------------------------------
    "split.validation": {"en": "validation", "th": "validation"},
    "split.test": {"en": "test", "th": "test"},
    "TRAIN_VAL_LEAKAGE.part": {
        "en": "{leaked} of {rows} {split} rows ({share!p}: {exact} exact, {near} near)",
        "th": "แถว {split} {leaked} จาก {rows} แถว ({share!p}: ซ้ำทุกตัวอักษร {exact}, เกือบซ้ำ {near})"},
    "TRAIN_VAL_LEAKAGE.error": {
        "en": "{parts} already occur in training, so evaluation on them measures memory, not generalisation (more than {limit!p}: the eval loss is no longer a fair measure).",
        "th": "{parts} มีอยู่แล้วในข้อมูลฝึก การประเมินบนแถวเหล่านี้จึงวัดว่าโมเดลจำได้ ไม่ได้วัดว่าใช้กับข้อมูลใหม่ได้ (เกิน {limit!p}: eval loss เชื่อถือไม่ได้แล้ว)"},
    "TRAIN_VAL_LEAKAGE.warning": {
        "en": "{parts} already occur in training, so evaluation on them measures memory, not generalisation; at most {limit!p} this biases the eval loss only slightly.",
        "th": "{parts} มีอยู่แล้วในข้อมูลฝึก การประเมินบนแถวเหล่านี้จึงวัดว่าโมเดลจำได้ ไม่ได้วัดว่าใช้กับข้อมูลใหม่ได้ แต่สัดส่วนไม่เกิน {limit!p} จึงทำให้ eval loss เพี้ยนเพียงเล็กน้อย"},
    "TRAIN_VAL_LEAKAGE.from_train.rec": {
        "en": "The validation split is drawn from data.train_file, so duplicates in training leak into it: deduplicate data.train_file first (see DUPLICATE_EXACT / DUPLICATE_NEAR), or give a separate, clean data.validation_file.",
        "th": "ชุด validation แบ่งมาจาก data.train_file แถวซ้ำในข้อมูลฝึกจึงรั่วเข้าไป ให้ลบแถวซ้ำใน data.train_file ก่อน (ดู DUPLICATE_EXACT / DUPLICATE_NEAR) หรือใช้ data.validation_file แยกที่สะอาด"},
    "TRAIN_VAL_LEAKAGE.separate.rec": {
        "en": "Remove the listed rows from data.validation_file / data.test_file (or drop their copies from data.train_file); deduplicate the whole pool before splitting, split by cluster or source, and keep an external clean holdout.",
        "th": "ลบแถวที่ระบุออกจาก data.validation_file / data.test_file (หรือลบสำเนาใน data.train_file) ลบแถวซ้ำของข้อมูลทั้งหมดก่อนแบ่ง แบ่งตามกลุ่มหรือแหล่งข้อมูล และเก็บชุดทดสอบภายนอกที่สะอาดไว้"},
    # -- MALFORMED_ROWS -----------------------------------------------------------------
    "MALFORMED_ROWS.one": {"en": "{reason} ({where})", "th": "{reason} ({where})"},
    "MALFORMED_ROWS.more": {
        "en": "{count} more row(s) with {reasons} other reason(s), listed in the evidence",
        "th": "และอีก {count} แถวด้วยเหตุผลอื่นอีก {reasons} แบบ ดูรายการในหลักฐาน"},
    "MALFORMED_ROWS.error": {
        "en": "{n} of {rows} rows ({share!p}) are malformed, more than data.max_malformed_fraction ({max:g}) allows: {most}.",
        "th": "แถว {n} จาก {rows} แถว ({share!p}) มีรูปแบบผิด เกินกว่าที่ data.max_malformed_fraction ({max:g}) ยอมให้: {most}"},
    "MALFORMED_ROWS.error.rec": {
        "en": "Fix or remove the listed rows (file:line). Training refuses to start above data.max_malformed_fraction ({max:g}); --force trains on the other rows.",
        "th": "แก้หรือลบแถวที่ระบุ (file:line) การฝึกจะไม่เริ่มถ้าเกิน data.max_malformed_fraction ({max:g}) ใช้ --force เพื่อฝึกด้วยแถวที่เหลือ"},
    "MALFORMED_ROWS.fields.rec": {
        "en": "No row has the fields of the format the file was read as: map the file's fields with the keys named above (data.instruction_field, data.output_field and the like, or data.format), then run tuneguard audit again; --force cannot help, no row would be left to train on.",
        "th": "ไม่มีแถวไหนมีฟิลด์ตามรูปแบบที่ใช้อ่านไฟล์นี้ ให้จับคู่ฟิลด์ของไฟล์ด้วยคีย์ที่ระบุข้างต้น (data.instruction_field, data.output_field หรือคีย์อื่นในกลุ่มเดียวกัน หรือตั้ง data.format) แล้วรัน tuneguard audit ใหม่ การใช้ --force ไม่ช่วย เพราะจะไม่เหลือแถวให้ฝึก"},
    "MALFORMED_ROWS.warning": {
        "en": "{n} of {rows} rows ({share!p}) are malformed and will be skipped: {most}.",
        "th": "แถว {n} จาก {rows} แถว ({share!p}) มีรูปแบบผิดและจะถูกข้าม: {most}"},
    "MALFORMED_ROWS.warning.rec": {
        "en": "Fix or remove the listed rows (file:line); training skips them while their share stays below data.max_malformed_fraction ({max:g}) and refuses to start above it.",
        "th": "แก้หรือลบแถวที่ระบุ (file:line) การฝึกจะข้ามแถวเหล่านี้ถ้าสัดส่วนยังต่ำกว่า data.max_malformed_fraction ({max:g}) และจะไม่เริ่มถ้าเกิน"},
    # -- ANSWER_IN_PROMPT ---------------------------------------------------------------
    "ANSWER_IN_PROMPT.copied": {
        "en": "In {count} of {n} training rows ({share!p}) at least {ratio!p} of the answer is copied verbatim in the prompt of this {task} task, so the model learns to copy rather than to answer.",
        "th": "ในงานแบบ{task} ข้อมูลฝึก {count} จาก {n} แถว ({share!p}) มีคำตอบอย่างน้อย {ratio!p} อยู่ใน prompt แบบตรงตัว โมเดลจึงเรียนรู้การลอกแทนการตอบ"},
    "ANSWER_IN_PROMPT.copied.rec": {
        "en": "Drop the listed rows or rebuild their prompts without the answer (look for an input field that repeats the output, or a template that includes it). If copying from the input is the task, say so with data.task: extraction (or rewriting).",
        "th": "ลบแถวที่ระบุ หรือสร้าง prompt ใหม่โดยไม่มีคำตอบ (หาฟิลด์อินพุตที่ซ้ำกับเอาต์พุต หรือแม่แบบที่ใส่คำตอบไว้) ถ้างานคือการคัดลอกจากอินพุตจริง ให้ตั้ง data.task: extraction (หรือ rewriting)"},
    "ANSWER_IN_PROMPT.paraphrasing": {
        "en": "In {count} of {n} training rows ({share!p}) at least {ratio!p} of the answer is copied verbatim in the prompt. Most answers ({rewrites!p}) already reuse their prompt's words, as summaries and rewrites do, so these copies may be the task itself rather than a pasted answer: a warning, not an error.",
        "th": "ข้อมูลฝึก {count} จาก {n} แถว ({share!p}) มีคำตอบอย่างน้อย {ratio!p} อยู่ใน prompt แบบตรงตัว แต่คำตอบส่วนใหญ่ ({rewrites!p}) ก็ใช้คำจาก prompt อยู่แล้วแบบที่งานสรุปความหรือเรียบเรียงใหม่ทำกัน แถวเหล่านี้จึงอาจเป็นลักษณะของงานเอง ไม่ใช่คำตอบที่หลุดเข้าไปใน prompt จึงเตือนไว้เท่านั้น ไม่นับเป็นข้อผิดพลาด"},
    "ANSWER_IN_PROMPT.paraphrasing.rec": {
        "en": "If the answers summarise or rewrite their input, say so with data.task: rewriting (this check is then skipped). If not, check the listed rows for an input field or a template that repeats the output, and drop or rebuild them.",
        "th": "ถ้าคำตอบคือการสรุปหรือเรียบเรียงอินพุตใหม่ ให้ตั้ง data.task: rewriting (จะข้ามการตรวจนี้) ถ้าไม่ใช่ ให้ดูแถวที่ระบุว่ามีฟิลด์อินพุตหรือแม่แบบที่ซ้ำกับเอาต์พุตหรือไม่ แล้วลบหรือสร้างแถวนั้นใหม่"},
    # -- labels: PAD_IS_EOS, PAD_IN_LABELS, EOS_MISSING, PROMPT_NOT_MASKED, EMPTY_LABELS --
    "PAD_IS_EOS.masked": {
        "en": "The pad token is the EOS token ({token!r}, id {eos}) and the collator masks padding by id, so {masked} of {labels} EOS labels in {rows} sampled rows are masked: the model never learns to stop, while the loss looks normal.",
        "th": "pad token เป็นตัวเดียวกับ EOS token ({token!r}, id {eos}) และ collator mask padding ตาม id ทำให้ EOS label {masked} จาก {labels} ตัวใน {rows} แถวตัวอย่างถูก mask ไปด้วย โมเดลจึงไม่เคยเรียนรู้ว่าต้องหยุดตรงไหน ทั้งที่ค่า loss ดูปกติ"},
    "PAD_IS_EOS.masked.rec": {
        "en": "Set data.pad_token: auto (a pad token distinct from EOS) and data.collator: tuneguard, which masks padding by attention_mask and keeps the EOS label.",
        "th": "ตั้ง data.pad_token: auto (pad token ที่ไม่ใช่ EOS) และ data.collator: tuneguard ซึ่ง mask padding ตาม attention_mask และเก็บ EOS label ไว้"},
    "PAD_IS_EOS.kept": {
        "en": "The pad token is the EOS token ({token!r}, id {eos}); this collator keeps EOS labels, but any collator that masks padding by token id would hide every EOS.",
        "th": "pad token เป็นตัวเดียวกับ EOS token ({token!r}, id {eos}) collator นี้ยังเก็บ EOS label ไว้ แต่ถ้าใช้ collator ที่ mask padding ตาม token id จะซ่อน EOS ทั้งหมด"},
    "PAD_IS_EOS.kept.rec": {
        "en": "Set data.pad_token: auto so padding and EOS can never be confused.",
        "th": "ตั้ง data.pad_token: auto เพื่อไม่ให้ padding กับ EOS สับสนกันอีก"},
    "PAD_IN_LABELS.supervised": {
        "en": "{positions} padding positions ({share!p} of all positions) carry a real label in {rows} of {checked} sampled rows: the model is trained to predict padding, which makes the loss misleadingly low.",
        "th": "ตำแหน่ง padding {positions} ตำแหน่ง ({share!p} ของทุกตำแหน่ง) มี label จริงใน {rows} จาก {checked} แถวตัวอย่าง โมเดลถูกฝึกให้ทาย padding ทำให้ค่า loss ต่ำเกินจริง"},
    "PAD_IN_LABELS.supervised.rec": {
        "en": "Mask padding in the labels (-100 where attention_mask is 0): use data.collator: tuneguard rather than copying input_ids into labels after padding to max_length.",
        "th": "mask padding ใน labels (-100 ที่ attention_mask เป็น 0) ใช้ data.collator: tuneguard แทนการคัดลอก input_ids ไปเป็น labels หลัง padding ถึง max_length"},
    "EOS_MISSING.masked_why": {
        "en": " (the collator masked them: see PAD_IS_EOS)",
        "th": " (collator mask ไว้: ดู PAD_IS_EOS)"},
    "EOS_MISSING.none": {
        "en": "No EOS token carries a label in {batches} collated batches ({rows} rows){why}: the model never learns to stop and will generate until max_new_tokens.",
        "th": "ไม่มี EOS token ที่มี label เลยใน {batches} batch ({rows} แถว){why} โมเดลจะไม่เรียนรู้ที่จะหยุด และจะสร้างข้อความไปจนถึง max_new_tokens"},
    "EOS_MISSING.some": {
        "en": "{count} of {checked} sampled rows ({share!p}) end without a supervised EOS, so the model learns that answers may run on.",
        "th": "แถวตัวอย่าง {count} จาก {checked} แถว ({share!p}) จบโดยไม่มี EOS ที่มี label โมเดลจึงเรียนรู้ว่าคำตอบยาวต่อไปได้เรื่อย ๆ"},
    "EOS_MISSING.rec": {
        "en": "Append EOS to every response and keep its label: use tuneguard's tokenization with data.pad_token: auto and data.collator: tuneguard.",
        "th": "เติม EOS ท้ายทุกคำตอบและเก็บ label ไว้ ใช้การแปลงข้อความเป็น token ของ tuneguard กับ data.pad_token: auto และ data.collator: tuneguard"},
    "PROMPT_NOT_MASKED.overwritten": {
        "en": "The collator ({collator}) overwrote the response-only labels: prompt tokens carry labels in {rows} of {checked} sampled rows ({share!p} of supervised tokens are prompt), so the model also learns to reproduce the prompt template and the loss mixes template and answers.",
        "th": "collator ({collator}) เขียนทับ labels ที่ควรมีแต่คำตอบ: token ของ prompt มี label ใน {rows} จาก {checked} แถวตัวอย่าง ({share!p} ของ token ที่มี label เป็น prompt) โมเดลจึงเรียนรู้ที่จะสร้างแม่แบบ prompt ซ้ำไปด้วย และค่า loss เป็นค่าปนกันของแม่แบบกับคำตอบ"},
    "PROMPT_NOT_MASKED.overwritten.rec": {
        "en": "Set data.collator: tuneguard (DataCollatorForLanguageModeling rebuilds labels from input_ids and discards the prompt mask) and keep data.train_on_prompt: false.",
        "th": "ตั้ง data.collator: tuneguard (DataCollatorForLanguageModeling สร้าง labels ใหม่จาก input_ids และทิ้ง mask ของ prompt) และคง data.train_on_prompt: false"},
    "PROMPT_NOT_MASKED.share": {
        "en": "Prompt tokens are {share!p} of the supervised tokens ({rows} of {checked} sampled rows supervise their prompt), so the loss mostly measures the template.",
        "th": "token ของ prompt เป็น {share!p} ของ token ที่มี label ({rows} จาก {checked} แถวตัวอย่างมี label ที่ prompt) ค่า loss จึงวัดแม่แบบเป็นส่วนใหญ่"},
    "PROMPT_NOT_MASKED.share.rec": {
        "en": "Set data.train_on_prompt: false to train on the responses only.",
        "th": "ตั้ง data.train_on_prompt: false เพื่อฝึกเฉพาะคำตอบ"},
    "EMPTY_LABELS.rows": {
        "en": "{count} training rows have no supervised token at all: their loss is 0 and drags the reported loss down without teaching anything.",
        "th": "ข้อมูลฝึก {count} แถวไม่มี token ที่มี label เลย ค่า loss ของแถวเหล่านี้เป็น 0 และดึงค่า loss ที่รายงานให้ต่ำลงโดยไม่ได้สอนอะไร"},
    "EMPTY_LABELS.rows.rec": {
        "en": "Drop these rows or raise data.max_length so their answers survive truncation; check that the response field (data.output_field) is not empty.",
        "th": "ลบแถวเหล่านี้ หรือเพิ่ม data.max_length ให้คำตอบไม่ถูกตัด และตรวจว่าฟิลด์คำตอบ (data.output_field) ไม่ว่าง"},
    # -- ANSWER_TRUNCATED ---------------------------------------------------------------
    "ANSWER_TRUNCATED.every": {
        "en": " (every row: none keeps its EOS, so the model never learns to stop)",
        "th": " (ทุกแถว: ไม่มีแถวไหนเหลือ EOS โมเดลจึงไม่เรียนรู้ที่จะหยุด)"},
    "ANSWER_TRUNCATED.answers": {
        "en": "{count} of {n} training rows ({share!p}) lose the end of their answer and its EOS to data.max_length ({max_length}){every}; the model learns answers that stop mid-sentence.",
        "th": "ข้อมูลฝึก {count} จาก {n} แถว ({share!p}) ถูกตัดท้ายคำตอบและ EOS เพราะ data.max_length ({max_length}){every} โมเดลจะเรียนรู้คำตอบที่หยุดกลางประโยค"},
    "ANSWER_TRUNCATED.also_prompts": {
        "en": " Another {count} ({share!p}) keep their answer only because the middle of their prompt is cut.",
        "th": " อีก {count} แถว ({share!p}) เก็บคำตอบไว้ได้เพียงเพราะช่วงกลางของ prompt ถูกตัดออก"},
    "ANSWER_TRUNCATED.texts": {
        "en": "{count} of {n} training texts ({share!p}) are longer than data.max_length ({max_length}) and lose their end and its EOS{every}; the model never trains on the rest.",
        "th": "ข้อความฝึก {count} จาก {n} ข้อความ ({share!p}) ยาวเกิน data.max_length ({max_length}) และถูกตัดท้ายพร้อม EOS{every} โมเดลจะไม่ได้ฝึกกับส่วนที่เหลือ"},
    "ANSWER_TRUNCATED.prompts": {
        "en": "{count} of {n} training rows ({share!p}) have a prompt longer than data.max_length ({max_length}) leaves room for, so its middle is cut; the model learns to answer from text it only partly sees (a summary of a document it never read whole).",
        "th": "ข้อมูลฝึก {count} จาก {n} แถว ({share!p}) มี prompt ยาวเกินที่ data.max_length ({max_length}) รองรับ จึงถูกตัดช่วงกลางออก โมเดลจะเรียนรู้การตอบจากข้อความที่เห็นเพียงบางส่วน (สรุปเอกสารที่ไม่เคยอ่านครบ)"},
    "ANSWER_TRUNCATED.shorten_prompts": {"en": "shorten the longest prompts", "th": "ย่อ prompt ที่ยาวที่สุด"},
    "ANSWER_TRUNCATED.shorten_answers": {"en": "shorten the longest answers", "th": "ย่อคำตอบที่ยาวที่สุด"},
    "ANSWER_TRUNCATED.split_texts": {
        "en": "split long texts into pieces of at most {max_length} tokens",
        "th": "แบ่งข้อความยาวเป็นชิ้นละไม่เกิน {max_length} token"},
    "ANSWER_TRUNCATED.rec": {
        "en": "Raise data.max_length to about {suggest!n} (covers 95% of the truncated rows; stay within the model's context) or {shorten}.",
        "th": "เพิ่ม data.max_length เป็นประมาณ {suggest!n} (ครอบคลุม 95% ของแถวที่ถูกตัด และต้องไม่เกิน context ของโมเดล) หรือ{shorten}"},
    "ANSWER_TRUNCATED.rec_context": {
        "en": "Raise data.max_length to about {suggest!n} (covers 95% of the truncated rows, within the model's context of {context!n}) or {shorten}.",
        "th": "เพิ่ม data.max_length เป็นประมาณ {suggest!n} (ครอบคลุม 95% ของแถวที่ถูกตัด และไม่เกิน context ของโมเดล {context!n}) หรือ{shorten}"},
    "ANSWER_TRUNCATED.beyond_context.rec": {
        "en": "These rows need about {need!n} tokens (95% of them), more than the model's context of {context!n}, so no data.max_length holds them: {shorten}, use a model with a longer context, or drop them (tuneguard fix --truncation drop).",
        "th": "แถวเหล่านี้ต้องใช้ประมาณ {need!n} token (95% ของแถว) มากกว่า context ของโมเดล ({context!n}) จึงไม่มีค่า data.max_length ใดรองรับได้ ให้{shorten} ใช้โมเดลที่มี context ยาวกว่า หรือลบแถวเหล่านี้ (tuneguard fix --truncation drop)"},
    # -- TOKENIZER_MISMATCH -------------------------------------------------------------
    "TOKENIZER_MISMATCH.boundary": {
        "en": "In {count} of {checked} sampled rows ({share!p}) tokenizing the prompt alone is not a prefix of tokenizing prompt + response: the tokens at the boundary merge, so training and generation see the prompt's end differently.",
        "th": "ใน {count} จาก {checked} แถวตัวอย่าง ({share!p}) token ของ prompt อย่างเดียวไม่ตรงกับส่วนต้นของ token ของ prompt + response: token ตรงรอยต่อรวมกัน การฝึกกับการสร้างข้อความจึงเห็นท้าย prompt ต่างกัน"},
    "TOKENIZER_MISMATCH.boundary.rec": {
        "en": "End data.prompt_template and data.prompt_template_with_input with a newline, not a space, and do not start responses with whitespace; check the chat template when data.format is chat.",
        "th": "จบ data.prompt_template และ data.prompt_template_with_input ด้วยการขึ้นบรรทัดใหม่ ไม่ใช่ช่องว่าง และอย่าเริ่มคำตอบด้วยช่องว่าง ถ้า data.format เป็น chat ให้ตรวจ chat template ด้วย"},
}

MEMORISE = {
    "en": "Keep the best checkpoint (eval.load_best_model_at_end: true) and stop near the best step (eval.early_stopping_patience); regularise: fewer epochs, a lower train.learning_rate, lora.dropout 0.05-0.1, train.weight_decay, or more varied data.",
    "th": "เก็บ checkpoint ที่ดีที่สุด (eval.load_best_model_at_end: true) และหยุดใกล้ step ที่ดีที่สุด (eval.early_stopping_patience) เพิ่ม regularization: ลดจำนวน epoch ลด train.learning_rate ใช้ lora.dropout 0.05-0.1 ใช้ train.weight_decay หรือเพิ่มข้อมูลที่หลากหลาย"}

NONFINITE_REC = {
    "en": "{precision} Lower train.learning_rate and keep warmup and train.max_grad_norm clipping. Check the data for rows with no supervised tokens (`tuneguard audit`).",
    "th": "{precision} ลด train.learning_rate และคง warmup กับ gradient clipping ด้วย train.max_grad_norm ตรวจข้อมูลหาแถวที่ไม่มี token ที่มี label (`tuneguard audit`)"}

SUSPECTED = {
    "en": "exact or near-duplicate rows (deduplicate before sampling); templated, low-diversity responses; validation rows leaked from training; pad == eos with a collator that masks padding (EOS never learned) or padding counted in the labels; prompt tokens not masked out of the labels; answers contained in the prompt",
    "th": "แถวซ้ำหรือเกือบซ้ำ (ลบแถวซ้ำก่อนสุ่ม); คำตอบจากแม่แบบที่ไม่หลากหลาย; แถว validation รั่วมาจากข้อมูลฝึก; pad == eos กับ collator ที่ mask padding (โมเดลไม่ได้เรียน EOS) หรือ padding ถูกนับใน labels; token ของ prompt ไม่ถูก mask ใน labels; คำตอบอยู่ใน prompt"}

GUARD: dict[str, dict[str, str]] = {
    # -- any guard whose advice tunes a hyperparameter, when the audit found the data fault behind it (guard/advice.py)
    "guard.data_first": {
        "en": "Fix the data first: the audit found {codes} in the training data, which explains this, and a hyperparameter change would only hide it (see those findings). On clean data, if it persists: {rec}",
        "th": "แก้ข้อมูลก่อน: การตรวจข้อมูลพบ {codes} ในข้อมูลฝึก ซึ่งอธิบายปัญหานี้ได้ และการเปลี่ยน hyperparameter จะแค่ซ่อนปัญหาไว้ (ดูสิ่งที่การตรวจพบเหล่านั้น) ถ้ายังเกิดขึ้นกับข้อมูลที่สะอาดแล้ว: {rec}"},
    # What an error finding of a code will make the run do, as a finding that announces one says it
    # (tuneguard.guard.actions.fault_consequence: guard.actions, policy.rules, guard.severity).
    "guard.then.halt": {"en": "and the run halts", "th": "และการฝึกจะหยุด"},
    "guard.then.warn": {
        "en": "recorded as an error while the run goes on (guard.actions.{code}: warn)",
        "th": "ซึ่งจะถูกบันทึกเป็นข้อผิดพลาดแต่การฝึกจะดำเนินต่อ (guard.actions.{code}: warn)"},
    "guard.then.policy": {
        "en": "and the policy acts on it (policy.rules.{code}: {action})",
        "th": "และ policy จะจัดการ (policy.rules.{code}: {action})"},
    "guard.then.severity": {
        "en": "recorded at the severity guard.severity.{code} sets ({level}), which never halts the run",
        "th": "ซึ่งจะถูกบันทึกตามระดับที่ guard.severity.{code} กำหนด ({level}) และจะไม่หยุดการฝึก"},
    # -- LOSS_COLLAPSE ------------------------------------------------------------------
    "LOSS_COLLAPSE.related.DUPLICATE_EXACT": {"en": "exact duplicates", "th": "แถวซ้ำทุกตัวอักษร"},
    "LOSS_COLLAPSE.related.DUPLICATE_NEAR": {"en": "near-duplicates", "th": "แถวที่เกือบซ้ำ"},
    "LOSS_COLLAPSE.related.LOW_DIVERSITY": {"en": "low-diversity (templated) rows", "th": "แถวที่ไม่หลากหลาย (มาจากแม่แบบ)"},
    "LOSS_COLLAPSE.related.TRAIN_VAL_LEAKAGE": {"en": "validation rows leaked from training", "th": "แถว validation ที่รั่วมาจากข้อมูลฝึก"},
    "LOSS_COLLAPSE.related.PAD_IS_EOS": {"en": "pad == eos (EOS masked out of the labels)", "th": "pad == eos (EOS ถูก mask ออกจาก labels)"},
    "LOSS_COLLAPSE.related.PAD_IN_LABELS": {"en": "padding in the labels", "th": "padding อยู่ใน labels"},
    "LOSS_COLLAPSE.related.PROMPT_NOT_MASKED": {"en": "prompt tokens in the labels", "th": "token ของ prompt อยู่ใน labels"},
    "LOSS_COLLAPSE.related.EMPTY_LABELS": {"en": "rows without supervised tokens", "th": "แถวที่ไม่มี token ที่มี label"},
    "LOSS_COLLAPSE.related.ANSWER_IN_PROMPT": {"en": "answers contained in their prompts", "th": "คำตอบอยู่ใน prompt ของตัวเอง"},
    "LOSS_COLLAPSE.link": {"en": "the audit found {what}: see {code}", "th": "การตรวจข้อมูลพบ {what} (ดู {code})"},
    "LOSS_COLLAPSE.link_share": {"en": "the audit found {share:.0%} {what}: see {code}", "th": "การตรวจข้อมูลพบ {what} คิดเป็น {share:.0%} (ดู {code})"},
    "LOSS_COLLAPSE.suspected": SUSPECTED,
    "LOSS_COLLAPSE.rule.floor": {"en": "below the floor {floor:g}", "th": "ต่ำกว่าเกณฑ์ล่าง {floor:g}"},
    "LOSS_COLLAPSE.rule.ratio": {"en": "below {ratio:.0%} of the initial loss", "th": "ต่ำกว่า {ratio:.0%} ของค่า loss เริ่มต้น"},
    "LOSS_COLLAPSE.change.fell": {"en": "fell from {initial:.4g} to {loss:.4g}", "th": "ลดจาก {initial:.4g} เหลือ {loss:.4g}"},
    "LOSS_COLLAPSE.change.first": {"en": "is already {loss:.4g} at the first step", "th": "เป็น {loss:.4g} ตั้งแต่ step แรก"},
    "LOSS_COLLAPSE.when.seen": {"en": "at step {step}, {seen}", "th": "ที่ step {step} {seen}"},
    "LOSS_COLLAPSE.when.step": {"en": "at step {step}", "th": "ที่ step {step}"},
    "LOSS_COLLAPSE.when.epoch": {"en": "at step {step} (epoch {epoch:.2f})", "th": "ที่ step {step} (epoch {epoch:.2f})"},
    "LOSS_COLLAPSE.meaning.repeats": {
        "en": "the rows repeat, so the model has memorised the copies: the low loss measures memory of repeated rows, not learning.",
        "th": "แถวข้อมูลซ้ำกัน โมเดลจึงจำสำเนาไว้ ค่า loss ที่ต่ำวัดความจำของแถวซ้ำ ไม่ใช่การเรียนรู้"},
    "LOSS_COLLAPSE.meaning.cause": {
        "en": "within the first {passes:g} passes over the rows a loss this low comes from the fault the audit found, not from ordinary learning.",
        "th": "ภายใน {passes:g} รอบแรกของข้อมูล ค่า loss ที่ต่ำขนาดนี้มาจากข้อบกพร่องที่การตรวจพบ ไม่ใช่จากการเรียนรู้ตามปกติ"},
    "LOSS_COLLAPSE.meaning.once": {
        "en": "each distinct row has been seen at most once so far, so a loss this low on rows the model had not trained on means the data or labels are predictable, not ordinary overfitting.",
        "th": "แต่ละแถวที่ไม่ซ้ำกันถูกเห็นไม่เกินหนึ่งครั้ง ค่า loss ที่ต่ำขนาดนี้บนแถวที่โมเดลยังไม่เคยฝึกแปลว่าข้อมูลหรือ label เดาได้ง่าย ไม่ใช่ overfitting ธรรมดา"},
    "LOSS_COLLAPSE.fault": {
        "en": "Training loss {change} ({rule}) {when}, and the audit found the cause ({causes}): {meaning}",
        "th": "ค่า loss การฝึก{change} ({rule}) {when} และการตรวจข้อมูลพบสาเหตุ ({causes}): {meaning}"},
    "LOSS_COLLAPSE.fault.rec": {
        "en": "Fix the data, not the learning rate (a lower one only slows the collapse): {links}.",
        "th": "แก้ข้อมูล ไม่ใช่ learning rate (ลด learning rate แค่ทำให้ loss ดิ่งช้าลง) {links}"},
    "LOSS_COLLAPSE.fault.rec.labels": {
        "en": "Fix how the labels are built, not the learning rate (a lower one only slows the collapse): {links}; the rows themselves need no edit: the data settings those findings name fix it (`tuneguard next` proposes them).",
        "th": "แก้วิธีสร้าง labels ไม่ใช่ learning rate (ลด learning rate แค่ทำให้ loss ดิ่งช้าลง) {links} แถวข้อมูลไม่ต้องแก้ ค่าตั้งในส่วน data ที่สิ่งที่การตรวจพบระบุไว้จะแก้ปัญหานี้ (`tuneguard next` เสนอให้)"},
    "LOSS_COLLAPSE.audit.not_errors": {
        "en": "the audit's findings ({codes}) are not errors",
        "th": "สิ่งที่การตรวจข้อมูลพบ ({codes}) ไม่ถึงระดับข้อผิดพลาด"},
    "LOSS_COLLAPSE.audit.none": {"en": "the audit found no cause", "th": "การตรวจข้อมูลไม่พบสาเหตุ"},
    "LOSS_COLLAPSE.audit.eval_only": {
        "en": "the audit's {codes} concerns the evaluation rows (validation or test rows that repeat training rows), which makes the eval loss unfair but cannot make the training rows predictable",
        "th": "สิ่งที่การตรวจข้อมูลพบ ({codes}) เกี่ยวกับแถวที่ใช้ประเมิน (แถว validation หรือ test ที่ซ้ำกับแถวข้อมูลฝึก) ซึ่งทำให้ eval loss วัดได้ไม่ยุติธรรม แต่ไม่ได้ทำให้แถวข้อมูลฝึกเดาได้ง่าย"},
    "LOSS_COLLAPSE.watching": {
        "en": "Training loss {change} ({rule}) {when}, while each distinct row has been seen at most {exposures:g} time(s), and {audit}: either the task is easy for this model or the training rows are predictable in a way the audit cannot see. The next evaluation tells: an eval loss as low means an easy task; one far above the training loss means a fault, {then}.",
        "th": "ค่า loss การฝึก{change} ({rule}) {when} ขณะที่แต่ละแถวที่ไม่ซ้ำกันถูกเห็นไม่เกิน {exposures:g} ครั้ง และ{audit} แปลว่างานนี้อาจง่ายสำหรับโมเดลนี้ หรือแถวข้อมูลฝึกเดาได้ง่ายในแบบที่การตรวจข้อมูลมองไม่เห็น การประเมินครั้งถัดไปจะบอกได้: ถ้า eval loss ต่ำพอกันแปลว่างานง่าย ถ้าสูงกว่า loss การฝึกมากแปลว่ามีข้อบกพร่อง {then}"},
    "LOSS_COLLAPSE.watching.headline": {
        "en": "Training loss {change} ({rule}) with no fault found yet: the next evaluation tells an easy task from a fault",
        "th": "ค่า loss การฝึก{change} ({rule}) ยังไม่พบข้อบกพร่อง: การประเมินครั้งถัดไปจะบอกว่างานง่ายหรือมีข้อบกพร่อง"},
    "LOSS_COLLAPSE.watching.rec": {
        "en": "Nothing to do yet. If the run has no evaluations (eval.strategy: no), give it some, or compare answers on held-out rows yourself.",
        "th": "ยังไม่ต้องทำอะไร ถ้าการรันไม่มีการประเมิน (eval.strategy: no) ให้เพิ่มการประเมิน หรือเทียบคำตอบบนแถวที่ไม่ได้ใช้ฝึกเอง"},
    "LOSS_COLLAPSE.watching.rec_links": {
        "en": "Nothing to do yet. If the run has no evaluations (eval.strategy: no), give it some, or compare answers on held-out rows yourself. Look at: {links}.",
        "th": "ยังไม่ต้องทำอะไร ถ้าการรันไม่มีการประเมิน (eval.strategy: no) ให้เพิ่มการประเมิน หรือเทียบคำตอบบนแถวที่ไม่ได้ใช้ฝึกเอง ลองดู: {links}"},
    "LOSS_COLLAPSE.seen_suffix": {"en": " ({seen}).", "th": " ({seen})"},
    "LOSS_COLLAPSE.eval_fault": {
        "en": "At step {step} the eval loss {eval_loss:.4g} on rows not seen in training is {ratio:.1f}x the training loss {low:.4g} per token since the previous evaluation (limit {limit:g}x): the training rows are predictable in a way unseen rows are not (repeated or templated training rows): unseen rows are still about as hard as at the start (initial loss {initial:.4g}), so the low loss measures memory, not learning{suffix}",
        "th": "ที่ step {step} eval loss บนแถวที่ไม่ได้ใช้ฝึก ({eval_loss:.4g}) สูงเป็น {ratio:.1f} เท่าของ loss การฝึกเฉลี่ยต่อ token ตั้งแต่การประเมินครั้งก่อน ({low:.4g}) (เกณฑ์ {limit:g} เท่า) แถวข้อมูลฝึกเดาได้ง่ายในแบบที่แถวใหม่ไม่เป็น (แถวซ้ำหรือแถวจากแม่แบบ) ส่วนแถวใหม่ยังยากสำหรับโมเดลพอ ๆ กับตอนเริ่ม (loss เริ่มต้น {initial:.4g}) ค่า loss ที่ต่ำจึงวัดความจำ ไม่ใช่การเรียนรู้{suffix}"},
    "LOSS_COLLAPSE.eval_fault.rec": {
        "en": "Fix the training data: look for rows that repeat in ways exact and near-duplicate detection miss (the same answer under many prompts, a shared template), and check that the validation rows come from the same source and format. {also}Suspected causes: {suspected}.",
        "th": "แก้ข้อมูลฝึก: หาแถวที่ซ้ำในแบบที่การตรวจแถวซ้ำหาไม่เจอ (คำตอบเดียวกันภายใต้หลาย prompt หรือแม่แบบเดียวกัน) และตรวจว่าแถว validation มาจากแหล่งและรูปแบบเดียวกัน {also}สาเหตุที่เป็นไปได้: {suspected}"},
    "LOSS_COLLAPSE.also": {"en": "The audit also found: {links}. ", "th": "ดูเพิ่มเติม: {links} "},
    "LOSS_COLLAPSE.with_codes": {
        "en": "only non-error audit findings ({codes}).", "th": "การตรวจข้อมูลพบเพียงปัญหาที่ไม่ถึงระดับข้อผิดพลาด ({codes})"},
    "LOSS_COLLAPSE.with_clean": {"en": "a clean audit.", "th": "การตรวจข้อมูลไม่พบปัญหา"},
    "LOSS_COLLAPSE.with_leak": {
        "en": "the audit's {codes}: eval rows that repeat training rows flatter the eval loss, so fix that (tuneguard fix) before trusting this verdict.",
        "th": "สิ่งที่การตรวจข้อมูลพบ ({codes}): แถวประเมินที่ซ้ำกับแถวข้อมูลฝึกทำให้ eval loss ดูดีเกินจริง ให้แก้ก่อน (tuneguard fix) แล้วจึงเชื่อผลนี้"},
    "LOSS_COLLAPSE.easy": {
        "en": "The task looks easy for this model, not broken: the training loss fell low ({loss:.4g} at step {loss_step}, {rule}) and the eval loss on rows not seen in training is of the same order ({eval_loss:.4g} at step {step} against {low:.4g} for training since the previous evaluation, within {limit:g}x), with {audit}",
        "th": "งานนี้ดูง่ายสำหรับโมเดลนี้ ไม่ใช่ข้อมูลผิดปกติ: ค่า loss การฝึกลดต่ำ ({loss:.4g} ที่ step {loss_step}, {rule}) และ eval loss บนแถวที่ไม่ได้ใช้ฝึกอยู่ในระดับเดียวกัน ({eval_loss:.4g} ที่ step {step} เทียบกับ loss การฝึกเฉลี่ย {low:.4g} ตั้งแต่การประเมินครั้งก่อน ต่างกันไม่เกิน {limit:g} เท่า) และ{audit}"},
    "LOSS_COLLAPSE.easy.headline": {
        "en": "The task looks easy for this model, not broken: the eval loss on unseen rows ({eval_loss:.4g}) is low too",
        "th": "งานนี้ดูง่ายสำหรับโมเดลนี้ ไม่ใช่ข้อมูลผิดปกติ: eval loss บนแถวที่ไม่ได้ใช้ฝึก ({eval_loss:.4g}) ก็ต่ำเช่นกัน"},
    "LOSS_COLLAPSE.easy.rec": {
        "en": "Judge the run by its answers on held-out rows (eval.qa_probes with expected answers), not by the loss; stop early when the eval loss stops improving (eval.early_stopping_patience) to save compute.",
        "th": "วัดผลการรันจากคำตอบบนแถวที่ไม่ได้ใช้ฝึก (eval.qa_probes ที่กำหนดคำตอบที่ถูกไว้) ไม่ใช่จากค่า loss และหยุดก่อนกำหนดเมื่อ eval loss ไม่ดีขึ้น (eval.early_stopping_patience) เพื่อประหยัดเวลา GPU"},
    # -- OVERFITTING / EVAL_DIVERGENCE / PLATEAU ----------------------------------------
    "OVERFITTING.rising": {
        "en": "eval loss rose at {n} evaluations in a row ({first:.4g} at step {first_step} to {eval_loss:.4g} at step {step}) while the training loss fell ({train_first:.4g} to {train_last:.4g})",
        "th": "eval loss เพิ่มขึ้น {n} ครั้งติดกัน ({first:.4g} ที่ step {first_step} เป็น {eval_loss:.4g} ที่ step {step}) ขณะที่ loss การฝึกลดลง ({train_first:.4g} เป็น {train_last:.4g})"},
    "OVERFITTING.gap": {
        "en": "eval loss {eval_loss:.4g} exceeds the training loss {train:.4g} by {gap:.3g} (more than {limit:g})",
        "th": "eval loss {eval_loss:.4g} สูงกว่า loss การฝึก {train:.4g} อยู่ {gap:.3g} (เกิน {limit:g})"},
    "OVERFITTING.found": {
        "en": "Overfitting at step {step}: {parts}; the model is memorising the training rows.",
        "th": "เกิด overfitting ที่ step {step}: {parts} โมเดลกำลังจำแถวข้อมูลฝึก"},
    # A gap while the eval loss still falls (guard.overfit.OverfittingDetector): no memorising claimed.
    "OVERFITTING.widening": {
        "en": "The gap between the eval and the training loss is growing at step {step}: {parts}; but the eval loss still falls ({since} to {eval_loss:.4g}), so the model is not memorising yet.",
        "th": "ช่องว่างระหว่าง eval loss กับ loss การฝึกกว้างขึ้นที่ step {step}: {parts} แต่ eval loss ยังลดลงอยู่ ({since} เป็น {eval_loss:.4g}) โมเดลจึงยังไม่ได้จำแถวข้อมูลฝึก"},
    "OVERFITTING.widening.rec": {
        "en": "Nothing to do yet: watch the eval loss. If it stops falling while the gap stays, the model starts memorising the training rows and a warning says so; eval.load_best_model_at_end: true keeps the best checkpoint either way.",
        "th": "ยังไม่ต้องทำอะไร ให้เฝ้าดู eval loss ต่อไป ถ้า eval loss หยุดลดขณะที่ช่องว่างยังอยู่ แปลว่าโมเดลเริ่มจำแถวข้อมูลฝึก และจะมีคำเตือนแจ้ง ส่วน eval.load_best_model_at_end: true จะเก็บ checkpoint ที่ดีที่สุดไว้ให้ในทุกกรณี"},
    "OVERFITTING.from_eval": {"en": "from {loss:.4g} at step {step}", "th": "จาก {loss:.4g} ที่ step {step}"},
    "OVERFITTING.from_initial": {"en": "from the first training loss {loss:.4g}", "th": "จาก loss การฝึกแรก {loss:.4g}"},
    "OVERFITTING.found.rec": {
        "en": "The best eval loss so far was {best:.4g} at step {best_step}. {memorise}",
        "th": "eval loss ที่ดีที่สุดจนถึงตอนนี้คือ {best:.4g} ที่ step {best_step} {memorise}"},
    "OVERFITTING.memorise": MEMORISE,
    "EVAL_DIVERGENCE.per_token": {"en": "per token", "th": "ต่อ token"},
    "EVAL_DIVERGENCE.average": {"en": "average", "th": "เฉลี่ย"},
    "EVAL_DIVERGENCE.over": {
        "en": " ({per} over the {steps} steps since step {since})",
        "th": " ({per} ใน {steps} step ตั้งแต่ step {since})"},
    "EVAL_DIVERGENCE.found": {
        "en": "Eval loss {eval_loss:.4g} is {ratio:.2f}x the training loss {train:.4g}{over} at step {step} (limit {limit:g}x): the model does much better on training rows than on validation rows.",
        "th": "eval loss {eval_loss:.4g} สูงเป็น {ratio:.2f} เท่าของ loss การฝึก {train:.4g}{over} ที่ step {step} (เกณฑ์ {limit:g} เท่า) โมเดลทำได้ดีกับแถวข้อมูลฝึกมากกว่าแถว validation มาก"},
    "EVAL_DIVERGENCE.found.rec": {
        "en": "Check that the validation rows come from the same source and format as the training rows (same prompt template, same label masking). If they do, the model memorises: {memorise} A training loss far below the eval loss early in epoch 1 points at duplicated or templated training rows instead (see LOSS_COLLAPSE and the audit).",
        "th": "ตรวจว่าแถว validation มาจากแหล่งและรูปแบบเดียวกับข้อมูลฝึก (prompt template เดียวกัน การ mask label แบบเดียวกัน) ถ้าใช่ แปลว่าโมเดลกำลังจำ: {memorise} ถ้า loss การฝึกต่ำกว่า eval loss มากตั้งแต่ต้น epoch 1 สาเหตุน่าจะเป็นแถวซ้ำหรือแถวจากแม่แบบ (ดู LOSS_COLLAPSE และผลการตรวจข้อมูล)"},
    "EVAL_DIVERGENCE.held": {
        "en": "{found} It held at the previous evaluation too (step {step}: eval loss {eval_loss:.4g} against {train:.4g}), so it is more than the noise of one window of training rows.",
        "th": "{found} ช่องว่างนี้มีอยู่ตั้งแต่การประเมินครั้งก่อนด้วย (step {step}: eval loss {eval_loss:.4g} เทียบกับ {train:.4g}) จึงไม่ใช่แค่ความแปรปรวนของแถวข้อมูลฝึกช่วงเดียว"},
    # Against a validation file of its own, before any training row was seen twice: not memorising.
    "EVAL_DIVERGENCE.first_pass.rec": {
        "en": "No training row had been seen twice yet (the first pass), so this is not memorising: the training rows are easier for the model than the validation rows. Check that data.validation_file comes from the same source and format as the training data (same prompt template, same label masking); if it does, duplicated or templated training rows make them predictable (see LOSS_COLLAPSE and the audit).",
        "th": "ยังไม่มีแถวข้อมูลฝึกแถวไหนถูกเห็นซ้ำ (ยังอยู่ในรอบแรกของข้อมูล) จึงไม่ใช่การจำข้อมูล แต่แถวข้อมูลฝึกง่ายสำหรับโมเดลกว่าแถว validation ให้ตรวจว่า data.validation_file มาจากแหล่งและรูปแบบเดียวกับข้อมูลฝึก (prompt template เดียวกัน การ mask label แบบเดียวกัน) ถ้าใช่ แปลว่าแถวข้อมูลฝึกซ้ำกันหรือมาจากแม่แบบจนโมเดลเดาได้ง่าย (ดู LOSS_COLLAPSE และผลการตรวจข้อมูล)"},
    "PLATEAU.found": {
        "en": "Eval loss has changed by only {rel:.3%} over the last {n} evaluations (steps {first_step}-{step}, {low:.4g} to {high:.4g}).",
        "th": "eval loss เปลี่ยนไปเพียง {rel:.3%} ใน {n} ครั้งล่าสุดของการประเมิน (step {first_step}-{step}, {low:.4g} ถึง {high:.4g})"},
    "PLATEAU.early.rec": {
        "en": "Learning stalled in the first half of the run: check that the learning rate is not too low or already decayed, that the LoRA parameters are trainable and that the labels are not all masked; then raise train.learning_rate.",
        "th": "การเรียนรู้หยุดนิ่งในครึ่งแรกของการรัน ตรวจว่า learning rate ไม่ต่ำเกินไปหรือลดลงไปแล้ว ว่าพารามิเตอร์ LoRA ฝึกได้ และ label ไม่ได้ถูก mask ทั้งหมด จากนั้นเพิ่ม train.learning_rate"},
    "PLATEAU.learned.rec": {
        "en": "The eval loss is already {fall:.0%} below the first training loss ({initial:.4g}): the model has learned and the curve is flat for now, as long runs are at times; nothing to do unless it stays flat to the end (then stop early with eval.early_stopping_patience, or add data).",
        "th": "eval loss ต่ำกว่า training loss แรก ({initial:.4g}) อยู่แล้ว {fall:.0%} โมเดลได้เรียนรู้แล้วและกราฟราบไปชั่วคราว ซึ่งพบได้ในการรันที่ยาว ไม่ต้องทำอะไร เว้นแต่จะราบไปจนจบ (เมื่อนั้นให้หยุดก่อนกำหนดด้วย eval.early_stopping_patience หรือเพิ่มข้อมูล)"},
    "PLATEAU.late.rec": {
        "en": "The model has converged on this data and further steps buy little: stop early (eval.early_stopping_patience) to save compute, or add data.",
        "th": "โมเดลลู่เข้าบนข้อมูลนี้แล้ว ฝึกต่อได้ประโยชน์น้อย ให้หยุดก่อนกำหนด (eval.early_stopping_patience) เพื่อประหยัดเวลา GPU หรือเพิ่มข้อมูล"},
    # -- LOSS_SPIKE / GRAD_NORM_HIGH / NON_FINITE ---------------------------------------
    "LOSS_SPIKE.seen_suffix": {"en": ", {seen}.", "th": " {seen}"},
    "LOSS_SPIKE.found": {
        "en": "Training loss jumped to {loss:.4g} at step {step}, {ratio:.1f}x the median {median:.4g} of the {n} steps before it (limit {limit:g}x) and {jump:.3g} above the highest of their usual range ({high:.4g}, the {quantile:.0%} quantile){spread}{end}",
        "th": "ค่า loss การฝึกพุ่งขึ้นเป็น {loss:.4g} ที่ step {step} คิดเป็น {ratio:.1f} เท่าของค่ามัธยฐาน {median:.4g} ของ {n} step ก่อนหน้า (เกณฑ์ {limit:g} เท่า) และสูงกว่าขอบบนของช่วงปกติ ({high:.4g}, ควอนไทล์ที่ {quantile:.0%}) อยู่ {jump:.3g}{spread}{end}"},
    "LOSS_SPIKE.early": {
        "en": "Training loss jumped to {loss:.4g} at step {step}, {ratio:.1f}x the highest loss {top:.4g} of the {n} step(s) before it (limit {limit:g}x; the first step's, before any training, was {initial:.4g}): in the first steps a loss this far above every step before it is a model made worse than untrained, usually a learning rate far too high, or a garbled batch{end}",
        "th": "ค่า loss การฝึกพุ่งขึ้นเป็น {loss:.4g} ที่ step {step} คิดเป็น {ratio:.1f} เท่าของ loss สูงสุด {top:.4g} ใน {n} step ก่อนหน้า (เกณฑ์ {limit:g} เท่า; loss ที่ step แรกก่อนเริ่มฝึกคือ {initial:.4g}) ในช่วง step แรก ๆ loss ที่สูงกว่าทุก step ก่อนหน้ามากขนาดนี้แปลว่าโมเดลแย่ลงกว่าก่อนฝึก ซึ่งมักเกิดจาก learning rate ที่สูงเกินไปมาก หรือ batch ที่ข้อมูลเสีย{end}"},
    "LOSS_SPIKE.spread_median": {
        "en": ", {z:.1f} times their usual step-to-step spread above their median (limit {limit:g})",
        "th": " และสูงกว่าค่ามัธยฐานนั้นอยู่ {z:.1f} เท่าของความผันผวนปกติระหว่าง step (เกณฑ์ {limit:g} เท่า)"},
    "LOSS_SPIKE.initial": {
        "en": ", {ratio:.1f}x the first step's loss {initial:.4g}, what the data cost before any training (limit {limit:g}x)",
        "th": " และคิดเป็น {ratio:.1f} เท่าของ loss ที่ step แรก ({initial:.4g}) ซึ่งคือ loss ของข้อมูลนี้ก่อนเริ่มฝึก (เกณฑ์ {limit:g} เท่า)"},
    "LOSS_SPIKE.spread": {
        "en": ", {z:.1f} times their usual step-to-step spread above the latest eval loss {centre:.4g} (limit {limit:g})",
        "th": " และสูงกว่า eval loss ล่าสุด ({centre:.4g}) อยู่ {z:.1f} เท่าของความผันผวนปกติระหว่าง step (เกณฑ์ {limit:g} เท่า)"},
    "LOSS_SPIKE.found.rec": {
        "en": "Lower train.learning_rate, keep a warmup (train.warmup_ratio 0.03-0.1) and gradient clipping (train.max_grad_norm 1.0); with fp16 switch to bf16; look for outlier rows (very long, garbled or mislabelled) in the batches around this step.",
        "th": "ลด train.learning_rate คง warmup (train.warmup_ratio 0.03-0.1) และ gradient clipping (train.max_grad_norm 1.0) ถ้าใช้ fp16 ให้เปลี่ยนเป็น bf16 และหาแถวผิดปกติ (ยาวมาก อ่านไม่ออก หรือ label ผิด) ใน batch รอบ ๆ step นี้"},
    "LOSS_SPIKE.found.rec_lr": {
        "en": "{lr} Keep a warmup (train.warmup_ratio 0.03-0.1) and gradient clipping (train.max_grad_norm 1.0); with fp16 switch to bf16; look for outlier rows (very long, garbled or mislabelled) in the batches around this step.",
        "th": "{lr} คง warmup (train.warmup_ratio 0.03-0.1) และ gradient clipping (train.max_grad_norm 1.0) ถ้าใช้ fp16 ให้เปลี่ยนเป็น bf16 และหาแถวผิดปกติ (ยาวมาก อ่านไม่ออก หรือ label ผิด) ใน batch รอบ ๆ step นี้"},
    "guard.lr.diverged": {
        "en": "Set train.learning_rate to {new} (--set train.learning_rate={new}): the loss went above what the data cost before any training ({initial:.4g}), so {lr} is far too high: a tenth of it, at most 1e-3, the rate `tuneguard next` proposes for a run whose loss diverged.",
        "th": "ตั้ง train.learning_rate เป็น {new} (--set train.learning_rate={new}) ค่า loss สูงกว่า loss ของข้อมูลนี้ก่อนเริ่มฝึก ({initial:.4g}) แปลว่า {lr} สูงเกินไปมาก จึงใช้หนึ่งในสิบของค่านี้ ไม่เกิน 1e-3 ซึ่งเป็นค่าที่ `tuneguard next` เสนอให้การรันที่ loss ลู่ออก"},
    "guard.lr.half": {
        "en": "Set train.learning_rate to {new} (--set train.learning_rate={new}): half of {lr}, the rate `tuneguard next` proposes for a run whose loss spiked.",
        "th": "ตั้ง train.learning_rate เป็น {new} (--set train.learning_rate={new}) คือครึ่งหนึ่งของ {lr} ซึ่งเป็นค่าที่ `tuneguard next` เสนอให้การรันที่ loss พุ่ง"},
    "guard.lr.half_scaled": {
        "en": "Set train.learning_rate to {new} (--set train.learning_rate={new}): half of {lr}, the peak the run was on after it lowered train.learning_rate {cfg} to x{factor} (a policy action or set-lr) and the loss still spiked; the rate `tuneguard next` proposes.",
        "th": "ตั้ง train.learning_rate เป็น {new} (--set train.learning_rate={new}) คือครึ่งหนึ่งของ {lr} ซึ่งเป็นค่าสูงสุดที่การรันใช้อยู่หลังจากลด train.learning_rate {cfg} เหลือ x{factor} (โดย policy หรือ set-lr) แล้ว loss ยังพุ่ง เป็นค่าที่ `tuneguard next` เสนอ"},
    "guard.lr.now": {
        "en": " (The Trainer logged learning rate {now} at step {step}: train.learning_rate {cfg}{scaled} at that point of its warmup and decay.)",
        "th": " (Trainer บันทึก learning rate {now} ที่ step {step}: คือ train.learning_rate {cfg}{scaled} ณ จุดนั้นของ warmup และการลดค่า)"},
    "guard.lr.scaled": {"en": " x{factor} (changed during the run)", "th": " x{factor} (ถูกเปลี่ยนระหว่างการรัน)"},
    "LOSS_SPIKE.recovered": {
        "en": "{found} It recovered on its own: at step {back} the loss was {loss:.4g}, back at the level of the steps before it ({level:.4g}) within {n} step(s). A single spike that recovers is a hard batch, not instability: nothing was done.",
        "th": "{found} ค่า loss กลับมาเองแล้ว: ที่ step {back} loss เป็น {loss:.4g} กลับสู่ระดับของ step ก่อนหน้า ({level:.4g}) ภายใน {n} step การพุ่งครั้งเดียวที่กลับมาเองคือ batch ที่ยาก ไม่ใช่การฝึกที่ไม่เสถียร จึงไม่ได้ทำอะไร"},
    "LOSS_SPIKE.recovered.headline": {
        "en": "A loss spike that recovered on its own (back to {loss:.4g} at step {back}, within {n} step(s)): a hard batch, not instability",
        "th": "ค่า loss ที่พุ่งแล้วกลับมาเอง (กลับเป็น {loss:.4g} ที่ step {back} ภายใน {n} step) คือ batch ที่ยาก ไม่ใช่การฝึกที่ไม่เสถียร"},
    "LOSS_SPIKE.recovered.rec": {
        "en": "Nothing to do. Act if spikes repeat, grow or stop recovering: tuneguard then warns and the policy acts.",
        "th": "ไม่ต้องทำอะไร ให้แก้ไขเมื่อ loss พุ่งซ้ำ พุ่งสูงขึ้นเรื่อย ๆ หรือไม่กลับมาเอง เมื่อนั้น tuneguard จะเตือนและ policy จะจัดการ"},
    "LOSS_SPIKE.not_recovered": {
        "en": "{found} It did not recover: {n} steps later, at step {step}, the loss was still above the level of the steps before it ({level:.4g}).",
        "th": "{found} ค่า loss ไม่กลับมา: อีก {n} step ต่อมา ที่ step {step} loss ยังสูงกว่าระดับของ step ก่อนหน้า ({level:.4g})"},
    "LOSS_SPIKE.grew": {
        "en": "{found} It grew: at step {step} the loss climbed above the spike itself.",
        "th": "{found} ค่า loss พุ่งสูงขึ้นอีก: ที่ step {step} loss สูงกว่าตอนที่พุ่งครั้งแรก"},
    "LOSS_SPIKE.run_ended": {
        "en": "{found} The run ended before the loss came back to the level of the steps before it ({level:.4g}).",
        "th": "{found} การฝึกจบก่อนที่ loss จะกลับสู่ระดับของ step ก่อนหน้า ({level:.4g})"},
    "GRAD_NORM_HIGH.found": {
        "en": "Gradient norm {norm:.4g} at step {step} is above {limit:g}: updates this large usually precede loss spikes and NaN.",
        "th": "gradient norm {norm:.4g} ที่ step {step} เกิน {limit:g} การอัปเดตที่ใหญ่ขนาดนี้มักเกิดก่อน loss พุ่งหรือเกิด NaN"},
    "GRAD_NORM_HIGH.found.rec": {
        "en": "Lower train.learning_rate or lengthen the warmup (train.warmup_ratio); keep clipping (train.max_grad_norm 1.0: the logged norm is measured before clipping); with fp16 switch to bf16; check the batch for outlier rows.",
        "th": "ลด train.learning_rate หรือทำ warmup ให้นานขึ้น (train.warmup_ratio) คง gradient clipping (train.max_grad_norm 1.0: ค่า norm ที่บันทึกไว้วัดก่อน clipping) ถ้าใช้ fp16 ให้เปลี่ยนเป็น bf16 และตรวจ batch หาแถวผิดปกติ"},
    "GRAD_NORM_HIGH.found.rec_lr": {
        "en": "{lr} Or lengthen the warmup (train.warmup_ratio); keep clipping (train.max_grad_norm 1.0: the logged norm is measured before clipping); with fp16 switch to bf16; check the batch for outlier rows.",
        "th": "{lr} หรือทำ warmup ให้นานขึ้น (train.warmup_ratio) คง gradient clipping (train.max_grad_norm 1.0: ค่า norm ที่บันทึกไว้วัดก่อน clipping) ถ้าใช้ fp16 ให้เปลี่ยนเป็น bf16 และตรวจ batch หาแถวผิดปกติ"},
    "GRAD_NORM_HIGH.warmup": {
        "en": "Gradient norm {norm:.4g} at step {step} is above {limit:g}, inside the warmup (the first {warmup} steps, the learning rate still near 0), and the loss {loss:.4g} is not above the first step's {initial:.4g}: the first large updates of a fresh adapter, which the warmup is there for.",
        "th": "gradient norm {norm:.4g} ที่ step {step} เกิน {limit:g} แต่อยู่ในช่วง warmup ({warmup} step แรก ซึ่ง learning rate ยังใกล้ 0) และ loss {loss:.4g} ไม่สูงกว่า loss ที่ step แรก ({initial:.4g}) นี่คือการอัปเดตขนาดใหญ่ช่วงแรกของ adapter ใหม่ ซึ่ง warmup มีไว้รองรับ"},
    "GRAD_NORM_HIGH.warmup.headline": {
        "en": "Gradient norm {norm:.4g} above {limit:g} inside the warmup, with the loss not above the first step's: the first large updates of a fresh adapter",
        "th": "gradient norm {norm:.4g} เกิน {limit:g} ในช่วง warmup โดย loss ไม่สูงกว่า step แรก: การอัปเดตขนาดใหญ่ช่วงแรกของ adapter ใหม่"},
    "GRAD_NORM_HIGH.warmup.rec": {
        "en": "Nothing to change: one episode of large gradients is expected in the warmup. tuneguard warns (and names a lower learning rate) if large gradients come again or after the warmup, or with a loss above the first step's.",
        "th": "ไม่ต้องเปลี่ยนอะไร gradient ขนาดใหญ่หนึ่งช่วงเป็นเรื่องปกติในช่วง warmup tuneguard จะเตือน (และเสนอ learning rate ที่ต่ำลง) ถ้า gradient ขนาดใหญ่เกิดขึ้นอีก เกิดหลัง warmup หรือเกิดขณะที่ loss สูงกว่า loss ที่ step แรก"},
    "NON_FINITE.where.step": {"en": "step {step}", "th": "step {step}"},
    "NON_FINITE.where.window": {"en": "step {step} (logged over steps {first}-{step})", "th": "step {step} (บันทึกรวม step {first}-{step})"},
    "NON_FINITE.fp16": {
        "en": "The fp16 loss scaler skipped each of the last {n} optimizer steps (steps {first}-{last}): the gradients overflow at every scale, so the weights are not being updated.",
        "th": "loss scaler ของ fp16 ข้าม optimizer step ทั้ง {n} step ล่าสุด (step {first}-{last}) gradient ล้นค่าไม่ว่าจะลดสเกลเท่าไร น้ำหนักของโมเดลจึงไม่ถูกอัปเดตเลย"},
    "NON_FINITE.zero": {
        "en": "The logged training loss is exactly 0.0 at {where}: the Trainer logs that for a window of only NaN losses when logging_nan_inf_filter is on, or when no label in the window is supervised; a real loss is never exactly zero.",
        "th": "ค่า loss การฝึกที่บันทึกเป็น 0.0 พอดีที่ {where} Trainer บันทึกค่านี้เมื่อทุก loss ในช่วงเป็น NaN และเปิด logging_nan_inf_filter อยู่ หรือเมื่อไม่มี token ที่มี label ในช่วงนั้นเลย loss จริงไม่มีทางเป็นศูนย์พอดี"},
    "NON_FINITE.what.loss": {"en": "training loss {v}", "th": "ค่า loss การฝึก ({v})"},
    "NON_FINITE.what.norm": {"en": "gradient norm {v}", "th": "gradient norm {v}"},
    "NON_FINITE.found": {
        "en": "Non-finite {what} at {where}: the weights updated at this step are probably non-finite too, so training cannot recover on its own.",
        "th": "{what} ไม่เป็นตัวเลขจำกัด ที่ {where} น้ำหนักที่อัปเดตใน step นี้น่าจะกลายเป็น NaN/Inf ไปด้วย การฝึกจึงกลับมาปกติเองไม่ได้"},
    "NON_FINITE.eval": {
        "en": "Non-finite eval loss {v} at step {step}: the model's weights or activations overflow.",
        "th": "eval loss ไม่เป็นตัวเลขจำกัด ({v}) ที่ step {step} น้ำหนักหรือ activation ของโมเดลล้นค่า"},
    "NON_FINITE.rec": NONFINITE_REC,
    "NON_FINITE.precision.fp16": {
        "en": "The run computes in fp16, whose range models pretrained in bf16 overflow: use bf16 where the GPU has it (compute capability 8.0+: A100, H100, L4), else fp32 (--set model.dtype=fp32).",
        "th": "การรันนี้คำนวณด้วย fp16 ซึ่งช่วงค่าแคบจนโมเดลที่ pretrain มาด้วย bf16 ล้นค่าได้ ให้ใช้ bf16 ถ้า GPU รองรับ (compute capability 8.0+: A100, H100, L4) ถ้าไม่รองรับให้ใช้ fp32 (--set model.dtype=fp32)"},
    "NON_FINITE.precision.wide": {
        "en": "The run computes in {dtype}, not fp16, so this is no fp16 overflow and changing model.dtype will not help: the updates grew too large or a row is bad.",
        "th": "การรันนี้คำนวณด้วย {dtype} ไม่ใช่ fp16 ปัญหานี้จึงไม่ใช่การล้นค่าของ fp16 และการเปลี่ยน model.dtype ไม่ช่วย สาเหตุคือการอัปเดตที่ใหญ่เกินไปหรือมีแถวข้อมูลที่เสีย"},
    "NON_FINITE.rec_restart": {
        "en": NONFINITE_REC["en"] + " Start a new run rather than resuming: the training loss had already climbed from {first:.4g} to {before:.4g} before the fault, so the checkpoints saved before it hold a model worse than untrained.",
        "th": NONFINITE_REC["th"] + " ให้เริ่มการรันใหม่แทนการฝึกต่อ เพราะค่า loss การฝึกไต่ขึ้นจาก {first:.4g} เป็น {before:.4g} ก่อนเกิดปัญหาแล้ว checkpoint ที่บันทึกก่อนหน้านั้นจึงเก็บโมเดลที่แย่กว่าตอนยังไม่ได้ฝึก"},
    "NON_FINITE.rec_resume": {
        "en": NONFINITE_REC["en"] + " Resume from {ckpt} (saved before the fault), not from a checkpoint written at or after step {step}.",
        "th": NONFINITE_REC["th"] + " ให้ฝึกต่อจาก {ckpt} (บันทึกก่อนเกิดปัญหา) ไม่ใช่จาก checkpoint ที่บันทึกตั้งแต่ step {step} เป็นต้นไป"},
    # -- EARLY_STOP / QA_DEGRADED -------------------------------------------------------
    "EARLY_STOP.found": {
        "en": "Early stopping at step {step}: {metric} has not improved by more than {threshold:g} for {patience} evaluations; the best was {best:.4g} at step {best_step}.",
        "th": "หยุดก่อนกำหนดที่ step {step}: {metric} ไม่ดีขึ้นเกิน {threshold:g} ติดต่อกัน {patience} ครั้งที่ประเมิน ค่าที่ดีที่สุดคือ {best:.4g} ที่ step {best_step}"},
    "EARLY_STOP.at_step": {"en": "step {step}", "th": "step {step}"},
    "EARLY_STOP.found.rec": {
        "en": "Keep the best checkpoint ({ckpt}): with eval.load_best_model_at_end: true the run ends with it loaded. If this came early in the planned steps, the learning rate may be too high (the eval loss turned up quickly) or the patience too short (raise eval.early_stopping_patience).",
        "th": "เก็บ checkpoint ที่ดีที่สุด ({ckpt}) ถ้าตั้ง eval.load_best_model_at_end: true การรันจะจบพร้อมโหลด checkpoint นี้ ถ้าหยุดเร็วกว่าที่วางแผนไว้มาก learning rate อาจสูงเกินไป (eval loss เพิ่มเร็ว) หรือ patience สั้นเกินไป (เพิ่ม eval.early_stopping_patience)"},
    "QA_DEGRADED.keyword": {
        "en": "the keyword score fell to {score:.0%} from its best {best:.0%} at step {best_step}",
        "th": "คะแนนคำสำคัญลดลงเหลือ {score:.0%} จากค่าดีที่สุด {best:.0%} ที่ step {best_step}"},
    "QA_DEGRADED.eos": {
        "en": "only {share:.0%} of the generations emitted EOS against {best:.0%} at step {best_step} (the model is losing the ability to stop)",
        "th": "มีเพียง {share:.0%} ของข้อความที่สร้างที่จบด้วย EOS เทียบกับ {best:.0%} ที่ step {best_step} (โมเดลเริ่มหยุดเองไม่เป็น)"},
    "QA_DEGRADED.found": {
        "en": "QA probes degraded at step {step}: {parts}.",
        "th": "คำตอบของ QA probe แย่ลงที่ step {step}: {parts}"},
    "QA_DEGRADED.found.rec": {
        "en": "Keep the checkpoint of step {keep} (eval.load_best_model_at_end: true) and stop earlier (eval.early_stopping_patience). A falling keyword score means forgetting or overfitting: lower train.learning_rate or train fewer steps. Generations that stop emitting EOS point at EOS masked out of the labels (pad == eos: data.pad_token: auto) or missing from the data (see the audit).",
        "th": "เก็บ checkpoint ของ step {keep} (eval.load_best_model_at_end: true) และหยุดให้เร็วขึ้น (eval.early_stopping_patience) คะแนนคำสำคัญที่ลดลงแปลว่าโมเดลลืมหรือ overfitting: ลด train.learning_rate หรือฝึกให้น้อย step ลง ถ้าข้อความที่สร้างไม่จบด้วย EOS แปลว่า EOS ถูก mask ใน labels (pad == eos: data.pad_token: auto) หรือไม่มีในข้อมูล (ดูผลการตรวจข้อมูล)"},
    # -- MEMORY_HIGH / THROUGHPUT_DROP --------------------------------------------------
    "MEMORY_HIGH.device": {
        "en": "Accelerator memory at step {step}: {reserved:.1f} of {total:.1f} GB reserved ({share:.0%}, limit {limit:.0%}); a longer batch can run out of memory.",
        "th": "หน่วยความจำ GPU ที่ step {step}: จองไว้ {reserved:.1f} จาก {total:.1f} GB ({share:.0%}, เกณฑ์ {limit:.0%}) batch ที่ยาวกว่านี้อาจทำให้หน่วยความจำไม่พอ"},
    "MEMORY_HIGH.device.rec": {
        "en": "Turn on model.gradient_checkpointing, halve train.batch_size and double train.gradient_accumulation_steps, or lower data.max_length; token_budget batching bounds the tokens per batch.",
        "th": "เปิด model.gradient_checkpointing ลด train.batch_size ลงครึ่งหนึ่งแล้วเพิ่ม train.gradient_accumulation_steps เป็นสองเท่า หรือลด data.max_length การจัด batch แบบ token_budget จำกัดจำนวน token ต่อ batch ได้"},
    "MEMORY_HIGH.host": {
        "en": "Process memory at step {step}: {rss:.1f} of the machine's {total:.1f} GB ({share:.0%}, limit {limit:.0%}); the operating system may kill the run.",
        "th": "หน่วยความจำของโปรเซสที่ step {step}: {rss:.1f} จาก {total:.1f} GB ของเครื่อง ({share:.0%}, เกณฑ์ {limit:.0%}) ระบบปฏิบัติการอาจบังคับปิดโปรเซสนี้"},
    "MEMORY_HIGH.host.rec": {
        "en": "Lower train.dataloader_num_workers and data.num_proc, train on a smaller sample (data.train_samples), or use a machine with more memory.",
        "th": "ลด train.dataloader_num_workers และ data.num_proc ฝึกด้วยข้อมูลที่น้อยลง (data.train_samples) หรือใช้เครื่องที่มีหน่วยความจำมากกว่า"},
    "THROUGHPUT_DROP.found": {
        "en": "Throughput fell to {tps:,.0f} tokens/s at step {step}, {ratio:.0%} of its running median {median:,.0f} (limit {limit:.0%}), for {slow:.1f} s of training.",
        "th": "ความเร็วลดลงเหลือ {tps:,.0f} token/วินาที ที่ step {step} คิดเป็น {ratio:.0%} ของค่ามัธยฐานที่ผ่านมา ({median:,.0f}) (เกณฑ์ {limit:.0%}) เป็นเวลา {slow:.1f} วินาทีของการฝึก"},
    "THROUGHPUT_DROP.recovered": {
        "en": "Throughput fell to {worst:,.0f} tokens/s from step {first}, {ratio:.0%} of its running median {median:,.0f}, for {slow:.1f} s of training, and recovered at step {step}.",
        "th": "ความเร็วลดลงเหลือ {worst:,.0f} token/วินาที ตั้งแต่ step {first} คิดเป็น {ratio:.0%} ของค่ามัธยฐานที่ผ่านมา ({median:,.0f}) เป็นเวลา {slow:.1f} วินาทีของการฝึก แล้วกลับมาปกติที่ step {step}"},
    "THROUGHPUT_DROP.cause.cpu": {
        "en": " Other processes kept {cores:.1f} of the {total} CPU cores busy meanwhile: the likely cause.",
        "th": " ระหว่างนั้นโปรเซสอื่นใช้ CPU ไป {cores:.1f} จาก {total} คอร์ ซึ่งน่าจะเป็นสาเหตุ"},
    "THROUGHPUT_DROP.cpu.rec": {
        "en": "Find the processes sharing the CPU (`top`, or `ps -eo pcpu,args --sort=-pcpu`) and let them finish or move them elsewhere; on a shared machine, train when it is quiet or ask for dedicated cores.",
        "th": "หาโปรเซสที่ใช้ CPU ร่วมอยู่ (`top` หรือ `ps -eo pcpu,args --sort=-pcpu`) แล้วรอให้เสร็จหรือย้ายไปที่อื่น ถ้าเป็นเครื่องที่ใช้ร่วมกัน ให้ฝึกตอนที่เครื่องว่างหรือขอคอร์ที่ใช้เฉพาะ"},
    "THROUGHPUT_DROP.found.rec": {
        "en": "Look for other processes on the accelerator or CPU, thermal throttling, a slow data disk, or memory swapping; padded batching wastes compute on padding (data.batching: token_budget).",
        "th": "หาโปรเซสอื่นที่ใช้ GPU หรือ CPU อยู่ เครื่องร้อนจนลดความเร็ว ดิสก์ข้อมูลช้า หรือการ swap หน่วยความจำ การจัด batch แบบ padding เสียการคำนวณไปกับ padding (data.batching: token_budget)"},
}

POLICY: dict[str, dict[str, str]] = {
    "POLICY_LIMIT.found": {
        "en": "The policy would act a {n}th time ({action} for {code} at step {step}), more than policy.max_actions ({max}): halting instead.",
        "th": "policy จะต้องลงมือเป็นครั้งที่ {n} ({action} สำหรับ {code} ที่ step {step}) เกิน policy.max_actions ({max}) จึงหยุดการฝึกแทน"},
    "POLICY_LIMIT.act": {"en": "{action} for {code} at step {step}", "th": "{action} สำหรับ {code} ที่ step {step}"},
    "POLICY_LIMIT.none": {"en": "none", "th": "ไม่มี"},
    "POLICY_LIMIT.found.rec": {
        "en": "Repeated interventions ({acts}) mean the run does not settle: lower train.learning_rate, look at the data around those steps, or raise policy.max_actions.",
        "th": "การแทรกแซงซ้ำหลายครั้ง ({acts}) แปลว่าการฝึกไม่นิ่ง ให้ลด train.learning_rate ดูข้อมูลรอบ ๆ step เหล่านั้น หรือเพิ่ม policy.max_actions"},
    "reason.rule": {"en": "policy.rules.{code}: {action}", "th": "policy.rules.{code}: {action}"},
    "reason.again": {
        "en": "{code} again after {n} {action}(s) (times: {times}); then: {then}",
        "th": "พบ {code} อีกครั้งหลัง {action} ไปแล้ว {n} ครั้ง (ตั้งไว้ times: {times}, then: {then})"},
    "reason.limit": {
        "en": "{action} for {code} would be automatic action {n}, more than policy.max_actions ({max})",
        "th": "{action} สำหรับ {code} จะเป็นการลงมืออัตโนมัติครั้งที่ {n} เกิน policy.max_actions ({max})"},
    "reason.no_scale": {
        "en": "scale_lr x{factor:g} is not possible: the learning rate is at {clamped}",
        "th": "คูณ learning rate ด้วย {factor:g} ไม่ได้ เพราะ learning rate อยู่ที่ {clamped} แล้ว"},
    "action.prefix": {"en": "Policy action: {message}", "th": "policy ลงมือ: {message}"},
    "action.nothing": {
        "en": "Nothing to do now; `tuneguard status` lists every action.",
        "th": "ตอนนี้ยังไม่ต้องทำอะไร ดูทุกการลงมือได้ด้วย `tuneguard status`"},
    "action.checkpoint": {"en": "Saving a checkpoint at step {step} ({code}).", "th": "บันทึก checkpoint ที่ step {step} ({code})"},
    "action.halt": {"en": "Halting at step {step} ({reason}).", "th": "หยุดการฝึกที่ step {step} ({reason})"},
    "action.halt_best": {
        "en": "Halting at step {step} ({reason}). Best checkpoint: {best} (eval loss {loss:.4g}).",
        "th": "หยุดการฝึกที่ step {step} ({reason}) checkpoint ที่ดีที่สุด: {best} (eval loss {loss:.4g})"},
    "action.scale_lr": {
        "en": "Learning rate x{factor:g} from step {next} ({lr_from:.3g} -> {lr_to:.3g}{clamped}) after {code}.",
        "th": "คูณ learning rate ด้วย {factor:g} ตั้งแต่ step {next} ({lr_from:.3g} -> {lr_to:.3g}{clamped}) หลังพบ {code}"},
    "action.clamped": {"en": ", clamped to {v}", "th": ", จำกัดไว้ที่ {v}"},
    "action.rollback_impossible": {
        "en": "{code} at step {step}: no rollback possible, since {note}; warning only.",
        "th": "{code} ที่ step {step}: ย้อนกลับไม่ได้ เพราะ{note} จึงแค่เตือน"},
    # The logs that showed the finding began at `before` (a loss logged every N steps is the mean of N).
    "action.no_checkpoint_before": {
        "en": "the logs that showed {code} at step {seen} began at step {before}, and no complete checkpoint precedes it (complete checkpoints: {have})",
        "th": "บันทึกที่แสดง {code} ที่ step {seen} เริ่มที่ step {before} และไม่มี checkpoint ที่สมบูรณ์ก่อนหน้านั้น (checkpoint ที่สมบูรณ์: {have})"},
    "action.checkpoints_at": {"en": "steps {steps}", "th": "step {steps}"},
    "action.checkpoints_none": {"en": "none yet", "th": "ยังไม่มี"},
    "action.rollback": {
        "en": "Rolling back from step {step} to {ckpt}{skip}{lr}.",
        "th": "ย้อนกลับจาก step {step} ไปที่ {ckpt}{skip}{lr}"},
    "action.rollback_skip": {
        "en": ", skipping the batches of {word} {steps}",
        "th": " และข้าม batch ของ {word} {steps}"},
    "word.step": {"en": "step", "th": "step"},
    "word.steps": {"en": "steps", "th": "step"},
    "action.rollback_lr": {
        "en": ", learning rate x{factor:g} ({lr_from:.3g} -> {lr_to:.3g})",
        "th": " และคูณ learning rate ด้วย {factor:g} ({lr_from:.3g} -> {lr_to:.3g})"},
    "action.rollback_cancelled": {
        "en": "Rollback to {ckpt} cancelled: the run is {state}.",
        "th": "ยกเลิกการย้อนกลับไปที่ {ckpt} เพราะการรันอยู่ในสถานะ {state}"},
    "action.set_lr": {
        "en": "Learning rate set to {lr_to:.3g} at step {step} by {who} (asked {req}){note}.",
        "th": "{who} ตั้ง learning rate เป็น {lr_to:.3g} ที่ step {step} (ขอ {req}){note}"},
}
