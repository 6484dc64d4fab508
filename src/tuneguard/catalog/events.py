"""Notification texts: the title of every event and the lines of its message, English and Thai
side by side (`tuneguard.notify.messages.render` decides which lines an event has)."""

# ruff: noqa: E501 - one template per line

TITLES: dict[str, dict[str, str]] = {
    'started': {"en": 'Training started', "th": 'เริ่มการฝึก'},
    'evaluation': {"en": 'Evaluation', "th": 'การประเมินผล'},
    'finding': {"en": 'Problem found', "th": 'พบปัญหา'},
    'qa': {"en": 'QA samples', "th": 'ตัวอย่างคำตอบ (QA)'},
    'early_stop': {"en": 'Stopped early', "th": 'หยุดการฝึกก่อนกำหนด'},
    'halted': {"en": 'Training halted', "th": 'หยุดการฝึก'},
    'finished': {"en": 'Training finished', "th": 'การฝึกเสร็จสิ้น'},
    'failed': {"en": 'Training failed', "th": 'การฝึกล้มเหลว'},
    'progress': {"en": 'Progress', "th": 'ความคืบหน้า'},
    'stopped': {"en": 'Training stopped', "th": 'หยุดการฝึกตามคำขอ'},
    'paused': {"en": 'Training paused', "th": 'พักการฝึกชั่วคราว'},
    'resumed': {"en": 'Training resumed', "th": 'ฝึกต่อจากเดิม'},
    'report': {"en": 'Run report', "th": 'รายงานผลการฝึก'},
    'test': {"en": 'Test message', "th": 'ข้อความทดสอบ'},
}

LINES: dict[str, dict[str, str]] = {
    'run': {"en": 'Run: {run}', "th": 'การรัน: {run}'},
    'step': {"en": 'Step {step}', "th": 'step {step}'},
    'step_of': {"en": 'Step {step} of {max_steps} ({pct})', "th": 'step {step} จาก {max_steps} ({pct})'},
    'epoch': {"en": 'Epoch: {epoch}', "th": 'epoch: {epoch}'},
    'model': {"en": 'Model: {model}', "th": 'โมเดล: {model}'},
    'train_rows': {"en": 'Training rows: {n}', "th": 'ข้อมูลฝึก: {n} แถว'},
    'eval_rows': {"en": 'Validation rows: {n}', "th": 'ข้อมูล validation: {n} แถว'},
    'test_rows': {"en": 'Test rows: {n}', "th": 'ข้อมูลทดสอบ: {n} แถว'},
    'max_steps': {"en": 'Planned steps: {n}', "th": 'จำนวน step ที่วางแผนไว้: {n}'},
    'epochs': {"en": 'Epochs: {n}', "th": 'จำนวน epoch: {n}'},
    'learning_rate': {"en": 'Learning rate: {v}', "th": 'learning rate: {v}'},
    'batch_size': {"en": 'Batch size: {v}', "th": 'ขนาด batch: {v}'},
    'grad_accum': {"en": 'Gradient accumulation: {v} steps', "th": 'สะสม gradient: {v} step'},
    'lora': {"en": 'LoRA: r={r}, alpha={alpha}', "th": 'LoRA: r={r}, alpha={alpha}'},
    'max_length': {"en": 'Max length: {v} tokens', "th": 'ความยาวสูงสุด: {v} token'},
    'param': {"en": '{key}: {value}', "th": '{key}: {value}'},
    'train_loss': {"en": 'Training loss: {v}', "th": 'ค่า loss การฝึก: {v}'},
    'train_loss_window': {
        "en": 'Training loss, mean of the {steps} steps since the last evaluation: {v}',
        "th": 'ค่า loss การฝึกเฉลี่ยของ {steps} step นับจากการประเมินครั้งก่อน: {v}'},
    'eval_loss': {"en": 'Validation loss: {v}', "th": 'eval loss: {v}'},
    'new_best': {
        "en": 'New best (previous best {best}, change {delta})',
        "th": 'eval loss ดีที่สุดใหม่ (ดีที่สุดเดิม {best}, เปลี่ยนไป {delta})'},
    'vs_best': {"en": 'Change against the best ({best}): {delta}', "th": 'เทียบกับค่าดีที่สุด ({best}): {delta}'},
    'gap': {"en": 'Gap (validation - training): {v}', "th": 'ช่องว่าง (eval loss - loss การฝึก): {v}'},
    'code': {"en": 'Code: {code}', "th": 'รหัส: {code}'},
    'severity': {"en": 'Severity: {v}', "th": 'ระดับ: {v}'},
    'sev_info': {"en": 'info', "th": 'ข้อมูล'},
    'sev_warning': {"en": 'warning', "th": 'คำเตือน'},
    'sev_error': {"en": 'error', "th": 'ข้อผิดพลาด'},
    'severity_override': {
        "en": 'Severity set by {key} (the check said: {default})',
        "th": 'ระดับกำหนดโดย {key} (ระดับที่การตรวจให้: {default})'},
    'task': {"en": 'Task: {v} ({how})', "th": 'ประเภทงาน: {v}, {how}'},
    'task_classification': {
        "en": 'classification (labels from a small set)',
        "th": 'การจัดหมวดหมู่ (คำตอบเป็น label จากชุดเล็ก ๆ)'},
    'task_extraction': {
        "en": 'extraction (answers are spans of the input)',
        "th": 'การดึงข้อความ (คำตอบเป็นส่วนหนึ่งของอินพุต)'},
    'task_rewriting': {"en": 'rewriting (answers transform the input)', "th": 'การเขียนใหม่ (คำตอบแปลงมาจากอินพุต)'},
    'task_open': {"en": 'open-ended answers', "th": 'คำตอบอิสระ'},
    'task_inferred': {"en": 'inferred from the data', "th": 'อนุมานจากข้อมูล'},
    'task_stated': {"en": 'set by data.task', "th": 'กำหนดโดย data.task'},
    # When a guard finding happened (tuneguard.findings.when_spec renders the value in either language).
    'when': {"en": 'When: {v}', "th": 'เมื่อ: {v}'},
    'evidence': {"en": 'Evidence: {v}', "th": 'หลักฐาน: {v}'},
    'recommendation': {"en": 'Recommendation: {v}', "th": 'คำแนะนำ: {v}'},
    'qa_prompt': {"en": 'Q: {v}', "th": 'ถาม: {v}'},
    'qa_output': {"en": 'A: {v}', "th": 'ตอบ: {v}'},
    'qa_score': {"en": 'Keyword score: {v}', "th": 'คะแนนคำสำคัญ: {v}'},
    'qa_expected': {"en": 'Expected: {v} ({mark})', "th": 'คำตอบที่ถูก: {v} ({mark})'},
    'qa_right': {"en": 'right', "th": 'ตอบถูก'},
    'qa_wrong': {"en": 'wrong', "th": 'ตอบผิด'},
    'early_stop': {
        "en": 'Stopped early at step {step}: the validation loss stopped improving.',
        "th": 'หยุดก่อนกำหนดที่ step {step}: eval loss ไม่ดีขึ้นแล้ว'},
    'best_eval_loss': {"en": 'Best validation loss: {v}', "th": 'eval loss ที่ดีที่สุด: {v}'},
    'reason_patience': {"en": 'patience exhausted', "th": 'eval loss ไม่ดีขึ้นจนครบ patience'},
    'reason': {"en": 'Reason: {v}', "th": 'สาเหตุ: {v}'},
    'halted': {"en": 'A guard halted the run at step {step}.', "th": 'ระบบป้องกันหยุดการฝึกที่ step {step}'},
    'checkpoint': {"en": 'Checkpoint: {v}', "th": 'checkpoint: {v}'},
    'test_metric': {"en": 'Test {key}: {value}', "th": '{key} ชุด test: {value}'},
    'duration': {"en": 'Duration: {v} (h:mm)', "th": 'เวลาที่ใช้: {v} (ชม.:นาที)'},
    'first_started': {"en": 'Started: {v}', "th": 'เริ่มเมื่อ: {v}'},
    'duration_resumed': {
        "en": 'Duration: {wall} (h:mm) since then, {train} of it training over {n} sessions (resumed {resumes}x)',
        "th": 'เวลาที่ใช้: {wall} (ชม.:นาที) นับจากนั้น เป็นเวลาฝึกจริง {train} รวม {n} ช่วง (ฝึกต่อ {resumes} ครั้ง)'},
    'steps_done': {"en": 'Steps: {v}', "th": 'จำนวน step: {v}'},
    'error': {"en": 'Error: {v}', "th": 'ข้อผิดพลาด: {v}'},
    'traceback': {"en": 'Last lines of the traceback:', "th": 'บรรทัดสุดท้ายของ traceback:'},
    'loss': {"en": 'Loss: {v}', "th": 'ค่า loss: {v}'},
    'tokens_per_s': {"en": 'Throughput: {v} tokens/s', "th": 'ความเร็ว: {v} token/วินาที'},
    'eta': {"en": 'Time left: {v} (h:mm)', "th": 'เวลาที่เหลือโดยประมาณ: {v} (ชม.:นาที)'},
    'stopped': {"en": 'Stopped on request at step {step}.', "th": 'หยุดการฝึกตามคำขอที่ step {step}'},
    'requested_by': {"en": 'Requested by: {v}', "th": 'ผู้ร้องขอ: {v}'},
    'paused': {
        "en": 'Paused at step {step}: the model stays loaded (and the GPU in use) until the run is continued or stopped.',
        "th": 'พักการฝึกที่ step {step} โมเดลยังโหลดค้างอยู่ (GPU ยังถูกใช้อยู่) จนกว่าจะสั่งฝึกต่อหรือจบการรัน'},
    'paused_continue': {"en": 'Continue: {v}', "th": 'ฝึกต่อ: {v}'},
    'paused_stop': {"en": 'End it (checkpoint kept): {v}', "th": 'จบการรัน (เก็บ checkpoint ไว้): {v}'},
    'resumed': {"en": 'Resumed from step {step}.', "th": 'ฝึกต่อจาก step {step}'},
    # How the run being resumed had ended: the phone's only word of a process killed without warning.
    'resumed_after': {"en": 'Before: {state} at step {step}.', "th": 'ก่อนหน้านี้: {state}ที่ step {step}'},
    'resumed_killed': {
        "en": 'Before: the training process ended without a word at step {step} (killed or crashed).',
        "th": 'ก่อนหน้านี้: โปรเซสที่ฝึกอยู่หยุดไปเฉย ๆ ที่ step {step} (ถูกบังคับปิดหรือล่ม)'},
    'resumed_redo': {
        "en": 'Steps {first} to {last} ran after that checkpoint and are trained again.',
        "th": 'step {first} ถึง {last} ฝึกไปแล้วหลัง checkpoint นั้น จึงต้องฝึกใหม่'},
    'resumed_redo_one': {
        "en": 'Step {step} ran after that checkpoint and is trained again.',
        "th": 'step {step} ฝึกไปแล้วหลัง checkpoint นั้น จึงต้องฝึกใหม่'},
    'state_stopped': {"en": 'stopped on request', "th": 'หยุดตามคำขอ'},
    'state_halted': {"en": 'halted by a guard', "th": 'ระบบป้องกันหยุดการฝึก'},
    'state_failed': {"en": 'failed', "th": 'การฝึกล้มเหลว'},
    'verdict': {"en": 'Verdict: {v}', "th": 'ผลสรุป: {v}'},
    'report_path': {"en": 'Report: {v}', "th": 'รายงาน: {v}'},
    'next_fix': {"en": 'Fix the data: {v}', "th": 'แก้ข้อมูล: {v}'},
    'next_then': {"en": 'Then the next run: {v}', "th": 'จากนั้นเริ่มการรันถัดไป: {v}'},
    'next_run': {"en": 'Next run: {v}', "th": 'การรันถัดไป: {v}'},
    'test_body': {
        "en": 'tuneguard can reach you here: notifications about your training runs will arrive like this.',
        "th": 'tuneguard ส่งข้อความถึงคุณได้แล้ว การแจ้งเตือนเกี่ยวกับการฝึกจะมาถึงในรูปแบบนี้'},
    'truncated': {"en": '…(truncated)', "th": '…(ตัดข้อความส่วนที่เหลือ)'},
    # The first line of a message re-sent after an outage: it is late, and says so.
    'late': {
        "en": 'Sent late: this message was missed while the service was unreachable.',
        "th": 'ส่งช้า: ข้อความนี้ส่งไม่ได้ในช่วงที่ติดต่อบริการแจ้งเตือนไม่ได้'},
}

# What the notifier records about its own deliveries (events notify_failed and notify_dropped
# carry the spec as `text`; notify_sent's is made from its fields), as the report's event table
# says it in the reader's language; the record's English `reason` stays as it is. {event} is the event's name as notify.events lists it.
RECORDS: dict[str, dict[str, str]] = {
    "notify.sent": {"en": "{event} sent ({scheme})", "th": "ส่งการแจ้งเตือน {event} แล้ว ({scheme})"},
    "notify.failed": {
        "en": "{event} to {target} failed after {attempts} attempt(s): {reason}",
        "th": "ส่งการแจ้งเตือน {event} ถึง {target} ไม่สำเร็จหลังลอง {attempts} ครั้ง: {reason}"},
    "notify.invalid_url": {
        "en": "apprise does not recognise {target}; it is skipped",
        "th": "apprise ไม่รู้จัก URL {target} จึงข้ามไป"},
    "notify.no_recipient": {
        "en": "{target} names no one to send to: write it {form}; it is skipped",
        "th": "{target} ไม่ได้ระบุผู้รับ ให้เขียนเป็น {form} จึงข้ามไป"},
    "notify.render_failed": {
        "en": "{event} to {target}: could not render the message: {error}",
        "th": "การแจ้งเตือน {event} ถึง {target}: สร้างข้อความไม่ได้: {error}"},
    "notify.skipped_end": {
        "en": "{event} to {target}: skipped at the end of the run: unreachable (last: {last})",
        "th": "ข้ามการแจ้งเตือน {event} ถึง {target} ตอนจบการรัน เพราะติดต่อไม่ได้ (ครั้งล่าสุด: {last})"},
    "notify.skipped_down": {
        "en": "{event} to {target}: skipped after {failures} failures in a row (last: {last}); next try in {wait} s{then}",
        "th": "ข้ามการแจ้งเตือน {event} ถึง {target} หลังส่งไม่สำเร็จ {failures} ครั้งติดกัน (ครั้งล่าสุด: {last}) จะลองใหม่ในอีก {wait} วินาที{then}"},
    "notify.resend": {
        "en": "; it is re-sent when the target answers again",
        "th": " และจะส่งข้อความนี้ซ้ำเมื่อติดต่อได้อีกครั้ง"},
    "notify.superseded": {
        "en": "; not re-sent, a later one replaces it",
        "th": " ข้อความนี้จะไม่ถูกส่งซ้ำ เพราะข้อความถัดไปแทนที่แล้ว"},
    "notify.stopped": {
        "en": "{service} notifications to {target} stopped for this run: {reason}; the channel accepts no messages until its limit resets next month (raise the plan's limit, or add another notify.urls target); the other channels still get them",
        "th": "หยุดส่งการแจ้งเตือน {service} ถึง {target} สำหรับการรันนี้: {reason} ช่องทางนี้จะไม่รับข้อความจนกว่าโควตารายเดือนจะเริ่มใหม่ในเดือนหน้า (เพิ่มโควตาของแพ็กเกจ หรือเพิ่มปลายทางอื่นใน notify.urls) ช่องทางอื่นยังได้รับการแจ้งเตือนตามปกติ"},
    "notify.dropped.queue": {
        "en": "{count} {event} message(s) dropped: the queue was full (notify.queue_size)",
        "th": "ทิ้งการแจ้งเตือน {event} {count} ข้อความ เพราะคิวเต็ม (notify.queue_size)"},
    "notify.dropped.flush": {
        "en": "{count} {event} message(s) not sent within the flush time limit at the end of the run (notify.flush_timeout_s)",
        "th": "การแจ้งเตือน {event} {count} ข้อความส่งไม่ทันเวลาที่กำหนดตอนจบการรัน (notify.flush_timeout_s)"},
    "notify.dropped.missed": {
        "en": "{count} {event} message(s) missed during an outage, too many to re-send (notify.queue_size)",
        "th": "การแจ้งเตือน {event} {count} ข้อความที่ส่งไม่ได้ระหว่างที่ติดต่อไม่ได้ มีมากเกินกว่าจะส่งซ้ำ (notify.queue_size)"},
}

# Run events with words of their own, as a catalog spec in the payload (`note`): the terminal, the
# notification and the report's event table say them in the reader's language.
RUN: dict[str, dict[str, str]] = {
    "resume.world_size": {
        "en": "This run trained on {before} process(es) and resumes on {now}: each optimizer step now takes {rows_now} examples instead of {rows_before} (batch {batch} x accumulation {accum} x processes), so a step from here on is not worth an earlier one; the epochs, the guards and the report count the examples each step took and stay exact. Resume on {before} process(es) to keep the steps as they were.",
        "th": "การรันนี้ฝึกด้วย {before} โปรเซส และฝึกต่อด้วย {now} โปรเซส: แต่ละ optimizer step ตอนนี้ใช้ {rows_now} ตัวอย่างแทน {rows_before} (ขนาด batch {batch} x สะสม gradient {accum} step x จำนวนโปรเซส) step หลังจากนี้จึงไม่เท่ากับ step ก่อนหน้า ส่วน epoch ระบบป้องกัน และรายงานนับตามจำนวนตัวอย่างที่แต่ละ step ใช้จริงจึงยังถูกต้อง ให้ฝึกต่อด้วย {before} โปรเซสถ้าต้องการให้ step เหมือนเดิม"},
    # How to continue a run (tuneguard.store.invocation): the command as the run was started.
    "resume.command": {"en": "`{command}`", "th": "`{command}`"},
    "resume.command.withheld": {
        "en": "`{command}`, adding your --set {keys} again as you gave it (left out here: a secret is never shown)",
        "th": "`{command}` แล้วเพิ่ม --set {keys} ตามที่คุณใส่ไว้เดิมกลับเข้าไป (ไม่แสดงไว้ที่นี่ เพราะข้อมูลลับจะไม่ถูกแสดง)"},
    "resume.command.unknown": {
        "en": "`{command}`, with CONFIG the config the run was started with (a run this old does not record it)",
        "th": "`{command}` โดยแทน CONFIG ด้วย config ที่ใช้เริ่มการรันนี้ (การรันที่เก่าขนาดนี้ไม่ได้บันทึกไว้)"},
    "resume.continue": {"en": "continue it with {resume}", "th": "ฝึกต่อได้ด้วย {resume}"},
    "resume.gone": {
        "en": "no live run in {run_dir}: state {state}, but its process ({process}) is gone; continue it with {resume}",
        "th": "ไม่มีการรันที่ยังทำงานอยู่ใน {run_dir}: สถานะ {state} แต่โปรเซสของการรัน ({process}) ไม่อยู่แล้ว ฝึกต่อได้ด้วย {resume}"},
    "resume.gone_unknown": {
        "en": "no live run in {run_dir}: state {state}, but run.db records no process (pid) for it, so none can be running it; continue it with {resume}",
        "th": "ไม่มีการรันที่ยังทำงานอยู่ใน {run_dir}: สถานะ {state} แต่ run.db ไม่ได้บันทึกโปรเซส (pid) ของการรันไว้ จึงไม่มีโปรเซสใดทำงานกับการรันนี้ได้ ฝึกต่อได้ด้วย {resume}"},
    # A run whose store says live but whose process is gone (RunStore.view_state): how its
    # process is named, from what run.db records of it (a damaged or hand-edited store may not).
    "run.process": {"en": "pid {pid} on {host}", "th": "pid {pid} บน {host}"},
    "run.process_pid": {"en": "pid {pid}", "th": "โปรเซส pid {pid}"},
    "run.process_unknown": {"en": "process unknown: run.db records no pid", "th": "ไม่ทราบโปรเซส: run.db ไม่ได้บันทึก pid ไว้"},
    "run.gone": {
        "en": "the training process ({process}) ended without recording an end state while {state}: it was killed or crashed",
        "th": "โปรเซสที่ฝึกอยู่ ({process}) จบไปโดยไม่ได้บันทึกสถานะสุดท้ายขณะอยู่ในสถานะ {state}: ถูกบังคับปิดหรือล่ม"},
    "run.gone_unknown": {
        "en": "run.db says {state} but records no training process (pid) to check: it was killed or crashed, or run.db was damaged",
        "th": "run.db บอกว่าอยู่ในสถานะ {state} แต่ไม่ได้บันทึกโปรเซสที่ฝึกอยู่ (pid) ไว้ให้ตรวจ: ถูกบังคับปิดหรือล่ม หรือ run.db เสียหาย"},
    "run.no_state": {
        "en": "run.db records no state for this run (damaged, or written by another program)",
        "th": "run.db ไม่ได้บันทึกสถานะของการรันนี้ไว้ (เสียหาย หรือถูกเขียนโดยโปรแกรมอื่น)"},
    "run.no_state_reason": {"en": "; the exit reason it records: {reason}", "th": " ส่วนสาเหตุที่จบที่บันทึกไว้คือ: {reason}"},
    "resume.ended": {"en": "run {state}: continue it with {resume}", "th": "การรันจบด้วยสถานะ {state} ฝึกต่อได้ด้วย {resume}"},
    # `tuneguard status` of a run that failed before its first step (tuneguard.cli.status_cmd).
    "status.rerun": {
        "en": "It ended before training started, so there is nothing to resume: start it again with `{command}` once the reason above is dealt with (the same run directory is reused).",
        "th": "การรันนี้จบก่อนเริ่มฝึก จึงไม่มีอะไรให้ฝึกต่อ ให้เริ่มใหม่ด้วย `{command}` เมื่อจัดการสาเหตุข้างบนแล้ว (ใช้โฟลเดอร์ของการรันเดิมได้เลย)"},
    # `tuneguard status` of a halted run whose data `tuneguard fix` has fixed since (its data_fixed event).
    "status.data_fixed": {
        "en": "The data was fixed since (tuneguard fix): cleaned copies in {out}, config {config}",
        "th": "แก้ข้อมูลแล้ว (tuneguard fix): สำเนาที่ทำความสะอาดแล้วอยู่ใน {out} ค่าตั้ง {config}"},
    # A run started on several machines: its command (resume.command*) on each, with the rendezvous options.
    "resume.command.nodes": {
        "en": "{command} on each of the {nodes} machines, with the rendezvous options you started it with (--rdzv-endpoint, or --node-rank and --master-addr; accelerate: --machine_rank and --main_process_ip)",
        "th": "{command} บนทั้ง {nodes} เครื่อง พร้อมตัวเลือก rendezvous ที่ใช้ตอนเริ่มการรัน (--rdzv-endpoint หรือ --node-rank และ --master-addr สำหรับ accelerate: --machine_rank และ --main_process_ip)"},
    # The run directory (tuneguard.train.rundir): refusals before a run starts, in the config's language.
    "rundir.in_use": {
        "en": "{run_dir} is in use by {other}; wait for it or use another --run-dir",
        "th": "{run_dir} กำลังถูกใช้โดย {other} ให้รอจนเสร็จ หรือใช้ --run-dir อื่น"},
    "rundir.is_file": {
        "en": "--run-dir {run_dir} is a file, not a directory: give a directory for the run",
        "th": "--run-dir {run_dir} เป็นไฟล์ ไม่ใช่โฟลเดอร์ ให้ระบุโฟลเดอร์สำหรับการรัน"},
    "rundir.wrong_place": {
        "en": "refusing --run-dir {run_dir}: a run writes config.yaml, run.db, checkpoints/ and adapter/ into its directory; give it a directory of its own, e.g. {example}",
        "th": "ไม่ใช้ --run-dir {run_dir} เพราะการรันจะเขียน config.yaml, run.db, checkpoints/ และ adapter/ ลงในโฟลเดอร์ของการรัน ให้ใช้โฟลเดอร์แยกของการรันนี้ เช่น {example}"},
    "rundir.cannot_create": {
        "en": "cannot create the run directory {run_dir}: {reason}",
        "th": "สร้างโฟลเดอร์ของการรัน {run_dir} ไม่ได้: {reason}"},
    "rundir.holds_run": {
        "en": "{run_dir} already holds a run: continue it with {resume}, start over with --overwrite, or choose another --run-dir",
        "th": "{run_dir} มีการรันอยู่แล้ว ฝึกต่อได้ด้วย {resume} หรือเริ่มใหม่ด้วย --overwrite หรือเลือก --run-dir อื่น"},
    "rundir.resume_option": {"en": "--resume auto", "th": "--resume auto"},
    "rundir.foreign_files": {
        "en": "{run_dir} holds {files} but no run store (run.db), and a run would overwrite them: choose a new --run-dir, or pass --overwrite to replace them",
        "th": "{run_dir} มี {files} อยู่ แต่ไม่มีที่เก็บข้อมูลการรัน (run.db) และการรันจะเขียนทับไฟล์เหล่านี้ ให้เลือก --run-dir ใหม่ หรือใส่ --overwrite เพื่อแทนที่"},
    "rundir.resume_changed": {
        "en": "--resume auto needs the same config as the run in {run_dir}{started}; changed: {changed}. Use another --run-dir for a new run",
        "th": "--resume auto ต้องใช้ config เดียวกับการรันใน {run_dir}{started} ที่เปลี่ยนไป: {changed} ให้ใช้ --run-dir อื่นสำหรับการรันใหม่"},
    "rundir.started_with": {"en": " (it was started with `{command}`)", "th": " (การรันนี้เริ่มด้วย `{command}`)"},
    "rundir.resume_from_scratch": {
        "en": "--resume auto: no complete checkpoint in {checkpoints} (the run had reached step {step} before its first save): training starts again from step 0",
        "th": "--resume auto: ยังไม่มี checkpoint ที่สมบูรณ์ใน {checkpoints} (การรันเดิมไปถึง step {step} ก่อนบันทึกครั้งแรก) จึงเริ่มฝึกใหม่ตั้งแต่ step 0"},
    "rundir.finished": {
        "en": "the run in {run_dir} finished at step {step} of {planned}: there is nothing to resume (--resume auto continues a stopped, halted or killed run). See it with `tuneguard report {run_dir}`, or train again with --overwrite or another --run-dir",
        "th": "การรันใน {run_dir} ฝึกครบแล้วที่ step {step} จาก {planned} จึงไม่มีอะไรให้ฝึกต่อ (--resume auto ใช้ฝึกต่อการรันที่หยุดตามคำขอ ถูกระบบป้องกันหยุด หรือถูกบังคับปิด) ดูผลได้ด้วย `tuneguard report {run_dir}` หรือฝึกใหม่ด้วย --overwrite หรือ --run-dir อื่น"},
    # Control requests from the command line (tuneguard.cli.control_cmd), in the run's report language.
    "control.no_store": {
        "en": "no live run in {run_dir}: there is no run store (run.db) there",
        "th": "ไม่มีการรันที่ยังทำงานอยู่ใน {run_dir}: ไม่มีที่เก็บข้อมูลการรัน (run.db) ในโฟลเดอร์นี้"},
    "control.no_live": {"en": "no live run in {run_dir}: {reason}", "th": "ไม่มีการรันที่ยังทำงานอยู่ใน {run_dir}: {reason}"},
    "control.not_live": {
        "en": "no live run in {run_dir}: state {state}",
        "th": "ไม่มีการรันที่ยังทำงานอยู่ใน {run_dir}: สถานะ {state}"},
    "control.at_step": {"en": " at step {step}", "th": " ที่ step {step}"},
    "control.not_paused": {
        "en": "{run_dir} is not paused (state {state}{at}): there is nothing to continue; `tuneguard pause {run_dir}` pauses it",
        "th": "{run_dir} ไม่ได้พักอยู่ (สถานะ {state}{at}) จึงไม่มีอะไรให้ฝึกต่อ `tuneguard pause {run_dir}` ใช้พักการรัน"},
    "control.already_paused": {
        "en": "{run_dir} is already paused{at}: `tuneguard continue {run_dir}` resumes it, `tuneguard stop {run_dir}` ends it",
        "th": "{run_dir} พักอยู่แล้ว{at} `tuneguard continue {run_dir}` ใช้ฝึกต่อ `tuneguard stop {run_dir}` ใช้จบการรัน"},
    "control.requested": {
        "en": "{action} requested for {run_dir} (request {rid}): {what}",
        "th": "ส่งคำขอ {action} ถึง {run_dir} แล้ว (คำขอที่ {rid}): {what}"},
    "control.what.stop": {
        "en": "the trainer saves a checkpoint and stops at the next optimizer step",
        "th": "การฝึกจะบันทึก checkpoint แล้วหยุดที่ optimizer step ถัดไป"},
    "control.what.pause": {
        "en": "the trainer saves a checkpoint and pauses at the next optimizer step; `tuneguard continue {run_dir}` resumes it",
        "th": "การฝึกจะบันทึก checkpoint แล้วพักที่ optimizer step ถัดไป `tuneguard continue {run_dir}` ใช้ฝึกต่อ"},
    "control.what.continue": {"en": "the paused trainer resumes", "th": "การฝึกที่พักอยู่จะฝึกต่อ"},
    "control.what.checkpoint": {
        "en": "the trainer saves a checkpoint at the next optimizer step",
        "th": "การฝึกจะบันทึก checkpoint ที่ optimizer step ถัดไป"},
    # set-lr and rollback (tuneguard.cli.policy_cmd).
    "control.what.set_lr_factor": {
        "en": "the learning rate is multiplied by {value:g} from the next optimizer step; the schedule continues from there (within policy.min_lr/max_lr)",
        "th": "learning rate จะถูกคูณด้วย {value:g} ตั้งแต่ optimizer step ถัดไป แล้วตารางของ learning rate จะเดินต่อจากค่านั้น (ภายใน policy.min_lr/max_lr)"},
    "control.what.set_lr": {
        "en": "the learning rate becomes {value:g} at the next optimizer step; the schedule continues from there (within policy.min_lr/max_lr)",
        "th": "learning rate จะเป็น {value:g} ที่ optimizer step ถัดไป แล้วตารางของ learning rate จะเดินต่อจากค่านั้น (ภายใน policy.min_lr/max_lr)"},
    "control.what.rollback": {
        "en": "the trainer reloads the newest checkpoint before the current step at the next optimizer step and continues from it{skip}",
        "th": "การฝึกจะโหลด checkpoint ล่าสุดก่อน step ปัจจุบันที่ optimizer step ถัดไป แล้วฝึกต่อจากจุดนั้น{skip}"},
    "control.what.rollback_to": {
        "en": "the trainer reloads checkpoint-{step} at the next optimizer step and continues from it{skip}",
        "th": "การฝึกจะโหลด checkpoint-{step} ที่ optimizer step ถัดไป แล้วฝึกต่อจากจุดนั้น{skip}"},
    "control.what.rollback_skip": {
        "en": ", skipping the batches of the last {n} step(s)", "th": " โดยข้าม batch ของ {n} step สุดท้าย"},
    "control.interrupted": {
        "en": "interrupted while waiting: request {rid} ({action}) stays queued, and the trainer handles it at its next step; `tuneguard status` shows it",
        "th": "หยุดรอแล้ว แต่คำขอที่ {rid} ({action}) ยังอยู่ในคิว การฝึกจะทำตามคำขอที่ step ถัดไป ดูได้ด้วย `tuneguard status`"},
    "control.ended_first": {
        "en": "the run ended (state {state}) before handling request {rid}",
        "th": "การรันจบไปแล้ว (สถานะ {state}) ก่อนทำตามคำขอที่ {rid}"},
    "control.still_pending": {
        "en": "request {rid} still pending after {timeout} s (is the trainer in a long evaluation or save?)",
        "th": "คำขอที่ {rid} ยังรออยู่หลังผ่านไป {timeout} วินาที (การฝึกอาจกำลังประเมินผลหรือบันทึก checkpoint ที่ใช้เวลานาน)"},
    "control.handled": {"en": "{action} {status} at step {step}", "th": "{action}: {status} ที่ step {step}"},
    "control.handled_note": {
        "en": "{action} {status} at step {step}: {note}",
        "th": "{action}: {status} ที่ step {step}: {note}"},
    "control.status.done": {"en": "done", "th": "ทำแล้ว"},
    "control.status.rejected": {"en": "rejected", "th": "ถูกปฏิเสธ"},
    "control.stopped_watching": {"en": "stopped watching (the run goes on)", "th": "เลิกติดตามแล้ว (การรันยังทำงานต่อ)"},
    # What the trainer records about a control request it handled (tuneguard.control.requests).
    "control.note.stale": {"en": "sent to an earlier process of this run", "th": "ส่งถึงโปรเซสก่อนหน้าของการรันนี้"},
    "control.note.stopping": {"en": "the run is stopping", "th": "การรันกำลังหยุด"},
    "control.note.ending": {"en": "the run ends at this step", "th": "การรันจบที่ step นี้"},
    "control.note.not_paused": {"en": "the run is not paused", "th": "การรันไม่ได้พักอยู่"},
    "control.note.already_paused": {"en": "the run is already paused", "th": "การรันพักอยู่แล้ว"},
    "control.note.unknown": {
        "en": "unknown action '{kind}'; known: {known}",
        "th": "ไม่รู้จักคำขอ '{kind}' คำขอที่รู้จัก: {known}"},
    "control.note.paused": {"en": "paused at step {step}; {ckpt} written", "th": "พักที่ step {step} บันทึก {ckpt} แล้ว"},
    "control.note.stopped_paused": {
        "en": "stopped while paused; last checkpoint {ckpt}",
        "th": "หยุดระหว่างพัก checkpoint ล่าสุดคือ {ckpt}"},
    "control.note.written": {"en": "{ckpt} written", "th": "บันทึก {ckpt} แล้ว"},
    "control.note.written_stopping": {"en": "{ckpt} written; stopping", "th": "บันทึก {ckpt} แล้ว และกำลังหยุด"},
    "control.note.continued": {"en": "continued at step {step}", "th": "ฝึกต่อที่ step {step}"},
    "control.note.written_at_pause": {"en": "{ckpt} was written at the pause", "th": "บันทึก {ckpt} ไว้แล้วตอนพัก"},
    "control.note.no_policy": {
        "en": "this run has no policy engine (policy.enabled is false)",
        "th": "การรันนี้ไม่ได้เปิด policy (policy.enabled เป็น false)"},
    "control.note.ended_before": {"en": "the run ended before it could act", "th": "การรันจบก่อนที่จะทำตามคำขอได้"},
    "control.note.no_checkpoint": {"en": "the Trainer did not write a checkpoint", "th": "Trainer ไม่ได้บันทึก checkpoint"},
    "control.note.stopped_unsaved": {
        "en": "stopped at step {step} (no checkpoint was written)",
        "th": "หยุดที่ step {step} (ไม่ได้บันทึก checkpoint)"},
    "control.aborted": {
        "en": "aborted by a second {signal} (no checkpoint)",
        "th": "ยกเลิกทันทีเพราะได้รับ {signal} ครั้งที่สอง (ไม่ได้บันทึก checkpoint)"},
}
