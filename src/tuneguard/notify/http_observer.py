"""See the HTTP status, Retry-After and network error of the requests apprise makes.

apprise reports a delivery as success or failure (plus a log line such as
"error=429"); it never exposes the response. Retrying only on 429/5xx and honouring
Retry-After needs the response itself, and apprise's plugins call `requests` directly,
so we observe `requests.Session.send`.

The hook is installed once per process (idempotent) and is inert for everyone else:
it records only inside an `observe()` block, which is scoped by a ContextVar, so other
threads (the trainer, the Hugging Face hub client) pass straight through. apprise runs
plugin sends in its worker pool with the caller's context copied, so the observation
follows the send into those threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import requests

_MARK = "_tuneguard_observed"
BODY_CHARS = 300
_install_lock = threading.Lock()
_current: ContextVar[list["HttpExchange"] | None] = ContextVar("tuneguard_http_exchanges", default=None)


@dataclasses.dataclass
class HttpExchange:
    """One request apprise made: its outcome as the network saw it."""

    host: str | None
    port: int | None
    status: int | None = None
    reason: str = ""
    retry_after_s: float | None = None
    error_kind: str | None = None  # "refused", "timeout", "connection", "other"
    error: str = ""
    body: str = ""  # the start of an error response's body (LINE says why it refuses there)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _host_port(url: str | None) -> tuple[str | None, int | None]:
    if not url:
        return None, None
    try:
        p = urlsplit(url)
        return p.hostname, p.port or {"http": 80, "https": 443}.get(p.scheme)
    except ValueError:
        return None, None


def _classify(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc).lower()
        if "refused" in text or "errno 111" in text or "winerror 10061" in text:
            return "refused"
        return "connection"
    return "other"


def install() -> None:
    """Wrap `requests.Session.send` once per process; a no-op after the first call."""
    with _install_lock:
        original = requests.Session.send
        if getattr(original, _MARK, False):
            return

        def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            sink = _current.get()
            if sink is None:
                return original(self, request, **kwargs)
            host, port = _host_port(request.url)
            ex = HttpExchange(host=host, port=port)
            sink.append(ex)
            try:
                resp = original(self, request, **kwargs)
            except BaseException as exc:
                ex.error_kind = _classify(exc)
                ex.error = f"{type(exc).__name__}: {exc}"
                raise
            ex.status = resp.status_code
            ex.reason = resp.reason or ""
            ex.retry_after_s = parse_retry_after(resp.headers.get("Retry-After"))
            if resp.status_code >= 400:
                ex.body = resp.text[:BODY_CHARS]
            return resp

        setattr(send, _MARK, True)
        send.__wrapped__ = original  # type: ignore[attr-defined]
        requests.Session.send = send  # type: ignore[method-assign]


@contextlib.contextmanager
def observe() -> Iterator[list[HttpExchange]]:
    """Collect the HTTP exchanges made by this context (and work it hands to apprise's pool)."""
    install()
    sink: list[HttpExchange] = []
    token = _current.set(sink)
    try:
        yield sink
    finally:
        _current.reset(token)
