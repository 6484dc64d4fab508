"""LINE through apprise's line:// plugin, with the Messaging API endpoint pointed at a local server.

Only the endpoint URL (a class attribute of apprise's NotifyLine) is patched; apprise
builds the request exactly as it would for api.line.me.
"""

from __future__ import annotations

import json

import pytest
from apprise.plugins.line import NotifyLine

from tuneguard.notify import Notifier

TOKEN = "lInEcHaNnElToKeN0123456789abcdefXYZ"
USER = "U0123456789abcdef0123456789abcdef"


@pytest.fixture
def line_api(http_server, monkeypatch):
    ep = http_server()
    monkeypatch.setattr(NotifyLine, "notify_url", f"http://127.0.0.1:{ep.port}/v2/bot/message/push")
    # apprise spaces LINE requests 5.5 s apart; the parts of one message need not wait here.
    monkeypatch.setattr(NotifyLine, "request_rate_per_sec", 0)
    return ep


def _check_push(req: dict) -> str:
    assert req["path"] == "/v2/bot/message/push"
    assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["body"]
    assert body["to"] == USER
    assert len(body["messages"]) == 1
    msg = body["messages"][0]
    assert msg["type"] == "text"
    assert len(msg["text"]) <= 5000
    return msg["text"]


def test_line_push_request_shape(line_api, store, make_cfg) -> None:
    n = Notifier(make_cfg(f"line://{TOKEN}/{USER}", language="th"), store, [TOKEN], run_name="gptj-v2")
    n.notify("resumed", {"step": 300})
    assert n.close(timeout=10)
    assert len(line_api.requests) == 1
    text = _check_push(line_api.requests[0])
    assert text.startswith("ฝึกต่อจากเดิม · gptj-v2\r\n")
    assert "ฝึกต่อจาก step 300" in text
    assert [e["payload"] for e in store.events("notify_sent")] == [{"event": "resumed", "scheme": "line"}]


def test_long_message_arrives_in_parts_of_at_most_5000_characters(line_api, store, make_cfg) -> None:
    lines = [f"E{i:04d} " + "detail " * 13 for i in range(125)]  # ~12,000 characters
    error = "\n".join(lines)
    assert len(error) >= 12000
    n = Notifier(make_cfg(f"line://{TOKEN}/{USER}"), store, [TOKEN], run_name="r")
    n.notify("failed", {"error": error})
    assert n.close(timeout=10)
    texts = [_check_push(r) for r in line_api.requests]
    assert len(texts) == 3
    assert [t.split("\r\n", 1)[0] for t in texts] == [f"Training failed · r ({i}/3)" for i in (1, 2, 3)]
    received = "\n".join(t.split("\r\n", 1)[1] for t in texts)
    for line in lines:  # nothing lost, nothing cut mid-line
        assert line.rstrip() in received
    assert len(store.events("notify_sent")) == 1


MONTHLY = {"message": "You have reached your monthly limit."}


def test_the_monthly_limit_stops_line_for_the_run_and_the_other_channels_go_on(line_api, http_server, store, make_cfg,
                                                                                caplog) -> None:
    from tests.helpers.cli import invoke
    from tuneguard.catalog import render
    from tuneguard.report.components import stopped_sentence

    line_api.default = (429, {}, MONTHLY)
    hook = http_server()
    cfg = make_cfg(f"line://{TOKEN}/{USER}", f"json://127.0.0.1:{hook.port}/n", retries=3)
    n = Notifier(cfg, store, [TOKEN], run_name="r", backoff_s=5.0)
    for step in (10, 20, 30):
        n.notify("halted", {"code": "LOSS_COLLAPSE", "message": "collapsed"}, step=step)
    assert n.close(timeout=10)
    # One push, never retried (a 5 s backoff would have been waited), none after it; the webhook gets all three.
    assert len(line_api.requests) == 1 and len(hook.requests) == 3
    reason = f"HTTP 429 Too Many Requests from 127.0.0.1:{line_api.port}: the monthly message limit is reached"
    stopped = store.events("notify_stopped")
    assert [(e["step"], {k: v for k, v in e["payload"].items() if k != "text"}) for e in stopped] == [
        (10, {"event": "halted", "target": "line://***", "scheme": "line", "reason": reason})]
    assert [e["payload"]["reason"] for e in store.events("notify_failed")] == [reason]
    assert [e["payload"]["event"] for e in store.events("notify_sent")] == ["halted"] * 3
    said = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert said == [f"LINE notifications to line://*** stopped for this run: {reason}; the other channels still get "
                    "messages"]
    assert TOKEN not in caplog.text and TOKEN not in str(store.events())
    english = (f"LINE notifications to line://*** stopped for this run: {reason}; the channel accepts no messages "
               "until its limit resets next month (raise the plan's limit, or add another notify.urls target); the "
               "other channels still get them")
    assert stopped_sentence(stopped[0]["payload"]) == english
    assert render(stopped[0]["payload"]["text"], "th").startswith(
        f"หยุดส่งการแจ้งเตือน LINE ถึง line://*** สำหรับการรันนี้: {reason} ช่องทางนี้จะไม่รับข้อความ")
    r = invoke("status", str(store.run_dir))
    assert f"notifications stopped at step 10: {english}" in " ".join(r.stdout.split())
    r = invoke("status", str(store.run_dir), "--json")
    assert json.loads(r.stdout)["notify_stopped"] == [{"step": 10, "event": "halted", "target": "line://***",
                                                       "scheme": "line", "reason": reason, "message": english}]
    from tuneguard.report.html import write_report
    from tuneguard.report.markdown import cell

    write_report(store.run_dir)
    assert f"- notifications stopped: {cell(english)}" in (store.run_dir / "report.md").read_text("utf-8")
