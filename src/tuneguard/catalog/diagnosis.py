"""The diagnosis of a run (tuneguard.diagnosis), English and Thai side by side: its names,
what each means, the diagnosis line and one template per kind of evidence (key "ev.NAME").
tuneguard.diagnosis fills them with str.format (numbers pre-formatted as it shows them)."""

# ruff: noqa: E501 - one sentence per line reads better than a sentence cut in pieces

DIAGNOSIS: dict[str, dict[str, str]] = {
    # the diagnosis names
    "data_fault": {"en": "data fault", "th": "ข้อมูลมีข้อบกพร่อง"},
    "unstable": {"en": "unstable training", "th": "การฝึกไม่เสถียร"},
    "overfitting": {"en": "overfitting", "th": "โมเดลจำข้อมูลฝึก (overfitting)"},
    "underfitting": {"en": "underfitting", "th": "โมเดลเรียนรู้ไม่พอ (underfitting)"},
    "healthy": {"en": "healthy", "th": "ปกติดี"},
    "inconclusive": {"en": "inconclusive", "th": "ยังสรุปไม่ได้"},
    # what each means, in one sentence
    "data_fault.means": {
        "en": "the data or its labels are faulty: fix the data first; no hyperparameter change can make up for it",
        "th": "ต้นเหตุอยู่ที่แถวข้อมูลหรือ label: แก้ข้อมูลก่อน ปรับ hyperparameter เท่าไรก็ชดเชยไม่ได้"},
    "data_fault.leak.means": {
        "en": "the validation rows repeat training rows, so the eval loss, the best checkpoint and early stopping measured memory, not generalisation: fix the split first (tuneguard fix), then judge the settings",
        "th": "แถว validation ซ้ำกับแถวข้อมูลฝึก eval loss, checkpoint ที่ดีที่สุด และการหยุดก่อนกำหนดจึงวัดความจำ ไม่ใช่ความสามารถกับข้อมูลใหม่: แก้การแบ่งข้อมูลก่อน (tuneguard fix) แล้วจึงตัดสินค่าตั้ง"},
    "data_fault.labels.means": {
        "en": "the rows are sound but the labels are built wrong (padding, EOS or prompt masking, truncation): change the data settings the recommendations name first (tuneguard next applies them); no hyperparameter change can make up for it",
        "th": "แถวข้อมูลไม่มีปัญหา แต่ labels ถูกสร้างผิด (padding, EOS, การ mask prompt หรือการตัดความยาว): แก้ค่าตั้งในส่วน data ตามคำแนะนำก่อน (tuneguard next แก้ให้) ปรับ hyperparameter เท่าไรก็ชดเชยไม่ได้"},
    "unstable.means": {
        "en": "the updates were too large for the model: lower the learning rate, warm up and clip gradients",
        "th": "การอัปเดตน้ำหนักใหญ่เกินไป: ลด learning rate ใช้ warmup และทำ gradient clipping"},
    "overfitting.means": {
        "en": "the model memorises the training rows: train for fewer steps, stop early, regularise; "
              "never raise the learning rate",
        "th": "โมเดลจำแถวข้อมูลฝึกแทนการเรียนรู้: ฝึกให้น้อย step ลง หยุดก่อนกำหนด เพิ่ม regularization "
              "และอย่าเพิ่ม learning rate"},
    "underfitting.means": {
        "en": "the model learned little: raise the learning rate, or train longer or with a larger LoRA rank",
        "th": "โมเดลเรียนรู้ได้น้อย: เพิ่ม learning rate หรือฝึกนานขึ้น หรือเพิ่ม rank ของ LoRA"},
    "healthy.means": {
        "en": "the losses fell and the validation loss tracked the training loss: no change is needed",
        "th": "ค่า loss ลดลงและ eval loss ลดตามค่า loss การฝึก: ไม่ต้องเปลี่ยนอะไร"},
    "healthy.improving.means": {
        "en": "the losses fell, the validation loss tracked the training loss, and the eval loss was still falling "
              "when the run ended: not a fault, but the run stopped before the model had learned what it could; "
              "train for longer (tuneguard next proposes it)",
        "th": "ค่า loss ลดลง eval loss ลดตามค่า loss การฝึก และ eval loss ยังลดลงอยู่ตอนที่การรันจบ: ไม่ใช่ข้อผิดพลาด "
              "แต่การรันหยุดก่อนที่โมเดลจะเรียนรู้ได้เต็มที่ ให้ฝึกนานขึ้น (tuneguard next เสนอค่าให้)"},
    "healthy.gap.means": {
        "en": "the losses fell and the gap between the eval and the training loss did not grow: the model is not "
              "memorising, but the validation rows are harder than the training rows: check they come from the same "
              "source and format",
        "th": "ค่า loss ลดลงและช่องว่างระหว่าง eval loss กับ loss การฝึกไม่ได้กว้างขึ้น: โมเดลไม่ได้จำข้อมูลฝึก "
              "แต่แถว validation ยากกว่าแถวข้อมูลฝึก ให้ตรวจว่ามาจากแหล่งและรูปแบบเดียวกัน"},
    "healthy.gap_falling.means": {
        "en": "the losses fell and the eval loss reached a new best at the last evaluation: the gap to the training "
              "loss grew, but the model was still learning what generalises, not memorising; training fewer steps "
              "would keep a worse model",
        "th": "ค่า loss ลดลง และ eval loss ดีที่สุดในการประเมินครั้งสุดท้าย: ช่องว่างกับ loss การฝึกกว้างขึ้น "
              "แต่โมเดลยังเรียนรู้สิ่งที่ใช้กับข้อมูลใหม่ได้ ไม่ได้จำข้อมูลฝึก การฝึกให้น้อย step ลงจะได้โมเดลที่แย่กว่า"},
    "inconclusive.means": {
        "en": "too little was recorded to tell what happened",
        "th": "ข้อมูลที่บันทึกไว้น้อยเกินกว่าจะสรุปได้"},
    "inconclusive.rose.means": {
        "en": "the training loss rose instead of falling, and no guard named why: the model did not learn",
        "th": "ค่า loss การฝึกเพิ่มขึ้นแทนที่จะลดลง และระบบป้องกันไม่พบสาเหตุ: โมเดลไม่ได้เรียนรู้"},
    # A run too short to judge its wrong answers (tuneguard.diagnosis, rule 4 and 7).
    "inconclusive.short.means": {
        "en": "too short to judge: the run ended before it could show whether the model learns the task: train longer before changing anything else (tuneguard next proposes how long)",
        "th": "การรันสั้นเกินกว่าจะตัดสินได้: การรันจบก่อนที่จะเห็นว่าโมเดลเรียนรู้งานนี้ได้หรือไม่ ให้ฝึกนานขึ้นก่อนเปลี่ยนค่าอื่น (tuneguard next เสนอว่าควรนานเท่าไร)"},
    # Fewer than three evaluations: the eval loss's trend cannot be judged (tuneguard.diagnosis, rule 4 and 7).
    "inconclusive.few_evals.means": {
        "en": "the eval loss was measured too few times to show whether the model learns the task: run it again with more evaluations (tuneguard next sets them, and more steps while the training loss still falls) before changing anything else",
        "th": "วัด eval loss น้อยครั้งเกินกว่าจะเห็นว่าโมเดลเรียนรู้งานนี้ได้หรือไม่: ให้รันใหม่โดยประเมินบ่อยขึ้น (tuneguard next ตั้งค่าให้ และเพิ่ม step ถ้า loss การฝึกยังลดลงอยู่) ก่อนเปลี่ยนค่าอื่น"},
    "line": {"en": "Diagnosis: {label}: {means}", "th": "ผลวินิจฉัย: {label} - {means}"},
    "because": {"en": "Because: {v}", "th": "หลักฐาน: {v}"},
    # evidence, one template per kind of fact
    "ev.audit_errors": {
        "en": "the audit found {codes} (severity error) and the run was forced past it",
        "th": "การตรวจข้อมูลพบ {codes} (ระดับข้อผิดพลาด) แต่การรันถูกบังคับให้ฝึกต่อ"},
    # A run the audit refused before training (tuneguard.report.recommend.diagnose_run).
    "ev.audit_refused": {
        "en": "the audit found {codes} (severity error) and refused the run before training (exit 2)",
        "th": "การตรวจข้อมูลพบ {codes} (ระดับข้อผิดพลาด) และปฏิเสธการรันก่อนเริ่มฝึก (exit 2)"},
    "ev.collapse_linked": {
        "en": "LOSS_COLLAPSE at step {step}: training loss {initial} -> {loss} in epoch 1, with {codes} in the audit",
        "th": "LOSS_COLLAPSE ที่ step {step}: ค่า loss การฝึก {initial} -> {loss} ใน epoch 1 "
              "และการตรวจข้อมูลพบ {codes}"},
    "ev.collapse": {
        "en": "LOSS_COLLAPSE at step {step}: training loss {initial} -> {loss} in epoch 1",
        "th": "LOSS_COLLAPSE ที่ step {step}: ค่า loss การฝึก {initial} -> {loss} ใน epoch 1"},
    # A collapse counted in what the model had seen (guard evidence with examples_seen).
    "ev.collapse_linked_seen": {
        "en": "LOSS_COLLAPSE at step {step}: training loss {initial} -> {loss} after {examples} examples ({passes} "
              "passes over the rows), with {codes} in the audit",
        "th": "LOSS_COLLAPSE ที่ step {step}: ค่า loss การฝึก {initial} -> {loss} หลังจากโมเดลเห็นข้อมูล {examples} ตัวอย่าง "
              "({passes} รอบของข้อมูลทั้งชุด) และการตรวจข้อมูลพบ {codes}"},
    "ev.collapse_seen": {
        "en": "LOSS_COLLAPSE at step {step}: training loss {initial} -> {loss} after {examples} examples ({passes} "
              "passes over the rows)",
        "th": "LOSS_COLLAPSE ที่ step {step}: ค่า loss การฝึก {initial} -> {loss} หลังจากโมเดลเห็นข้อมูล {examples} ตัวอย่าง "
              "({passes} รอบของข้อมูลทั้งชุด)"},
    "ev.non_finite": {
        "en": "a non-finite loss or gradient (NaN/Inf) at step {step}",
        "th": "ค่า loss หรือ gradient ไม่เป็นตัวเลขจำกัด (NaN/Inf) ที่ step {step}"},
    "ev.labels_warned": {
        "en": "the audit warned that the labels are built wrong ({codes}) and the model learned little on them",
        "th": "การตรวจข้อมูลเตือนว่า labels ถูกสร้างผิด ({codes}) และโมเดลเรียนรู้จาก labels เหล่านั้นได้น้อย"},
    "ev.diverged": {
        "en": "the training loss ended above where it started ({first} -> {last}): the model got worse than untrained",
        "th": "ค่า loss การฝึกจบสูงกว่าตอนเริ่ม ({first} -> {last}): โมเดลแย่กว่าตอนยังไม่ได้ฝึก"},
    "ev.diverged_mean": {
        "en": "the training loss ended above where it started ({first} at step {first_step} -> {last} on average over "
              "steps {last_step}-{last_end}): the model got worse than untrained",
        "th": "ค่า loss การฝึกจบสูงกว่าตอนเริ่ม ({first} ที่ step {first_step} -> เฉลี่ย {last} ช่วง step "
              "{last_step}-{last_end}): โมเดลแย่กว่าตอนยังไม่ได้ฝึก"},
    "ev.spikes": {
        "en": "{n} loss spike(s), the first at step {step}: {loss}, {ratio}x the running median",
        "th": "ค่า loss พุ่งขึ้น {n} ครั้ง ครั้งแรกที่ step {step}: {loss} เป็น {ratio} เท่าของค่ามัธยฐานเคลื่อนที่"},
    "ev.grad_norm": {
        "en": "gradient norm {value} at step {step}, above {limit} ({n} time(s))",
        "th": "gradient norm {value} ที่ step {step} เกิน {limit} ({n} ครั้ง)"},
    "ev.grad_norm_warmup": {
        "en": "gradient norm {value} at step {step}, above {limit} once, inside the warmup (the first {warmup} "
              "steps, the learning rate still low, the update clipped); the loss fell after it",
        "th": "gradient norm {value} ที่ step {step} เกิน {limit} หนึ่งครั้ง ในช่วง warmup ({warmup} step แรก "
              "learning rate ยังต่ำ และการอัปเดตถูก clip) หลังจากนั้นค่า loss ลดลง"},
    "ev.eval_rising": {
        "en": "eval loss rose from its best {best} at step {best_step} to {last} at step {last_step} "
              "while the training loss fell from {train_then} to {train_last}",
        "th": "eval loss เพิ่มจากค่าดีที่สุด {best} ที่ step {best_step} เป็น {last} ที่ step {last_step} "
              "ขณะที่ค่า loss การฝึกลดจาก {train_then} เป็น {train_last}"},
    "ev.gap": {
        "en": "the eval - train gap grew from {first_gap} at step {first_step} to {gap} at step {step} "
              "(limit {limit}, report.max_final_gap)",
        "th": "ช่องว่างระหว่าง eval loss กับ loss การฝึกเพิ่มจาก {first_gap} ที่ step {first_step} "
              "เป็น {gap} ที่ step {step} (เกณฑ์ {limit}, report.max_final_gap)"},
    "ev.finding": {"en": "{code} at step {step}", "th": "{code} ที่ step {step}"},
    # An OVERFITTING or EVAL_DIVERGENCE finding that a new best eval loss at the last evaluation answered.
    "ev.recovered": {
        "en": "{code} at step {step} ({n} time(s)), recovered: the eval loss reached a new best {best} at step {best_step}, the last evaluation",
        "th": "{code} ที่ step {step} ({n} ครั้ง) แล้วกลับมาดีขึ้น: eval loss ลดลงจนดีที่สุดครั้งใหม่ {best} ที่ step {best_step} ซึ่งเป็นการประเมินครั้งสุดท้าย"},
    "ev.flat": {
        "en": "training loss only {first} -> {last} from step {first_step} to step {last_step} ({drop} lower)",
        "th": "ค่า loss การฝึกลดเพียง {first} -> {last} จาก step {first_step} ถึง step {last_step} (ลดลง {drop})"},
    "ev.flat_mean": {
        "en": "mean training loss only {first} over steps {first_step}-{first_end} -> {last} over steps "
              "{last_step}-{last_end} ({drop} lower)",
        "th": "ค่า loss การฝึกเฉลี่ยลดเพียง {first} ช่วง step {first_step}-{first_end} -> {last} ช่วง step "
              "{last_step}-{last_end} (ลดลง {drop})"},
    "ev.eval_flat": {
        "en": "eval loss {first} at the first evaluation, best {best} ({drop} lower)",
        "th": "eval loss {first} ในการประเมินครั้งแรก ดีที่สุด {best} (ลดลง {drop})"},
    "ev.answers_wrong": {
        "en": "only {right} of {n} expected answers right at step {step}: the model has not learned the task yet",
        "th": "ที่ step {step} ตอบถูกเพียง {right} จาก {n} ข้อ: โมเดลยังเรียนรู้งานนี้ไม่ได้"},
    "ev.answers_wrong_base": {
        "en": "only {right} of {n} expected answers right at step {step} (the base model: {base} of {n}): "
              "the model has not learned the task yet",
        "th": "ที่ step {step} ตอบถูกเพียง {right} จาก {n} ข้อ (โมเดลตั้งต้น: {base} จาก {n}): "
              "โมเดลยังเรียนรู้งานนี้ไม่ได้"},
    "ev.too_short": {
        "en": "training loss {first} at step {first_step} -> {last} at step {last_step} ({drop} lower), still falling when the run ended at step {step}, after {evaluations} evaluation(s)",
        "th": "ค่า loss การฝึก {first} ที่ step {first_step} -> {last} ที่ step {last_step} (ลดลง {drop}) และยังลดลงอยู่ตอนที่การรันจบที่ step {step} หลังการประเมิน {evaluations} ครั้ง"},
    "ev.too_short_mean": {
        "en": "mean training loss {first} over steps {first_step}-{first_end} -> {last} over steps {last_step}-{last_end} ({drop} lower), still falling when the run ended at step {step}, after {evaluations} evaluation(s)",
        "th": "ค่า loss การฝึกเฉลี่ย {first} ช่วง step {first_step}-{first_end} -> {last} ช่วง step {last_step}-{last_end} (ลดลง {drop}) และยังลดลงอยู่ตอนที่การรันจบที่ step {step} หลังการประเมิน {evaluations} ครั้ง"},
    "ev.few_evals": {
        "en": "only {n} evaluation(s) (eval loss {curve}): fewer than the {min} it takes to tell whether the eval loss is still falling, flat or rising: its trend cannot be judged",
        "th": "ประเมินเพียง {n} ครั้ง (eval loss {curve}) ซึ่งน้อยกว่า {min} ครั้งที่ต้องใช้เพื่อบอกว่า eval loss ยังลดลง คงที่ หรือเพิ่มขึ้น: จึงตัดสินแนวโน้มไม่ได้"},
    "ev.curve_point": {"en": "{loss} at step {step}", "th": "{loss} ที่ step {step}"},
    "ev.few_steps": {
        "en": "only {steps} optimizer step(s), fewer than the {min} it takes to judge whether the model learns",
        "th": "ฝึกเพียง {steps} step ซึ่งน้อยกว่า {min} step ที่ต้องใช้เพื่อตัดสินว่าโมเดลเรียนรู้ได้หรือไม่"},
    "ev.plateau_early": {
        "en": "PLATEAU at step {step}, in the first half of the run",
        "th": "PLATEAU ที่ step {step} ในครึ่งแรกของการฝึก"},
    "ev.fell": {
        "en": "training loss {first} -> {last} ({drop} lower)",
        "th": "ค่า loss การฝึก {first} -> {last} (ลดลง {drop})"},
    "ev.fell_mean": {
        "en": "mean training loss {first} over steps {first_step}-{first_end} -> {last} over steps "
              "{last_step}-{last_end} ({drop} lower)",
        "th": "ค่า loss การฝึกเฉลี่ย {first} ช่วง step {first_step}-{first_end} -> {last} ช่วง step "
              "{last_step}-{last_end} (ลดลง {drop})"},
    "ev.tracked": {
        "en": "best eval loss {best} at step {best_step}; final eval - train gap {gap} (limit {limit})",
        "th": "eval loss ดีที่สุด {best} ที่ step {best_step} ช่องว่างสุดท้าย {gap} (เกณฑ์ {limit})"},
    "ev.eval_still_falling": {
        "en": "the eval loss was still falling at the last evaluation: {first} at step {first_step}, {prev} at step "
              "{prev_step}, {last} at step {last_step} ({drop} lower, at {pace} of its earlier pace per step)",
        "th": "eval loss ยังลดลงอยู่ในการประเมินครั้งสุดท้าย: {first} ที่ step {first_step}, {prev} ที่ step "
              "{prev_step}, {last} ที่ step {last_step} (ลดลง {drop} ด้วยอัตรา {pace} ของอัตราก่อนหน้าต่อ step)"},
    "ev.gap_held": {
        "en": "the eval - train gap stood at or above the limit from the first evaluation without growing "
              "({first_gap} at step {first_step}, {gap} at step {step}; limit {limit}, report.max_final_gap)",
        "th": "ช่องว่างระหว่าง eval loss กับ loss การฝึกสูงถึงเกณฑ์ตั้งแต่การประเมินครั้งแรกโดยไม่กว้างขึ้น "
              "({first_gap} ที่ step {first_step}, {gap} ที่ step {step}; เกณฑ์ {limit}, report.max_final_gap)"},
    "ev.gap_falling": {
        "en": "the eval - train gap grew to the limit or above ({first_gap} at step {first_step}, {gap} at step {step}; "
              "limit {limit}, report.max_final_gap) while the eval loss still fell to a new best {best} at the last "
              "evaluation (step {best_step})",
        "th": "ช่องว่างระหว่าง eval loss กับ loss การฝึกกว้างขึ้นถึงเกณฑ์หรือเกิน ({first_gap} ที่ step {first_step}, "
              "{gap} ที่ step {step}; เกณฑ์ {limit}, report.max_final_gap) ขณะที่ eval loss ยังลดลงจนดีที่สุดครั้งใหม่ {best} "
              "ในการประเมินครั้งสุดท้าย (step {best_step})"},
    "ev.rose": {
        "en": "the training loss rose: {first} at step {first_step} -> {last} at step {last_step}, "
              "and no guard named a cause",
        "th": "ค่า loss การฝึกเพิ่มขึ้น: {first} ที่ step {first_step} -> {last} ที่ step {last_step} "
              "และระบบป้องกันไม่พบสาเหตุ"},
    "ev.rose_mean": {
        "en": "the training loss rose: mean {first} over steps {first_step}-{first_end} -> {last} over steps "
              "{last_step}-{last_end}, and no guard named a cause",
        "th": "ค่า loss การฝึกเพิ่มขึ้น: ค่าเฉลี่ย {first} ช่วง step {first_step}-{first_end} -> {last} ช่วง step "
              "{last_step}-{last_end} และระบบป้องกันไม่พบสาเหตุ"},
    "ev.few_losses": {
        "en": "only {n} training loss value(s) were logged",
        "th": "บันทึกค่า loss การฝึกไว้เพียง {n} ค่า"},
    "ev.no_evals": {
        "en": "no evaluation was recorded, so learning cannot be told apart from memorising",
        "th": "ไม่มีการประเมินผล จึงแยกไม่ออกว่าโมเดลเรียนรู้หรือจำข้อมูล"},
    "ev.audit_warnings": {
        "en": "the audit also warned about {codes}",
        "th": "การตรวจข้อมูลเตือนเรื่อง {codes} ด้วย"},
    "ev.easy_task": {
        "en": "LOSS_COLLAPSE at step {step}: a low loss without evidence of a fault (an easy task)",
        "th": "LOSS_COLLAPSE ที่ step {step}: ค่า loss ต่ำโดยไม่มีหลักฐานว่าข้อมูลผิดพลาด (งานง่าย)"},
}
