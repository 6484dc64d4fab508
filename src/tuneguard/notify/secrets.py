"""Keeping notification tokens out of everything we write: the store, logs, messages.

Notification URLs are credentials (a LINE channel token, a Slack webhook path, a
password in `json://user:pass@host`). Anything derived from a failed send (an error
text, a log line of apprise or urllib3) may echo them, so every such string passes
through `Scrubber` before it is stored, logged or sent.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from tuneguard.config.load import SECRET_MARK, redact_url

__all__ = ["SECRET_MARK", "Scrubber", "ScrubFilter", "redact_url", "target_label", "url_secrets"]

# scheme://user:password@host -> scheme://***@host, for URLs we did not know about.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@]+@")
# Parts of a URL shorter than this are not treated as secrets (ports, "v1", "hooks").
_MIN_SECRET_LEN = 6

# Loggers that may print request URLs (with path tokens) or error texts while we send:
# apprise and urllib3 at DEBUG, and our own modules' tracebacks (logger filters do not
# apply to child loggers, so each is named).
SCRUBBED_LOGGERS = ("apprise", "urllib3.connectionpool", "tuneguard.notify.notifier",
                    "tuneguard.notify.delivery", "tuneguard.notify.probe")


def target_label(url: str) -> str:
    """How a notification target is shown anywhere: `scheme://***`, never more."""
    return redact_url(url)


def _looks_like_network_host(host: str) -> bool:
    """A DNS name or an IP is public routing information, not a token.

    Some apprise schemes put a token where a host would be (`line://TOKEN/USER`,
    `slack://T/B/C`); those have no dots and are treated as secrets.
    """
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return "." in host and len(host) < 254 and all(p for p in host.split("."))


def url_secrets(url: str) -> list[str]:
    """The secret-bearing pieces of one apprise URL: the URL itself, user, password,
    a host that is really a token, path segments and query values."""
    url = url.strip()
    out = {url}
    if "://" not in url:
        return [url] if url else []
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return [url]
    userinfo, _, hostport = netloc.rpartition("@")
    if userinfo:
        out.update(userinfo.split(":", 1))
        out.add(userinfo)
    host = hostport
    if not hostport.startswith("["):
        host = hostport.split(":", 1)[0]
    if host and not _looks_like_network_host(host):
        out.add(host)
        out.add(hostport)
    for seg in parts.path.split("/"):
        out.add(seg)
    for _k, v in parse_qsl(parts.query, keep_blank_values=True):
        out.add(v)
    out |= {unquote(x) for x in list(out)}
    return sorted((x for x in out if len(x) >= _MIN_SECRET_LEN), key=len, reverse=True)


class Scrubber:
    """Replaces every known secret (and any URL credentials) in a text with `***`.

    Built once per notifier from the caller's secrets plus what the notify URLs
    themselves reveal, so a caller that forgets a secret still gets its URLs scrubbed.
    """

    def __init__(self, secrets: Iterable[str] = (), urls: Iterable[str] = ()):
        vals = {s for s in secrets if s}
        for u in urls:
            vals.update(url_secrets(u))
        self._secrets = sorted(vals, key=len, reverse=True)
        self._pattern = (re.compile("|".join(re.escape(s) for s in self._secrets))
                         if self._secrets else None)

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)

    def __call__(self, text: object) -> str:
        s = text if isinstance(text, str) else str(text)
        if self._pattern is not None:
            s = self._pattern.sub(SECRET_MARK, s)
        return _URL_USERINFO.sub(lambda m: m.group("scheme") + SECRET_MARK + "@", s)


class ScrubFilter(logging.Filter):
    """A logger filter that scrubs secrets from records before any handler sees them.

    apprise logs request URLs (path tokens included) and urllib3 logs request lines at
    DEBUG; a filter on those loggers is the only place that sees those records before
    the application's handlers (and pytest's caplog) do.
    """

    def __init__(self, scrub: Scrubber):
        super().__init__()
        self._scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must still be scrubbed, not lost
            msg = f"{record.msg!s} {record.args!s}"
        record.msg = self._scrub(msg)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        record.exc_info = None
        return True

    def install(self) -> None:
        for name in SCRUBBED_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in SCRUBBED_LOGGERS:
            logging.getLogger(name).removeFilter(self)
