"""Message templates: every event in English and Thai, readable numbers, LINE's size limit."""

from __future__ import annotations

import re
import string

import pytest

from tuneguard.config.schema import NOTIFY_EVENTS
from tuneguard.notify.messages import LINE_TEXT_LIMIT, Message, fit, render, render_parts
from tuneguard.notify.messages import en, format as fmt, th

THAI = re.compile(r"[\u0E00-\u0E7F]")

PAYLOADS = {
    "started": {"model": "EleutherAI/gpt-j-6b", "train_rows": 12000, "eval_rows": 1200, "test_rows": 600,
                "max_steps": 1000, "learning_rate": 2e-4, "batch_size": 4, "gradient_accumulation_steps": 4,
                "lora_r": 16, "lora_alpha": 32, "max_length": 512, "hyperparameters": {"weight_decay": 0.01}},
    "evaluation": {"step": 200, "max_steps": 1000, "epoch": 0.4, "train_loss": 1.23456, "eval_loss": 1.5,
                   "best_eval_loss": 1.4},
    "finding": {"code": "LOSS_COLLAPSE", "severity": "error", "step": 40, "message": "The loss fell from 3.6 to 0.005.",
                "evidence": {"losses": [3.6, 1.2, 0.3, 0.05, 0.01, 0.005], "duplicate_rows": 812},
                "recommendation": "Run tuneguard audit and remove duplicated rows."},
    "qa": {"step": 200, "samples": [{"prompt": "What is LoRA?", "output": "A low-rank adapter.", "keyword_score": 0.5},
                                    {"prompt": "Write 38 in words.", "output": "38", "expected": ["thirty-eight"],
                                     "correct": False}]},
    "early_stop": {"step": 600, "best_eval_loss": 1.1, "reason": "3 evaluations without improvement"},
    "halted": {"step": 41, "code": "NON_FINITE", "message": "The loss is NaN.", "checkpoint": "checkpoint-41"},
    "finished": {"steps": 1000, "best_eval_loss": 1.0123456, "test_metrics": {"test_loss": 1.05}, "duration_s": 3725},
    "failed": {"step": 12, "error": "RuntimeError: CUDA out of memory",
               "traceback": "Traceback (most recent call last):\n  File \"run.py\", line 3\nRuntimeError: CUDA out of memory"},
    "progress": {"step": 250, "max_steps": 1000, "loss": 1.3, "tokens_per_s": 10310.4, "eta_s": 3725},
    "stopped": {"step": 300, "requested_by": "ann@colab", "checkpoint": "checkpoint-300"},
    "paused": {"step": 300, "requested_by": "ann@colab pid 7", "checkpoint": "/runs/a b/checkpoints/checkpoint-300",
               "run_dir": "/runs/a b"},
    "resumed": {"step": 300},
    "report": {"verdict": "FAIL", "summary": ["eval-train gap 0.9 > 0.5"], "path": "runs/a/report.html",
               "diagnosis": {"kind": "overfitting", "codes": ["OVERFITTING"], "evidence": [
                   {"key": "eval_rising", "params": {"best": 3.7, "best_step": 180, "last": 4.2, "last_step": 400,
                                                     "train_then": 2.1, "train_last": 0.63}},
                   {"key": "finding", "params": {"code": "OVERFITTING", "step": 120}}]}},
}


def test_every_config_event_has_a_payload_here() -> None:
    assert set(PAYLOADS) == set(NOTIFY_EVENTS)


def test_english_and_thai_tables_have_the_same_keys_and_placeholders() -> None:
    assert set(en.TITLES) == set(th.TITLES) >= set(NOTIFY_EVENTS)
    assert set(en.LINES) == set(th.LINES)
    names = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)  # noqa: E731
    for key in en.LINES:
        assert names(en.LINES[key]) == names(th.LINES[key]), key


@pytest.mark.parametrize("event", NOTIFY_EVENTS)
def test_every_event_renders_in_english_and_thai(event: str) -> None:
    m_en = render(event, PAYLOADS[event], language="en", run_name="gptj-v2")
    m_th = render(event, PAYLOADS[event], language="th", run_name="gptj-v2")
    for m in (m_en, m_th):
        assert "gptj-v2" in m.title and "gptj-v2" in m.body
        assert m.body.strip() and "None" not in m.body
    assert not THAI.search(m_en.title + m_en.body)
    assert THAI.search(m_th.title) and THAI.search(m_th.body)


def test_an_evaluation_says_when_its_training_loss_is_the_mean_since_the_last_one() -> None:
    """A run's progress message at step 20 said "Loss: 3.097" and its evaluation at step 20
    "Training loss: 5.142": the second is the mean over the 20 steps since the last
    evaluation (what the gap is measured against), and says so now, in both languages."""
    p = {**PAYLOADS["evaluation"], "train_loss": 5.142, "eval_loss": 2.46, "best_eval_loss": None,
         "train_steps_since_eval": 20}
    en_lines = render("evaluation", p, language="en", run_name="r1").body.splitlines()
    assert en_lines[3:] == ["Training loss, mean of the 20 steps since the last evaluation: 5.142",
                            "Validation loss: 2.46", "Gap (validation - training): -2.682"]
    th_body = render("evaluation", p, language="th", run_name="r1").body
    assert "ค่า loss การฝึกเฉลี่ยของ 20 step นับจากการประเมินครั้งก่อน: 5.142" in th_body


def test_english_texts_say_what_happened() -> None:
    ev = render("evaluation", PAYLOADS["evaluation"], language="en", run_name="r1")
    assert ev.title == "Evaluation · r1"
    assert ev.body.splitlines() == [
        "Run: r1",
        "Step 200 of 1,000 (20%)",
        "Epoch: 0.4",
        "Training loss: 1.235",
        "Validation loss: 1.5",
        "Change against the best (1.4): +0.1",
        "Gap (validation - training): +0.2654",
    ]
    better = render("evaluation", {"eval_loss": 1.3, "best_eval_loss": 1.4}, run_name="r1")
    assert "New best (previous best 1.4, change -0.1)" in better.body
    prog = render("progress", PAYLOADS["progress"], run_name="r1")
    assert "Step 250 of 1,000 (25%)" in prog.body
    assert "Throughput: 10,310 tokens/s" in prog.body
    assert "Time left: 1:02 (h:mm)" in prog.body
    assert "Resumed from step 300." in render("resumed", {"step": 300}, run_name="r1").body
    fin = render("finished", PAYLOADS["finished"], run_name="r1").body
    assert "Best validation loss: 1.012" in fin and "Test loss: 1.05" in fin and "Duration: 1:02" in fin
    finding = render("finding", PAYLOADS["finding"], run_name="r1").body
    assert "Code: LOSS_COLLAPSE" in finding and "Severity: error" in finding
    assert "Evidence: losses=[3.6, 1.2, 0.3, 0.05, 0.01, …]; duplicate_rows=812" in finding
    assert "Recommendation: Run tuneguard audit" in finding


def test_the_final_report_message_leads_with_the_diagnosis_in_both_languages() -> None:
    en_lines = render("report", PAYLOADS["report"], run_name="r").body.splitlines()
    assert en_lines[1] == ("Diagnosis: overfitting: the model memorises the training rows: train for fewer steps, "
                           "stop early, regularise; never raise the learning rate")
    assert en_lines[2] == ("Because: eval loss rose from its best 3.7 at step 180 to 4.2 at step 400 while the "
                           "training loss fell from 2.1 to 0.63; OVERFITTING at step 120")
    th_lines = render("report", PAYLOADS["report"], language="th", run_name="r").body.splitlines()
    assert th_lines[1].startswith("ผลวินิจฉัย: โมเดลจำข้อมูลฝึก (overfitting) - โมเดลจำแถวข้อมูลฝึก")
    assert th_lines[2].startswith("หลักฐาน: eval loss เพิ่มจากค่าดีที่สุด 3.7 ที่ step 180")
    qa_th = render("qa", PAYLOADS["qa"], language="th", run_name="r").body
    assert "คำตอบที่ถูก: thirty-eight (ตอบผิด)" in qa_th
    assert "Expected: thirty-eight (wrong)" in render("qa", PAYLOADS["qa"], run_name="r").body


def test_thai_titles() -> None:
    titles = {e: render(e, PAYLOADS[e], language="th", run_name="r").title for e in NOTIFY_EVENTS}
    assert titles["started"].startswith("เริ่มการฝึก")
    assert titles["evaluation"].startswith("การประเมินผล")
    assert titles["finding"].startswith("พบปัญหา")
    assert titles["halted"].startswith("หยุดการฝึก")
    assert titles["finished"].startswith("การฝึกเสร็จสิ้น")
    assert "ฝึกต่อจาก step 300" in render("resumed", {"step": 300}, language="th", run_name="r").body


def test_failed_keeps_only_the_last_traceback_lines() -> None:
    tb = "\n".join(f"  line {i}" for i in range(100))
    body = render("failed", {"error": "boom", "traceback": tb}, run_name="r").body
    assert "line 99" in body and "line 85" in body and "line 84" not in body


def test_numbers_are_readable() -> None:
    assert fmt.loss(3.61234) == "3.612"
    assert fmt.loss(0.0050123) == "0.005012"
    assert fmt.loss(float("nan")) == "nan"
    assert fmt.loss(None) == "n/a"
    assert fmt.hmm(3725) == "1:02"
    assert fmt.hmm(59) == "0:01"
    assert fmt.hmm(36000) == "10:00"
    assert fmt.integer(10310.6) == "10,311"
    assert fmt.percent(1, 3) == "33%"
    assert fmt.signed(-0.05) == "-0.05"


def test_short_message_is_one_part() -> None:
    m = Message("Title", "short body")
    assert fit(m) == [m]


def test_long_message_is_split_at_lines_within_the_limit() -> None:
    lines = [f"{i:05d} " + "x" * 93 for i in range(120)]  # 120 lines of 99 characters
    parts = fit(Message("Training failed · r", "\n".join(lines)))
    assert len(parts) == 3
    assert [p.title for p in parts] == [f"Training failed · r ({i}/3)" for i in (1, 2, 3)]
    for p in parts:
        assert p.text_length() <= LINE_TEXT_LIMIT
        assert all(line in lines for line in p.body.splitlines())  # cut only at line boundaries
    assert [line for p in parts for line in p.body.splitlines()] == lines


def test_too_long_message_is_trimmed_with_a_marker() -> None:
    lines = [f"{i:05d} " + "y" * 200 for i in range(200)]  # ~40,000 characters
    parts = fit(Message("T", "\n".join(lines)), max_parts=3)
    assert len(parts) == 3
    assert all(p.text_length() <= LINE_TEXT_LIMIT for p in parts)
    assert parts[-1].body.endswith("\n…(truncated)")
    kept = parts[-1].body.splitlines()[:-1]
    assert all(line in lines for line in kept)
    single = fit(Message("T", "\n".join(lines)), max_parts=1)
    assert len(single) == 1 and single[0].text_length() <= LINE_TEXT_LIMIT
    assert single[0].body.endswith("…(truncated)")


def test_one_huge_line_is_wrapped_not_lost() -> None:
    parts = fit(Message("T", "word " * 2500))  # 12,500 characters on one line
    assert len(parts) == 3
    assert all(p.text_length() <= LINE_TEXT_LIMIT for p in parts)
    assert sum(p.body.count("word") for p in parts) == 2500


def test_render_parts_uses_the_language_marker() -> None:
    tb = "\n".join("z" * 300 for _ in range(200))
    parts = render_parts("failed", {"error": "x" * 20000, "traceback": tb}, language="th", run_name="r", max_parts=2)
    assert len(parts) == 2 and parts[-1].body.endswith("…(ตัดข้อความส่วนที่เหลือ)")
    assert all(p.text_length() <= LINE_TEXT_LIMIT for p in parts)


def test_unknown_event_is_an_error() -> None:
    with pytest.raises(KeyError):
        render("nope", {}, run_name="r")


@pytest.mark.parametrize("task,source", [("classification", "inferred"), ("extraction", "data.task"),
                                         ("rewriting", "inferred"), ("open", "inferred")])
def test_task_shape_in_the_started_message_in_both_languages(task: str, source: str) -> None:
    payload = {**PAYLOADS["started"], "task": task, "task_source": source}
    m_en = render("started", payload, language="en")
    m_th = render("started", payload, language="th")
    how_en = "set by data.task" if source == "data.task" else "inferred from the data"
    how_th = "กำหนดโดย data.task" if source == "data.task" else "อนุมานจากข้อมูล"
    assert f"Task: {en.LINES['task_' + task]} ({how_en})" in m_en.body.splitlines()
    assert f"ประเภทงาน: {th.LINES['task_' + task]}, {how_th}" in m_th.body.splitlines()


def test_severity_override_named_in_the_finding_message_in_both_languages() -> None:
    payload = {**PAYLOADS["finding"], "code": "ANSWER_IN_PROMPT", "severity": "warning",
               "evidence": {"share": 0.08, "severity_override": {"set_by": "audit.severity.ANSWER_IN_PROMPT",
                                                                 "default": "error"}}}
    lines_en = render("finding", payload, language="en").body.splitlines()
    lines_th = render("finding", payload, language="th").body.splitlines()
    assert "Severity: warning" in lines_en
    assert "Severity set by audit.severity.ANSWER_IN_PROMPT (the check said: error)" in lines_en
    assert "ระดับ: คำเตือน" in lines_th
    assert "ระดับกำหนดโดย audit.severity.ANSWER_IN_PROMPT (ระดับที่การตรวจให้: ข้อผิดพลาด)" in lines_th
    assert not any("Severity set by" in x for x in render("finding", PAYLOADS["finding"]).body.splitlines())


def test_a_halted_run_and_its_report_end_with_the_commands_to_run_next_in_both_languages() -> None:
    """The fix / next commands are the last lines, verbatim and unshortened, however long the
    path; an unknown kind or an empty command is dropped, not printed as "None"."""
    fix = "tuneguard fix '/content/drive/My Drive/runs/gptj v2/config.yaml' --out '/content/drive/My Drive/runs/" \
          "gptj v2-fixed-data'" + " " * 300 + "x"
    steps = [{"kind": "fix", "command": fix}, {"kind": "then", "command": "tuneguard next /r --train"},
             {"kind": "bogus", "command": "rm -rf /"}, {"kind": "next", "command": ""}]
    expected = {"en": [f"Fix the data: {fix}", "Then the next run: tuneguard next /r --train"],
                "th": [f"แก้ข้อมูล: {fix}", "จากนั้นเริ่มการรันถัดไป: tuneguard next /r --train"]}
    for event in ("halted", "report"):
        for lang, tail in expected.items():
            body = render(event, {**PAYLOADS[event], "next_steps": steps}, language=lang).body
            assert body.splitlines()[-2:] == tail, (event, lang)
            assert "rm -rf" not in body and "None" not in body
    nxt = render("report", {**PAYLOADS["report"], "next_steps": [{"kind": "next", "command": "tuneguard next /r "
                                                                  "--train"}]}, language="th").body
    assert nxt.splitlines()[-1] == "การรันถัดไป: tuneguard next /r --train"
    assert render("halted", PAYLOADS["halted"]).body.splitlines()[-1] == "Checkpoint: checkpoint-41"


def test_when_a_guard_finding_happened_in_both_languages() -> None:
    """A guard finding says where it happened in the unit its rule counts (examples seen, passes
    over the rows, and, when rows repeat, how often the average distinct row was seen), and, when
    an evaluation judged an earlier step, both steps: the one line the report and `status` show too."""
    seen = {"examples_seen": 1240, "passes": 0.4133, "exposures": 413.3, "rows": 3000, "distinct_rows": 3,
            "tokens_seen": 41000}
    payload = {**PAYLOADS["finding"], "evidence": seen}
    en = render("finding", payload, language="en").body.splitlines()
    th = render("finding", payload, language="th").body.splitlines()
    assert "When: step 40, after 1,240 examples (0.41 passes over the rows; each distinct row seen 413 times on " \
           "average)" in en
    assert ("เมื่อ: step 40 หลังจากโมเดลเห็นข้อมูล 1,240 ตัวอย่าง (0.41 รอบของข้อมูลทั้งชุด "
            "โดยแต่ละแถวที่ไม่ซ้ำกันถูกเห็นเฉลี่ย 413 ครั้ง)") in th
    judged = {**PAYLOADS["finding"], "evidence": {**seen, "distinct_rows": 3000, "exposures": 0.4133, "at_step": 31}}
    assert "When: first seen at step 31, after 1,240 examples (0.41 passes over the rows); judged at step 40" \
        in render("finding", judged).body.splitlines()
    assert ("เมื่อ: พบครั้งแรกที่ step 31 หลังจากโมเดลเห็นข้อมูล 1,240 ตัวอย่าง (0.41 รอบของข้อมูลทั้งชุด) "
            "และตัดสินที่ step 40") in render("finding", judged, language="th").body.splitlines()
    assert "When: step 40" in render("finding", PAYLOADS["finding"]).body.splitlines()
    audit = {**PAYLOADS["finding"], "step": None}
    assert not any(x.startswith("When:") for x in render("finding", audit).body.splitlines())


def test_a_resume_on_another_number_of_processes_says_so_in_the_resumed_message() -> None:
    """The note the terminal prints travels in the resumed event (`note`, a catalog spec) and is said
    in the reader's language; a resume on the same layout has no such line."""
    from tuneguard.catalog import T

    note = T("resume.world_size", before=2, now=1, rows_now=4, rows_before=8, batch=4, accum=1)
    payload = {"from_step": 40, "checkpoint": "checkpoint-40", "note": note}
    en = render("resumed", payload).body.splitlines()
    assert en[-3:-1] == ["Resumed from step 40.", "Checkpoint: checkpoint-40"]
    assert en[-1].startswith("This run trained on 2 process(es) and resumes on 1: each optimizer step now takes 4 "
                             "examples instead of 8")
    th = render("resumed", payload, language="th").body.splitlines()
    assert th[-1].startswith("การรันนี้ฝึกด้วย 2 โปรเซส และฝึกต่อด้วย 1 โปรเซส")
    plain = render("resumed", {"from_step": 40, "checkpoint": "checkpoint-40"}).body.splitlines()
    assert plain[-1] == "Checkpoint: checkpoint-40"


def test_the_report_message_says_the_verdict_once() -> None:
    """The summary the recipe sends starts with "Verdict: FAIL (3 pass, ...)": a "Verdict: fail"
    line above it said the same thing twice."""
    p = {"verdict": "fail", "summary": "Verdict: FAIL (3 pass, 1 fail, 1 unknown): failed Held-out test loss",
         "path": "runs/a/report.html"}
    assert render("report", p, run_name="r").body.splitlines() == [
        "Run: r", "Verdict: FAIL (3 pass, 1 fail, 1 unknown): failed Held-out test loss", "Report: runs/a/report.html"]
    # A summary that does not say it keeps the verdict line.
    assert "Verdict: FAIL" in render("report", PAYLOADS["report"], run_name="r").body.splitlines()


def test_the_resumed_message_says_how_the_interrupted_run_ended() -> None:
    """After a SIGKILL nothing told the phone the run had died: the resume says it, and which
    steps are trained again; after a stop it says how the run had stopped."""
    killed = {"from_step": 15, "checkpoint": "/r/checkpoints/checkpoint-15", "previous_state": "failed",
              "previous_step": 17, "killed": True}
    assert render("resumed", killed, run_name="r").body.splitlines() == [
        "Run: r", "Resumed from step 15.", "Checkpoint: /r/checkpoints/checkpoint-15",
        "Before: the training process ended without a word at step 17 (killed or crashed).",
        "Steps 16 to 17 ran after that checkpoint and are trained again."]
    assert render("resumed", killed, language="th", run_name="r").body.splitlines()[3:] == [
        "ก่อนหน้านี้: โปรเซสที่ฝึกอยู่หยุดไปเฉย ๆ ที่ step 17 (ถูกบังคับปิดหรือล่ม)",
        "step 16 ถึง 17 ฝึกไปแล้วหลัง checkpoint นั้น จึงต้องฝึกใหม่"]
    stopped = {"from_step": 11, "previous_state": "stopped", "previous_step": 11, "killed": False}
    assert render("resumed", stopped, run_name="r").body.splitlines()[2:] == ["Before: stopped on request at step 11."]
    assert render("resumed", stopped, language="th", run_name="r").body.splitlines()[2:] == [
        "ก่อนหน้านี้: หยุดตามคำขอที่ step 11"]
    halted = {"from_step": 40, "previous_state": "halted", "previous_step": 41, "killed": False}
    assert render("resumed", halted, run_name="r").body.splitlines()[2:] == [
        "Before: halted by a guard at step 41.", "Step 41 ran after that checkpoint and is trained again."]


def test_the_paused_message_says_the_gpu_waits_and_ends_with_the_commands() -> None:
    """A paused run keeps its model loaded on a GPU paid by the hour until someone continues or
    stops it: whoever did not pause it hears of it, with the two commands (quoted for a shell)."""
    assert render("paused", PAYLOADS["paused"], run_name="a b").body.splitlines() == [
        "Run: a b",
        "Paused at step 300: the model stays loaded (and the GPU in use) until the run is continued or stopped.",
        "Requested by: ann@colab pid 7", "Checkpoint: /runs/a b/checkpoints/checkpoint-300",
        "Continue: tuneguard continue '/runs/a b'", "End it (checkpoint kept): tuneguard stop '/runs/a b'"]
    th_msg = render("paused", PAYLOADS["paused"], language="th", run_name="a b")
    assert th_msg.title == "พักการฝึกชั่วคราว · a b"
    assert th_msg.body.splitlines()[-2:] == ["ฝึกต่อ: tuneguard continue '/runs/a b'",
                                             "จบการรัน (เก็บ checkpoint ไว้): tuneguard stop '/runs/a b'"]
