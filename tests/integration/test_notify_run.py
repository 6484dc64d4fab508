"""A tiny run notifies a real local HTTP server through apprise's json:// URL."""

import pytest

from tests.helpers.cli import cli, kill_group, start_cli, tiny_config
from tests.httpserver import http_server, refused_port  # noqa: F401 - fixtures
from tests.live import poll, read_store
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

THAI = range(0x0E00, 0x0E80)


def _run(tmp_path, train_file, urls, name, **notify):
    cfg = tiny_config(tmp_path, train_file, notify={"urls": urls, "flush_timeout_s": 5, "timeout_s": 2,
                                                    "retries": 1, **notify})
    return cli("train", str(cfg), "--run-dir", str(tmp_path / name))


def _titles(ep):
    return [b.get("title", "") for b in ep.bodies]


def test_messages_arrive_in_order_english_and_thai(tmp_path, train_file, http_server):  # noqa: F811
    ep = http_server()
    r = _run(tmp_path, train_file, [f"json://127.0.0.1:{ep.port}/hook"], "en")
    assert r.returncode == 0, r.stderr
    titles = _titles(ep)
    start = next(i for i, t in enumerate(titles) if t.startswith("Training started"))
    evals = [i for i, t in enumerate(titles) if t.startswith("Evaluation")]
    fin = next(i for i, t in enumerate(titles) if t.startswith("Training finished"))
    assert start < evals[0] and len(evals) >= 1 and evals[-1] < fin, titles
    started = ep.bodies[start]["message"]
    assert "builtin:tiny-gptj" in started and "Training rows: 360" in started

    th = http_server()
    r = _run(tmp_path, train_file, [f"json://127.0.0.1:{th.port}/hook"], "th", language="th")
    assert r.returncode == 0, r.stderr
    assert len(th.bodies) >= 3
    for b in th.bodies:
        assert any(ord(ch) in THAI for ch in b["title"] + b["message"]), b


def test_failing_endpoints_never_fail_or_hold_up_the_run(tmp_path, train_file, http_server, refused_port):  # noqa: F811
    """A server error, a refused connection and an endpoint that never answers (with a 10
    minute request timeout): the run trains to the end, finishes and writes its report while
    the hung request is still unanswered, so training never waited on it. (A blocking
    notifier would sit 10 minutes on the first message.)"""
    e500 = http_server(default=(500, {}))
    hang = http_server(hang=True)
    urls = [f"json://127.0.0.1:{e500.port}/x", f"json://127.0.0.1:{refused_port}/x",
            f"json://127.0.0.1:{hang.port}/x"]
    cfg = tiny_config(tmp_path, train_file, notify={"urls": urls, "flush_timeout_s": 2, "timeout_s": 600,
                                                    "retries": 1})
    run = tmp_path / "bad"
    proc = start_cli("train", str(cfg), "--run-dir", str(run))
    try:
        poll(lambda: read_store(run, lambda s: s.events("report")), 300, "the run's report",
             alive=lambda: proc.poll() is None or pytest.fail(proc.communicate()[1][-3000:]))
        assert hang.got_request.is_set() and hang.answered == 0 and len(hang.requests) == 1
        # The process now waits only for the hung socket (apprise's worker thread): let it go.
        hang.release.set()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    finally:
        kill_group(proc)
    with RunStore(run) as s:
        assert s.state() == "finished"
        failed = [e["payload"] for e in s.events("notify_failed")]
        dropped = s.events("notify_dropped")
        caller_s = s.get_meta("notify_caller_seconds")
    # The first message failed at the two endpoints that answer (the 500 retried once) ...
    assert [(p["event"], p["status"], p["attempts"]) for p in failed[:2]] == [("started", 500, 2), ("started", None, 1)]
    assert "HTTP 500" in failed[0]["reason"] and "connection refused" in failed[1]["reason"]
    assert all(p["target"] == "json://***" for p in failed)
    # ... then the worker sat on the hung endpoint while the run went on (what it did with the
    # later messages once released depends on when: tried, or dropped at the flush limit).
    assert {e["payload"]["reason"] for e in dropped} <= {"flush time limit"}
    assert isinstance(caller_s, float) and caller_s >= 0  # recorded for the report, not asserted as a time
    st = cli("status", str(run))
    assert "notification(s) failed" in st.stdout
