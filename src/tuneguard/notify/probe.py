"""`tuneguard notify-test URL`: send one message and say plainly why it did not arrive."""

from __future__ import annotations

import logging

from tuneguard.notify.delivery import Delivery, skip_reason
from tuneguard.notify.messages import fit, render, truncation_marker
from tuneguard.notify.secrets import Scrubber, ScrubFilter, target_label

log = logging.getLogger(__name__)


def unrecognised(url: str, label: str) -> str:
    """Why apprise took no target from `url`, with the fix. A plain http(s) webhook is the
    usual case: apprise names JSON webhooks json:// and jsons://, which no one guesses."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        plain = "jsons" if scheme == "https" else "json"
        return (f"apprise does not recognise this URL ({label}): a webhook that takes JSON is written "
                f"{plain}://HOST[:PORT]/PATH ({plain}:// for {scheme}://); other services have their own scheme "
                "(https://appriseit.com/services/)")
    return (f"apprise does not recognise this URL ({label}): check the scheme and the parts after it "
            "(https://appriseit.com/services/)")


def send_test(url: str, language: str = "en", timeout: float = 10) -> tuple[bool, str]:
    """Send one test message to `url` (no retries). Returns (sent, one-line reason).

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
            bad = delivery.invalid[0]
            return False, skip_reason(bad) if bad.form else unrecognised(url, label)
        target = delivery.targets[0]
        msg = render("test", {}, language=language, run_name="tuneguard")
        part = fit(msg, limit=target.limit, marker=truncation_marker(language))[0]
        res = delivery.send_once(target, part)
    except Exception as exc:  # noqa: BLE001 - a test command reports, it does not crash
        return False, scrub(f"could not send to {label}: {type(exc).__name__}: {exc}")
    finally:
        log_filter.remove()
    if res.ok:
        return True, f"sent a test message to {label}"
    if res.status in (401, 403):
        return False, f"the endpoint refused the token (HTTP {res.status}): check the token in {label}"
    if res.error_kind == "refused":
        where = f"{res.host}:{res.port}" if res.host else label
        return False, scrub(f"connection refused by {where}: is the service running and the port right?")
    if res.error_kind == "timeout":
        return False, scrub(f"no answer from {res.host or label} within {timeout:g} s")
    if res.status is not None:
        return False, scrub(f"the endpoint answered {res.reason}")
    return False, scrub(f"not sent to {label}: {res.reason}")
