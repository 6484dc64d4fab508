"""Fit a message into a service's size limit: split at line boundaries, then trim.

LINE's Messaging API refuses a text over 5,000 characters, and apprise sends LINE the
title and body joined as one text ("title\\r\\nbody"). A message that is too long is
split into numbered parts at line boundaries ("Title (1/3)"); beyond `max_parts` the
last part ends with a truncation marker on its own line, so a reader sees that
something is missing instead of a sentence cut in half.
"""

from __future__ import annotations

import dataclasses

LINE_TEXT_LIMIT = 5000
MAX_PARTS = 3
_JOIN = "\r\n"  # what apprise puts between title and body for title-less services
_PART_SUFFIX_RESERVE = len(" (99/99)")


@dataclasses.dataclass(frozen=True)
class Message:
    """A rendered notification: what the phone shows as title and text."""

    title: str
    body: str

    def text_length(self) -> int:
        """Characters of the combined text a title-less service (LINE) receives."""
        return len(self.title) + len(_JOIN) + len(self.body)


def _wrap_long_line(line: str, width: int) -> list[str]:
    """A single line longer than a whole part is cut at spaces where possible."""
    out: list[str] = []
    while len(line) > width:
        cut = line.rfind(" ", width // 2, width)
        cut = cut if cut > 0 else width
        out.append(line[:cut].rstrip())
        line = line[cut:].lstrip()
    out.append(line)
    return out


def _pack(lines: list[str], budget: int) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    size = 0
    for line in lines:
        add = len(line) + (1 if chunks[-1] else 0)
        if chunks[-1] and size + add > budget:
            chunks.append([])
            size, add = 0, len(line)
        chunks[-1].append(line)
        size += add
    return chunks


def fit(message: Message, limit: int = LINE_TEXT_LIMIT, max_parts: int = MAX_PARTS,
        marker: str = "…(truncated)") -> list[Message]:
    """One or more messages whose title + body each fit in `limit` characters."""
    if message.text_length() <= limit:
        return [message]
    max_parts = max(1, max_parts)
    title = message.title
    if len(title) > limit // 4:
        title = title[: limit // 4 - 1].rstrip() + "…"
    budget = limit - len(title) - len(_JOIN) - (_PART_SUFFIX_RESERVE if max_parts > 1 else 0)
    budget = max(budget, len(marker) + 1)
    lines: list[str] = []
    for line in message.body.splitlines():
        lines.extend(_wrap_long_line(line, budget))
    chunks = _pack(lines, budget)
    if len(chunks) > max_parts:
        chunks = chunks[:max_parts]
        last = chunks[-1]
        # Drop whole lines from the end until the marker fits on its own line.
        while last and len("\n".join(last)) + 1 + len(marker) > budget:
            last.pop()
        last.append(marker)
    if len(chunks) == 1:
        return [Message(title, "\n".join(chunks[0]))]
    n = len(chunks)
    return [Message(f"{title} ({i}/{n})", "\n".join(c)) for i, c in enumerate(chunks, 1)]
