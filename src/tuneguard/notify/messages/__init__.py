"""Notification texts: one template per event in English and Thai, fitted to LINE's limit.

`render_parts` is what the notifier uses: render an event, then split or trim it so
every part's title + body fits the target's limit (LINE: 5,000 characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuneguard.notify.messages.fit import LINE_TEXT_LIMIT, MAX_PARTS, Message, fit
from tuneguard.notify.messages.render import EVENTS, LANGUAGES, late_line, render, truncation_marker

__all__ = ["EVENTS", "LANGUAGES", "LINE_TEXT_LIMIT", "MAX_PARTS", "Message", "fit", "late_line", "render",
           "render_parts", "truncation_marker"]


def render_parts(event: str, payload: Mapping[str, Any] | None, *, language: str = "en",
                 run_name: str = "tuneguard", limit: int = LINE_TEXT_LIMIT,
                 max_parts: int = MAX_PARTS) -> list[Message]:
    """Render `event` and fit it into messages of at most `limit` characters each."""
    msg = render(event, payload, language=language, run_name=run_name)
    return fit(msg, limit=limit, max_parts=max_parts, marker=truncation_marker(language))
