"""The loop closed, through the real commands (tiny model, CPU, in this process): a run on
duplicated data is halted by LOSS_COLLAPSE, its messages end with the exact `fix` and
`next` commands, running those commands cleans the data and trains the next run to the end
without the collapse, and `compare` shows both runs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.helpers.cli import invoke
from tests.httpserver import http_server  # noqa: F401 - fixture
from tuneguard.data.synthetic import make_instruction_rows
from tuneguard.nextrun import fix_command, next_command
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow


def test_halted_by_collapse_then_fix_then_next_trains_to_the_end(tmp_path: Path, http_server) -> None:  # noqa: F811
    ep = http_server()
    env = {"HOOK_URL": f"json://127.0.0.1:{ep.port}/hook"}
    clean = make_instruction_rows(100, seed=5)
    dup = json.dumps({"instruction": "Say hello.", "output": "Hello there, friend."})
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in clean[:50]) + (dup + "\n") * 1200
                    + "".join(json.dumps(r) + "\n" for r in clean[50:]), "utf-8")
    original = data.read_bytes()
    run = tmp_path / "run"
    sets = [f"data.train_file={data}", 'notify.urls=["${HOOK_URL}"]', "train.max_steps=-1", "train.num_epochs=1",
            "train.logging_steps=2", "eval.steps=4", "train.save_steps=4"]
    r = invoke("train", "tiny", "--run-dir", str(run), "--force", *[a for s in sets for a in ("--set", s)], env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    with RunStore(run) as s:
        assert s.state() == "halted" and s.get_meta("exit_reason").startswith("LOSS_COLLAPSE")

    # The halted message and the report message end with the exact commands.
    fix, then = fix_command(run), next_command(run)
    ep.wait_for(2)
    ends = {b["title"].split(" · ")[0]: b["message"].splitlines()[-2:] for b in ep.bodies}
    assert ends["Training halted"] == ends["Run report"] == [f"Fix the data: {fix}", f"Then the next run: {then}"]
    assert r.stdout.splitlines()[-2:] == [f"Fix the data: {fix}", f"Then the next run: {then}"]  # its terminal too

    # Run them as a person would copy them.
    r = invoke(*shlex.split(fix)[1:], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "Removed 1,199 of 1,300 rows (DUPLICATE_EXACT 1,199)."
    # Dropping the copies also clears the faults they caused.
    assert ("The audit of the fixed config no longer finds DUPLICATE_EXACT, TRAIN_VAL_LEAKAGE, LOW_DIVERSITY."
            in r.stdout.splitlines())
    assert r.stdout.splitlines()[-1].endswith(f": {then}")
    assert data.read_bytes() == original
    fixed = tmp_path / "run-fixed-data"
    assert (fixed / "data.jsonl").read_text("utf-8").splitlines() == (
        [json.dumps(x) for x in clean[:50]] + [dup] + [json.dumps(x) for x in clean[50:]])

    r = invoke(*shlex.split(then)[1:], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    nxt = tmp_path / "run-next"
    assert f"compare the two runs: tuneguard compare {run.absolute()} {nxt}" in r.stdout
    st = json.loads(invoke("status", str(nxt), "--json").stdout)
    assert st["state"] == "finished" and st["step"] == st["max_steps"] > 0
    assert not [f for f in st["findings"] if f["code"] in ("LOSS_COLLAPSE", "DUPLICATE_EXACT")
                and f["severity"] != "info"], st["findings"]
    with RunStore(nxt) as s:
        assert s.get_meta("config")["data"]["train_file"] == str(fixed.absolute() / "data.jsonl")
    # The next config differs from the halted run's in the data file alone (a data fault
    # changes no hyperparameter), and says why.
    r = invoke("config", "diff", str(run / "config.yaml"), str(run / "next.yaml"), env={"COLUMNS": "400"})
    keys = [ln.split("│")[1].strip() for ln in r.stdout.splitlines() if ln.startswith("│")]
    assert [k for k in keys if k] == ["data.train_file"]
    text = (run / "next.yaml").read_text("utf-8")
    assert f"# change data.train_file: 1,199 rows removed (DUPLICATE_EXACT 1,199); was {data}\n" in text
    assert "Deduplicate" not in text  # done by the fix: no longer advised
    assert any(b["title"].startswith("Training started") for b in ep.bodies[2:])  # the next run notifies too

    r = invoke("compare", str(run), str(nxt))
    assert r.returncode == 0, r.stdout + r.stderr
    # The collapsed run's loss on 1,300 copies is not ranked against the fixed run's.
    said = " ".join(r.stdout.split())
    assert "The training losses are not comparable: the runs trained on different rows (data.train_file is" in said
    assert "final train loss │ not comparable (1) │ not comparable (1)" in said


def test_next_train_notifies_where_the_first_run_did_without_writing_the_secret(tmp_path: Path, http_server) -> None:  # noqa: F811
    """A notification URL written in the config file is redacted in the run directory's
    config.yaml and in next.yaml; the run `next --train` starts still notifies the same endpoint
    (the URL comes back, in memory, from the config the first run was started with)."""
    from tests.helpers.cli import tiny_config

    ep = http_server()
    token = "Zq7tokenVALUE0123456789"
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in make_instruction_rows(60, seed=3)), "utf-8")
    config = tiny_config(tmp_path, data, notify={"urls": [f"json://127.0.0.1:{ep.port}/hook/{token}"]},
                         train={"max_steps": 3, "logging_steps": 1}, eval={"steps": 3})
    run = tmp_path / "run"
    r = invoke("train", str(config), "--run-dir", str(run), "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    first = len(ep.bodies)
    assert any(b["title"].startswith("Training started") for b in ep.bodies)

    r = invoke("next", str(run), "--train", "--set", "train.max_steps=2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"notify.urls: taken from {config}, as {run} was started (kept out of {run / 'next.yaml'})" in r.stderr
    assert any(b["title"].startswith("Training started") for b in ep.bodies[first:])
    for saved in (run / "config.yaml", run / "next.yaml", tmp_path / "run-next" / "config.yaml"):
        assert token not in saved.read_text("utf-8"), saved
