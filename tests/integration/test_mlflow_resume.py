"""A run stopped by SIGTERM (a preempted machine) and continued with `--resume auto` and
`MLFLOW_RUN_ID` (docs/DISTRIBUTED.md) goes on in the same MLflow run: one run in the
experiment, the loss of every step of both processes in its history, the final state
tagged. MLflow's local file store, read back with its own client."""

from __future__ import annotations

import os
import signal

import pytest

from tests.helpers.cli import cli, kill_group, missing, start_cli, tiny_config
from tests.live import poll, read_store

pytestmark = pytest.mark.slow


def test_resume_with_mlflow_run_id_continues_the_same_mlflow_run(tmp_path, train_file, monkeypatch):
    try:
        import mlflow
    except ImportError:
        missing("mlflow is a test dependency (pip install -e '.[test]')")
    # The file store (a SQLite store spends most of a minute creating its schema here).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it behind this flag
    env = {"MLFLOW_TRACKING_URI": f"file:{tmp_path / 'mlruns'}", "MLFLOW_ALLOW_FILE_STORE": "true",
           "MLFLOW_EXPERIMENT_NAME": "tuneguard-resume"}
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 16, "logging_steps": 1, "save_steps": 4,
                                                   "report_to": ["mlflow"]},
                      eval={"steps": 4}, guard={"enabled": False})
    run = tmp_path / "run"
    proc = start_cli("train", str(cfg), "--run-dir", str(run), env=env)
    try:
        poll(lambda: (read_store(run, lambda s: s.get_meta("step")) or 0) >= 3, 300, "step 3",
             alive=lambda: proc.poll() is None or pytest.fail(proc.communicate()[1][-3000:]))
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    finally:
        kill_group(proc)
    stopped_at = read_store(run, lambda s: s.get_meta("step"))
    assert read_store(run, lambda s: s.state()) == "stopped" and stopped_at < 16

    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    (first,) = client.search_runs([client.get_experiment_by_name("tuneguard-resume").experiment_id])
    assert first.data.tags["tuneguard.state"] == "stopped"
    r = cli("train", str(cfg), "--run-dir", str(run), "--resume", "auto",
            env={**env, "MLFLOW_RUN_ID": first.info.run_id})
    assert r.returncode == 0, r.stderr[-3000:]

    (again,) = client.search_runs([client.get_experiment_by_name("tuneguard-resume").experiment_id])
    assert again.info.run_id == first.info.run_id  # no second MLflow run
    steps = sorted({m.step for m in client.get_metric_history(again.info.run_id, "loss")})
    assert steps == list(range(1, 17))  # both processes' steps, in one history
    assert again.data.tags["tuneguard.state"] == "finished"
    assert again.data.params["tuneguard.run_dir"] == str(run)
