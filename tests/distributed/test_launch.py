"""`tuneguard train` under torchrun and accelerate launch with two CPU (gloo) processes.

What must hold with several processes: only rank 0 writes the run store, the report and the
notifications; an audit refusal reaches every rank before any model loads; a guard halt, a
`tuneguard stop` and a SIGTERM stop every rank at the same step with one checkpoint that
both ranks wrote; `--resume auto` under torchrun continues the run; nobody hangs, and no
worker outlives its launcher.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.distributed.launch import (
    MIXED_BACKEND,
    QUIET,
    Launch,
    checkpoint_steps,
    poll,
    read_store,
    saved_by_both_ranks,
    write_collapse_data,
)
from tests.httpserver import http_server  # noqa: F401 - fixture
from tuneguard.cli.main import app
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.checkpoints import MARKER

pytestmark = pytest.mark.slow


def launcher_exit_codes(out: str) -> dict[int, int]:
    """Each failed worker's exit code in torchrun's failure report (-15: it sent SIGTERM)."""
    import re

    return {int(r): int(c) for r, c in re.findall(r"rank\s*: (\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*: (-?\d+)", out)}


def worker_traceback(out: str) -> bool:
    """A worker's uncaught exception (torchrun prefixes its lines with [rankN]:)."""
    return any(line.startswith("[rank") and "Traceback" in line for line in out.splitlines())


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    return write_jsonl(make_instruction_rows(200, seed=0), tmp_path_factory.mktemp("data") / "train.jsonl")


@pytest.fixture
def launch(tmp_path):
    started: list[Launch] = []

    def start(name: str, config: str, settings: list[str], **kw) -> Launch:
        run = Launch(tmp_path / name, config, settings, **kw)
        started.append(run)
        return run

    yield start
    for run in started:
        run.close()


def test_two_processes_finish_with_one_record_and_one_message_each(launch, data, http_server):  # noqa: F811
    ep = http_server()
    run = launch("run", "tiny", [f"data.train_file={data}", "train.max_steps=12", "train.logging_steps=2",
                                 "eval.steps=6", "train.save_steps=6", f'notify.urls=["json://127.0.0.1:{ep.port}/x"]',
                                 "notify.flush_timeout_s=10"])
    assert run.wait() == 0, run.output()[-4000:]
    run.assert_no_worker_left()
    out = run.output()

    # The store: written by rank 0 only, one row per logged step, one start and one end.
    with_store = lambda fn: read_store(run.run_dir, fn)
    assert with_store(lambda s: s.state()) == "finished"
    assert with_store(lambda s: [r["step"] for r in s.metrics("train")]) == [1, 2, 4, 6, 8, 10, 12]
    assert with_store(lambda s: [r["step"] for r in s.metrics("eval")]) == [6, 12]
    for kind, n in (("started", 1), ("finished", 1), ("evaluation", 2)):
        assert len(with_store(lambda s, k=kind: s.events(k))) == n, kind
    # Two processes of 8 rows each per step: 180 rows make 12 steps per epoch.
    assert with_store(lambda s: s.get_meta("steps_per_epoch")) == 12

    # The webhook heard exactly one start and one finish (rank 1 has no notifier).
    titles = [b.get("title", "") for b in ep.bodies]
    assert sum(t.startswith("Training started") for t in titles) == 1, titles
    assert sum(t.startswith("Training finished") for t in titles) == 1, titles

    # Rank 0 alone shows progress and the final line; nobody printed a traceback.
    assert out.count("run finished at step 12/12") == 1, out[-3000:]
    assert out.count("step 12/12  loss") == 1
    assert "Traceback" not in out

    # The adapter that rank 0 wrote reloads and runs.
    import torch

    from tuneguard.train.adapter import load_trained

    model, tok, _cfg = load_trained(run.run_dir)
    ids = tok("Question: what is two plus two?\nAnswer:", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert torch.isfinite(loss)
    assert (run.run_dir / "report.html").exists()


def test_guard_halt_stops_both_ranks_and_the_trackers_show_why(launch, tmp_path, monkeypatch, http_server):  # noqa: F811
    """Under the process group of a GPU machine ("cpu:gloo,cuda:nccl", played as
    "cpu:gloo,cuda:gloo"): every rank halts at the same step and waits for rank 0, which
    writes the final state, the report and its notifications (a slow endpoint: one second
    per message) before anyone exits. Before tuneguard had a gloo group of its own, the
    end-of-run barrier raised on that group, rank 1 exited with 1 at once, and the launcher
    killed rank 0 in the middle of its report."""
    ep = http_server(delay=1.0)
    collapse = write_collapse_data(tmp_path / "dup.jsonl")
    mlruns = tmp_path / "mlruns"
    run = launch("halt", "tiny", [f"data.train_file={collapse}", "train.max_steps=-1", "train.num_epochs=1",
                                  "train.logging_steps=2", "train.report_to=[tensorboard, mlflow]",
                                  f'notify.urls=["json://127.0.0.1:{ep.port}/x"]', "notify.flush_timeout_s=60"],
                 extra=["--force"], entry=MIXED_BACKEND,
                 env={"MLFLOW_TRACKING_URI": f"file:{mlruns}", "MLFLOW_ALLOW_FILE_STORE": "true",
                      "MLFLOW_EXPERIMENT_NAME": "tuneguard-test"})
    rc = run.wait()
    out = run.output()
    assert rc == 1, out[-4000:]
    run.assert_no_worker_left()
    assert "not every process finished together" not in out and "SIGTERM received" not in out
    assert launcher_exit_codes(out)[0] == 1  # rank 0 exited on its own, first: nothing cut it off
    assert out.count("run halted at step") == 1  # rank 0's last line: it finished
    assert (run.run_dir / "report.html").exists() and (run.run_dir / "report.md").exists()
    titles = [b.get("title", "") for b in ep.bodies]
    assert sum(t.startswith("Training halted") for t in titles) == 1, titles

    state, findings, steps = read_store(run.run_dir, lambda s: (s.state(), s.findings(), [r["step"] for r in s.metrics("train")]))
    assert state == "halted", out[-3000:]
    (f,) = [f for f in findings if f.code == "LOSS_COLLAPSE"]
    spe = -(-2700 // 16)  # 2,700 training rows, 2 processes x 8 rows per step
    assert f.severity == "error" and f.step <= 0.1 * spe
    assert steps[-1] == f.step  # halted at the step that found it, on every rank:
    ckpt = run.run_dir / "checkpoints" / f"checkpoint-{f.step}"
    assert (ckpt / MARKER).exists() and saved_by_both_ranks(ckpt)
    assert checkpoint_steps(run.run_dir) == [f.step]
    assert out.count("LOSS_COLLAPSE") >= 1 and not worker_traceback(out)

    # TensorBoard: the Trainer's metrics plus tuneguard's audit, finding marker and events.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run.run_dir / "tensorboard"), size_guidance={"tensors": 0, "scalars": 0})
    ea.Reload()
    assert [e.step for e in ea.Scalars("train/loss")] == steps
    assert [(e.step, e.value) for e in ea.Scalars("tuneguard/finding/LOSS_COLLAPSE")] == [(f.step, 3.0)]
    assert ea.Scalars("tuneguard/audit_errors")[0].value >= 1
    assert len(ea.Scalars("tuneguard/tokens_per_s")) == len(steps)

    def texts(tag: str) -> list[tuple[int, str]]:
        return [(e.step, e.tensor_proto.string_val[0].decode()) for e in ea.Tensors(f"{tag}/text_summary")]

    assert "DUPLICATE_EXACT" in texts("tuneguard/audit")[0][1]
    (found,) = texts("tuneguard/findings")
    assert found[0] == f.step and "ERROR LOSS_COLLAPSE" in found[1] and "Recommendation" in found[1]
    events = texts("tuneguard/events")
    assert next(e for e in events if e[1].startswith("**halted**"))[0] == f.step
    assert any(e[1].startswith("**started**") for e in events)

    # MLflow (local file store): the metrics, and the findings as tags, a metric and files.
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 keeps the file store behind this flag
    client = mlflow.MlflowClient(tracking_uri=f"file:{mlruns}")
    (mrun,) = client.search_runs([client.get_experiment_by_name("tuneguard-test").experiment_id])
    rid = mrun.info.run_id
    assert [m.step for m in client.get_metric_history(rid, "loss")] == steps
    tags = mrun.data.tags
    assert tags["tuneguard.finding.LOSS_COLLAPSE"] == "error"
    assert tags["tuneguard.state"] == "halted" and tags["tuneguard.halt"].startswith("LOSS_COLLAPSE")
    assert "DUPLICATE_EXACT" in tags["tuneguard.audit.codes"] and int(tags["tuneguard.audit.errors"]) >= 1
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "tuneguard.finding_severity")] == [(f.step, 3.0)]
    assert mrun.data.params["tuneguard.world_size"] == "2"
    saved = json.loads(Path(client.download_artifacts(rid, "tuneguard/findings.json", str(tmp_path))).read_text())
    assert "LOSS_COLLAPSE" in [x["code"] for x in saved]


def test_a_failure_on_every_rank_ends_together_after_rank0_recorded_it(launch, data, http_server):  # noqa: F811
    """Every rank fails at the same step (as a crash in a training step does) under the
    GPU-shaped group: the ranks wait for rank 0 to record the failure and send it (a slow
    endpoint) before any exits, so the launcher cannot cut it off."""
    ep = http_server(delay=3.0)
    run = launch("fail", "tiny", [f"data.train_file={data}", "train.max_steps=8", *QUIET,
                                  f'notify.urls=["json://127.0.0.1:{ep.port}/x"]', "notify.flush_timeout_s=60"],
                 entry=MIXED_BACKEND, env={"TUNEGUARD_TEST_FAIL_AT_STEP": "3"})
    rc = run.wait()
    out = run.output()
    assert rc != 0, out[-4000:]
    run.assert_no_worker_left()
    state, reason = read_store(run.run_dir, lambda s: (s.state(), s.get_meta("exit_reason")))
    assert state == "failed" and "planted failure at step 3" in reason, out[-3000:]
    # Rank 1 waited for rank 0: the launcher never had to stop rank 0 while it was writing.
    assert "SIGTERM received" not in out
    assert launcher_exit_codes(out)[0] == 1  # rank 0 exited on its own, first: nothing cut it off
    titles = [b.get("title", "") for b in ep.bodies]
    assert sum(t.startswith("Training failed") for t in titles) == 1, titles
    assert out.count("training failed: RuntimeError: planted failure at step 3") >= 1


def test_audit_refusal_reaches_every_rank_before_a_model_loads(launch, tmp_path):
    collapse = write_collapse_data(tmp_path / "dup.jsonl", rows=400)
    run = launch("refused", "tiny", [f"data.train_file={collapse}"])  # no --force
    rc = run.wait(180)
    out = run.output()
    assert rc != 0, out[-3000:]
    run.assert_no_worker_left()
    assert out.count("the data audit found") == 1 and "DUPLICATE_EXACT" in out  # said once, by rank 0
    assert "exitcode  : 2" in out and not worker_traceback(out)
    assert not (run.run_dir / "base_model").exists() and not (run.run_dir / "checkpoints").exists()
    assert read_store(run.run_dir, lambda s: (s.state(), s.get_meta("exit_reason"))) == ("failed", "audit errors")


def test_stop_request_stops_both_ranks_and_resume_continues_under_torchrun(launch, data):
    settings = [f"data.train_file={data}", "train.max_steps=200", *QUIET]
    run = launch("stop", "tiny", settings)
    run.wait_running(min_step=3)
    result = CliRunner().invoke(app, ["stop", str(run.run_dir)])
    assert result.exit_code == 0, result.output
    assert run.wait() == 0, run.output()[-4000:]
    run.assert_no_worker_left()
    assert run.state() == "stopped"
    # Its "continue it with" command starts with the launcher it ran under (from the workers' environment).
    assert read_store(run.run_dir, lambda s: s.get_meta("invocation"))["launcher"] == [
        "torchrun", "--nproc_per_node", "2"]
    (req,) = read_store(run.run_dir, lambda s: s.control_requests())
    assert (req["action"], req["status"]) == ("stop", "done")
    assert run.output().count("continue it with `torchrun --nproc_per_node 2 ") == 1  # rank 0's, not one per rank
    stop_step = req["handled_step"]
    assert 3 <= stop_step < 200
    ckpt = run.run_dir / "checkpoints" / f"checkpoint-{stop_step}"
    assert (ckpt / MARKER).exists() and saved_by_both_ranks(ckpt)
    assert max(checkpoint_steps(run.run_dir)) == stop_step

    resumed = launch("stop", "tiny", settings, extra=["--resume", "auto"])
    assert resumed.wait() == 0, resumed.output()[-4000:]
    resumed.assert_no_worker_left()
    assert resumed.state() == "finished"
    (ev,) = read_store(run.run_dir, lambda s: s.events("resumed"))
    assert ev["payload"]["from_step"] == stop_step
    steps = read_store(run.run_dir, lambda s: [r["step"] for r in s.metrics("train")])
    assert steps == list(range(1, 201))  # one row per step: none lost, none twice
    assert resumed.output().count(f"resuming from checkpoint-{stop_step}") == 1


def test_sigterm_to_accelerate_launch_stops_every_rank_with_one_checkpoint(launch, data):
    run = launch("sigterm", "tiny", [f"data.train_file={data}", "train.max_steps=400", *QUIET],
                 launcher="accelerate")
    run.wait_running(min_step=3)
    os.killpg(run.proc.pid, signal.SIGTERM)  # as a preempted machine or Ctrl-C: every process
    run.wait()
    run.assert_no_worker_left()
    poll(lambda: run.state() == "stopped", 10, "state stopped")
    reqs = read_store(run.run_dir, lambda s: s.control_requests())
    # Rank 0's own SIGTERM, or (when rank 1 took its signal one agreement earlier) the peer's.
    assert [(r["action"], r["status"]) for r in reqs] == [("stop", "done")], reqs
    assert reqs[0]["arg"] in ("SIGTERM", "peer")
    stop_step = reqs[0]["handled_step"]
    ckpt = run.run_dir / "checkpoints" / f"checkpoint-{stop_step}"
    assert (ckpt / MARKER).exists() and saved_by_both_ranks(ckpt)
    assert checkpoint_steps(run.run_dir) == [stop_step] and stop_step < 400
    assert read_store(run.run_dir, lambda s: s.get_meta("exit_reason")).startswith("stop")
    assert read_store(run.run_dir, lambda s: s.get_meta("invocation"))["launcher"] == [
        "accelerate", "launch", "--multi_gpu", "--num_processes", "2"]
