"""A failed send's reason: one line, cut between words, and never part of a secret.

The library's error text (urllib3's) names the request's host and path, so it holds the
webhook path token; it is scrubbed whole and only then shortened."""

from __future__ import annotations

from tuneguard.notify.delivery import ELLIPSIS, Delivery, shorten
from tuneguard.notify.messages import Message
from tuneguard.notify.secrets import Scrubber

TOKEN = "T0KENabcdefghijklmnopqrstuvwxyz0123456789"


def test_shorten_cuts_between_words_with_an_ellipsis() -> None:
    text = "ConnectionError: Max retries exceeded with url: /hooks/*** (Caused by NameResolutionError)"
    assert shorten(text, 200) == text
    assert shorten(text, 40) == "ConnectionError: Max retries exceeded" + ELLIPSIS
    assert shorten("a\n  b\tc", 10) == "a b c"  # one line
    assert shorten("x" * 50, 20) == "x" * 20 + ELLIPSIS  # one word longer than the limit: cut at it


def test_a_token_the_limit_would_cut_in_half_does_not_survive() -> None:
    """A host long enough that the path token straddles the 200th character of urllib3's error:
    cut first and scrubbed after, its first 16 characters were kept."""
    url = "json://no-such-host-" + "a" * 50 + "." + "b" * 20 + ".invalid/hooks/" + TOKEN
    d = Delivery([url], timeout_s=2, scrub=Scrubber(urls=[url]))
    res = d.send_once(d.targets[0], Message("t", "b"))  # the name does not resolve: a connection error
    assert not res.ok and res.error_kind == "connection"
    assert res.reason.startswith("cannot reach no-such-host-") and res.reason.endswith(ELLIPSIS)
    assert "/hooks/***" in res.reason
    for i in range(6, len(TOKEN) + 1):
        assert TOKEN[:i] not in res.reason
