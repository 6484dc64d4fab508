"""The terminal lines of the commands that concern one run, English and Thai side by side:
`tuneguard next` (its lines, its refusals of --out, and the comments of the next config it
writes), `tuneguard fix` (its summary lines), `tuneguard report` (where it wrote what) and
`tuneguard status` (its lines and headings), `tuneguard compare` (its last line),
`tuneguard notify-test` (its success line, in --language), `tuneguard audit` (its summary
lines and why it judged the data as the task it did), `tuneguard train` (its own lines:
the model banner, the progress lines, the diagnosis, the report and the final summary),
`tuneguard watch`, `config diff`, `init`, `plan` and the run tools (`generate`, `chat`,
`evaluate`, `export`), and the errors that know a run's language. Each is said in the run's
(the config's) language, like the run's report."""

# ruff: noqa: E501 - one sentence per line reads better than a sentence cut in pieces

_NEXT: dict[str, dict[str, str]] = {
    "starting_from": {"en": "Starting from {path}", "th": "เริ่มจาก {path}"},
    "starting_from_fix": {
        "en": "Starting from {path} (written by tuneguard fix for this run's data).",
        "th": "เริ่มจาก {path} (config ที่ tuneguard fix เขียนไว้สำหรับข้อมูลของการรันนี้)"},
    "as_in": {"en": "as in {path}", "th": "ตามที่ตั้งไว้ใน {path}"},
    "set_with_set": {"en": "set with --set", "th": "ตั้งด้วย --set"},
    "nothing": {
        "en": "Nothing in the config calls for a change: the next run would repeat this one.",
        "th": "ไม่มีค่าใดใน config ที่ต้องเปลี่ยน: การรันถัดไปจะซ้ำกับการรันนี้"},
    "act_first": {"en": " Act on the points above first.", "th": " ให้ทำตามข้อข้างบนก่อน"},
    "train_not_started": {
        "en": "--train: not started, since it would repeat this run; change something with --set to train",
        "th": "--train: ไม่ได้เริ่มฝึก เพราะจะซ้ำกับการรันนี้ ให้เปลี่ยนค่าด้วย --set ก่อนจึงจะฝึกได้"},
    "train_it": {"en": "train it: {command}", "th": "เริ่มฝึก: {command}"},
    "restored": {
        "en": "{keys}: taken from {config}, as {run_dir} was started (kept out of {target})",
        "th": "{keys}: ใช้ค่าจาก {config} แบบเดียวกับตอนเริ่ม {run_dir} (ไม่ได้เขียนลงใน {target})"},
    "training": {"en": "training the next run in {run_dir}", "th": "กำลังฝึกการรันถัดไปใน {run_dir}"},
    "compare": {"en": "compare the two runs: {command}", "th": "เปรียบเทียบสองการรัน: {command}"},
    # the data must be fixed first
    "fix_first": {"en": "Fix the data first", "th": "แก้ข้อมูลก่อน"},
    "fix_first_why": {
        "en": " ({codes}): changing hyperparameters {why}. Run:",
        "th": " ({codes}): การเปลี่ยน hyperparameter {why} ให้รัน:"},
    "why.leak": {
        "en": "cannot be judged while the validation rows repeat training rows (the eval loss measures memory)",
        "th": "จะวัดผลไม่ได้ ตราบใดที่แถว validation ยังซ้ำกับแถวข้อมูลฝึก (eval loss จะวัดความจำ)"},
    "why.memorise": {
        "en": "would not help while the model memorises repeated or leaked rows",
        "th": "จะไม่ช่วย ตราบใดที่โมเดลยังจำแถวที่ซ้ำหรือรั่วอยู่"},
    "also_if_fixed": {
        "en": "also, if the fixed data still has {codes} (the fix's audit says)",
        "th": "นอกจากนี้ ถ้าข้อมูลที่แก้แล้วยังมี {codes} (ผลการตรวจข้อมูลหลังแก้จะบอก)"},
    "also_by_hand": {
        "en": "also, by hand (tuneguard fix does not repair {codes})",
        "th": "นอกจากนี้ ต้องแก้เอง (tuneguard fix ไม่ได้แก้ {codes})"},
    "then": {"en": "then:", "th": "จากนั้น:"},
    # the table of changes and the file
    "changes": {"en": "{n} change(s)", "th": "เปลี่ยน {n} ค่า"},
    "this_run": {"en": "this run", "th": "การรันนี้"},
    "next_run": {"en": "next run", "th": "การรันถัดไป"},
    "col.key": {"en": "key", "th": "คีย์"},
    "col.why": {"en": "why", "th": "เหตุผล"},
    "written": {"en": "next config: {path} ({command})", "th": "config ถัดไป: {path} ({command})"},
    "redacted": {
        "en": "secrets are redacted in the saved config: set them with --set (e.g. --set 'notify.urls=[\"${{LINE_URL}}\"]') or keep them in an environment variable",
        "th": "ข้อมูลลับถูกซ่อนไว้ใน config ที่บันทึก ให้ตั้งด้วย --set (เช่น --set 'notify.urls=[\"${{LINE_URL}}\"]') หรือเก็บไว้ในตัวแปรสภาพแวดล้อม"},
    "out_not_file": {
        "en": "--out {path} is not a regular file: give a file name for the next config",
        "th": "--out {path} ไม่ใช่ไฟล์ปกติ: ให้ระบุชื่อไฟล์สำหรับ config ถัดไป"},
    "out_foreign": {
        "en": "--out {path} exists and is not a config tuneguard recommended: choose another file, or pass --force to replace it",
        "th": "--out {path} มีอยู่แล้วและไม่ใช่ config ที่ tuneguard แนะนำ: เลือกไฟล์อื่น หรือใช้ --force เพื่อเขียนทับ"},
    "cannot_write": {"en": "cannot write {path}: {reason}", "th": "เขียน {path} ไม่ได้: {reason}"},
    # the comments that head the next config (tuneguard.config.diff.change_reasons reads the change lines back)
    "yaml.head": {
        "en": "# The config tuneguard recommends after the run of {source}.",
        "th": "# config ที่ tuneguard แนะนำหลังการรัน {source}"},
    "yaml.no_diagnosis": {"en": "# (no diagnosis)", "th": "# (ไม่มีผลวินิจฉัย)"},
    "yaml.diff": {
        "en": "# `tuneguard config diff` with that run's config.yaml shows exactly these changes:",
        "th": "# `tuneguard config diff` กับ config.yaml ของการรันนั้นแสดงการเปลี่ยนแปลงเหล่านี้ครบทุกข้อ:"},
    "yaml.change": {"en": "# change {key}: {reason}", "th": "# เปลี่ยน {key}: {reason}"},
    "yaml.also": {"en": "# also, outside the config: {text}", "th": "# ทำเพิ่มนอก config: {text}"},
}

# `tuneguard fix` on the terminal (fix-report.md's texts are in catalog/fix.py).
_FIX_CLI: dict[str, dict[str, str]] = {
    "file": {"en": "  {role}: {path} -> {copy}: {before} -> {after}", "th": "  {role}: {path} -> {copy}: {before} -> {after}"},
    "no_copy_split": {"en": "(no copy: split from the training file instead)", "th": "(ไม่มีสำเนา: แบ่งจากไฟล์ข้อมูลฝึกแทน)"},
    "no_copy_empty": {"en": "(no copy: no row left)", "th": "(ไม่มีสำเนา: ไม่เหลือแถว)"},
    "truncated": {
        "en": "  kept: {rows} whose answer is longer than data.max_length ({n}), listed in fix-report.md; --truncation drop removes them",
        "th": "  {rows}มีคำตอบที่ยาวเกิน data.max_length ({n}) และยังเก็บไว้: ดูรายการใน fix-report.md หรือใช้ --truncation drop เพื่อลบ"},
    "truncated_raised": {
        "en": "  kept: {rows} whose answer is longer than data.max_length ({n}, which the fixed config raises to {raised}), listed in fix-report.md; --truncation drop removes them instead",
        "th": "  {rows}มีคำตอบที่ยาวเกิน data.max_length ({n} ซึ่ง config ที่แก้แล้วเพิ่มเป็น {raised}) และยังเก็บไว้: ดูรายการใน fix-report.md หรือใช้ --truncation drop เพื่อลบแทน"},
    "resolved": {
        "en": "The audit of the fixed config no longer finds {codes}.",
        "th": "การตรวจข้อมูลของ config ที่แก้แล้วไม่พบ {codes} อีก"},
    "remaining": {
        "en": "The audit of the fixed config still finds {codes}: see fix-report.md.",
        "th": "การตรวจข้อมูลของ config ที่แก้แล้วยังพบ {codes}: ดู fix-report.md"},
    "report": {"en": "report: {path}", "th": "รายงาน: {path}"},
    "config": {"en": "config: {path} ({command})", "th": "config: {path} ({command})"},
}

# `tuneguard report RUN_DIR` on the terminal (the verdict's words are the report's: verdict.*).
_REPORT_CLI: dict[str, dict[str, str]] = {
    "html": {"en": "report: {path}", "th": "รายงาน: {path}"},
    "md": {"en": "markdown: {path}", "th": "รายงาน markdown: {path}"},
    "recommended": {"en": "recommended config: {path} ({command})", "th": "config ที่แนะนำ: {path} ({command})"},
}

# `tuneguard status RUN_DIR` (its clock line and the retry command are report.* and status.* keys).
_STATUS_CLI: dict[str, dict[str, str]] = {
    "state": {"en": "  state ", "th": "  สถานะ "},
    "progress": {"en": "  step {step}/{max_steps}{pct}  epoch {epoch}", "th": "  step {step}/{max_steps}{pct}  epoch {epoch}"},
    "metrics": {
        "en": "train loss {train}  eval loss {eval}  best eval {best}  tokens/s {tps}  ETA {eta}",
        "th": "loss การฝึก {train}  eval loss {eval}  eval loss ดีที่สุด {best}  token/วินาที {tps}  เหลือเวลา {eta}"},
    "exit_code": {"en": " (exit {code})", "th": " (รหัสออก {code})"},
    "ended": {"en": "ended{code}: {reason}", "th": "จบแล้ว{code}: {reason}"},
    "findings": {"en": "findings ({n})", "th": "สิ่งที่ตรวจพบ ({n})"},
    "actions": {"en": "actions", "th": "สิ่งที่ policy ทำ"},
    "col.step": {"en": "step", "th": "step"},
    "col.code": {"en": "code", "th": "รหัส"},
    "col.action": {"en": "action", "th": "การกระทำ"},
    "col.from": {"en": "from", "th": "จาก"},
    "col.to": {"en": "to", "th": "เป็น"},
    "col.what": {"en": "what", "th": "รายละเอียด"},
    "notify_failed": {"en": "{n} notification(s) failed", "th": "ส่งการแจ้งเตือนไม่สำเร็จ {n} ครั้ง"},
    "notify_last": {"en": "; last: {reason}", "th": " ครั้งล่าสุด: {reason}"},
    "notify_stopped": {"en": "notifications stopped", "th": "หยุดส่งการแจ้งเตือน"},
    "notify_stopped_at": {"en": " at step {step}: {message}", "th": " ที่ step {step}: {message}"},
    "control": {"en": "control: {action} by {who} -> {status}", "th": "คำสั่งควบคุม: {action} โดย {who} -> {status}"},
    # what a finding's evidence lines add to the stored keys and values (tuneguard.cli.findings_view)
    "ev_more": {"en": " (+{n} more)", "th": " (และอีก {n})"},
    "ev_together": {"en": " of the validation and test rows together", "th": " ของแถว validation และชุด test รวมกัน"},
}

# `tuneguard compare RUN_A RUN_B`: the summary's rows and footnotes are the page's (report.cmp.*, report.card.*).
_COMPARE_CLI: dict[str, dict[str, str]] = {
    "page": {"en": "compare: {path}", "th": "หน้าเปรียบเทียบ: {path}"},
    "config_diff": {"en": "config diff ('{a}' -> '{b}'): {changes}", "th": "ค่าตั้งที่ต่างกัน ('{a}' -> '{b}'): {changes}"},
    "config_same": {"en": "config diff: none, the two runs have the same settings",
                    "th": "ค่าตั้งที่ต่างกัน: ไม่มี ทั้งสองรันใช้ค่าตั้งเดียวกัน"},
}

# `tuneguard notify-test URL --language th`: the success line and why a message was not sent, in
# the message's language (a server's or a library's own words inside stay as they are).
_NOTIFY_CLI: dict[str, dict[str, str]] = {
    "ok": {"en": "ok:", "th": "สำเร็จ:"},
    "sent": {"en": "sent a test message to {target}", "th": "ส่งข้อความทดสอบไปที่ {target} แล้ว"},
    "not_sent": {"en": "not sent: {reason}", "th": "ส่งไม่สำเร็จ: {reason}"},
    "unrecognised_http": {
        "en": "apprise does not recognise this URL ({label}): a webhook that takes JSON is written {plain}://HOST[:PORT]/PATH ({plain}:// for {scheme}://); other services have their own scheme (https://appriseit.com/services/)",
        "th": "apprise ไม่รู้จัก URL นี้ ({label}): webhook ที่รับ JSON ต้องเขียนเป็น {plain}://HOST[:PORT]/PATH (ใช้ {plain}:// แทน {scheme}://) ส่วนบริการอื่นมี scheme ของตัวเอง (https://appriseit.com/services/)"},
    "unrecognised": {
        "en": "apprise does not recognise this URL ({label}): check the scheme and the parts after it (https://appriseit.com/services/)",
        "th": "apprise ไม่รู้จัก URL นี้ ({label}): ตรวจ scheme และส่วนที่ตามหลัง (https://appriseit.com/services/)"},
    "redacted": {
        "en": "it was redacted (***) when the config was saved: give it again with --set 'notify.urls=[\"...\"]', or keep it in an environment variable (${{VAR}}) in the config",
        "th": "URL นี้ถูกซ่อนไว้ (***) ตอนบันทึก config ให้ระบุอีกครั้งด้วย --set 'notify.urls=[\"...\"]' หรือเก็บไว้ในตัวแปรสภาพแวดล้อม (${{VAR}}) ใน config"},
    "no_recipient": {
        "en": "{label} names no one to send to: write it {form}",
        "th": "{label} ไม่ได้ระบุผู้รับ: ให้เขียนเป็น {form}"},
    "raised": {"en": "could not send to {label}: {error}", "th": "ส่งไปที่ {label} ไม่ได้: {error}"},
    "token_refused": {
        "en": "the endpoint refused the token (HTTP {status}): check the token in {label}",
        "th": "ปลายทางปฏิเสธ token (HTTP {status}): ตรวจ token ใน {label}"},
    "conn_refused": {
        "en": "connection refused by {where}: is the service running and the port right?",
        "th": "{where} ปฏิเสธการเชื่อมต่อ: ตรวจว่าบริการทำงานอยู่และพอร์ตถูกต้อง"},
    "no_answer": {"en": "no answer from {where} within {timeout} s", "th": "{where} ไม่ตอบภายใน {timeout} วินาที"},
    "answered": {"en": "the endpoint answered {reason}", "th": "ปลายทางตอบกลับว่า {reason}"},
    "not_sent_to": {"en": "not sent to {label}: {reason}", "th": "ส่งไม่สำเร็จ ({label}): {reason}"},
}

# `tuneguard train`: the lines tuneguard itself prints (the log records of transformers and of
# tuneguard's planning stay English; a finding's alert is its message in the run's language).
_TRAIN_CLI: dict[str, dict[str, str]] = {
    "model": {
        "en": "model {name}: {trainable:,} trainable of {total:,} parameters ({share:.3f}%)",
        "th": "โมเดล {name}: พารามิเตอร์ที่ฝึก {trainable:,} จาก {total:,} ({share:.3f}%)"},
    "loading": {"en": "loading model {name} ...", "th": "กำลังโหลดโมเดล {name} ..."},
    "resuming": {"en": "resuming from {checkpoint}", "th": "ฝึกต่อจาก {checkpoint}"},
    "note": {"en": "note: {text}", "th": "หมายเหตุ: {text}"},
    "bar": {"en": "train", "th": "ฝึก"},
    "log": {
        "en": "loss {loss}  lr {lr}  {tps} tok/s  eval {eval}  ETA {eta}",
        "th": "loss {loss}  lr {lr}  {tps} token/วินาที  eval {eval}  เหลือเวลา {eta}"},
    "eval": {"en": "eval_loss {eval}  best {best}", "th": "eval loss {eval}  ดีที่สุด {best}"},
    "step": {"en": "step {step}/{max_steps}  {line}", "th": "step {step}/{max_steps}  {line}"},
    "no_eval": {"en": "no evaluation yet", "th": "ยังไม่ได้ประเมินผล"},
    "best_eval": {"en": "best eval loss {loss}", "th": "eval loss ดีที่สุด {loss}"},
    "end": {
        "en": "run {state} at step {step}/{max_steps}; {evaluated}; adapter: {adapter}",
        "th": "การรันจบที่ step {step}/{max_steps} ({state}) {evaluated} adapter: {adapter}"},
    "report": {"en": "report: {path} ({verdict})", "th": "รายงาน: {path} ({verdict})"},
    # the note when model.dtype meets a card without native bf16 (tuneguard.model.device.choose_precision)
    "precision.fp16": {
        "en": "{name} ({capability}) has no native bf16 (the GPU emulates it, several times slower): training in fp16 with loss scaling, where an overflowed step is skipped and the run goes on. Full precision instead: --set model.dtype=fp32",
        "th": "{name} ({capability}) ไม่รองรับ bf16 โดยตรง (GPU จะจำลอง bf16 ซึ่งช้ากว่าหลายเท่า) จึงฝึกด้วย fp16 และใช้ loss scaler: step ที่ค่าล้นจะถูกข้ามและการรันทำงานต่อ ถ้าต้องการความแม่นยำเต็มแทน: --set model.dtype=fp32"},
    "precision.bf16_emulated": {
        "en": "model.dtype is bf16 but {name} ({capability}) has no native bf16: it is emulated and runs several times slower. For this card's speed: --set model.dtype=fp16 (or model.dtype=auto)",
        "th": "ตั้ง model.dtype เป็น bf16 แต่ {name} ({capability}) ไม่รองรับ bf16 โดยตรง: GPU จะจำลองและช้ากว่าหลายเท่า ถ้าต้องการความเร็วเต็มของการ์ดนี้: --set model.dtype=fp16 (หรือ model.dtype=auto)"},
    "audit_errors": {
        "en": "the data audit found {n} error(s) ({codes}); {code}: {message} Run `{command}` for the details (the audit of this run's data and config), fix the data, or pass --force to train anyway",
        "th": "การตรวจข้อมูลพบข้อผิดพลาด {n} รายการ ({codes}) {code}: {message} รัน `{command}` เพื่อดูรายละเอียด (ผลการตรวจข้อมูลและ config ของการรันนี้) แล้วแก้ข้อมูล หรือใช้ --force ถ้าจะฝึกทั้งที่มีข้อผิดพลาด"},
    "audit_errors.fix": {
        "en": "{refusal}. `{command}` writes cleaned copies of the data without the rows behind {codes}, and a config that trains on them",
        "th": "{refusal} คำสั่ง `{command}` จะเขียนสำเนาข้อมูลที่ลบแถวที่เป็นต้นเหตุของ {codes} ออกแล้ว พร้อม config ที่ฝึกด้วยสำเนานั้น"},
}

# `tuneguard audit` on the terminal, in the config's language (the findings' own texts are in
# catalog/findings.py; `audit --json` stays English).
_AUDIT_CLI: dict[str, dict[str, str]] = {
    "header": {
        "en": "Audited {audited} training rows ({sizes}) in {took}.",
        "th": "ตรวจข้อมูลฝึก {audited} แถว ({sizes}) ใช้เวลา {took}"},
    "header_sampled": {
        "en": "Audited {audited} of {whole} (a seeded sample: audit.max_rows) training rows ({sizes}) in {took}.",
        "th": "ตรวจข้อมูลฝึก {audited} จาก {whole} แถว (ตัวอย่างสุ่มที่สุ่มซ้ำได้ผลเดิม: audit.max_rows) ({sizes}) ใช้เวลา {took}"},
    "size.train": {"en": "train {n}", "th": "ข้อมูลฝึก {n}"},
    "size.validation": {"en": "validation {n}", "th": "validation {n}"},
    "size.test": {"en": "test {n}", "th": "ชุด test {n}"},
    "time.seconds": {"en": "{s:.1f}s", "th": "{s:.1f} วินาที"},
    "time.parts": {"en": "{s:.1f}s ({parts})", "th": "{s:.1f} วินาที ({parts})"},
    "time.load_tokenizer": {"en": "tokenizer {s:.1f}s", "th": "tokenizer {s:.1f} วินาที"},
    "time.prepare_data": {"en": "data {s:.1f}s", "th": "ข้อมูล {s:.1f} วินาที"},
    "time.total": {"en": "checks {s:.1f}s", "th": "การตรวจ {s:.1f} วินาที"},
    "task": {
        "en": "Task: {shape} ({how}); each check is judged for this task.",
        "th": "งาน: {shape} ({how}) ทุกการตรวจตัดสินตามงานแบบนี้"},
    "task.stated": {"en": "set by data.task", "th": "ตั้งไว้ใน data.task"},
    "task.inferred": {"en": "inferred: {reason}", "th": "อนุมานจากข้อมูล: {reason}"},
    "labels": {"en": "Labels: {labels}", "th": "label ที่พบ: {labels}"},
    "cache": {"en": "Tokenized data: tokenized data read from {path} (key matches).",
              "th": "ข้อมูลที่ tokenize แล้ว: อ่านจาก {path} (คีย์ตรงกัน)"},
    "severity_set": {"en": "Severity set by audit.severity: {changes}",
                     "th": "ระดับความรุนแรงที่ตั้งใน audit.severity: {changes}"},
    "severity_change": {"en": "{code} {default} -> {new}", "th": "{code} {default} -> {new}"},
    "severity_off": {"en": "off", "th": "ปิด"},
    "clean": {"en": "No findings: the data passed every check.", "th": "ไม่มีสิ่งที่ตรวจพบ: ข้อมูลผ่านการตรวจทุกข้อ"},
    "totals": {
        "en": "{errors} error(s), {warnings} warning(s). Full evidence:",
        "th": "ข้อผิดพลาด {errors} รายการ คำเตือน {warnings} รายการ หลักฐานทั้งหมด:"},
    "where": {"en": "audit", "th": "การตรวจข้อมูล"},  # a finding block's head: ERROR DUPLICATE_EXACT (audit)
    "same_set": {"en": " (with the same --set options)", "th": " (พร้อมตัวเลือก --set ชุดเดิม)"},
    "fix": {
        "en": "Cleaned copies of the data without the rows behind {codes} (the originals stay as they are){same}:",
        "th": "สำเนาข้อมูลที่ลบแถวที่เป็นต้นเหตุของ {codes} ออกแล้ว (ไฟล์เดิมไม่ถูกแก้){same}:"},
    # why the audit judged the data as the task it did (tuneguard.audit.task_shape.infer); stats.task.reason is the English
    "why.stated": {"en": "stated by data.task: {shape}", "th": "ระบุไว้ใน data.task: {shape}"},
    "why.fields": {
        "en": "labels on several fields: {share!p} of answers are JSON objects with the keys {keys}, each from a small set (values: {per_key}; at most {max_labels}); {distinct} distinct answers over {n} rows",
        "th": "label หลายช่อง: คำตอบ {share!p} เป็นออบเจกต์ JSON ที่มีคีย์ {keys} แต่ละช่องมีค่าจากชุดเล็ก ๆ (จำนวนค่า: {per_key} ไม่เกิน {max_labels}) และมีคำตอบที่ไม่ซ้ำกัน {distinct} แบบจาก {n} แถว"},
    "why.replies": {
        "en": "fixed replies: {distinct} distinct answers over {n} rows (at most {max_labels}), {shared!p} of rows answered with a reply other rows have, {unique!p} of prompts asked once; median {median:g} words",
        "th": "คำตอบสำเร็จรูป: มีคำตอบที่ไม่ซ้ำกัน {distinct} แบบจาก {n} แถว (ไม่เกิน {max_labels}) แถว {shared!p} ตอบด้วยคำตอบที่แถวอื่นก็มี และ prompt {unique!p} ถูกถามครั้งเดียว ความยาวคำตอบค่ามัธยฐาน {median:g} คำ"},
    "why.labels": {
        "en": "{distinct} distinct answers over {n} rows (at most {max_labels}, each seen {per_label:.0f} times on average), median {median:g} word(s)",
        "th": "มีคำตอบที่ไม่ซ้ำกัน {distinct} แบบจาก {n} แถว (ไม่เกิน {max_labels} แต่ละแบบพบเฉลี่ย {per_label:.0f} ครั้ง) ความยาวคำตอบค่ามัธยฐาน {median:g} คำ"},
    "why.spans": {
        "en": "{share!p} of answers are verbatim spans of their prompt (at least {limit!p})",
        "th": "คำตอบ {share!p} เป็นข้อความที่ตัดมาจาก prompt ของแถวนั้นตรงตัว (อย่างน้อย {limit!p})"},
    "why.structured_extraction": {
        "en": "structured extraction: {share!p} of answers are JSON objects with the keys {keys}, and {repeat!p} repeat their prompt's words (at least {recall!p} of each answer's words)",
        "th": "ดึงข้อความเป็นโครงสร้าง: คำตอบ {share!p} เป็นออบเจกต์ JSON ที่มีคีย์ {keys} และ {repeat!p} ใช้คำจาก prompt ของแถวนั้น (อย่างน้อย {recall!p} ของคำในแต่ละคำตอบ)"},
    "why.rewrites": {
        "en": "{repeat!p} of answers repeat their prompt's words (at least {recall!p} of each answer's words; at least {limit!p} of rows)",
        "th": "คำตอบ {repeat!p} ใช้คำจาก prompt ของแถวนั้น (อย่างน้อย {recall!p} ของคำในแต่ละคำตอบ และอย่างน้อย {limit!p} ของแถว)"},
    "why.no_prompt": {"en": "rows have no prompt (plain text)", "th": "แถวไม่มี prompt (ข้อความล้วน)"},
    "why.open": {
        "en": "answers are neither labels from a small set ({distinct} distinct) nor, in at least {limit!p} of rows, spans or rewrites of their prompt ({spans!p} spans, {rewrites!p} rewrites)",
        "th": "คำตอบไม่ใช่ label จากชุดเล็ก ๆ (ไม่ซ้ำกัน {distinct} แบบ) และแถวที่ตัดหรือเขียนใหม่จาก prompt มีไม่ถึง {limit!p} (ตัดมาตรงตัว {spans!p} เขียนใหม่ {rewrites!p})"},
}

# `tuneguard watch RUN_DIR`: the dashboard, its one line per change off a terminal and its last
# line, in the run's language (states, codes and actions as stored, as `status` shows them).
_WATCH: dict[str, dict[str, str]] = {
    "model": {"en": "  model {name}", "th": "  โมเดล {name}"},
    "progress": {"en": "step {step}/{max_steps}  epoch {epoch}  ETA {eta}", "th": "step {step}/{max_steps}  epoch {epoch}  เหลือเวลา {eta}"},
    "eta_paused": {"en": "paused", "th": "หยุดชั่วคราว"},
    "row.loss": {"en": "loss", "th": "loss การฝึก"},
    "row.eval": {"en": "eval loss", "th": "eval loss"},
    "row.tps": {"en": "tokens/s", "th": "token/วินาที"},
    "row.memory": {"en": "memory", "th": "หน่วยความจำ"},
    "row.control": {"en": "control", "th": "คำสั่งควบคุม"},
    "loss_min": {"en": "{loss}  min {min}", "th": "{loss}  ต่ำสุด {min}"},
    "eval_best": {"en": "{loss}  best {best}", "th": "{loss}  ดีที่สุด {best}"},
    "gpu": {"en": "GPU {used:.1f}{total} GB{reserved}", "th": "GPU {used:.1f}{total} GB{reserved}"},
    "gpu_reserved": {"en": " (reserved {gb:.1f})", "th": " (จองไว้ {gb:.1f})"},
    "paused": {
        "en": "PAUSED at step {step}{since}: `tuneguard continue {run_dir}` resumes",
        "th": "หยุดชั่วคราวที่ step {step}{since} สั่งฝึกต่อด้วย `tuneguard continue {run_dir}`"},
    "paused_for": {"en": " for {duration}", "th": " มาแล้ว {duration}"},
    "pending": {"en": "pending {action} by {who} ({ago} ago)", "th": "{action} จาก {who} รอดำเนินการ (ส่งมา {ago} ที่แล้ว)"},
    "last_request": {"en": "last request: {action} {status} at step {step}{note}", "th": "คำสั่งล่าสุด: {action} {status} ที่ step {step}{note}"},
    "no_requests": {"en": "no requests", "th": "ไม่มีคำสั่ง"},
    "latest_findings": {"en": "latest findings", "th": "สิ่งที่ตรวจพบล่าสุด"},
    "hidden.one": {
        "en": "{n} earlier finding not shown here: tuneguard status {run_dir}",
        "th": "สิ่งที่ตรวจพบก่อนหน้าอีก {n} รายการไม่ได้แสดงที่นี่ ดูได้ด้วย tuneguard status {run_dir}"},
    "hidden.many": {
        "en": "{n} earlier findings not shown here: tuneguard status {run_dir}",
        "th": "สิ่งที่ตรวจพบก่อนหน้าอีก {n} รายการไม่ได้แสดงที่นี่ ดูได้ด้วย tuneguard status {run_dir}"},
    "line": {
        "en": "{state} step {step}/{max_steps}{pct} loss {loss} eval {eval} best {best} tok/s {tps} ETA {eta}",
        "th": "{state} step {step}/{max_steps}{pct} loss {loss} eval loss {eval} ดีที่สุด {best} token/วินาที {tps} เหลือเวลา {eta}"},
    "line.pending": {"en": " pending {actions}", "th": " รอดำเนินการ {actions}"},
    "line.finding": {"en": " last finding {code}@{where}", "th": " สิ่งที่ตรวจพบล่าสุด {code} ({where})"},
    "line.audit": {"en": "audit", "th": "การตรวจข้อมูล"},
    "line.step": {"en": "{step}", "th": "step {step}"},
    "final": {
        "en": "run {state} at step {step}/{max_steps}{best}{why} ({run_dir})",
        "th": "การรัน {run_dir} จบที่ step {step}/{max_steps} ({state}){best}{why}"},
    "final.best": {"en": "; best eval loss {loss}", "th": " eval loss ดีที่สุด {loss}"},
    "final.why": {"en": "; {reason}", "th": " สาเหตุที่จบ: {reason}"},
    "final.unknown": {"en": "state unknown", "th": "ไม่ทราบสถานะ"},
}

# `tuneguard config diff A B`, in A's language (like `compare`, whose page speaks run A's), and
# `tuneguard init` (its line, and the head of the config it writes) in --language.
_CONFIG_CLI: dict[str, dict[str, str]] = {
    "note": {"en": "note:", "th": "หมายเหตุ:"},
    # the one-line errors of commands that know the run's (the config's) language
    "cannot_write": {"en": "cannot write {what}: {reason}{where}", "th": "เขียน{what}ไม่ได้: {reason}{where}"},
    "the_report": {"en": "the report", "th": "รายงาน"},
    "the_page": {"en": "the compare page", "th": "หน้าเปรียบเทียบ"},
    "no_checkpoint": {
        "en": "{run_dir} has no complete checkpoint at step {step}; complete checkpoints are at steps: {listed}",
        "th": "{run_dir} ไม่มี checkpoint ที่สมบูรณ์ที่ step {step} checkpoint ที่สมบูรณ์อยู่ที่ step: {listed}"},
    "none_yet": {"en": "none yet", "th": "ยังไม่มี"},  # the label of a note line on stderr (tuneguard.cli.common.note)
    "same": {"en": "{a} and {b} are the same config.", "th": "{a} และ {b} เป็น config เดียวกัน"},
    "differ": {"en": "{n} parameter(s) differ", "th": "ค่าที่ต่างกัน {n} ค่า"},
    "not_set": {"en": "(not set)", "th": "(ไม่ได้ตั้ง)"},
    "init.wrote": {
        "en": "wrote {path} (preset {preset}); next: edit data.train_file, then `tuneguard audit {path}`",
        "th": "เขียน {path} แล้ว (preset {preset}) ขั้นต่อไป: แก้ data.train_file แล้วรัน `tuneguard audit {path}`"},
    "init.head": {
        "en": "# Config for `tuneguard train {path}`, from preset {preset}.\n# Every key and its default: docs/CONFIG.md. Override any key on the command line with\n# --set section.key=value. Data paths are relative to this file.\n",
        "th": "# config สำหรับ `tuneguard train {path}` จาก preset {preset}\n# ทุกคีย์และค่าเริ่มต้นอยู่ใน docs/CONFIG.md แก้คีย์ใดก็ได้จากบรรทัดคำสั่งด้วย\n# --set section.key=value และ path ของข้อมูลนับจากโฟลเดอร์ของไฟล์นี้\n"},
    "init.language": {
        "en": "\n# The language of the report, the notifications and the terminal lines about this run.\nnotify:\n  language: {language}\n",
        "th": "\n# ภาษาของรายงาน การแจ้งเตือน และข้อความในเทอร์มินัลเกี่ยวกับการรันนี้\nnotify:\n  language: {language}\n"},
    "init.is_dir": {
        "en": "--out {path} is a directory: give a file name, e.g. --out {example}",
        "th": "--out {path} เป็นโฟลเดอร์: ให้ระบุชื่อไฟล์ เช่น --out {example}"},
    "init.not_file": {
        "en": "--out {path} is not a regular file (a device, FIFO or socket): give a file name",
        "th": "--out {path} ไม่ใช่ไฟล์ปกติ (เป็นอุปกรณ์ FIFO หรือ socket): ให้ระบุชื่อไฟล์"},
    "init.exists": {
        "en": "{path} exists; pass --force to overwrite or --out another file",
        "th": "มี {path} อยู่แล้ว: ใช้ --force เพื่อเขียนทับ หรือใช้ --out กับไฟล์อื่น"},
    "init.parent_file": {
        "en": "--out {path}: {ancestor} is a file, not a directory",
        "th": "--out {path}: {ancestor} เป็นไฟล์ ไม่ใช่โฟลเดอร์"},
}

# `tuneguard plan CONFIG` (in the config's language) and `generate`, `chat`, `evaluate`, `export`
# of a run (in the run's): their lines, tables and spinners. `--json` stays English; the
# planner's warnings, the model's replies and the user's data are not tuneguard's sentences here.
_TOOLS: dict[str, dict[str, str]] = {
    "ms": {"en": "{v:.0f} ms", "th": "{v:.0f} มิลลิวินาที"},
    "s": {"en": "{v:.1f} s", "th": "{v:.1f} วินาที"},
    "min": {"en": "{v:.1f} min", "th": "{v:.1f} นาที"},
    "h": {"en": "{v:.1f} h", "th": "{v:.1f} ชั่วโมง"},
    "plan": {"en": "plan", "th": "แผนการฝึก"},
    "plan.head": {"en": " {config}: model {model}, {procs}", "th": " {config}: โมเดล {model} ใช้ {procs}"},
    "plan.procs.one": {"en": "{n} process", "th": "{n} โปรเซส"},
    "plan.procs.many": {"en": "{n} processes", "th": "{n} โปรเซส"},
    "plan.data": {"en": "data ({format}): {rows:,} rows read{skipped} -> {sizes}", "th": "ข้อมูล ({format}): อ่าน {rows:,} แถว{skipped} -> {sizes}"},
    "plan.skipped": {"en": ", {n} skipped as malformed", "th": " (ข้าม {n} แถวที่รูปแบบเสีย)"},
    "plan.tokens": {
        "en": "tokens per epoch: {tokens:,} ({supervised:,} supervised); per example mean {mean:.0f}, longest {longest}; {truncated} truncated",
        "th": "token ต่อ epoch: {tokens:,} (มี label {supervised:,}) ต่อตัวอย่าง: เฉลี่ย {mean:.0f} ยาวสุด {longest} ถูกตัด {truncated} ตัวอย่าง"},
    "plan.chat": {
        "en": "chat: {rows:,} multi-turn rows supervise every assistant turn ({earlier:,} answers before the last){fell}",
        "th": "แชต: {rows:,} แถวที่มีหลายรอบสนทนาใส่ label ให้คำตอบของ assistant ทุกรอบ (คำตอบก่อนรอบสุดท้าย {earlier:,} คำตอบ){fell}"},
    "plan.chat_fallback": {
        "en": "; {n:,} supervise only their last answer (the chat template is not prefix-consistent)",
        "th": " และ {n:,} แถวใส่ label ให้คำตอบสุดท้ายเท่านั้น (chat template ให้ข้อความต้นบทสนทนาไม่คงที่เมื่อเพิ่มรอบ)"},
    "plan.steps_per_epoch": {
        "en": "steps per epoch: {steps:,} (ceil({train:,} / (batch {batch} x accumulation {accum} x {world})))",
        "th": "step ต่อ epoch: {steps:,} (ปัดขึ้นของ {train:,} / (batch {batch} × train.gradient_accumulation_steps {accum} × {world} โปรเซส))"},
    "plan.steps_total": {"en": "steps in total: {steps:,} ({epochs:.2f} epochs)", "th": "step ทั้งหมด: {steps:,} ({epochs:.2f} epoch)"},
    "plan.evals": {
        "en": "evaluations: {n} ({strategy}) at steps {steps}; {batches} batches each",
        "th": "การประเมินผล: {n} ครั้ง ({strategy}) ที่ step {steps} ครั้งละ {batches} batch"},
    "plan.no_evals": {"en": "evaluations: none (eval.strategy: no)", "th": "การประเมินผล: ไม่มี (eval.strategy: no)"},
    "plan.checkpoints": {
        "en": "checkpoints: {n} at steps {steps}; {kept} kept",
        "th": "checkpoint: {n} ครั้ง ที่ step {steps} เก็บไว้ {kept} อัน"},
    "plan.calibrating": {"en": "calibrating: {n} optimizer steps", "th": "กำลังวัดเวลาจริง: {n} step"},
    "plan.calibration": {"en": "calibration", "th": "ผลการวัดจริง"},
    "plan.calibration_head": {
        "en": ": {n} steps on {device} (the first, {warmup}, is a warm-up and not counted)",
        "th": ": {n} step บน {device} (step แรก {warmup} เป็นการวอร์มอัปและไม่นับ)"},
    "plan.step_time": {
        "en": "  time per step: {time}; {tps:,.0f} tokens/s ({tokens:,.0f} tokens per step)",
        "th": "  เวลาต่อ step: {time} ความเร็ว {tps:,.0f} token/วินาที ({tokens:,.0f} token ต่อ step)"},
    "plan.eval_time": {"en": "  one evaluation: {eval}{qa}; one checkpoint: {checkpoint}; model load: {load}",
                       "th": "  การประเมินผลหนึ่งครั้ง: {eval}{qa} บันทึก checkpoint หนึ่งครั้ง: {checkpoint} โหลดโมเดล: {load}"},
    "plan.qa_time": {"en": " + QA probes {time}", "th": " + QA probe {time}"},
    "plan.memory.gpu": {
        "en": "  peak GPU memory (max allocated): {peak:.2f} GB of {total:.1f} GB on the GPU; about {scaled:.2f} GB at the widest batch ({possible} tokens; {seen} seen)",
        "th": "  หน่วยความจำ GPU สูงสุด (max_memory_allocated): {peak:.2f} GB จาก {total:.1f} GB ของ GPU และประมาณ {scaled:.2f} GB เมื่อ batch ยาวที่สุด ({possible} token ขณะที่ระหว่างการวัดพบยาวสุด {seen} token)"},
    "plan.memory.rss": {
        "en": "  peak process memory (RSS): {peak:.2f} GB of {total:.1f} GB on the machine; about {scaled:.2f} GB at the widest batch ({possible} tokens; {seen} seen)",
        "th": "  หน่วยความจำของโปรเซสสูงสุด (RSS): {peak:.2f} GB จาก {total:.1f} GB ของเครื่อง และประมาณ {scaled:.2f} GB เมื่อ batch ยาวที่สุด ({possible} token ขณะที่ระหว่างการวัดพบยาวสุด {seen} token)"},
    "plan.estimate": {"en": "estimate", "th": "เวลาโดยประมาณ"},
    "plan.estimate_parts": {
        "en": ": {total} = training {train} + evaluations {evals} + checkpoints {checkpoints}{test} + load and warm-up {load}",
        "th": ": {total} = ฝึก {train} + ประเมินผล {evals} + บันทึก checkpoint {checkpoints}{test} + โหลดและวอร์มอัป {load}"},
    "plan.estimate_test": {"en": " + test {time}", "th": " + ชุด test {time}"},
    "plan.ends": {"en": "  ends about {when} if started now", "th": "  ถ้าเริ่มตอนนี้จะเสร็จราว {when}"},
    "plan.eval_starts": {"en": "  evaluations start at: {list}", "th": "  การประเมินผลเริ่มที่: {list}"},
    "plan.eval_start": {"en": "step {step} +{time}", "th": "step {step} +{time}"},
    "plan.cost": {"en": "cost", "th": "ค่าใช้จ่าย"},
    "plan.cost_line": {"en": ": {cost:,.2f} at {price:,.2f} per hour ({hours:.2f} h)",
                       "th": ": {cost:,.2f} ที่ราคา {price:,.2f} ต่อชั่วโมง ({hours:.2f} ชั่วโมง)"},
    "plan.price_needs_calibrate": {"en": "--price-per-hour needs --calibrate N to measure the time a step takes",
                                   "th": "--price-per-hour ต้องใช้คู่กับ --calibrate N เพื่อวัดเวลาต่อ step"},
    "plan.eval_cost": {
        "en": "the {evals} evaluations run {total:,} batches ({each:,} each over {validation:,} validation rows), more than the {train:,} training batches: set data.eval_samples (a seeded sample of the validation rows, e.g. --set data.eval_samples={rows}) or evaluate less often (eval.steps)",
        "th": "การประเมินผล {evals} ครั้งใช้ {total:,} batch (ครั้งละ {each:,} batch บนแถว validation {validation:,} แถว) มากกว่า batch ของการฝึก ({train:,} batch): ตั้ง data.eval_samples (สุ่มแถว validation แบบกำหนด seed เช่น --set data.eval_samples={rows}) หรือประเมินผลให้ห่างขึ้น (eval.steps)"},
    "warning": {"en": "warning:", "th": "คำเตือน:"},
    # generate, chat, evaluate, export
    "loading": {"en": "loading the model of {run_dir} (--checkpoint {checkpoint})", "th": "กำลังโหลดโมเดลของ {run_dir} (--checkpoint {checkpoint})"},
    "prompt_format": {"en": "prompt format: {mode}", "th": "รูปแบบ prompt: {mode}"},
    "chat.whole": {"en": "the whole conversation", "th": "ส่งบทสนทนาทั้งหมด"},
    "chat.last": {"en": "the last message only", "th": "ส่งเฉพาะข้อความล่าสุด"},
    "chat.banner": {"en": "{adapter} · {mode} ({turns}) · /reset clears the history, /quit or Ctrl-D ends",
                    "th": "{adapter} · {mode} ({turns}) · /reset ล้างประวัติ /quit หรือ Ctrl-D เพื่อจบ"},
    "chat.cleared": {"en": "(history cleared)", "th": "(ล้างประวัติแล้ว)"},
    "evaluating": {"en": "evaluating {data}", "th": "กำลังประเมินผล {data}"},
    "eval.head": {"en": "{path}: {n:,} examples ({format}), {tokens:,} supervised tokens{skipped} · adapter {adapter}",
                  "th": "{path}: {n:,} ตัวอย่าง ({format}) token ที่มี label {tokens:,}{skipped} · adapter {adapter}"},
    "eval.skipped": {"en": ", {n} rows skipped", "th": " ข้าม {n} แถว"},
    "eval.col.base": {"en": "base", "th": "โมเดลตั้งต้น"},
    "eval.col.tuned": {"en": "fine-tuned", "th": "หลัง fine-tune"},
    "eval.col.change": {"en": "change", "th": "เปลี่ยนไป"},
    "eval.row.keyword": {"en": "QA keyword score", "th": "คะแนน keyword ของ QA probe"},
    "eval.row.eos": {"en": "QA stops (EOS)", "th": "QA probe ที่หยุดเอง (EOS)"},
    "eval.row.right": {"en": "QA expected answers right", "th": "QA probe ที่ตอบถูก"},
    "eval.of": {"en": "{k} of {n}", "th": "{k} จาก {n}"},
    "eval.probe": {"en": "probe", "th": "probe"},
    "eval.keywords": {"en": "  keywords: {keywords}", "th": "  keyword: {keywords}"},
    "eval.base": {"en": "  base  ({score}): {output}", "th": "  โมเดลตั้งต้น ({score}): {output}"},
    "eval.tuned": {"en": "  tuned ({score}): {output}", "th": "  หลัง fine-tune ({score}): {output}"},
    "exporting": {"en": "exporting {run_dir} to {out}", "th": "กำลัง export {run_dir} ไปที่ {out}"},
    "exported.adapter": {"en": "exported the adapter ({dtype}, from {source}) to {out}: {files}",
                         "th": "export adapter ({dtype} จาก {source}) ไปที่ {out} แล้ว: {files}"},
    "exported.merged": {"en": "exported the merged model ({dtype}, from {source}) to {out}: {files}",
                        "th": "export โมเดลที่รวม adapter แล้ว ({dtype} จาก {source}) ไปที่ {out} แล้ว: {files}"},
    "uploaded": {"en": "uploaded to {url}", "th": "อัปโหลดไปที่ {url} แล้ว"},
}

NEXT: dict[str, dict[str, str]] = {f"next.{k}": v for k, v in _NEXT.items()}
STATUS_CLI: dict[str, dict[str, str]] = {f"statuscli.{k}": v for k, v in _STATUS_CLI.items()}
REPORT_CLI: dict[str, dict[str, str]] = {f"reportcli.{k}": v for k, v in _REPORT_CLI.items()}
FIX_CLI: dict[str, dict[str, str]] = {f"fixcli.{k}": v for k, v in _FIX_CLI.items()}
COMPARE_CLI: dict[str, dict[str, str]] = {f"comparecli.{k}": v for k, v in _COMPARE_CLI.items()}
NOTIFY_CLI: dict[str, dict[str, str]] = {f"notifycli.{k}": v for k, v in _NOTIFY_CLI.items()}
TRAIN_CLI: dict[str, dict[str, str]] = {f"traincli.{k}": v for k, v in _TRAIN_CLI.items()}
AUDIT_CLI: dict[str, dict[str, str]] = {f"auditcli.{k}": v for k, v in _AUDIT_CLI.items()}
WATCH: dict[str, dict[str, str]] = {f"watch.{k}": v for k, v in _WATCH.items()}
CONFIG_CLI: dict[str, dict[str, str]] = {f"configcli.{k}": v for k, v in _CONFIG_CLI.items()}
TOOLS: dict[str, dict[str, str]] = {f"tools.{k}": v for k, v in _TOOLS.items()}
