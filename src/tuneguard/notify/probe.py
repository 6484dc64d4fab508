"""`tuneguard notify-test URL`: send one message and say plainly why it did not arrive, in the
message's language (catalog `notifycli.*`; a library's or a server's own words stay as they are)."""

from __future__ import annotations

import logging

from tuneguard.catalog import say
from tuneguard.notify.delivery import Delivery, Rejected
from tuneguard.notify.messages import fit, render, truncation_marker
from tuneguard.notify.secrets import Scrubber, ScrubFilter, target_label

log = logging.getLogger(__name__)


def unrecognised(url: str, label: str, language: str = "en") -> str:
    """Why apprise took no target from `url`, with the fix. A plain http(s) webhook is the
    usual case: apprise names JSON webhooks json:// and jsons://, which no one guesses."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        plain = "jsons" if scheme == "https" else "json"
        return say("notifycli.unrecognised_http", language, label=label, plain=plain, scheme=scheme)
    return say("notifycli.unrecognised", language, label=label)


def rejected(bad: Rejected, url: str, language: str = "en") -> str:
    """Why a URL apprise loaded no target from cannot be tested (a redacted copy, no recipient)."""
    if bad.redacted:
        return say("notifycli.redacted", language)
    if bad.form:
        return say("notifycli.no_recipient", language, label=bad.label, form=bad.form)
    return unrecognised(url, bad.label, language)


def send_test(url: str, language: str = "en", timeout: float = 10) -> tuple[bool, str]:
    """Send one test message to `url` (no retries). Returns (sent, one-line reason), the reason
    in `language` like the message (one command speaks one language).

    The reason never contains the URL's secrets: the target is shown as `scheme://***`
    and error texts are scrubbed.
    """
    url = url.strip()
    label = target_label(url)
    scrub = Scrubber(urls=[url])
    log_filter = ScrubFilter(scrub)
    log_filter.install()
    try:
        delivery = Delivery([url], timeout_s=timeout, scrub=scrub)
        if not delivery.targets:
            return False, rejected(delivery.invalid[0], url, language)
        target = delivery.targets[0]
        msg = render("test", {}, language=language, run_name="tuneguard")
        part = fit(msg, limit=target.limit, marker=truncation_marker(language))[0]
        res = delivery.send_once(target, part)
    except Exception as exc:  # noqa: BLE001 - a test command reports, it does not crash
        return False, scrub(say("notifycli.raised", language, label=label, error=f"{type(exc).__name__}: {exc}"))
    finally:
        log_filter.remove()
    if res.ok:
        return True, say("notifycli.sent", language, target=label)
    if res.status in (401, 403):
        return False, say("notifycli.token_refused", language, status=res.status, label=label)
    if res.error_kind == "refused":
        where = f"{res.host}:{res.port}" if res.host else label
        return False, scrub(say("notifycli.conn_refused", language, where=where))
    if res.error_kind == "timeout":
        return False, scrub(say("notifycli.no_answer", language, where=res.host or label, timeout=f"{timeout:g}"))
    if res.status is not None:
        return False, scrub(say("notifycli.answered", language, reason=res.reason))
    return False, scrub(say("notifycli.not_sent_to", language, label=label, reason=res.reason))
