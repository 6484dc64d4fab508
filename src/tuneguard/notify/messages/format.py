"""Numbers as a person reads them on a phone: the shared helpers of tuneguard.fmt.

Kept as this module's names because the message templates use them as `fmt.loss(...)` etc.
"""

from tuneguard.fmt import MISSING, clock, hmm, integer, loss, number, percent, rate, seen_in, shorten, signed, times

__all__ = ["MISSING", "clock", "hmm", "integer", "loss", "number", "percent", "rate", "seen_in", "shorten", "signed",
           "times"]
