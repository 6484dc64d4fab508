"""Small formatting helpers shared by the CLI and the library (no heavy imports here:
the CLI imports this at start-up, and `tuneguard status` must answer in well under a second)."""

from __future__ import annotations

import math


def fmt_duration(seconds: float | None) -> str:
    """Seconds as h:mm:ss ("?" when unknown)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
