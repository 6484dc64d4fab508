"""Near copies of short rows: one word changed, added or removed.

Why a second measure: MinHash over word 5-grams cannot see them. One word changed in the
middle of a row of L words removes 5 of its L - 4 shingles and adds 5 new ones, a Jaccard of
(L - 9) / (L + 1): under 0.8 for every row shorter than 49 words (a 10-word row keeps 1 of
11). Lower n-grams would make unrelated short rows look alike instead.

So rows shorter than `short_limit` words are also compared by their word sequence: two rows
are a near copy when they differ by one word edit (a substitution, insertion or deletion)
and their word-sequence similarity (difflib's ratio, 2 x matching words / all words) is at
least the near-copy threshold: a 5-word row with a word changed is 0.8, a 4-word one 0.75
(too little left to call it a copy). A pair whose differing words hold a number is not a copy:
"What is 12 + 7?" and "What is 12 * 7?" differ in the operator (punctuation, not a word) and
the answer, and a changed number is a changed fact (arithmetic, dates, counts).

Finding the pairs is exact and linear: each row gets one key for its whole word sequence and
one for the sequence with each position left out (a deletion neighbourhood, as in SymSpell);
two sequences one edit apart share a key. The keys are sums of per-position hashes, so every
"left out" key is a prefix sum plus a suffix sum, one numpy pass for all rows. Rows differing by
two or more words are left to the 5-gram check (it finds them where the change is near an end
or the row is long).
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from tuneguard.audit.minhash import ROLL_PRIME, mix64, sharing, text_starts, word_hashes

log = logging.getLogger(__name__)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
SUBSTITUTE_SPELLING = 0.85  # a substituted word this alike in characters reads as a misspelling (receive, recieve)


def long_enough(threshold: float) -> int:
    """Words from which a row with one word replaced, added or dropped is a near copy: where that
    word costs no more than a quarter of the dissimilarity the threshold allows (20 words at
    0.8). Below it, legitimate rows one word apart are common (see `_similar`): at 10 words two
    pairs of different manual pages in 1,207 summaries remained ("an HTML form submit / file
    input element for use with HTML::Form"), at 15 three pairs of different messages in 1,500
    gettext ones ("... when the toolbar is in a vertical / horizontal orientation."), each a
    leakage warning when the split parts them."""
    return math.ceil(4 / (1.0 - threshold) - 1e-9) if threshold < 1 else 1 << 30


def short_limit(ngram: int, threshold: float) -> int:
    """Rows with fewer words than this lose a one-word near copy under n-gram MinHash: a
    substitution mid-row gives Jaccard (L - 2n + 1) / (L + 1) < threshold (49 at 5, 0.8)."""
    return math.ceil((2 * ngram - 1 + threshold) / (1.0 - threshold) - 1e-9) if threshold < 1 else 1 << 30


def _position_hash(whash: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """A 64-bit value per (word, position) pair; sums of them over a sequence are its key."""
    x = whash ^ (pos.astype(np.uint64) * _GOLDEN)
    x *= ROLL_PRIME
    return mix64(x)


def edit_keys(whash: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, text index) of every text: its whole sequence's key and, per position, the key of
    the sequence with that word left out. A key also encodes the sequence's length."""
    n = len(lens)
    starts = text_starts(lens)
    owner = np.repeat(np.arange(n), lens)
    pos = np.arange(len(whash), dtype=np.int64) - starts[owner]
    here = _position_hash(whash.copy(), pos)           # the word at its own position
    shifted = _position_hash(whash.copy(), pos - 1)    # the word one position earlier (after a deletion)
    with np.errstate(over="ignore"):
        ca = np.concatenate([[np.uint64(0)], np.cumsum(here, dtype=np.uint64)])
        cb = np.concatenate([[np.uint64(0)], np.cumsum(shifted, dtype=np.uint64)])
        flat = np.arange(len(whash))
        end = starts[owner] + lens[owner]
        # left out position p: words before p at their place, words after p one place earlier
        left_out = (ca[flat] - ca[starts[owner]]) + (cb[end] - cb[flat + 1])
        left_out += (lens[owner] - 1).astype(np.uint64) * ROLL_PRIME
        whole = (ca[starts + lens] - ca[starts]) + lens.astype(np.uint64) * ROLL_PRIME
    keys = np.concatenate([mix64(whole), mix64(left_out)])
    texts = np.concatenate([np.arange(n), owner])
    return keys, texts


def _bucket_pairs(keys: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Unique pairs (i < j) of texts that share a key."""
    out = sharing(keys, texts)
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(out), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


def _similar(a: list[str], b: list[str], threshold: float, a_prompt: int = 0, b_prompt: int = 0) -> float | None:
    """difflib's ratio of two word sequences when they are a near copy, else None: exactly one
    word edit apart, a ratio of at least `threshold`, no digit in the word that differs, and,
    where the part it is in (the prompt: the first `a_prompt` / `b_prompt` words, or the answer)
    has fewer than `long_enough(threshold)` words (20), only a misspelling (a substituted word
    spelled alike: SUBSTITUTE_SPELLING of its characters). A 7-word question with its subject
    replaced is another question even when both carry the same long canned answer (that is
    LOW_DIVERSITY's finding).

    Why so strict under 20 words: there one word is often the item. Measured on manual-page summaries
    (bench/shapes.py), one-word differences are different pages far more often than copies:
    "get file status" / "get file status (extended)" (stat, statx), "system V semaphore
    operations" / "... control operations" (semop, semctl), "load" / "unload a kernel module",
    "get the IAM policy for a keyring" / "... for a backup"."""
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ratio = sm.ratio()
    edits = [op for op in sm.get_opcodes() if op[0] != "equal"]
    if ratio < threshold - 1e-12 or len(edits) != 1:
        return None
    tag, i1, i2, j1, j2 = edits[0]
    changed = a[i1:i2] + b[j1:j2]
    if len(changed) > 2 or any(ch.isdigit() for w in changed for ch in w):
        return None
    in_prompt = i1 < a_prompt or j1 < b_prompt
    part = min(a_prompt, b_prompt) if in_prompt else min(len(a) - a_prompt, len(b) - b_prompt)
    if part >= long_enough(threshold):
        return ratio
    if tag == "replace" and difflib.SequenceMatcher(None, changed[0], changed[1]).ratio() >= SUBSTITUTE_SPELLING:
        return ratio
    return None


def short_near_pairs(texts: Sequence[str], threshold: float, ngram: int, to_words: Callable[[str], list[str]],
                     sep: str = "\x1f") -> tuple[np.ndarray, np.ndarray, int]:
    """(pairs i < j, similarities, candidates) of the texts shorter than `short_limit` words
    that are one word edit apart (see the module's docstring); `sep` ends a text's prompt."""
    limit = short_limit(ngram, threshold)
    idx, wl, prompt_words = [], [], []
    for i, t in enumerate(texts):
        w = to_words(t)
        if 0 < len(w) < limit:
            idx.append(i)
            wl.append(w)
            prompt_words.append(len(to_words(t[: t.index(sep)])) if sep in t else 0)
    empty = np.zeros((0, 2), dtype=np.int64), np.zeros(0), 0
    if len(wl) < 2:
        return empty
    whash, lens = word_hashes(wl)
    cand = _bucket_pairs(*edit_keys(whash, lens))
    keep, sims = [], []
    for a, b in cand.tolist():
        r = _similar(wl[a], wl[b], threshold, prompt_words[a], prompt_words[b])
        if r is not None:
            keep.append((idx[a], idx[b]))
            sims.append(r)
    log.debug("short rows: %d texts under %d words, %d candidates, %d near pairs", len(wl), limit, len(cand), len(keep))
    if not keep:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0), len(cand)
    return np.array(keep, dtype=np.int64), np.array(sims), len(cand)
