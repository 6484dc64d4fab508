"""`tuneguard notify-test URL`: check a notification URL before a long run depends on it.

The main CLI registers it with `app.command("notify-test")(notify_test)`; the function
also works when called directly (its defaults are plain values).
"""

from __future__ import annotations

from typing import Annotated

import typer
from tuneguard.cli.common import EXIT_FAIL, EXIT_USAGE, console, err_console, error_line, fail, styled


def notify_test(
    url: Annotated[str, typer.Argument(help="apprise URL, e.g. line://TOKEN/USER_ID or json://host:port/path.")],
    language: Annotated[str, typer.Option("--language", "-l", help="Message language: en or th.")] = "en",
) -> None:
    """Send one test message to URL; exit 0 when it was sent, 1 when not (with the reason)."""
    from tuneguard.catalog import say
    from tuneguard.notify.probe import send_test

    if language not in ("en", "th"):
        fail(f"--language must be en or th, got {language!r}", EXIT_USAGE)
    ok, reason = send_test(url, language=language)
    if ok:  # the success line and why a message was not sent, in the message's language
        console().print(styled((say("notifycli.ok", language), "green"), " ", reason))
        return
    # The reason may already say it ("not sent to line://***: cannot reach ..."): not twice.
    head = say("notifycli.not_sent", language, reason="").split(":")[0]
    err_console().print(error_line(reason if reason.startswith(head) else
                                   say("notifycli.not_sent", language, reason=reason)))
    raise typer.Exit(EXIT_FAIL)
