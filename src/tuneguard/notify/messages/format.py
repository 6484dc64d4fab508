"""Numbers as a person reads them on a phone: 4 significant digits, h:mm, 12,345."""

from __future__ import annotations

import math
from typing import Any

MISSING = "n/a"


def _float(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def loss(v: Any) -> str:
    """A loss to 4 significant digits (3.612, 0.005012, 1.2e-05); nan/inf kept visible."""
    x = _float(v)
    if x is None:
        return MISSING
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def signed(v: Any) -> str:
    """A change, always with its sign: +0.01234, -0.5."""
    x = _float(v)
    if x is None:
        return MISSING
    if not math.isfinite(x):
        return str(x)
    return f"{x:+.4g}"


def number(v: Any) -> str:
    """A value of unknown kind: integers with separators, floats to 4 significant digits."""
    if isinstance(v, bool) or v is None:
        return MISSING if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    x = _float(v)
    if x is None:
        return str(v)
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return loss(x)


def integer(v: Any) -> str:
    x = _float(v)
    if x is None or not math.isfinite(x):
        return MISSING
    return f"{round(x):,}"


def rate(v: Any) -> str:
    """A learning rate: 0.0002 -> 2e-04, readable in scientific notation."""
    x = _float(v)
    if x is None:
        return MISSING
    return f"{x:.3g}" if x == 0 or 1e-2 <= abs(x) < 1e3 else f"{x:.2e}"


def hmm(seconds: Any) -> str:
    """A duration or ETA as h:mm (rounded to the minute): 3725 s -> 1:02."""
    x = _float(seconds)
    if x is None or not math.isfinite(x) or x < 0:
        return MISSING
    minutes = int(round(x / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}"


def percent(step: Any, total: Any) -> str:
    s, t = _float(step), _float(total)
    if s is None or t is None or t <= 0:
        return MISSING
    return f"{100.0 * s / t:.0f}%"


def shorten(text: Any, limit: int) -> str:
    """One line, at most `limit` characters, cut at a word where one is near."""
    s = " ".join(str(text).split())
    if len(s) <= limit:
        return s
    cut = s[: max(1, limit - 1)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
