"""Send one message to one apprise target, with timeouts and retries on 429/5xx.

apprise itself retries any failure after a fixed wait and cannot tell a 503 from a
wrong token; we want to retry only what may succeed later (429 and 5xx), back off
exponentially, and wait as long as the server asks (Retry-After). So apprise's own
retry is turned off and the loop lives here, fed by what `http_observer` saw on the
wire. Every target is added once to a single `apprise.Apprise` and addressed by a
private tag, so one message goes to one target at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
from collections.abc import Callable, Iterable
from typing import Any

import apprise

from tuneguard.notify import http_observer
from tuneguard.notify.messages import LINE_TEXT_LIMIT, Message
from tuneguard.notify.secrets import SECRET_MARK, Scrubber, target_label

log = logging.getLogger(__name__)

_STATUS_IN_LOG = re.compile(r"error=(\d{3})\b")
MAX_RETRY_AFTER_S = 300.0  # a server asking for longer than this is treated as a refusal
# LINE's answer when a channel has sent its plan's messages for the month: a 429 like a rate
# limit, with {"message": "You have reached your monthly limit."}. No retry this month succeeds.
_MONTHLY_LIMIT = re.compile(r"monthly limit", re.IGNORECASE)
# How a URL names its recipient, for services whose URL apprise loads without one (and then
# refuses every message with "no ... targets"); others are shown from apprise's own template.
RECIPIENT_FORMS = {"line": "line://TOKEN/USER_ID"}
REASON_CHARS = 200  # a library's error text kept in a failure's reason (a urllib3 error runs to 500+)
ELLIPSIS = "\u2026"


def shorten(text: str, limit: int = REASON_CHARS) -> str:
    """`text` on one line and at most `limit` characters (plus an ellipsis), cut at the last
    space before the limit so that no word is cut in half; a single word longer than half the
    limit is cut where the limit falls. Scrub before shortening: a secret cut in half no
    longer matches the scrubber and its first half would survive."""
    one = " ".join(text.split())
    if len(one) <= limit:
        return one
    space = one.rfind(" ", 0, limit + 1)
    head = one[:space] if space > limit // 2 else one[:limit]
    return head.rstrip(" ,;:(") + ELLIPSIS


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A notification URL that is skipped, shown only as `label` (scheme://***). `form`: the
    URL's form with a recipient, when apprise loaded it but it names no one to send to;
    None when apprise does not recognise it at all."""

    label: str
    form: str | None = None
    redacted: bool = False  # the URL is a saved config's redacted copy (its secret part is ***)


def skip_reason(bad: Rejected) -> str:
    """Why a notification URL is skipped, in one line without its secrets."""
    if bad.redacted:
        # A config tuneguard saved (a run's, `fix`'s or `next`'s) holds URLs redacted: the
        # user must give the real one again, which "apprise does not recognise" did not say.
        return ("it was redacted (***) when the config was saved: give it again with --set "
                "'notify.urls=[\"...\"]', or keep it in an environment variable (${VAR}) in the config")
    if bad.form:
        return f"{bad.label} names no one to send to: write it {bad.form}"
    return "apprise does not recognise this URL"


def recipient_form(scheme: str, plugin: Any) -> str:
    """How a `scheme` URL names its recipient, e.g. line://TOKEN/USER_ID."""
    if scheme in RECIPIENT_FORMS:
        return RECIPIENT_FORMS[scheme]
    templates = [t for t in getattr(plugin, "templates", ()) if "{targets}" in t] or ["{schema}://.../{targets}"]
    return re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), templates[0].replace("{schema}", scheme))


@dataclasses.dataclass
class Target:
    """One notification URL as apprise loaded it, shown only as `label` (scheme://***)."""

    index: int
    tag: str
    label: str
    scheme: str
    limit: int
    plugin: Any = dataclasses.field(repr=False)


@dataclasses.dataclass
class SendResult:
    """The outcome of sending one message (all its attempts) to one target."""

    ok: bool
    reason: str = ""
    status: int | None = None
    retry_after_s: float | None = None
    error_kind: str | None = None  # http, refused, timeout, connection, other, unknown
    attempts: int = 1
    host: str | None = None
    port: int | None = None
    exhausted: bool = False  # the target's monthly message limit is reached: no later message gets through

    @property
    def retryable(self) -> bool:
        """Only a rate limit or a server error may go away by itself (a monthly limit does not)."""
        return not self.exhausted and self.status is not None and (self.status == 429 or 500 <= self.status <= 599)

    @property
    def network_failure(self) -> bool:
        return self.error_kind in ("refused", "timeout", "connection")


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


class Delivery:
    """The apprise side of a notifier: loaded targets and per-target sending.

    `timeout_s` becomes each target's connect and read timeout (apprise's `cto`/`rto`)
    unless the URL sets them itself.
    """

    def __init__(self, urls: Iterable[str], *, timeout_s: float, scrub: Scrubber):
        self.timeout_s = float(timeout_s)
        self._scrub = scrub
        # Sequential dispatch in a worker apprise abandons after service_timeout: a guard
        # for plugins that do not honour cto/rto (the notifier's thread must come back).
        self._asset = apprise.AppriseAsset(async_mode=False,
                                           service_timeout=max(30.0, 3.0 * self.timeout_s + 5.0))
        self.apprise = apprise.Apprise(asset=self._asset)
        self.targets: list[Target] = []
        self.invalid: list[Rejected] = []  # URLs apprise did not load, or that name no recipient
        for i, url in enumerate(urls):
            self._add(i, url)

    def _add(self, index: int, url: str) -> None:
        label = target_label(url)
        tag = f"tuneguard-target-{index}"
        try:
            plugin = apprise.Apprise.instantiate(url, asset=self._asset, tag=tag)
        except Exception as exc:  # noqa: BLE001 - a bad URL must never take the run down
            log.debug("apprise failed to load %s: %s", label, self._scrub(exc))
            plugin = None
        if plugin is None:
            self.invalid.append(Rejected(label, redacted=SECRET_MARK in url))
            return
        if len(plugin) == 0:  # apprise's count of recipients: a line:// URL without its user id
            self.invalid.append(Rejected(label, recipient_form(_scheme(url), plugin)))
            return
        query = url.split("?", 1)[1] if "?" in url else ""
        if "cto=" not in query:
            plugin.socket_connect_timeout = self.timeout_s
        if "rto=" not in query:
            plugin.socket_read_timeout = self.timeout_s
        plugin.retry = 0  # retries are ours (429/5xx only, with backoff)
        limit = min(LINE_TEXT_LIMIT, int(getattr(plugin, "body_maxlen", LINE_TEXT_LIMIT) or LINE_TEXT_LIMIT))
        self.apprise.add(plugin)
        self.targets.append(Target(index=index, tag=tag, label=label, scheme=_scheme(url), limit=limit,
                                   plugin=plugin))

    # -- one attempt ------------------------------------------------------------------
    def send_once(self, target: Target, message: Message) -> SendResult:
        """One attempt; never raises. The reason is one scrubbed line."""
        with http_observer.observe() as exchanges:
            try:
                # As TEXT: apprise escapes it for Markdown and HTML services (its text_to_markdown
                # and text_to_html), so user text quoted in a message arrives as typed.
                result = self.apprise.notify(body=message.body, title=message.title,
                                             body_format=apprise.NotifyFormat.TEXT, tag=target.tag)
            except Exception as exc:  # noqa: BLE001 - apprise misbehaving must not reach the trainer
                return SendResult(ok=False, error_kind="other",
                                  reason=self._scrub(f"apprise raised {type(exc).__name__}: {exc}"))
        if bool(result):
            return SendResult(ok=True, status=exchanges[-1].status if exchanges else None)
        failed = [e for e in exchanges if e.error_kind or (e.status is not None and e.status >= 400)]
        if failed:
            return self._from_exchange(failed[-1])
        return self._from_apprise(result)

    def _from_exchange(self, ex: http_observer.HttpExchange) -> SendResult:
        where = f"{ex.host}:{ex.port}" if ex.host else "the endpoint"
        if ex.error_kind == "refused":
            reason = f"connection refused by {where}"
        elif ex.error_kind == "timeout":
            reason = f"no answer from {where} within {self.timeout_s:g} s"
        elif ex.error_kind:
            first = (ex.error.splitlines() or [""])[0]
            reason = f"cannot reach {where}: {shorten(self._scrub(first))}"
        else:
            reason = f"HTTP {ex.status}{' ' + ex.reason if ex.reason else ''} from {where}"
            if ex.retry_after_s is not None:
                reason += f" (Retry-After {ex.retry_after_s:g} s)"
        exhausted = ex.status == 429 and bool(_MONTHLY_LIMIT.search(ex.body))
        if exhausted:
            reason += ": the monthly message limit is reached"
        return SendResult(ok=False, reason=self._scrub(reason), status=ex.status,
                          retry_after_s=ex.retry_after_s, error_kind=ex.error_kind or "http",
                          host=ex.host, port=ex.port, exhausted=exhausted)

    def _from_apprise(self, result: Any) -> SendResult:
        """No HTTP exchange seen (a non-HTTP plugin, or apprise stopped waiting): use its logs."""
        status_name = getattr(getattr(result, "status", None), "name", "FAILURE")
        lines: list[str] = []
        try:
            for service in result:
                for entry in service.logs():
                    if entry.level in ("WARNING", "ERROR", "CRITICAL"):
                        lines.append(str(entry.message))
        except Exception:  # noqa: BLE001 - logs are a courtesy; the failure itself is known
            pass
        text = lines[-1] if lines else "apprise reported a failure without details"
        m = _STATUS_IN_LOG.search(text)
        status = int(m.group(1)) if m else None
        kind = "timeout" if status_name == "TIMEOUT" else ("http" if status else "unknown")
        return SendResult(ok=False, reason=shorten(self._scrub(text), 300), status=status,
                          error_kind=kind)

    # -- with retries -----------------------------------------------------------------
    def send(self, target: Target, message: Message, *, retries: int, backoff_s: float = 1.0,
             max_backoff_s: float = 60.0, sleep: Callable[[float], bool]) -> SendResult:
        """Send with up to `retries` retries on 429/5xx.

        The wait is Retry-After when the server gives one, else `backoff_s` doubled per
        retry (with 10% jitter, capped at `max_backoff_s`). `sleep(s)` returns False when
        the wait was cut short (the notifier is closing); the last failure is returned.
        """
        attempt = 0
        while True:
            res = self.send_once(target, message)
            res.attempts = attempt + 1
            if res.ok or not res.retryable or attempt >= retries:
                return res
            if res.retry_after_s is not None:
                if res.retry_after_s > MAX_RETRY_AFTER_S:
                    res.reason += f"; not retried: the server asked to wait {res.retry_after_s:.0f} s"
                    return res
                delay = res.retry_after_s
            else:
                delay = min(max_backoff_s, backoff_s * (2 ** attempt)) * random.uniform(0.9, 1.1)  # noqa: S311
            log.debug("notification to %s failed (%s); retry %d/%d in %.2f s",
                      target.label, res.reason, attempt + 1, retries, delay)
            if not sleep(delay):
                res.reason += "; retry abandoned: notifier closing"
                return res
            attempt += 1
