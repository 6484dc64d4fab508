"""The start and the end that many prompts share (a long system prompt, a fixed instruction,
the chat template's header; a list of options and "Answer:" after the row's own text), and the
header that many plain-text rows share (a licence or copyright block at the top of each code
file), so that the text checks can judge rows by what differs between them.

Why: a dataset whose 1,500 chats all begin with the same 150-word system prompt is not
1,500 near copies, yet word n-grams of the whole row would make every pair about 80%
similar; and an answer that repeats a phrase of that system prompt has not been pasted into
its own row's prompt. A prompt start counts as boilerplate when at least BOILERPLATE_SHARE
of the texts (and at least BOILERPLATE_MIN of them) begin with it; a prompt shared by a
handful of rows is not boilerplate, so two rows with the same rare prompt and similar
answers stay near copies. A shared end is the same computation on the reversed texts.

A plain-text row has no prompt: the whole text is supervised, and a header shared by many
files is part of it. There the header is cut only when at least HEADER_KEEP_WORDS words of
the row's own remain (`header_cuts`): a group of ten near copies of one file that differ only
in their last line also shares a long start, and must stay near copies.

Computed over sorted prompts: the longest common prefix of a run of consecutive sorted
strings is the minimum of their neighbours' common prefixes, so the longest start that a
text shares with m - 1 others is a sliding-window minimum followed by a sliding-window
maximum, O(n) after the sort (hand-written: no library computes it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

BOILERPLATE_SHARE = 0.01
BOILERPLATE_MIN = 10
HEADER_KEEP_WORDS = 20


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search on slices: C-speed comparisons)."""
    hi = min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _window_min(values: Sequence[int], width: int) -> list[int]:
    out: list[int] = []
    q: deque[int] = deque()
    for i, v in enumerate(values):
        while q and values[q[-1]] >= v:
            q.pop()
        q.append(i)
        if q[0] <= i - width:
            q.popleft()
        if i >= width - 1:
            out.append(values[q[0]])
    return out


def _window_max(values: Sequence[int], width: int) -> list[int]:
    return [-v for v in _window_min([-v for v in values], width)]


def boilerplate_cuts(prompts: Sequence[str], share: float = BOILERPLATE_SHARE,
                     minimum: int = BOILERPLATE_MIN, keep_words: int = 0) -> list[int]:
    """Per prompt, how many leading characters are boilerplate, ending at a word boundary
    (prompts are normalised: single spaces); 0 where the prompt shares no start with
    enough others. `keep_words`: that many of the boilerplate's last words are kept, so
    that word n-grams reaching from it into the row's own text (which are the row's own)
    survive and only n-grams wholly inside it go."""
    n = len(prompts)
    m = max(minimum, math.ceil(share * n))
    cuts = [0] * n
    if n < m or m < 2:
        return cuts
    order = sorted(range(n), key=prompts.__getitem__)
    adjacent = [common_prefix(prompts[order[j]], prompts[order[j + 1]]) for j in range(n - 1)]
    # A window of m consecutive sorted prompts shares min(adjacent[i .. i+m-2]) characters;
    # a prompt's boilerplate is the best window that holds it.
    shared = _window_min(adjacent, m - 1)                       # per window start i in 0..n-m
    padded = [0] * (m - 1) + shared + [0] * (m - 1)
    best = _window_max(padded, m)                               # per sorted position 0..n-1
    for pos, row in enumerate(order):
        k = best[pos]
        if k:
            p = prompts[row]
            cut = k if k == len(p) else p.rfind(" ", 0, k) + 1
            for _ in range(keep_words):
                cut = p.rfind(" ", 0, max(cut - 1, 0)) + 1 if cut else 0
            cuts[row] = cut
    return cuts


def tail_cuts(prompts: Sequence[str], share: float = BOILERPLATE_SHARE, minimum: int = BOILERPLATE_MIN,
              keep_words: int = 0) -> list[int]:
    """Per prompt, how many trailing characters are boilerplate (an end that enough others
    share: options listed after the row's text, "Answer:"), starting at a word boundary."""
    return boilerplate_cuts([p[::-1] for p in prompts], share, minimum, keep_words)


def own_text(prompts: Sequence[str], keep_words: int = 0) -> list[tuple[int, int]]:
    """Per prompt, the (start, end) of what is its own: the shared start and the shared end cut
    (`keep_words` of each kept, see `boilerplate_cuts`); (0, 0) when the whole prompt is shared."""
    heads = boilerplate_cuts(prompts, keep_words=keep_words)
    tails = tail_cuts(prompts, keep_words=keep_words)
    return [(h, max(h, len(p) - t)) for p, h, t in zip(prompts, heads, tails, strict=True)]


def header_cuts(texts: Sequence[str], keep_words: int = 0) -> list[int]:
    """Per plain-text row, how many leading characters are a header that many rows share,
    cut only where at least HEADER_KEEP_WORDS words follow it (see the module's docstring)."""
    cuts = boilerplate_cuts(texts, keep_words=keep_words)
    return [c if c and texts[i].count(" ", c) >= HEADER_KEEP_WORDS else 0 for i, c in enumerate(cuts)]
