"""Report texts, English and Thai side by side: headings, labels, verdict criteria and their
evidence, plot titles and axes (KEY -> {"en": ..., "th": ...})."""

# ruff: noqa: E501 - one sentence per line reads better than a sentence cut in pieces

REPORT: dict[str, dict[str, str]] = {}
_VERDICT: dict[str, dict[str, str]] = {
    # the criteria's names
    "criterion.loss_gradual": {"en": "Training loss decreased gradually", "th": "ค่า loss การฝึกลดลงอย่างค่อยเป็นค่อยไป"},
    "criterion.val_tracked": {"en": "Validation loss tracked training loss", "th": "ค่า loss validation ลดตาม loss การฝึก"},
    "criterion.early_stop_ok": {"en": "Early stopping did not trigger prematurely", "th": "ไม่ได้หยุดก่อนกำหนดเร็วเกินไป"},
    "criterion.coherent": {"en": "The model generates coherent, relevant text", "th": "โมเดลสร้างข้อความที่สอดคล้องและตรงคำถาม"},
    "criterion.test_within": {"en": "Held-out test loss within margin of validation", "th": "ค่า loss ของชุด test อยู่ในเกณฑ์เมื่อเทียบกับ validation"},
    # statuses and the overall verdict
    "status.pass": {"en": "pass", "th": "ผ่าน"},
    "status.fail": {"en": "fail", "th": "ไม่ผ่าน"},
    "status.unknown": {"en": "unknown", "th": "ไม่ทราบ"},
    "overall.pass": {"en": "PASS", "th": "ผ่าน"},
    "overall.fail": {"en": "FAIL", "th": "ไม่ผ่าน"},
    "overall.inconclusive": {"en": "INCONCLUSIVE", "th": "ยังสรุปไม่ได้"},
    "headline": {
        "en": "Verdict: {overall} ({passed} pass, {failed} fail, {unknown} unknown)",
        "th": "ผลสรุป: {overall} (ผ่าน {passed}, ไม่ผ่าน {failed}, ไม่ทราบ {unknown})"},
    "summary_failed": {"en": "{headline}: failed {names}", "th": "{headline}: ไม่ผ่านเกณฑ์ {names}"},
    # a finding as a verdict row's evidence
    "finding": {"en": "{code}{where}: {message}{extra}", "th": "{code}{where}: {message}{extra}"},
    "at_step": {"en": " at step {step}", "th": " ที่ step {step}"},
    "and_more": {"en": "; and {n} more", "th": "; และอีก {n} รายการ"},
    # 1. loss decreased gradually
    "loss.few": {
        "en": "{n} training loss value(s) logged; need at least 2",
        "th": "บันทึกค่า loss การฝึกไว้ {n} ค่า ต้องมีอย่างน้อย 2 ค่า"},
    "loss.non_finite": {
        "en": "non-finite training loss {v} at step {step}",
        "th": "ค่า loss การฝึกไม่เป็นตัวเลขจำกัด ({v}) ที่ step {step}"},
    "loss.trend": {
        "en": "loss {first} at step {s0} -> {last} at step {s1}",
        "th": "ค่า loss {first} ที่ step {s0} -> {last} ที่ step {s1}"},
    "loss.collapse": {
        "en": "{trend}; fell to {low} at step {low_step}, below {ratio} x the first loss (guard.collapse_ratio): a collapse",
        "th": "{trend}; ลดลงเหลือ {low} ที่ step {low_step} ต่ำกว่า {ratio} เท่าของ loss แรก (guard.collapse_ratio): loss ดิ่งผิดปกติ"},
    "loss.no_decrease": {"en": "{trend}: the loss did not decrease", "th": "{trend}: ค่า loss ไม่ลดลง"},
    "loss.pass": {
        "en": "{trend} ({drop}% lower); largest drop between logs {steepest}%; no collapse, spike or non-finite finding of severity warning or error{easy}",
        "th": "{trend} (ลดลง {drop}%); ลดลงมากที่สุดระหว่างสองบันทึก {steepest}%; ไม่พบ loss ดิ่ง loss พุ่ง หรือค่าไม่จำกัด ในระดับคำเตือนหรือข้อผิดพลาด{easy}"},
    # 2. validation tracked training
    "val.none": {"en": "no evaluation was recorded", "th": "ไม่มีการประเมินที่บันทึกไว้"},
    "val.no_train": {
        "en": "eval loss {ev} at step {step}, but no training loss was logged",
        "th": "eval loss {ev} ที่ step {step} แต่ไม่มีค่า loss การฝึกที่บันทึกไว้"},
    "val.non_finite": {
        "en": "final eval loss {ev} at step {step}, train loss {tr}: non-finite{note}",
        "th": "eval loss สุดท้าย {ev} ที่ step {step}, loss การฝึก {tr}: ไม่เป็นตัวเลขจำกัด{note}"},
    "val.since": {"en": "mean since the previous evaluation", "th": "ค่าเฉลี่ยตั้งแต่การประเมินครั้งก่อน"},
    "val.at": {"en": "at step {step}", "th": "ที่ step {step}"},
    "val.base": {
        "en": "final eval loss {ev} at step {step}, train loss {tr} ({which}): gap {gap}",
        "th": "eval loss สุดท้าย {ev} ที่ step {step}, loss การฝึก {tr} ({which}): ช่องว่าง {gap}"},
    "val.pass": {"en": "{base} < {limit} (report.max_final_gap){note}", "th": "{base} < {limit} (report.max_final_gap){note}"},
    "val.fail": {"en": "{base} >= {limit} (report.max_final_gap){note}", "th": "{base} >= {limit} (report.max_final_gap){note}"},
    # 3. early stopping
    "early.no_steps": {
        "en": "the run logged no training step (run {state})",
        "th": "การรันไม่ได้บันทึก step การฝึกเลย (สถานะ {state})"},
    "early.running": {
        "en": "the run has not finished (run {state} at step {step})",
        "th": "การรันยังไม่จบ (สถานะ {state} ที่ step {step})"},
    "early.ended": {"en": " (run {state} at step {step})", "th": " (สถานะ {state} ที่ step {step})"},
    "early.none": {"en": "early stopping did not trigger{ended}", "th": "ไม่ได้หยุดก่อนกำหนด{ended}"},
    "early.unknown_plan": {
        "en": "early stopping triggered at step {step}, but the planned number of steps is unknown",
        "th": "หยุดก่อนกำหนดที่ step {step} แต่ไม่ทราบจำนวน step ที่วางแผนไว้"},
    "early.share": {
        "en": "early stopping triggered at step {step} of {planned} planned ({share}%); minimum {minimum}% (report.min_early_stop_share)",
        "th": "หยุดก่อนกำหนดที่ step {step} จาก {planned} ที่วางแผนไว้ ({share}%); ขั้นต่ำ {minimum}% (report.min_early_stop_share)"},
    # 4. coherent answers
    "qa.none": {
        "en": "no QA samples were recorded (set eval.qa_probes)",
        "th": "ไม่มีตัวอย่าง QA ที่บันทึกไว้ (ตั้ง eval.qa_probes)"},
    "qa.expected": {
        "en": "{right} of {n} expected answers right ({acc}% {op} {minimum}%, report.min_answer_accuracy)",
        "th": "ตอบถูก {right} จาก {n} ข้อที่มีคำตอบกำหนดไว้ ({acc}% {op} {minimum}%, report.min_answer_accuracy)"},
    "qa.versus": {
        "en": "{vs} the base model ({after} of {n} right after fine-tuning, {before} of {n} before)",
        "th": "{vs}โมเดลตั้งต้น (หลัง fine-tune ถูก {after} จาก {n}, ก่อนหน้านี้ถูก {before} จาก {n})"},
    "qa.vs.better": {"en": "better than", "th": "ดีกว่า"},
    "qa.vs.worse": {"en": "worse than", "th": "แย่กว่า"},
    "qa.vs.same": {"en": "the same as", "th": "เท่ากับ"},
    "qa.check.keyword": {"en": "keyword score", "th": "คะแนนคำสำคัญ"},
    "qa.check.eos": {"en": "EOS emitted", "th": "สร้าง EOS"},
    "qa.check.distinct2": {"en": "distinct-2", "th": "distinct-2"},
    "qa.check.expected": {"en": "expected answers", "th": "คำตอบที่กำหนดไว้"},
    "qa.check.worse": {"en": "worse than the base model", "th": "แย่กว่าโมเดลตั้งต้น"},
    "qa.na": {"en": "{label} n/a", "th": "{label} ไม่มีข้อมูล"},
    "qa.value": {"en": "{label} {value} {op} {minimum}", "th": "{label} {value} {op} {minimum}"},
    "qa.head": {"en": "{n} QA sample(s) at step {step}: {parts}", "th": "ตัวอย่าง QA {n} ข้อที่ step {step}: {parts}"},
    "qa.failed": {"en": "{head}; failed: {failed}{note}", "th": "{head}; ไม่ผ่าน: {failed}{note}"},
    "qa.plain": {"en": "{head}{note}", "th": "{head}{note}"},
    # 5. test loss
    "test.none": {
        "en": "no test split was evaluated (data.test_file not set)",
        "th": "ไม่ได้ประเมินชุด test (ไม่ได้ตั้ง data.test_file)"},
    "test.ppl": {"en": " (perplexity {ppl})", "th": " (perplexity {ppl})"},
    "test.no_val": {
        "en": "test loss {test}{ppl}, but no finite validation loss to compare",
        "th": "ค่า loss ชุด test {test}{ppl} แต่ไม่มีค่า loss validation ที่จะเทียบ"},
    "test.non_finite": {"en": "test loss {test} is not finite", "th": "ค่า loss ชุด test ({test}) ไม่เป็นตัวเลขจำกัด"},
    "test.compare": {
        "en": "test loss {test}{ppl} vs validation {val} at step {step}; limit {limit} (+{margin}%, report.test_margin)",
        "th": "ค่า loss ชุด test {test}{ppl} เทียบกับ validation {val} ที่ step {step}; เกณฑ์ {limit} (+{margin}%, report.test_margin)"},
}

# The verdict's keys, namespaced ("verdict.headline").
VERDICT: dict[str, dict[str, str]] = {f"verdict.{k}": v for k, v in _VERDICT.items()}
