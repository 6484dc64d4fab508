"""Per-service message limits: Discord (2,000 characters) and Telegram (4,096) through
apprise's own plugins, their API endpoint pointed at a local server (only that class
attribute is patched; apprise builds each request as it would for the real service).
A long message arrives in numbered parts, each within the service's limit, nothing lost;
one too long for three parts is trimmed with a marker, never cut by the service."""

from __future__ import annotations

import pytest
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.telegram import NotifyTelegram

from tuneguard.notify import Notifier
from tuneguard.notify.delivery import Delivery
from tuneguard.notify.secrets import Scrubber

DISCORD = "discord://1234567890/abcdefghijklmnopqrstuvwxyz0123456789"
TELEGRAM = "tgram://123456789:ABCdefGhIJKlmnOPQRstuVWXyz012345678/12345"
SERVICES = [(NotifyDiscord, DISCORD, 2000, "content", 3), (NotifyTelegram, TELEGRAM, 4096, "text", 2)]


def lines(n: int) -> list[str]:
    return [f"E{i:04d} " + "detail " * 13 for i in range(n)]  # 97 characters each


def test_each_target_gets_its_services_limit():
    urls = [DISCORD, TELEGRAM, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "mailto://u:p@example.com",
            "line://tok/U123", "json://127.0.0.1/x"]
    d = Delivery(urls, timeout_s=5, scrub=Scrubber([], urls))
    # LINE's 5,000 is the ceiling for every service: one push a phone shows whole.
    assert {t.scheme: t.limit for t in d.targets} == {"discord": 2000, "tgram": 4096, "slack": 5000,
                                                      "mailto": 5000, "line": 5000, "json": 5000}


def _send(plugin, url, field, error, ep, store, make_cfg, monkeypatch) -> list[str]:
    monkeypatch.setattr(plugin, "notify_url", f"http://127.0.0.1:{ep.port}/api")
    monkeypatch.setattr(plugin, "request_rate_per_sec", 0)  # apprise's spacing between requests
    n = Notifier(make_cfg(url), store, [], run_name="r")
    n.notify("failed", {"error": error})
    assert n.close(timeout=30)
    assert [e["payload"]["event"] for e in store.events("notify_sent")] == ["failed"]
    return [r["body"][field] for r in ep.requests]


@pytest.mark.parametrize("plugin, url, limit, field, parts", SERVICES, ids=["discord", "telegram"])
def test_a_long_message_arrives_in_parts_within_the_limit(plugin, url, limit, field, parts, http_server, store,
                                                          make_cfg, monkeypatch):
    sent = lines(45)  # ~4,400 characters
    texts = _send(plugin, url, field, "\n".join(sent), http_server(), store, make_cfg, monkeypatch)
    assert len(texts) == parts and all(len(t) <= limit for t in texts), [len(t) for t in texts]
    assert all(f"Training failed · r ({i}/{parts})" in t.splitlines()[0] for i, t in enumerate(texts, 1))
    received = "\n".join(texts)
    assert [line for line in sent if line.rstrip() not in received] == []


@pytest.mark.parametrize("plugin, url, limit, field, parts", SERVICES, ids=["discord", "telegram"])
def test_a_message_too_long_for_three_parts_is_trimmed_with_a_marker(plugin, url, limit, field, parts, http_server,
                                                                     store, make_cfg, monkeypatch):
    texts = _send(plugin, url, field, "\n".join(lines(125)), http_server(), store, make_cfg, monkeypatch)
    assert len(texts) == 3 and all(len(t) <= limit for t in texts), [len(t) for t in texts]
    assert texts[-1].rstrip().endswith("…(truncated)")
