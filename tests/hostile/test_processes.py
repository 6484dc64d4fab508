"""Where a real process matters: signals to commands that wait, a trainer killed outright,
notification URLs that refuse or hang, and the terminal layout of findings (a real TTY).
Also the two runs of the acceptance: a run refused by the audit retried with --force in the
same directory, and a user's `--set eval.steps=50` on the tiny preset."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers.hostile import ODD, World, check_failure, check_success, json_out
from tests.hostile.test_data import config_for, make_data
from tests.httpserver import http_server, refused_port  # noqa: F401 - fixtures
from tests.live import poll, read_store
from tuneguard.store.run_store import RunStore

ENV = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def tuneguard(*args: object, **kw: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tuneguard", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=ENV, **kw)


def first_line(proc: subprocess.Popen, timeout: float = 120) -> str:
    """The first line the process prints on stdout (waiting for it, not for a fixed time)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    assert sel.select(timeout), "the command printed nothing"
    return proc.stdout.readline()


@pytest.fixture
def live_run(world: World, tmp_path: Path) -> Iterator[Path]:
    """A copy of the finished run whose store says running, owned by a live process that
    handles nothing (a trainer busy in a long step)."""
    run = tmp_path / "live"
    shutil.copytree(world.run("finished"), run)
    owner = subprocess.Popen(["sleep", "600"])
    with RunStore(run) as s:
        s.set_meta(state="running", pid=owner.pid, exit_reason=None)
    yield run
    owner.kill()
    owner.wait()


def test_ctrl_c_stops_watching_and_leaves_the_run_alone(live_run: Path) -> None:
    before = (live_run / "run.db").read_bytes()
    proc = tuneguard("watch", live_run, "--interval", "0.1")
    assert "running step 6/6" in first_line(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.strip().splitlines()[-1] == "stopped watching (the run goes on)"
    assert "Traceback" not in err
    assert (live_run / "run.db").read_bytes() == before


def test_ctrl_c_while_waiting_for_a_request_says_it_stays_queued(live_run: Path) -> None:
    proc = tuneguard("stop", live_run, "--wait")
    assert first_line(proc).startswith(f"stop requested for {live_run} (request 1)")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 130 and len(errors) == 1 and "Traceback" not in err, err
    assert "request 1 (stop) stays queued" in errors[0]
    with RunStore(live_run, readonly=True) as s:
        assert [(r["action"], r["status"]) for r in s.control_requests()][-1] == ("stop", "pending")


# Ctrl-C while the command group is still importing (a second or two at every start): the
# child's import of tuneguard.cli.commands marks a file and waits, so that the test's SIGINT
# lands inside the imports every time, not only on a slow machine.
IMPORTING = """
import pathlib, sys, time

marker = pathlib.Path(sys.argv.pop(1))


class Importing:
    def find_spec(self, name, path=None, target=None):
        if name == "tuneguard.cli.commands":
            marker.write_text("importing")
            while True:
                time.sleep(0.05)


sys.meta_path.insert(0, Importing())
sys.argv[1:] = ["status", "."]
"""


@pytest.mark.parametrize("start", [
    "from tuneguard.cli.main import run; run()",  # the console script `tuneguard`
    "import runpy; runpy.run_module('tuneguard', run_name='__main__', alter_sys=True)",  # python -m tuneguard
])
def test_ctrl_c_during_the_imports_at_start_is_one_line(tmp_path: Path, start: str) -> None:
    marker = tmp_path / "importing"
    proc = subprocess.Popen([sys.executable, "-c", IMPORTING + start, str(marker)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=ENV)
    try:
        poll(marker.exists, 120, "the command group's import", alive=lambda: proc.poll() is None or pytest.fail(
            proc.stderr.read()))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert (proc.returncode, out, err) == (130, "", "error: interrupted (Ctrl-C)\n")


@pytest.mark.slow
def test_a_killed_trainer_reads_failed_everywhere(world: World, tg, tmp_path: Path) -> None:
    """SIGKILL: no handler runs, nothing is recorded. status, status --json, watch and the
    report must still agree that the run failed, and why."""
    run = tmp_path / "run"
    cfg = config_for(tmp_path, world.good)
    proc = tuneguard("train", cfg, "--run-dir", run, "--set", "train.max_steps=5000", "--set", "train.logging_steps=1",
                     "--set", "guard.enabled=false", "--set", "eval.strategy=no",
                     "--set", "eval.load_best_model_at_end=false")
    try:
        poll(lambda: read_store(run, lambda s: s.state() == "running" and len(s.metrics("train")) >= 2),
             240, "two logged steps", alive=lambda: proc.poll() is None or pytest.fail(proc.stderr.read()))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    js = json_out(tg("status", "--json", run))
    assert js["state"] == "failed" and "killed or crashed" in js["exit_reason"]
    check_success(w := tg("watch", run))
    assert w.stdout.splitlines()[-1].startswith("run failed at step")
    check_success(tg("report", run))
    md = (run / "report.md").read_text()
    assert "state failed" in md and "killed or crashed" in md
    assert "| Early stopping did not trigger prematurely | UNKNOWN |" in md


# --- notification URLs ---------------------------------------------------------------------

@pytest.mark.parametrize("url, phrase", [
    ("", "apprise does not recognise this URL"),
    ("garbage", "apprise does not recognise this URL"),
    ("json://[::1", "apprise does not recognise this URL"),
    ("unknown-scheme://host/path", "apprise does not recognise this URL"),
    ("json://user:hunter2secret@127.0.0.1:{refused}/x", "connection refused"),
])
def test_notify_test_failures_are_one_line(tg, refused_port: int, url: str, phrase: str) -> None:  # noqa: F811
    r = tg("notify-test", url.format(refused=refused_port))
    check_failure(r, 1, "not sent: " + phrase)
    assert "hunter2secret" not in r.text


def test_notify_test_with_a_token_the_server_refuses(tg, http_server) -> None:  # noqa: F811
    ep = http_server(default=(401, {}))
    r = tg("notify-test", f"json://127.0.0.1:{ep.port}/hook/tok3nsecret99")
    check_failure(r, 1, "refused the token (HTTP 401)")
    assert "tok3nsecret99" not in r.text


@pytest.mark.slow
def test_an_unreachable_endpoint_neither_delays_the_end_nor_speaks_after_the_last_line(
        world: World, tmp_path: Path, http_server) -> None:  # noqa: F811
    """A server that accepts and never answers: each message waits notify.timeout_s. At the
    end the target that found no network is skipped, not waited for, and what the notifier
    has to say comes before the run's last line."""
    ep = http_server(hang=True)
    run = tmp_path / "run"
    cfg = config_for(tmp_path, world.good)
    proc = subprocess.run(
        [sys.executable, "-m", "tuneguard", "train", str(cfg), "--run-dir", str(run), "--set", "train.max_steps=4",
         "--set", "eval.steps=2", "--set", "train.save_steps=2", "--set", "notify.timeout_s=1",
         "--set", f'notify.urls=["json://127.0.0.1:{ep.port}/hook"]', "--set", "notify.events=[started, finished]",
         "--set", "guard.enabled=false"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stdout
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines[-1].startswith("run finished at step 4/4"), lines[-5:]
    assert ep.got_request.is_set()
    with RunStore(run, readonly=True) as s:
        failed = [e["payload"] for e in s.events("notify_failed")]
    # "started" timed out (one failure: the circuit breaker is still closed); "finished" was
    # skipped at the end instead of waiting for another timeout.
    assert [(p["event"], p["attempts"]) for p in failed] == [("started", 1), ("finished", 0)], failed
    assert failed[1]["reason"].startswith("skipped at the end of the run: unreachable")


# --- findings on a real terminal and in a pipe ----------------------------------------------

@pytest.mark.parametrize("columns", [80, 120])
def test_findings_are_blocks_that_fit_the_terminal(world: World, tmp_path: Path, columns: int) -> None:
    import pexpect

    data = make_data(tmp_path, "malformed4")
    cfg = config_for(tmp_path, data)
    env = {**ENV, "COLUMNS": str(columns), "TERM": "xterm"}
    for args in (["audit", str(cfg)], ["status", str(world.run(ODD))]):
        child = pexpect.spawn(sys.executable, ["-m", "tuneguard", *args], env=env, dimensions=(200, columns),
                              encoding="utf-8", timeout=240)
        child.expect(pexpect.EOF)
        child.close()
        text = _strip_ansi(child.before)
        lines = text.replace("\r\n", "\n").splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.startswith(("ERROR ", "WARNING ")))
        # (a long path in a header line, or in the closing command line, is left to the terminal to wrap)
        blocks = [ln for ln in lines[start:] if not ln.startswith(("  tuneguard audit ", "  tuneguard fix "))]
        assert all(len(ln) <= columns for ln in blocks), [ln for ln in blocks if len(ln) > columns]
        if args[0] == "audit":
            assert child.exitstatus == 1
            i = lines.index("ERROR MALFORMED_ROWS (audit)")
            body = lines[i + 1:lines.index("", i)]
            assert all(ln.startswith("  ") for ln in body), body  # wrapped under the block's indent
            # A wrapped message still reads as the message: no word was cut in two.
            assert " ".join(ln.strip() for ln in body).startswith("4 of 160 rows (2.5%) are malformed, more than "
                                                                  "data.max_malformed_fraction (0.01) allows")
        else:
            assert child.exitstatus == 0
            i = lines.index("WARNING PLATEAU (step 6)")
            body = lines[i + 1:lines.index("", i) if "" in lines[i:] else None]
            assert all(ln.startswith("  ") for ln in body), body
            assert " ".join(ln.strip() for ln in body).startswith(
                "The evaluation loss has not improved by more than 0.001 for the last three evaluations, so further "
                "steps at this learning rate are unlikely to help.")
            assert "  -> Stop here, or raise the learning rate for the next run." in lines or columns < 120


def test_findings_in_a_pipe_keep_one_line_each(world: World, tmp_path: Path) -> None:
    data = make_data(tmp_path, "malformed4")
    r = subprocess.run([sys.executable, "-m", "tuneguard", "audit", str(config_for(tmp_path, data))],
                       capture_output=True, text=True, env={**ENV, "COLUMNS": "80"}, timeout=240)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index("ERROR MALFORMED_ROWS (audit)")
    assert lines[i + 1].startswith("  4 of 160 rows") and lines[i + 1].endswith("lines 11, 51, 100, 141).")


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", text)


# --- the acceptance runs --------------------------------------------------------------------

@pytest.mark.slow
def test_eval_steps_on_the_tiny_preset_and_a_refused_run_retried_with_force(world: World, tg,
                                                                           tmp_path: Path) -> None:
    """`tuneguard train tiny.yaml --set eval.steps=50`: the preset's save_steps (20) follows
    the user's eval.steps with one note. The data has 4 malformed rows of 160, so the audit
    refuses (exit 2); the same command with --force then trains in the same directory."""
    data = make_data(tmp_path, "malformed4")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({"preset": "tiny", "data": {"train_file": str(data)}}))
    run = tmp_path / "run"
    args = ["train", cfg, "--run-dir", run, "--set", "eval.steps=50"]
    refused = tg(*args)
    check_failure(refused, 2, "MALFORMED_ROWS")
    note = [ln for ln in refused.stderr.splitlines() if ln.startswith("note:")]
    assert note == ["note: train.save_steps 20 (from the preset) is not a multiple of your eval.steps 50: "
                    "checkpoints are saved every 50 steps instead, at the evaluation cadence"]
    assert (run / "run.db").exists()  # the refused attempt is on record (status shows why) ...
    forced = tg(*args, "--force")  # ... and does not block the retry its error line advised
    check_success(forced)
    assert note[0] in forced.stderr
    assert forced.stdout.splitlines()[-1].startswith("run finished at step 60/60")
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("checkpoint-"))[:1] == \
        ["checkpoint-50"]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["save_steps"] == 50
    with RunStore(run, readonly=True) as s:
        assert s.state() == "finished"
        assert [f.severity for f in s.findings() if f.code == "MALFORMED_ROWS"] == ["error"]
    assert json.loads(tg("status", "--json", run).stdout)["state"] == "finished"
