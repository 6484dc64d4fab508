"""Numbers and durations as people read them, for every channel (terminal, report, phone).

One place, so that status, watch, the report and the notifications agree: 16,740 tokens/s
(never 1.674e+04), a loss to 4 significant digits (3.612, 0.005012), h:mm:ss.
No heavy imports here: the CLI imports this at start-up, and `tuneguard status` must answer
in well under a second.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

MISSING = "n/a"


def is_finite(v: Any) -> bool:
    """A finite int or float (a bool is no number here; None, NaN and inf are not finite)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def as_float(v: Any) -> float | None:
    """A value as a float (None when missing or not a number). A bool is not a number here:
    True is no loss, time or count (the run store reads its times and metrics with this too)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def num(v: Any, digits: int = 4, missing: str = "-") -> str:
    """Any number as a person reads it: integers and magnitudes from 1,000 up with thousands
    separators and no decimals (16,740), smaller values to `digits` significant digits
    (3.612, 0.005012; below 0.001 in scientific notation, 1.2e-05); nan and inf stay visible.
    Non-numbers print as themselves."""
    if v is None:
        return missing
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    x = as_float(v)
    if x is None:
        return str(v)
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fmt_duration(seconds: float | None) -> str:
    """Seconds as h:mm:ss ("?" when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# --- the notification messages' vocabulary (n/a for a missing value) -------------------

def loss(v: Any) -> str:
    """A loss to 4 significant digits (3.612, 0.005012, 1.2e-05); nan/inf kept visible."""
    return num(v, 4, MISSING)


def signed(v: Any) -> str:
    """A change, always with its sign: +0.01234, -0.5, +1,200."""
    x = as_float(v)
    if x is None:
        return MISSING
    if not math.isfinite(x):
        return str(x)
    return ("+" if x >= 0 else "-") + num(abs(x), 4)


def number(v: Any) -> str:
    """A value of unknown kind: integers with separators, floats to 4 significant digits."""
    if isinstance(v, bool) or v is None:
        return MISSING if v is None else str(v)
    x = as_float(v)
    if x is not None and math.isfinite(x) and x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return num(v, 4, MISSING)


def integer(v: Any) -> str:
    x = as_float(v)
    if x is None or not math.isfinite(x):
        return MISSING
    return f"{round(x):,}"


def rate(v: Any) -> str:
    """A learning rate: 0.0002 -> 2.00e-04, readable in scientific notation."""
    x = as_float(v)
    if x is None:
        return MISSING
    return f"{x:.3g}" if x == 0 or 1e-2 <= abs(x) < 1e3 else f"{x:.2e}"


def hmm(seconds: Any) -> str:
    """A duration or ETA as h:mm (rounded to the minute): 3725 s -> 1:02."""
    x = as_float(seconds)
    if x is None or not math.isfinite(x) or x < 0:
        return MISSING
    minutes = int(round(x / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}"


def clock(ts: Any) -> str:
    """Epoch seconds as local 'YYYY-MM-DD HH:MM:SS' (the machine's clock, as its logs show it)."""
    x = as_float(ts)
    if x is None or not math.isfinite(x):
        return MISSING
    return _dt.datetime.fromtimestamp(x).strftime("%Y-%m-%d %H:%M:%S")


def percent(step: Any, total: Any) -> str:
    s, t = as_float(step), as_float(total)
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


# --- what the model has seen (tuneguard.guard.seen), from a finding's evidence --------------

def times(x: float) -> str:
    """A count of passes or exposures: 0.41, 2.5, 37, 1,240."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}".rstrip("0").rstrip(".")
    return f"{x:.2g}" if x < 1 else f"{x:.2f}".rstrip("0").rstrip(".")


def seen_in(evidence: Any) -> dict[str, Any] | None:
    """The units a guard finding's evidence states (examples_seen, passes, exposures,
    tokens_seen), or None when it has none: what the report and the notifications show next
    to its step. `repeats`: the rows hold duplicates (exposures differ from passes)."""
    if not isinstance(evidence, dict):
        return None
    examples = as_float(evidence.get("examples_seen"))
    if examples is None:
        return None
    out: dict[str, Any] = {"examples": int(examples)}
    for key, name in (("passes", "passes"), ("exposures", "exposures"), ("tokens_seen", "tokens")):
        v = as_float(evidence.get(key))
        if v is not None:
            out[name] = v
    rows, distinct = as_float(evidence.get("rows")), as_float(evidence.get("distinct_rows"))
    out["repeats"] = rows is not None and distinct is not None and 0 < distinct < rows
    return out


def seen_text(evidence: Any) -> str | None:
    """"after 1,240 examples (0.41 passes over the rows; each distinct row seen 37 times on
    average)" from a finding's evidence (None without the units)."""
    u = seen_in(evidence)
    if u is None:
        return None
    text = f"after {u['examples']:,} examples"
    if "passes" in u:
        text += f" ({times(u['passes'])} passes over the rows"
        if u["repeats"] and "exposures" in u:
            text += f"; each distinct row seen {times(u['exposures'])} times on average"
        text += ")"
    return text
