"""A run that fails before its run store exists (a model that will not load, a tokenizer that
cannot be read, data that cannot be prepared) leaves a record: config.yaml and a run store whose state
is failed, with the exit reason, the exit code and the command, so that `status` and `report`
say what failed and how to start it again; the lock is released and the same command, once
the cause is fixed, trains in the same directory."""

from __future__ import annotations

import json

from tests.helpers.cli import invoke, tiny_config
from tests.helpers.reliability import train_inproc
from tuneguard.config.load import load_config
from tuneguard.dist import StartGate
from tuneguard.errors import EXIT_FAIL
from tuneguard.store.run_store import RunStore
from tuneguard.train.failure import REASON_CHARS, RunFailure, exit_reason
from tuneguard.train.rundir import RunDirLock


def test_a_model_that_does_not_load_is_recorded_and_the_same_command_runs_again(tmp_path, train_file, capsys):
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 2, "logging_steps": 1}, eval={"steps": 2})
    run, missing = tmp_path / "run", tmp_path / "no-model"
    assert train_inproc(cfg, run, f"model.name={missing}") == 2
    err = capsys.readouterr().err
    assert f"model.name {missing} does not exist" in err, err
    assert sorted(p.name for p in run.iterdir()) == [".lock", "config.yaml", "run.db"]
    lock = RunDirLock(run)
    lock.acquire()  # released: another trainer may take the directory
    lock.release()

    r = invoke("status", str(run), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["state"] == "failed" and s["exit_code"] == 2 and s["step"] == 0
    assert s["exit_reason"].startswith(f"model.name {missing} does not exist: give a folder saved with "
                                       "save_pretrained")
    command = f"tuneguard train {cfg} --run-dir {run} --set model.name={missing}"
    assert s["rerun"] == command
    text = " ".join(invoke("status", str(run)).stdout.split())
    assert f"ended (exit 2): model.name {missing} does not exist" in text
    assert (f"It ended before training started, so there is nothing to resume: start it again with `{command}` "
            "once the reason above is dealt with (the same run directory is reused).") in text
    assert invoke("report", str(run)).returncode == 0
    assert f"exit reason: model.name {missing} does not exist" in (run / "report.md").read_text("utf-8")
    with RunStore(run) as store:
        assert store.get_meta("config")["model"]["name"] == str(missing)  # the config it was started with
        assert [e["payload"]["before_training"] for e in store.events("failed")] == [True]

    # Fixed: the same directory trains, with or without --resume auto (nothing to resume).
    assert train_inproc(cfg, run, resume=True) == 0
    with RunStore(run) as store:
        assert store.state() == "finished" and store.get_meta("exit_code") is None
        assert store.get_meta("config")["model"]["name"] == "builtin:tiny-gptj"
        assert [m["step"] for m in store.metrics("train")] == [1, 2]


def test_the_exit_reason_is_cut_between_words_and_keeps_no_secret(tmp_path):
    message = "connection refused by " + "the upstream server " * 30
    reason = exit_reason(f"RuntimeError: {message}")
    assert reason.startswith("RuntimeError: connection refused by the upstream server")
    assert reason.endswith("server…") and len(reason) <= REASON_CHARS + 1

    # A secret at the head (scrubbed, not cut away) and one across the limit (scrubbed before the cut).
    head, tail = "xoxb-" + "h3ad" * 10, "xoxb-" + "s3cr3t" * 20
    url = f"json://hooks.example/{head}"
    message = f"POST {url} failed:\n" + "the upstream server " * 24 + tail
    cfg = load_config("tiny", [])
    failure = RunFailure(cfg, tmp_path, True, StartGate(None), secrets=[url, tail])
    with RunStore(tmp_path, create=True) as store:
        store.init_run(config={}, max_steps=4)
        code, _, line = failure.handle(RuntimeError(message), None, store, None, None)
        recorded = store.get_meta("exit_reason")
    assert code == EXIT_FAIL
    assert recorded.startswith("RuntimeError: POST *** failed: the upstream server the upstream")
    assert recorded.endswith(" the…") and "\n" not in recorded and len(recorded) <= REASON_CHARS + 1
    for part in ("h3ad", "s3cr3t", "xoxb"):
        assert part not in recorded and part not in (line or "")


def test_fp16_on_the_cpu_is_refused_before_anything_is_written(tmp_path, train_file, capsys):
    """Pure fp16 weights without loss scaling reach NaN within steps (and read as an unstable
    run); said at once, exit 2, no run directory."""
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 2, "use_cpu": True})
    run = tmp_path / "run"
    assert train_inproc(cfg, run, "model.dtype=fp16") == 2
    assert " ".join(capsys.readouterr().err.split()) == (
        "error: model.dtype is fp16, which needs a CUDA GPU, and this run is on the CPU (train.use_cpu is true): "
        "pure fp16 weights without loss scaling overflow to NaN within a few steps. Set --set model.dtype=auto "
        "(fp32 on the CPU, bf16 or fp16 on a GPU), or run on a GPU")
    assert not run.exists()


def test_a_run_directory_refusal_speaks_the_run_s_language(tmp_path, train_file, capsys):
    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 2})
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("mine: true\n")  # the user's own file, which a run would overwrite
    assert train_inproc(cfg, run, "notify.language=th") == 2
    assert " ".join(capsys.readouterr().err.split()) == (
        f"error: {run} มี config.yaml อยู่ แต่ไม่มีที่เก็บข้อมูลการรัน (run.db) และการรันจะเขียนทับไฟล์เหล่านี้ "
        "ให้เลือก --run-dir ใหม่ หรือใส่ --overwrite เพื่อแทนที่")
    assert (run / "config.yaml").read_text() == "mine: true\n" and not (run / "run.db").exists()


def test_an_audit_refusal_says_its_exit_code_and_the_command(tmp_path, capsys):
    data = tmp_path / "dup.jsonl"
    data.write_text('{"instruction": "same", "output": "same"}\n' * 200)
    cfg = tiny_config(tmp_path, data)
    run = tmp_path / "run"
    assert train_inproc(cfg, run) == 2
    # The refusal names the command that cleans what it can, as a halted run's message does.
    err = " ".join(capsys.readouterr().err.split())
    assert (f"pass --force to train anyway. `tuneguard fix {run}/config.yaml --out {run}-fixed-data` writes "
            "cleaned copies of the data without the rows behind DUPLICATE_EXACT, TRAIN_VAL_LEAKAGE, and a config that trains "
            "on them") in err
    s = json.loads(invoke("status", str(run), "--json").stdout)
    assert (s["state"], s["exit_code"], s["exit_reason"]) == ("failed", 2, "audit errors")
    assert s["rerun"] == f"tuneguard train {cfg} --run-dir {run}"


def test_an_audit_refusal_whose_data_was_fixed_points_at_the_next_run_not_the_same_command(tmp_path, capsys):
    """Once `tuneguard fix` cleaned the refused run's data, the command that started it would
    read the faulty file again (and be refused again): status names the fix and the next run."""
    from tuneguard.data.synthetic import make_instruction_rows

    rows = make_instruction_rows(150, seed=2)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows + rows[:60]))
    run = tmp_path / "run"
    assert train_inproc(tiny_config(tmp_path, data), run) == 2
    capsys.readouterr()
    assert invoke("fix", f"{run}/config.yaml", "--out", f"{run}-fixed-data").returncode == 0
    s = json.loads(invoke("status", str(run), "--json").stdout)
    assert (s["state"], s["rerun"]) == ("failed", None)
    assert s["data_fixed"] == {"out": f"{run}-fixed-data", "config": f"{run}-fixed-data/config.yaml"}
    assert s["next_steps"] == [{"kind": "next", "command": f"tuneguard next {run} --train"}]
    out = " ".join(invoke("status", str(run)).stdout.split())
    assert f"Next run: tuneguard next {run} --train" in out and "start it again" not in out


def test_a_resumed_run_does_not_keep_the_exit_code_of_its_failure(tmp_path):
    with RunStore(tmp_path, create=True) as store:
        store.init_run(config={}, max_steps=4)
        store.start_process()
        store.set_state("failed", exit_reason="RuntimeError: boom", exit_code=1)
        assert store.summary()["exit_code"] == 1
        store.start_process()  # --resume auto
        store.set_state("finished", exit_reason="completed")
        assert (store.summary()["state"], store.summary()["exit_code"]) == ("finished", None)


def test_a_directory_a_trainer_left_before_its_store_says_so(tmp_path):
    """Killed while it tokenized a large data set, a trainer leaves only its lock (and cache)."""
    (tmp_path / ".lock").write_text("pid 12 on host")
    r = invoke("status", str(tmp_path))
    assert r.returncode == 2
    assert " ".join(r.stderr.split()) == (
        f"error: no run store at {tmp_path}/run.db: a `tuneguard train` used {tmp_path} but ended before it "
        "recorded anything (killed while it prepared the data, or refused: its error line said why); run that "
        "command again")


def test_ctrl_c_while_the_model_loads_is_one_line_and_the_same_command_runs_again(tmp_path, train_file, capsys,
                                                                                   monkeypatch):
    """Ctrl-C after the run store exists and before the first step (the trainer's own handler
    is not installed yet): exit 130, one line, the run recorded as failed before training, and
    nothing that blocks the next try (it used to leave a store in no state at all, which the
    next `train` refused as "already holds a run")."""
    from tuneguard.catalog import say
    from tuneguard.errors import EXIT_INTERRUPTED
    from tuneguard.model import load as model_lib
    from tuneguard.train.rundir import never_trained

    cfg = tiny_config(tmp_path, train_file, train={"max_steps": 2, "logging_steps": 1}, eval={"steps": 2})
    run = tmp_path / "run"

    def ctrl_c(*a, **kw):
        raise KeyboardInterrupt

    with monkeypatch.context() as mp:
        mp.setattr(model_lib, "load_base_model", ctrl_c)
        assert train_inproc(cfg, run) == EXIT_INTERRUPTED == 130
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [f"error: {say('input.interrupted_setup')}"]
    assert "Traceback" not in err
    with RunStore(run) as store:
        assert store.view_state() == ("failed", say("input.interrupted_setup"))
        assert store.get_meta("exit_code") == 130
    assert never_trained(run)
    lock = RunDirLock(run)
    lock.acquire()  # released
    lock.release()
    assert train_inproc(cfg, run) == 0
    with RunStore(run) as store:
        assert store.state() == "finished" and [m["step"] for m in store.metrics("train")] == [1, 2]
