"""Secrets: planted tokens never reach the run directory, the output, the trackers or errors.

Tokens are planted in notify.urls (a json:// query value, a json:// path segment, a
LINE-style line://TOKEN/USER), in a URL given by ${ENV}, in model.hub_token (in the file)
and once more on the command line (--set model.hub_token=...). A tiny run (with --debug
logging, TensorBoard when installed) notifies a local server that fails now and then; then
`report`, `status`, `status --json` and `notify-test` run on it. Every byte of every file
in the run directory (run.db and its -wal, also read while the run is live; checkpoints'
trainer_state.json; tensorboard event files; report.html/md; config.yaml) and all captured
output is searched for every token: none may appear. A second test makes training fail
with an exception that quotes a secret URL: the message is scrubbed everywhere it goes.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.helpers.cli import cli, tiny_config
from tests.httpserver import http_server  # noqa: F401 - fixture
from tests.helpers.reliability import start_train, train_inproc, wait_until
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

TOKENS = {
    "query": "PLANTEDq7Zx1query",
    "path": "PLANTEDp4Tk2path",
    "line": "PLANTEDl1Ne3line",
    "env": "PLANTEDe5Nv4env",
    "hub": "PLANTEDh6Ub5hub",
    "argv": "PLANTEDa8Rg6argv",
}


def _leaks(data: bytes) -> list[str]:
    found = [name for name, tok in TOKENS.items() if tok.encode() in data]
    for enc in ("utf-16-le", "utf-16-be"):  # tensorboard and SQLite text could be stored wide
        found += [f"{name} ({enc})" for name, tok in TOKENS.items() if tok.encode(enc) in data]
    if b"PLANTED" in data and not found:
        found.append("a fragment")
    return found


def _scan_dir(root: Path) -> dict[str, list[str]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            leaks = _leaks(p.read_bytes())
            if leaks:
                out[str(p.relative_to(root))] = leaks
    return out


def _config(tmp_path: Path, train_file: Path, port: int, **extra) -> Path:
    t = TOKENS
    sections = dict(
        model={"hub_token": t["hub"]},
        notify={"urls": [f"json://127.0.0.1:{port}/hook?token={t['query']}",
                         f"json://127.0.0.1:{port}/{t['path']}/x",
                         f"line://{t['line']}/U1234567890abcdef",
                         "${TG_TEST_SECRET_URL}"],
                "timeout_s": 2, "retries": 1, "flush_timeout_s": 5, "progress_interval_s": 0.5},
        train={"logging_steps": 1, "max_steps": 40},
        **extra,
    )
    return tiny_config(tmp_path, train_file, **sections)


def test_planted_tokens_never_leave_the_config(tmp_path, train_file, http_server):  # noqa: F811
    # The server fails now and then: failures are recorded (with reasons) and must be scrubbed.
    ep = http_server(responses=[(500, {}), (200, {}), (503, {"Retry-After": "0"}), (200, {})] * 3,
                     default=(200, {}))
    trackers = {"report_to": ["tensorboard"]} if importlib.util.find_spec("tensorboard") else {}
    if not trackers and os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail("tensorboard is a test dependency: CI must scan its event files too", pytrace=False)
    cfg = _config(tmp_path, train_file, ep.port)
    if trackers:
        import yaml

        raw = yaml.safe_load(cfg.read_text())
        raw["train"].update(trackers)
        cfg.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    env = {"TG_TEST_SECRET_URL": f"json://user:{TOKENS['env']}@127.0.0.1:{ep.port}/envhook"}
    p = start_train(tmp_path, "train", str(cfg), "--run-dir", str(run), "--debug",
                    "--set", f"model.hub_token={TOKENS['argv']}", env=env)
    live: dict[str, list[str]] = {}
    try:
        # While the run is live: the WAL holds what is not yet in run.db.
        wait_until(lambda: (run / "run.db-wal").exists() and "step 20/" in p.stdout, "step 20", p)
        for name in ("run.db", "run.db-wal"):
            if (run / name).exists():
                leaks = _leaks((run / name).read_bytes())
                if leaks:
                    live[name] = leaks
        code = p.wait(600)
    finally:
        p.kill()
    assert code == 0, p.stderr[-3000:]
    assert live == {}
    # The notifications went out, with their tokens, to where they belong (the ${ENV} URL too).
    paths = [r["path"] for r in ep.requests]
    assert any(TOKENS["path"] in x for x in paths) and any(x.startswith("/envhook") for x in paths), paths
    assert set(_leaks(cfg.read_bytes())) >= {"query", "path", "line", "hub"}  # the scan sees tokens

    outputs = {"train": p.stdout + p.stderr}
    for name, args in {"report": ["report", str(run)], "status": ["status", str(run)],
                       "status_json": ["status", str(run), "--json"],
                       "notify_test": ["notify-test", f"json://127.0.0.1:1/{TOKENS['path']}?token={TOKENS['query']}"],
                       }.items():
        r = cli(*args, env=env)
        outputs[name] = r.stdout + r.stderr
    assert "not sent" in outputs["notify_test"]

    with RunStore(run) as s:
        failures = s.events("notify_failed")
        state = s.state()
    assert state == "finished" and failures, "expected recorded notification failures to scan"
    assert (run / "report.html").exists() and list((run / "checkpoints").glob("*/trainer_state.json"))
    if trackers:
        assert list(run.rglob("events.out.tfevents*")), "tensorboard wrote no event files"
    assert _scan_dir(run) == {}
    assert {k: _leaks(v.encode()) for k, v in outputs.items() if _leaks(v.encode())} == {}
    cfg_text = (run / "config.yaml").read_text()
    assert "${TG_TEST_SECRET_URL}" in cfg_text and "hub_token: '***'" in cfg_text


def test_an_exception_quoting_a_secret_is_scrubbed(tmp_path, train_file, http_server, monkeypatch,  # noqa: F811
                                                   capsys, caplog):
    ep = http_server()
    cfg = _config(tmp_path, train_file, ep.port, )
    monkeypatch.setenv("TG_TEST_SECRET_URL", f"json://user:{TOKENS['env']}@127.0.0.1:{ep.port}/envhook")
    from tuneguard.train import metrics

    real = metrics.MetricsCallback.on_log

    def on_log(self, args, state, control, logs=None, **kw):
        if state.global_step >= 5:  # a library error that quotes the URL it was given
            raise ConnectionError(f"POST json://127.0.0.1:{ep.port}/{TOKENS['path']}/x?token={TOKENS['query']} "
                                  f"failed (auth {TOKENS['hub']}, via json://user:{TOKENS['env']}@host)")
        return real(self, args, state, control, logs=logs, **kw)

    monkeypatch.setattr(metrics.MetricsCallback, "on_log", on_log)
    run = tmp_path / "run"
    assert train_inproc(cfg, run) == 1
    captured = capsys.readouterr()
    assert "training failed: ConnectionError" in captured.err
    with RunStore(run) as s:
        failed = s.events("failed")
        reason = s.get_meta("exit_reason")
    assert failed and "ConnectionError" in failed[-1]["payload"]["error"]
    texts = {"stderr": captured.err, "stdout": captured.out, "exit_reason": reason, "event": str(failed),
             "log": caplog.text}
    assert {k: _leaks(v.encode()) for k, v in texts.items() if _leaks(v.encode())} == {}
    assert _scan_dir(run) == {}
    ep.wait_for(1)  # the "failed" notification went out
