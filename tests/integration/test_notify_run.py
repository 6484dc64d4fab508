"""A tiny run notifies a real local HTTP server through apprise's json:// URL."""

import time

import pytest

from tests.conftest import cli, tiny_config
from tests.httpserver import http_server, refused_port  # noqa: F401 - fixtures
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

THAI = range(0x0E00, 0x0E80)


def _run(tmp_path, train_file, urls, name, **notify):
    cfg = tiny_config(tmp_path, train_file, notify={"urls": urls, "flush_timeout_s": 5, "timeout_s": 2,
                                                    "retries": 1, **notify})
    t0 = time.monotonic()
    r = cli("train", str(cfg), "--run-dir", str(tmp_path / name))
    return r, time.monotonic() - t0


def _titles(ep):
    return [b.get("title", "") for b in ep.bodies]


def test_messages_arrive_in_order_english_and_thai(tmp_path, train_file, http_server):  # noqa: F811
    ep = http_server()
    r, _ = _run(tmp_path, train_file, [f"json://127.0.0.1:{ep.port}/hook"], "en")
    assert r.returncode == 0, r.stderr
    titles = _titles(ep)
    start = next(i for i, t in enumerate(titles) if t.startswith("Training started"))
    evals = [i for i, t in enumerate(titles) if t.startswith("Evaluation")]
    fin = next(i for i, t in enumerate(titles) if t.startswith("Training finished"))
    assert start < evals[0] and len(evals) >= 1 and evals[-1] < fin, titles
    started = ep.bodies[start]["message"]
    assert "builtin:tiny-gptj" in started and "Training rows: 360" in started

    th = http_server()
    r, _ = _run(tmp_path, train_file, [f"json://127.0.0.1:{th.port}/hook"], "th", language="th")
    assert r.returncode == 0, r.stderr
    assert len(th.bodies) >= 3
    for b in th.bodies:
        assert any(ord(ch) in THAI for ch in b["title"] + b["message"]), b


def test_failing_endpoints_never_fail_the_run(tmp_path, train_file, http_server, refused_port):  # noqa: F811
    base, t_base = _run(tmp_path, train_file, [], "base")
    assert base.returncode == 0
    e500 = http_server(default=(500, {}))
    hang = http_server(hang=True)
    urls = [f"json://127.0.0.1:{e500.port}/x", f"json://127.0.0.1:{hang.port}/x",
            f"json://127.0.0.1:{refused_port}/x"]
    r, t = _run(tmp_path, train_file, urls, "bad")
    assert r.returncode == 0, r.stderr
    with RunStore(tmp_path / "bad") as s:
        assert s.state() == "finished"
        failures = s.events("notify_failed")
        caller_s = s.get_meta("notify_caller_seconds")
    # What bad endpoints cost the training thread, measured in the run: queueing only.
    assert caller_s is not None and caller_s < 0.5, caller_s
    # And the whole run: the flush limit (5 s) bounds the end; the rest is this shared
    # machine's timing noise (a loose bound: a blocking notifier would add minutes).
    assert t < 2 * t_base + 5 + 30, (t, t_base)
    assert failures
    st = cli("status", str(tmp_path / "bad"))
    assert "notification(s) failed" in st.stdout
