"""User text prints verbatim in every channel: Rich markup (`[bold]`, a close tag `[/]`) and
emoji codes (`:100:`, `:smile:`) in a file name, in data rows, in a finding message that
quotes them and in model output reach the console, `status`, `status --json`, report.md,
report.html and a notification body exactly as typed (never a MarkupError, never 💯)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.helpers.cli import cli
from tests.httpserver import http_server  # noqa: F401 - fixture
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

MARKS = ":100: [bold] [/] :smile:"
EMOJI = ("💯", "😄")
OUTPUT = "Sure: [bold]done[/] :100: :smile:"  # what a model might well say


def _no_emoji(text: str, where: str) -> None:
    for e in EMOJI:
        assert e not in text, f"an emoji code became {e} in {where}"


def test_markup_and_emoji_codes_stay_as_typed_everywhere(tmp_path: Path, http_server) -> None:  # noqa: F811
    base = tmp_path / "in [bold] :100:"
    data = base / f"train {MARKS}.jsonl"
    rows = make_instruction_rows(200, seed=5)
    for i in range(0, 200, 20):
        rows[i]["output"] = f"{rows[i]['output']} {MARKS}"
    write_jsonl(rows, data)
    lines = data.read_text().splitlines()
    lines[7] = '{"instruction": "cut [/] off :100:'  # a malformed row: the audit's finding names the file
    data.write_text("\n".join(lines) + "\n")
    probe = f"### Instruction:\nRepeat {MARKS}\n\n### Response:\n"
    ep = http_server()
    run = base / f"run {MARKS}"
    cfg = base / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "preset": "tiny",
        "data": {"train_file": str(data), "max_malformed_fraction": 0.05},
        "train": {"max_steps": 4, "logging_steps": 1, "save_steps": 2},
        "eval": {"steps": 2, "qa_probes": [{"prompt": probe, "keywords": [":100:"]}], "qa_max_new_tokens": 6},
        "guard": {"enabled": False},
        "notify": {"urls": [f"json://127.0.0.1:{ep.port}/hook"], "events": ["started", "qa", "finished"]},
    }))

    # The console of a real run.
    r = cli("train", str(cfg), "--run-dir", str(run), env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"adapter: {run / 'adapter'}" in r.stdout and f"report: {run / 'report.html'}" in r.stdout
    _no_emoji(r.stdout + r.stderr, "the training console")

    # Model output with markup (the tiny model's own is random words).
    with RunStore(run) as s:
        last = max(q["step"] for q in s.qa_samples())
        s.add_qa_sample(last, probe, OUTPUT, [":100:"], 1.0, True, 1.0)

    from tuneguard.cli.main import app

    status = CliRunner().invoke(app, ["status", str(run)], env={"COLUMNS": "300"})
    assert status.exit_code == 0, status.output
    assert f"{run}  state finished" in status.stdout
    assert f"{data} line 8" in status.stdout  # the MALFORMED_ROWS message quotes the file
    _no_emoji(status.stdout, "status")

    js = CliRunner().invoke(app, ["status", "--json", str(run)])
    assert js.exit_code == 0, js.output
    [finding] = [f for f in json.loads(js.stdout)["findings"] if f["code"] == "MALFORMED_ROWS"]
    assert f"{data} line 8" in finding["message"]
    assert finding["evidence"]["rows"] == [f"{data}:8"]

    rep = CliRunner().invoke(app, ["report", str(run)], env={"COLUMNS": "300"})
    assert rep.exit_code == 0, rep.output
    assert f"report: {run / 'report.html'}" in rep.stdout
    md = (run / "report.md").read_text("utf-8")
    assert f"{data} line 8" in md and f"Repeat {MARKS}" in md and OUTPUT in md
    _no_emoji(md, "report.md")
    html = (run / "report.html").read_text("utf-8")
    assert f"{data} line 8" in html and f"Repeat {MARKS}" in html and OUTPUT in html
    _no_emoji(html, "report.html")

    # What the phone gets: the probe (user text) and the run's name, as typed.
    bodies = [b["message"] + b["title"] for b in ep.bodies]
    assert any(f"Repeat {MARKS}" in b for b in bodies), bodies
    assert any(run.name in b for b in bodies), bodies
    _no_emoji("".join(bodies), "the notification bodies")
