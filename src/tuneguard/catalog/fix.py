"""fix-report.md (`tuneguard fix`), English and Thai side by side: its headings, table heads,
the line per audit finding, the notes on decisions and the commands that follow. The
report is written in the config's report language (report.language, else notify.language);
the terminal lines of `tuneguard fix` are in catalog/cli.py."""

# ruff: noqa: E501 - one sentence per line reads better than a sentence cut in pieces

_FIX: dict[str, dict[str, str]] = {
    "title": {"en": "# Data fix: `{source}`", "th": "# การแก้ข้อมูล: `{source}`"},
    "row": {"en": "{n} row", "th": "{n} แถว"},
    "rows": {"en": "{n} rows", "th": "{n} แถว"},
    "nothing": {
        "en": "Nothing needed fixing: the copies are identical to the originals.",
        "th": "ไม่มีอะไรต้องแก้: สำเนาเหมือนไฟล์ต้นฉบับทุกประการ"},
    "no_rows": {
        "en": "No row needed removing: the copies are identical to the originals.",
        "th": "ไม่มีแถวที่ต้องลบ: สำเนาเหมือนไฟล์ต้นฉบับทุกประการ"},
    "removed": {"en": "Removed {removed} of {total} ({codes}).", "th": "ลบไป {removed} แถว จากทั้งหมด {total} ({codes})"},
    "untouched": {
        "en": "The original files are untouched. `config.yaml` here is `{source}` with its data files pointing at the copies below.",
        "th": "ไฟล์ต้นฉบับไม่ถูกแก้ไข `config.yaml` ในโฟลเดอร์นี้คือ `{source}` ที่เปลี่ยนไฟล์ข้อมูลให้ชี้ไปที่สำเนาด้านล่าง"},
    "files_cols": {
        "en": "| role | original | copy | rows before | rows after | removed |",
        "th": "| ไฟล์ | ต้นฉบับ | สำเนา | แถวก่อนแก้ | แถวหลังแก้ | ลบไป |"},
    "role.train": {"en": "train", "th": "ข้อมูลฝึก"},
    "role.validation": {"en": "validation", "th": "validation"},
    "role.test": {"en": "test", "th": "test"},
    "not_written": {"en": "(not written)", "th": "(ไม่ได้เขียนสำเนา)"},
    "h.found": {"en": "## What the audit found", "th": "## สิ่งที่การตรวจข้อมูลพบ"},
    "no_findings": {"en": "No findings: the data passed every check.", "th": "ไม่พบปัญหา: ข้อมูลผ่านการตรวจทุกข้อ"},
    # one line per finding of the audit: what fix did about it
    "head": {"en": "- **{code}** ({severity}): ", "th": "- **{code}** ({severity}): "},
    "exact": {
        "en": "{rows} removed in {groups} group(s); in each group the first row in file order is kept.",
        "th": "ลบ {rows} จาก {groups} กลุ่ม แต่ละกลุ่มเก็บแถวแรกตามลำดับในไฟล์ไว้"},
    "near": {
        "en": "{rows} removed in {clusters} cluster(s); in each cluster the text that comes first in the file is kept.",
        "th": "ลบ {rows} จาก {clusters} กลุ่ม แต่ละกลุ่มเก็บข้อความที่มาก่อนในไฟล์ไว้"},
    "leaked_one": {
        "en": "{n} validation/test row that occur in training removed from their file; training keeps its rows.",
        "th": "ลบแถว validation/test {n} แถวที่มีอยู่ในข้อมูลฝึกด้วยออกจากไฟล์ของชุดนั้น ส่วนข้อมูลฝึกยังคงครบทุกแถว"},
    "leaked": {
        "en": "{n} validation/test rows that occur in training removed from their file; training keeps its rows.",
        "th": "ลบแถว validation/test {n} แถวที่มีอยู่ในข้อมูลฝึกด้วยออกจากไฟล์ของชุดนั้น ส่วนข้อมูลฝึกยังคงครบทุกแถว"},
    "leak_from_train": {
        "en": "fixed by deduplicating `data.train_file`, which validation is drawn from.",
        "th": "แก้แล้วด้วยการลบแถวซ้ำใน `data.train_file` ซึ่งเป็นไฟล์ที่ชุด validation แบ่งออกมา"},
    "malformed": {"en": "{rows} removed.", "th": "ลบ {rows}"},
    "truncated_removed": {
        "en": "{rows} whose answer does not fit `data.max_length` removed.",
        "th": "ลบ {rows}ที่คำตอบยาวเกิน `data.max_length`"},
    "truncated_kept": {
        "en": "{rows} listed below, kept: pass `--truncation drop` to remove them, or raise `data.max_length`{raise_to}.",
        "th": "เก็บ {rows}ที่ระบุด้านล่างไว้: ใช้ `--truncation drop` เพื่อลบ หรือเพิ่ม `data.max_length`{raise_to}"},
    "truncated_prompts": {
        "en": "no row's answer is cut, only prompts: no row removed; raise `data.max_length`{raise_to} or shorten the prompts.",
        "th": "ไม่มีแถวที่คำตอบถูกตัด มีแต่ prompt ที่ถูกตัด จึงไม่ได้ลบแถวใด ให้เพิ่ม `data.max_length`{raise_to} หรือทำให้ prompt สั้นลง"},
    "truncated_kept_context": {
        "en": "{rows} listed below, kept: they need more tokens than the model's context ({context}), so no `data.max_length` holds them: pass `--truncation drop` to remove them, or shorten or split them.",
        "th": "เก็บ {rows}ที่ระบุด้านล่างไว้: แถวเหล่านี้ต้องใช้ token มากกว่า context ของโมเดล ({context}) จึงไม่มีค่า `data.max_length` ใดรองรับได้ ใช้ `--truncation drop` เพื่อลบ หรือย่อหรือแบ่งแถวเหล่านั้น"},
    "truncated_prompts_context": {
        "en": "no row's answer is cut, only prompts: no row removed; they need more tokens than the model's context ({context}), so shorten or split the prompts.",
        "th": "ไม่มีแถวที่คำตอบถูกตัด มีแต่ prompt ที่ถูกตัด จึงไม่ได้ลบแถวใด แถวเหล่านี้ต้องใช้ token มากกว่า context ของโมเดล ({context}) ให้ย่อหรือแบ่ง prompt"},
    "raise_to": {"en": " (the audit suggests about {n})", "th": " (การตรวจข้อมูลแนะนำประมาณ {n})"},
    "not_changed_why": {"en": "not changed: {why}.", "th": "ไม่ได้แก้: {why}"},
    "not_changed_info": {
        "en": "not changed (info is a fact, not a fault).",
        "th": "ไม่ได้แก้ (ระดับข้อมูลเป็นเพียงข้อเท็จจริง ไม่ใช่ข้อบกพร่อง)"},
    "not_changed": {"en": "not changed.", "th": "ไม่ได้แก้"},
    # why a fault is not fixed by removing rows (tuneguard.fix.plan.NOT_ROWS)
    "left.LOW_DIVERSITY": {
        "en": "templated rows need rewriting or more varied data, not removal",
        "th": "แถวจากแม่แบบต้องเขียนใหม่หรือเพิ่มข้อมูลที่หลากหลาย ไม่ใช่ลบทิ้ง"},
    "left.ANSWER_IN_PROMPT": {
        "en": "rewrite the prompts that contain their answer, or, when copying from the input is the task (extraction, a summary, a rewrite), say so with `data.task: extraction` or `data.task: rewriting`",
        "th": "ต้องเขียน prompt ที่มีคำตอบอยู่ในตัวใหม่ หรือถ้างานคือการคัดลอกจากอินพุตจริง (ดึงข้อความ สรุปความ เรียบเรียงใหม่) ให้ตั้ง `data.task: extraction` หรือ `data.task: rewriting`"},
    "left.PAD_IS_EOS": {
        "en": "a config change (`data.pad_token: auto`): `tuneguard next` or the report proposes it",
        "th": "ต้องเปลี่ยน config (`data.pad_token: auto`) ซึ่ง `tuneguard next` หรือรายงานเสนอให้แล้ว"},
    "left.PAD_IN_LABELS": {
        "en": "a config change (`data.collator: tuneguard`): `tuneguard next` or the report proposes it",
        "th": "ต้องเปลี่ยน config (`data.collator: tuneguard`) ซึ่ง `tuneguard next` หรือรายงานเสนอให้แล้ว"},
    "left.EOS_MISSING": {
        "en": "a config change (`data.pad_token`, `data.collator`): `tuneguard next` or the report proposes it",
        "th": "ต้องเปลี่ยน config (`data.pad_token`, `data.collator`) ซึ่ง `tuneguard next` หรือรายงานเสนอให้แล้ว"},
    "left.PROMPT_NOT_MASKED": {
        "en": "a config change (`data.train_on_prompt: false`, `data.collator: tuneguard`): `tuneguard next` or the report proposes it",
        "th": "ต้องเปลี่ยน config (`data.train_on_prompt: false`, `data.collator: tuneguard`) ซึ่ง `tuneguard next` หรือรายงานเสนอให้แล้ว"},
    "left.TOKENIZER_MISMATCH": {
        "en": "end the prompt templates with a newline, or use the model's own tokenizer",
        "th": "ให้จบ prompt template ด้วยการขึ้นบรรทัดใหม่ หรือใช้ tokenizer ของโมเดลเอง"},
    # notes on decisions (the plan's and the fixed config's)
    "note.leak_split": {
        "en": "Validation is drawn from `data.train_file` (`data.test_size`), so rows leaked into it are duplicates within that file: the file is deduplicated before the split {which}.",
        "th": "ชุด validation แบ่งมาจาก `data.train_file` (`data.test_size`) แถวที่รั่วเข้าไปจึงคือแถวซ้ำภายในไฟล์นั้นเอง: ไฟล์นี้ถูกลบแถวซ้ำก่อนแบ่ง {which}"},
    "note.exact_near": {"en": "(exact and near copies)", "th": "(ทั้งสำเนาตรงทุกตัวอักษรและสำเนาที่เกือบซ้ำ)"},
    "note.exact": {"en": "(exact copies)", "th": "(สำเนาตรงทุกตัวอักษร)"},
    "note.empty": {"en": "`{key}`: {why}.", "th": "`{key}`: {why}"},
    "empty.validation": {
        "en": "every row was removed, so the fixed config draws validation from the training file (`data.test_size`)",
        "th": "ทุกแถวถูกลบ config ที่แก้แล้วจึงแบ่งชุด validation ออกจากไฟล์ข้อมูลฝึกแทน (`data.test_size`)"},
    "empty.test": {"en": "every row was removed, so there is no test set", "th": "ทุกแถวถูกลบ จึงไม่มีชุด test"},
    "resplit.validation": {
        "en": "{leaked} of its {records} rows repeated training rows, and the {kept} left are fewer than a split of the cleaned training file holds ({split} rows at `data.test_size` {size:g}), so the fixed config draws validation from the training file instead: rows the model does not train on, without the copies",
        "th": "{leaked} จาก {records} แถวซ้ำกับแถวข้อมูลฝึก และ {kept} แถวที่เหลือน้อยกว่าชุดที่แบ่งจากไฟล์ข้อมูลฝึกที่แก้แล้ว ({split} แถว ที่ `data.test_size` {size:g}) config ที่แก้แล้วจึงแบ่งชุด validation ออกจากไฟล์ข้อมูลฝึกแทน: เป็นแถวที่โมเดลไม่ได้ใช้ฝึก และไม่มีแถวที่ซ้ำ"},
    "setting": {"en": "`{key}: {value}`", "th": "`{key}: {value}`"},
    "note.sets": {
        "en": "{codes}: the data files need no change for this; the fixed config sets {settings}.",
        "th": "{codes}: ไฟล์ข้อมูลไม่ต้องแก้สำหรับเรื่องนี้ config ที่แก้แล้วตั้งค่า {settings}"},
    "note.secrets": {
        "en": "Secrets (`notify.urls`, `model.hub_token`) are redacted in `config.yaml`: set them again with `--set`, or keep them in an environment variable (`${{VAR}}`).",
        "th": "ข้อมูลลับ (`notify.urls`, `model.hub_token`) ถูกซ่อนไว้ใน `config.yaml` ให้ตั้งใหม่ด้วย `--set` หรือเก็บไว้ในตัวแปรสภาพแวดล้อม (`${{VAR}}`)"},
    # the tables of removed rows
    "h.exact": {"en": "## Exact duplicates", "th": "## แถวซ้ำทุกตัวอักษร"},
    "h.near": {"en": "## Near duplicates", "th": "## แถวที่เกือบซ้ำ"},
    "groups_cols": {"en": "| kept | removed ({what}) |", "th": "| เก็บไว้ | ลบ ({what}) |"},
    "exact_what": {"en": "exact copies of the kept row", "th": "สำเนาตรงทุกตัวอักษรของแถวที่เก็บไว้"},
    "near_what": {"en": "near copies of the kept row", "th": "สำเนาที่เกือบเหมือนแถวที่เก็บไว้"},
    "h.leaked": {"en": "## Validation and test rows that occur in training", "th": "## แถว validation และ test ที่มีอยู่ในข้อมูลฝึก"},
    "leaked_cols": {"en": "| removed | occurs in training as | match |", "th": "| ลบ | พบในข้อมูลฝึกที่ | ตรงกันแบบ |"},
    "match.exact": {"en": "exact", "th": "ตรงทุกตัวอักษร"},
    "match.near": {"en": "near", "th": "เกือบซ้ำ"},
    "h.malformed": {"en": "## Malformed rows", "th": "## แถวที่รูปแบบผิด"},
    "malformed_cols": {"en": "| removed | reason |", "th": "| ลบ | สาเหตุ |"},
    "h.truncated": {
        "en": "## Answers that do not fit `data.max_length` ({n} tokens): {state}",
        "th": "## คำตอบที่ยาวเกิน `data.max_length` ({n} token): {state}"},
    "truncated.removed": {"en": "removed", "th": "ลบแล้ว"},
    "truncated.kept": {"en": "kept (`--truncation drop` removes them)", "th": "เก็บไว้ (`--truncation drop` จะลบแถวเหล่านี้)"},
    # the audit of the fixed data
    "h.after": {"en": "## Audit of the fixed data", "th": "## ผลการตรวจข้อมูลหลังแก้"},
    "no_longer": {"en": "No longer found: {codes}.", "th": "ไม่พบอีกแล้ว: {codes}"},
    "still": {"en": "- still found: **{code}** ({severity}): {message}", "th": "- ยังพบอยู่: **{code}** ({severity}): {message}"},
    "also": {"en": "- also found: **{code}** ({severity}): {message}", "th": "- พบด้วย: **{code}** ({severity}): {message}"},
    # the comments that head the fixed config.yaml (its change lines are tuneguard.config.diff's, next.yaml.change)
    "cfg.head": {
        "en": "# Written by `tuneguard fix` from {source}: the same config, with its data files replaced\n# by the cleaned copies in this folder (fix-report.md lists every removed row and why).",
        "th": "# เขียนโดย `tuneguard fix` จาก {source}: เป็น config เดิมที่เปลี่ยนไฟล์ข้อมูลเป็นสำเนาที่แก้แล้ว\n# ในโฟลเดอร์นี้ (fix-report.md แสดงทุกแถวที่ลบพร้อมเหตุผล)"},
    "cfg.removed": {"en": "{rows} removed ({codes})", "th": "ลบ {rows} ({codes})"},
    "cfg.identical": {"en": "an identical copy (nothing to remove)", "th": "สำเนาที่เหมือนต้นฉบับทุกประการ (ไม่มีอะไรต้องลบ)"},
    "cfg.was": {"en": "{what}; was {was}", "th": "{what} เดิมคือ {was}"},
    # what to run next
    "h.next": {"en": "## Next", "th": "## ขั้นตอนถัดไป"},
    "next.run": {
        "en": "the next run, on the cleaned data, with the report's other recommendations",
        "th": "การรันถัดไปด้วยข้อมูลที่แก้แล้ว พร้อมคำแนะนำอื่นจากรายงาน"},
    "next.run_same": {
        "en": "the next run, with the report's recommendations (the data files need no change)",
        "th": "การรันถัดไปตามคำแนะนำในรายงาน (ไฟล์ข้อมูลไม่ต้องแก้)"},
    "config_only": {
        "en": "The data files need no change: {codes} are fixed in the config's data section, which `tuneguard next` changes.",
        "th": "ไฟล์ข้อมูลไม่ต้องแก้: {codes} แก้ได้ด้วยค่าตั้งในส่วน data ของ config ซึ่ง `tuneguard next` เปลี่ยนให้"},
    "next.audit": {"en": "check the cleaned data", "th": "ตรวจข้อมูลที่แก้แล้ว"},
    "next.train": {"en": "train on it", "th": "ฝึกด้วยข้อมูลนี้"},
}
# The fix report's keys, namespaced ("fix.h.found").
FIX: dict[str, dict[str, str]] = {f"fix.{k}": v for k, v in _FIX.items()}
