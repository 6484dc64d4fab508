"""Small helpers the detectors share: episodes (record once, re-arm when the condition
clears) and finite-number checks.

Detectors are pure: they take numbers the Trainer already computed and return Findings, so
every rule is testable with a synthetic sequence and costs nothing on the device.
"""

from __future__ import annotations

import math

from tuneguard.fmt import as_float  # noqa: F401 - the guards' name for it


class Episode:
    """Fires once when a condition becomes true; re-armed only after it has been false.

    This is what keeps a guard from flooding the store and the user's phone with the same
    finding at every logged step while one problem lasts.
    """

    def __init__(self) -> None:
        self.active = False

    def update(self, condition: bool) -> bool:
        """Returns True exactly when a new episode starts."""
        start = condition and not self.active
        self.active = condition
        return start


def is_finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)
