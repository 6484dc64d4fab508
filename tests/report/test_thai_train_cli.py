"""What `tuneguard train` itself prints for a run configured in Thai: the model line, the progress
lines, a finding's alert, the diagnosis and the report's line, and the last line, each from the
catalog (traincli.*) in the run's language; an English run prints them as before."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from tests.report.runs import build_healthy, tiny_config
from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.catalog import T, say
from tuneguard.config.load import validate_config
from tuneguard.context import RunContext
from tuneguard.findings import Finding
from tuneguard.report.recommend import diagnose_run
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import compute_verdict
from tuneguard.train.display import DisplayCallback
from tuneguard.train.finish import end_line, write_report

THAI_CFG = {"notify": {"language": "th"}}


def _no_english(text: str, tmp_path: Path) -> None:
    assert english_sentences(text.replace(str(tmp_path), "/tmp"), kept_in_english()) == []


def _progress(language: str) -> list[str]:
    out = io.StringIO()
    cb = DisplayCallback(Console(file=out, width=200), language)
    state = SimpleNamespace(global_step=4, max_steps=12)
    cb.on_log(None, state, None, logs={"loss": 4.851, "learning_rate": 0.00976, "tokens_per_s": 517.6, "eta_s": 8})
    cb.on_log(None, state, None, logs={"eval_loss": 2.457})
    return out.getvalue().splitlines()


def test_progress_lines_in_the_run_language(tmp_path: Path) -> None:
    th = _progress("th")
    assert th == ["step 4/12  loss 4.851  lr 0.00976  517.6 token/วินาที  eval -  เหลือเวลา 0:00:08",
                  "step 4/12  eval loss 2.457  ดีที่สุด 2.457"]
    assert th[1] == say("traincli.step", "th", step=4, max_steps=12, line=say("traincli.eval", "th", eval="2.457", best="2.457"))
    _no_english("\n".join(th), tmp_path)
    assert _progress("en") == ["step 4/12  loss 4.851  lr 0.00976  517.6 tok/s  eval -  ETA 0:00:08",
                               "step 4/12  eval_loss 2.457  best 2.457"]


def test_the_last_line_in_the_run_language(tmp_path: Path) -> None:
    ctx = SimpleNamespace(cfg=THAI_CFG, run_dir=tmp_path)
    th = end_line(ctx, "halted", 10, 12, 0.40971)  # type: ignore[arg-type]
    assert th == f"การรันจบที่ step 10/12 (ระบบป้องกันหยุดการฝึก) eval loss ดีที่สุด 0.4097 adapter: {tmp_path / 'adapter'}"
    assert end_line(ctx, "finished", 3, 12, None).startswith(  # type: ignore[arg-type]
        f"การรันจบที่ step 3/12 ({say('report.state.finished', 'th')}) {say('traincli.no_eval', 'th')} ")
    _no_english(th, tmp_path)
    en = SimpleNamespace(cfg={}, run_dir=tmp_path)
    assert end_line(en, "halted", 10, 12, 0.40971) == (  # type: ignore[arg-type]
        f"run halted at step 10/12; best eval loss 0.4097; adapter: {tmp_path / 'adapter'}")


def test_the_diagnosis_and_report_lines_in_the_run_language(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "run", config={"notify.language": "th"})
    out = io.StringIO()
    events: list[str] = []
    ctx = SimpleNamespace(cfg=THAI_CFG, run_dir=run, scrub=str, event=lambda type_, *a, **k: events.append(type_))
    write_report(ctx, Console(file=out, width=400))  # type: ignore[arg-type]
    loaded = load_run(run)
    verdict = compute_verdict(loaded)
    assert out.getvalue().splitlines() == [
        diagnose_run(loaded).line("th"),
        say("traincli.report", "th", path=run / "report.html", verdict=verdict.summary_line("th"))]
    assert out.getvalue().splitlines()[1].startswith(f"รายงาน: {run / 'report.html'} (ผลสรุป: ")
    assert events == ["report"]
    _no_english(out.getvalue(), tmp_path)


@pytest.mark.parametrize("language", ["th", "en"])
def test_a_finding_alert_in_the_run_language(language: str, caplog: pytest.LogCaptureFixture) -> None:
    cfg = validate_config(tiny_config(**{"notify.language": language}))
    ctx = RunContext(cfg=cfg, run_dir=Path("/nonexistent"))
    params = {"norm": 12.5, "step": 7, "limit": 10.0}
    f = Finding.said("GRAD_NORM_HIGH", "warning", T("GRAD_NORM_HIGH.found", **params), T("GRAD_NORM_HIGH.found.rec"),
                     step=7, source="guard")
    with caplog.at_level(logging.WARNING, logger="tuneguard.context"):
        ctx.record_finding(f)
    assert [r.getMessage() for r in caplog.records] == [f"GRAD_NORM_HIGH {say('GRAD_NORM_HIGH.found', language, **params)}"]
    if language == "th":
        assert caplog.records[0].getMessage() == ("GRAD_NORM_HIGH gradient norm 12.5 ที่ step 7 เกิน 10 "
                                                  "การอัปเดตที่ใหญ่ขนาดนี้มักเกิดก่อน loss พุ่งหรือเกิด NaN")
        assert english_sentences(caplog.records[0].getMessage(), kept_in_english()) == []


def test_the_model_resume_and_note_lines(tmp_path: Path) -> None:
    """The lines Recipe prints as it loads the model, resumes and notes (the same keys, filled as it fills them)."""
    model = say("traincli.model", "th", name="builtin:tiny-gptj", trainable=60032, total=241920, share=24.8148)
    assert model == "โมเดล builtin:tiny-gptj: พารามิเตอร์ที่ฝึก 60,032 จาก 241,920 (24.815%)"
    assert say("traincli.model", "en", name="builtin:tiny-gptj", trainable=60032, total=241920, share=24.8148) == (
        "model builtin:tiny-gptj: 60,032 trainable of 241,920 parameters (24.815%)")
    assert say("traincli.resuming", "th", checkpoint="checkpoint-8") == "ฝึกต่อจาก checkpoint-8"
    assert say("traincli.note", "th", text="x") == "หมายเหตุ: x"
    _no_english("\n".join([model, say("traincli.resuming", "th", checkpoint="checkpoint-8"), say("traincli.bar", "th")]), tmp_path)


def test_train_refuses_audit_errors_in_thai(tmp_path: Path) -> None:
    """The refusal of data the audit found errors in: the count, the codes, the first finding's
    message in the run's language, the audit command to run, --force and the fix command."""
    from tests.helpers.cli import invoke
    from tests.helpers.cli import tiny_config as config_file
    from tuneguard.data.synthetic import write_jsonl

    rows = [{"instruction": "Say hello.", "output": "Hello there, friend."}] * 60
    config = config_file(tmp_path, write_jsonl(rows, tmp_path / "same.jsonl"), notify={"language": "th"})
    run = tmp_path / "run"
    r = invoke("train", str(config), "--run-dir", str(run))
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert line.startswith("error: การตรวจข้อมูลพบข้อผิดพลาด 3 รายการ (DUPLICATE_EXACT, LOW_DIVERSITY, TRAIN_VAL_LEAKAGE) "
                           "DUPLICATE_EXACT: ข้อมูลฝึก "), line
    assert line.endswith(f" รัน `tuneguard audit {run}` เพื่อดูรายละเอียด (ผลการตรวจข้อมูลและ config ของการรันนี้) "
                         "แล้วแก้ข้อมูล หรือใช้ --force ถ้าจะฝึกทั้งที่มีข้อผิดพลาด คำสั่ง "
                         f"`tuneguard fix {run}/config.yaml --out {run}-fixed-data` จะเขียนสำเนาข้อมูลที่ลบแถวที่เป็น"
                         "ต้นเหตุของ DUPLICATE_EXACT, TRAIN_VAL_LEAKAGE ออกแล้ว พร้อม config ที่ฝึกด้วยสำเนานั้น"), line
    _no_english(line.removeprefix("error: "), tmp_path)


def test_a_stopped_thai_run_says_how_to_continue_in_thai(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tuneguard train` of a run that was stopped (`tuneguard stop`, Ctrl-C) ends with the command
    that continues it, in the run's language."""
    import tuneguard.train.run as run_module
    from tests.helpers.cli import invoke
    from tests.helpers.cli import tiny_config as config_file
    from tuneguard.data.synthetic import write_jsonl

    monkeypatch.setattr(run_module, "run_training", lambda *a, **k: run_module.Outcome(0, "stopped"))
    rows = [{"instruction": f"Say {i}.", "output": f"{i}"} for i in range(8)]
    config = config_file(tmp_path, write_jsonl(rows, tmp_path / "rows.jsonl"), notify={"language": "th"})
    run = tmp_path / "run"
    r = invoke("train", str(config), "--run-dir", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    line = r.stdout.splitlines()[-1]
    assert line == f"ฝึกต่อได้ด้วย `tuneguard train {config} --run-dir {run} --resume auto`", line
    _no_english(line, tmp_path)


@pytest.mark.parametrize(("name", "said"), [("builtin:smollm2-135m", True), ("builtin:tiny-gptj", False)])
def test_a_real_model_s_load_is_announced_before_it_starts(name: str, said: bool, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a real model's weights takes from seconds to minutes (SmolLM2's GGUF is dequantised)
    with nothing else on the terminal: a line says what is loading before the load starts; the
    tiny preset's random-init model is built at once and needs none."""
    from tuneguard.train import build
    from tuneguard.train.run import Recipe

    out = io.StringIO()
    printed_before: list[str] = []

    def load(cfg, tokenizer, **kwargs):
        printed_before.append(out.getvalue())
        return object(), {"trainable": 10, "total": 100}

    monkeypatch.setattr(build, "load_model_for_training", load)
    cfg = validate_config(tiny_config(**{"model.name": name}))
    recipe = SimpleNamespace(cfg=cfg, dist=SimpleNamespace(is_main=True), hw=SimpleNamespace(device_map=None),
                             run_dir=tmp_path, console=Console(file=out, width=200), language="en",
                             store=SimpleNamespace(set_meta=lambda **kv: None))
    Recipe._load_model(recipe, tokenizer=None)  # type: ignore[arg-type]
    assert printed_before == ([f"loading model {name} ...\n"] if said else [""])
    assert out.getvalue().splitlines()[-1] == f"model {name}: 10 trainable of 100 parameters (10.000%)"
    assert say("traincli.loading", "th", name=name) == f"กำลังโหลดโมเดล {name} ..."


@pytest.mark.parametrize("language", ["en", "th"])
def test_a_halted_run_ends_its_console_with_the_next_commands(language: str, tmp_path: Path) -> None:
    """Under the last line of a halted run, the commands its halted message ends with (fix the
    data first, then the next run): the terminal that ran it shows them too; nothing for a run
    that finished."""
    from tuneguard.events import Event
    from tuneguard.store.run_store import RunStore
    from tuneguard.train.finish import halted_next_lines

    fix, then = f"tuneguard fix {tmp_path}/config.yaml --out {tmp_path}-fixed-data", f"tuneguard next {tmp_path} --train"
    ctx = SimpleNamespace(cfg=validate_config(tiny_config(**{"notify.language": language})))
    with RunStore(tmp_path, create=True) as store:
        store.set_state("finished")
        assert halted_next_lines(ctx, store) == []  # type: ignore[arg-type]
        store.add_event(Event.HALTED, {"code": "LOSS_COLLAPSE", "next_steps": [{"kind": "fix", "command": fix},
                                                                               {"kind": "then", "command": then}]})
        store.set_state("halted")
        lines = halted_next_lines(ctx, store)  # type: ignore[arg-type]
    assert lines == ({"en": [f"Fix the data: {fix}", f"Then the next run: {then}"],
                      "th": [f"แก้ข้อมูล: {fix}", f"จากนั้นเริ่มการรันถัดไป: {then}"]}[language])
