"""Tokens in notification URLs never reach the run store, the logs or the error texts."""

from __future__ import annotations

import logging

from tuneguard.notify import Notifier
from tuneguard.notify.secrets import Scrubber, url_secrets

TOKEN = "s3cr3tT0kenPlantedForTheTest"
PASSWORD = "hunter2-Pa55word-planted"


def test_planted_token_is_absent_from_store_and_logs(http_server, tmp_path, make_cfg, caplog) -> None:
    from tuneguard.store.run_store import RunStore

    caplog.set_level(logging.DEBUG)
    # The CLI quiets apprise's logger; another test in this process may have run it.
    caplog.set_level(logging.DEBUG, logger="apprise")
    ep = http_server(default=(500, {}))
    run_dir = tmp_path / "run"
    store = RunStore(run_dir, create=True)
    url = f"json://user:{PASSWORD}@127.0.0.1:{ep.port}/hooks/{TOKEN}?token={TOKEN}"
    # No secrets passed: the notifier must find the URL's own secrets itself.
    n = Notifier(make_cfg(url, retries=1), store, [], run_name="r", backoff_s=0.01)
    n.notify("started", {"model": "m"})
    n.notify("failed", {"error": f"requests failed for {url}", "traceback": f"  url = '{url}'"})
    assert n.close(timeout=10)
    store.close()
    assert len(ep.requests) == 4  # the token really was used: 2 messages x 2 attempts
    assert TOKEN in ep.requests[0]["path"]
    failed_msgs = [r["body"]["message"] for r in ep.requests if r["body"]["title"].startswith("Training failed")]
    assert len(failed_msgs) == 2
    assert all(TOKEN not in m and PASSWORD not in m and "requests failed for ***" in m for m in failed_msgs)
    assert len(RunStore(run_dir).events("notify_failed")) == 2
    for f in run_dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert TOKEN.encode() not in data, f
            assert PASSWORD.encode() not in data, f
    assert caplog.records, "logging was captured"
    assert any("JSON POST URL" in r.getMessage() for r in caplog.records)  # apprise's DEBUG lines were seen
    for r in caplog.records:
        text = r.getMessage() + (r.exc_text or "")
        assert TOKEN not in text and PASSWORD not in text, text
    assert TOKEN not in caplog.text and PASSWORD not in caplog.text


def test_url_secrets_and_scrubber() -> None:
    line = "line://AbCdEfGhIjKlMnOp/Uabcdef0123456789"
    assert "AbCdEfGhIjKlMnOp" in url_secrets(line)  # a token in the host position
    assert "127.0.0.1" not in url_secrets("json://127.0.0.1:8080/hook/tok3n123")
    scrub = Scrubber(["extra-secret-1"], [line])
    assert scrub("POST with AbCdEfGhIjKlMnOp and extra-secret-1") == "POST with *** and ***"
    assert scrub("see https://bob:pw@example.com/x") == "see https://***@example.com/x"
    assert scrub(f"failed: {line}") == "failed: ***"
