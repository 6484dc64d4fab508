"""LINE through apprise's line:// plugin, with the Messaging API endpoint pointed at a local server.

Only the endpoint URL (a class attribute of apprise's NotifyLine) is patched; apprise
builds the request exactly as it would for api.line.me.
"""

from __future__ import annotations

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
