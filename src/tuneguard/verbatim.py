"""Terminal output that prints every string verbatim: Rich consoles with markup and emoji off.

User text (paths, data rows, finding messages that quote them, model output) reaches almost
every line tuneguard prints, and Rich, left at its defaults, rewrites it: `data.jsonl:100:`
became `data.jsonl💯` (emoji code `:100:`) and a path holding `[/x]` crashed with a
MarkupError. `rich.markup.escape` covers markup but not emoji codes. So no console here
interprets a string at all, and tuneguard's own styling is applied to `Text` objects built by
`styled`, where the text is data and the style is separate.
"""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console
from rich.text import Text

ERROR_STYLE = "bold red"
# An error is one line a person reads; longer detail belongs in --json, the store or --debug.
MAX_ERROR_CHARS = 800


def make_console(*, stderr: bool = False, file: IO[str] | None = None, width: int | None = None) -> Console:
    """A console that never interprets text: no markup, no emoji codes, no highlighting;
    long lines are not wrapped (soft wrap), so a path or a file:line stays whole."""
    return Console(stderr=stderr, file=file, width=width, markup=False, emoji=False, highlight=False,
                   soft_wrap=True)


def styled(*parts: Any) -> Text:
    """One line from parts: a plain value is literal text; a (value, style) pair is literal
    text in a Rich style. `styled(("error:", "bold red"), " ", message)`."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            value, style = part
            text.append(str(value), style=style)
        else:
            text.append(str(part))
    return text


def one_line(message: Any, limit: int = MAX_ERROR_CHARS) -> str:
    """`message` on one line (newlines and runs of spaces folded), at most `limit` characters."""
    flat = " ".join(str(message).split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def error_line(message: Any, label: str = "error:") -> Text:
    """The one line of an error: `error: MESSAGE`, the label styled, the message verbatim."""
    return styled((label, ERROR_STYLE), " ", one_line(message))


def print_error(message: Any, console: Console | None = None, label: str = "error:") -> None:
    """Print `error_line(message)` on stderr (or on `console`)."""
    (console or make_console(stderr=True)).print(error_line(message, label))
