"""A run started on two processes (torchrun, gloo) and resumed on one: the steps before the
resume keep the examples they took (2 per step here), the steps after it take the new
layout's (1 per step), in the training logs the report and trackers read and in the history
each checkpoint carries (tuneguard.guard.seen.SeenHistory)."""

from __future__ import annotations

import html
import json

import pytest
from typer.testing import CliRunner

from tests.distributed.launch import QUIET, Launch, read_store
from tests.helpers.cli import invoke
from tuneguard.catalog import render
from tuneguard.checkpoints import MARKER
from tuneguard.cli.main import app
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.guard.seen import SEEN_FILE
from tuneguard.report.rundata import load_run

pytestmark = pytest.mark.slow

STEPS = 200


def test_examples_seen_stay_exact_when_a_two_process_run_resumes_on_one(tmp_path):
    # batch 1, no accumulation: 2 examples per step on two processes, 1 on one; 450 training
    # rows (500 less the tenth held out for validation), so that no epoch ends within the 200
    # steps on either (the arithmetic stays by hand).
    data = write_jsonl(make_instruction_rows(500, seed=0), tmp_path / "train.jsonl")
    settings = [f"data.train_file={data}", f"train.max_steps={STEPS}", "train.batch_size=1",
                "train.gradient_accumulation_steps=1", *QUIET]
    run_dir = tmp_path / "run"
    run = Launch(run_dir, "tiny", settings)
    try:
        run.wait_running(min_step=3)
        assert CliRunner().invoke(app, ["stop", str(run_dir)]).exit_code == 0
        assert run.wait() == 0, run.output()[-4000:]
    finally:
        run.close()
    (req,) = read_store(run_dir, lambda s: s.control_requests())
    k = req["handled_step"]
    assert 3 <= k < STEPS
    ckpt = run_dir / "checkpoints" / f"checkpoint-{k}"
    saved = json.loads((ckpt / SEEN_FILE).read_text())
    (only,) = saved["segments"]
    assert (only["from_step"], only["rows"], only["examples_per_step"], only["steps_per_epoch"]) == (0, 450, 2, 225)
    assert SEEN_FILE in json.loads((ckpt / MARKER).read_text())["files"]  # part of the complete checkpoint

    args = ["train", "tiny", "--run-dir", str(run_dir), "--resume", "auto"]
    for s in settings:
        args += ["--set", s]
    resumed = invoke(*args)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    rows = read_store(run_dir, lambda s: s.metrics("train"))
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    seen = {r["step"]: r["examples_seen"] for r in rows}
    assert seen == {s: 2 * s if s <= k else 2 * k + (s - k) for s in range(1, STEPS + 1)}
    last = json.loads((run_dir / "checkpoints" / f"checkpoint-{STEPS}" / SEEN_FILE).read_text())
    assert [(g["from_step"], g["examples_per_step"], g["steps_per_epoch"]) for g in last["segments"]] == \
        [(0, 2, 225), (k, 1, 450)]
    # The epochs count what each step took: after the resume the Trainer's own would count the steps
    # before it at the new width (k / 450 at step k instead of 2k / 450).
    assert {r["step"]: r["epoch"] for r in rows if r["step"] > k} == \
        {s: round(seen[s] / 450, 4) for s in range(k + 1, STEPS + 1)}
    run_data = load_run(run_dir)
    assert [run_data.epoch_at(s) for s in (k, STEPS)] == [2 * k / 450, (2 * k + STEPS - k) / 450]
    # The change of layout is an event of the run (the resumed one): stored, and in the report's events.
    (event,) = read_store(run_dir, lambda s: [e for e in s.events() if e["type"] == "resumed"])
    note = event["payload"]["note"]
    assert (note["key"], note["params"]["before"], note["params"]["now"], event["payload"]["world_size"]) == \
        ("resume.world_size", 2, 1, 1)
    assert render(note).startswith("This run trained on 2 process(es) and resumes on 1: each optimizer step now "
                                   "takes 1 examples instead of 2")
    assert html.escape(render(note)[:120]) in (run_dir / "report.html").read_text("utf-8")
