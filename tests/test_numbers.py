"""Numbers as people read them, the same in every channel: 16,740 tokens/s, never 1.674e+04."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tuneguard.fmt import num
from tuneguard.store.run_store import RunStore


@pytest.mark.parametrize("value, digits, text", [
    (16740.3, 4, "16,740"), (1_234_567.0, 4, "1,234,567"), (999.96, 4, "1000"), (3.61234, 4, "3.612"),
    (0.005012, 4, "0.005012"), (1.2e-05, 4, "1.2e-05"), (-2500.4, 4, "-2,500"), (1200, 4, "1,200"),
    (float("nan"), 4, "nan"), (float("inf"), 4, "inf"), (None, 4, "-"), (True, 4, "True"), ("abc", 4, "abc"),
])
def test_num(value: object, digits: int, text: str) -> None:
    assert num(value, digits) == text


def _run(run_dir: Path) -> Path:
    with RunStore(run_dir, create=True) as s:
        s.init_run(config={"model": {"name": "builtin:tiny-gptj"}}, max_steps=20)
        s.set_state("running")
        for step in (10, 20):
            s.log_metrics(step, "train", {"loss": 2.5, "tokens_per_s": 16740.3, "eta_s": 5.0, "epoch": step / 20})
        s.log_metrics(20, "eval", {"eval_loss": 2.61234, "epoch": 1.0})
        s.set_state("finished")
    return run_dir


def test_status_watch_report_and_phone_agree_on_16740(tmp_path: Path) -> None:
    from tuneguard.cli.main import app
    from tuneguard.cli.watch import StoreReader, compact_line
    from tuneguard.notify.messages import render

    run = _run(tmp_path / "run")
    status = CliRunner().invoke(app, ["status", str(run)])
    assert status.exit_code == 0, status.output
    assert "tokens/s 16,740" in status.stdout and "eval loss 2.612" in status.stdout
    reader = StoreReader(run)
    try:
        assert "tok/s 16,740" in compact_line(reader.snapshot())
    finally:
        reader.close()
    report = CliRunner().invoke(app, ["report", str(run)])
    assert report.exit_code == 0, report.output
    html = (run / "report.html").read_text("utf-8")
    assert "16,740" in html and "1.674e+04" not in html
    msg = render("progress", {"step": 20, "max_steps": 20, "tokens_per_s": 16740.3, "loss": 2.5}, language="en",
                 run_name="run")
    assert "16,740 tokens/s" in msg.body


def test_what_the_model_had_seen_as_people_read_it():
    """A guard finding's units (examples, passes, exposures when rows repeat), as the report
    writes them next to its step."""
    from tuneguard.findings import Finding
    from tuneguard.fmt import seen_text, times
    from tuneguard.report.components import finding_item

    assert [times(x) for x in (0.4133, 1.0, 1.5185, 54.667, 1012.0)] == ["0.41", "1", "1.52", "54.7", "1,012"]
    repeated = {"examples_seen": 164, "passes": 1.5185, "exposures": 54.667, "rows": 108, "distinct_rows": 3}
    assert seen_text(repeated) == "after 164 examples (1.52 passes over the rows; each distinct row seen 54.7 times on average)"
    assert seen_text({**repeated, "distinct_rows": 108}) == "after 164 examples (1.52 passes over the rows)"
    assert seen_text({"loss": 0.1}) is None and seen_text(None) is None
    item = finding_item(Finding("LOSS_COLLAPSE", "error", "m", repeated, "r", 25, "guard"))
    assert "step 25, after 164 examples (1.52 passes over the rows; each distinct row seen 54.7 times" in item
