"""LOW_DIVERSITY: templated or synthetic data whose responses become deterministic.

Once the template is learned every supervised token is predictable and the loss goes to ~0
on rows the model has never seen (research note, cause 2). Four signals on the training
responses (normalised: lower case, whitespace collapsed):

- unique responses / rows < 0.5;
- the 20 most common responses (those occurring more than once) cover > 20% of rows;
- distinct-2 (distinct word bigrams / bigrams) < 0.2, measured on a seeded sample of
  about 50,000 bigrams, because distinct-n falls with corpus size and the rule must mean
  the same for 500 rows and for 100,000;
- > 50% of response words lie inside word 8-grams that occur in > 10% of rows (on a
  seeded sample of at most 20,000 rows). Words rather than tokenizer tokens so that the
  rule means the same under every tokenizer (an 8-token window is two words for a small
  byte-level vocabulary and six for GPT-J's).

One signal: warning; two or more: error. The gzip ratio of the responses is reported in
the stats (natural text compresses about 3x; templated text much more) but is not a rule.
"""

from __future__ import annotations

import collections
import logging
import random
import zlib
from typing import Any

import numpy as np

from tuneguard.audit.common import SplitText, finding, no_gc, pct, preview, seeded_sample, share, words
from tuneguard.audit.minhash import ROLL_PRIME, mix64, word_hashes
from tuneguard.findings import Finding

log = logging.getLogger(__name__)

UNIQUE_MIN = 0.5
TOP_K = 20
TOP_MAX = 0.2
DISTINCT2_MIN = 0.2
DISTINCT2_BIGRAMS = 50_000
DISTINCT2_MIN_BIGRAMS = 1_000
NGRAM = 8
NGRAM_ROW_SHARE = 0.10
NGRAM_COVERAGE_MAX = 0.5
NGRAM_SAMPLE_ROWS = 20_000
NGRAM_MIN_ROWS = 20
GZIP_SAMPLE_BYTES = 2_000_000


def distinct2(responses: list[str], seed: int) -> tuple[float | None, int]:
    """distinct-2 over about DISTINCT2_BIGRAMS bigrams of responses in seeded random order."""
    order = list(range(len(responses)))
    random.Random(seed).shuffle(order)
    seen: set[tuple[str, str]] = set()
    total = 0
    for i in order:
        w = words(responses[i])
        if len(w) < 2:
            continue
        seen.update(zip(w, w[1:]))
        total += len(w) - 1
        if total >= DISTINCT2_BIGRAMS:
            break
    if total < DISTINCT2_MIN_BIGRAMS:
        return None, total
    return len(seen) / total, total


def frequent_ngram_coverage(word_lists: list[list[str]]) -> tuple[float | None, list[tuple[int, int]]]:
    """Share of words inside word n-grams that occur in more than NGRAM_ROW_SHARE of rows.

    Returns (coverage, [(first_row, row_count)] of the most frequent such n-grams).
    """
    n = len(word_lists)
    if n < NGRAM_MIN_ROWS:
        return None, []
    whash, lens = word_hashes(word_lists)
    total = len(whash)
    if total < NGRAM:
        return 0.0, []
    m = total - NGRAM + 1
    g = whash[:m].copy()
    for k in range(1, NGRAM):
        g *= ROLL_PRIME
        g += whash[k: k + m]
    mix64(g)
    rowid = np.repeat(np.arange(n, dtype=np.int64), lens)
    pos = np.flatnonzero(rowid[:m] == rowid[NGRAM - 1:])
    if len(pos) == 0:
        return 0.0, []
    keys, rows = g[pos], rowid[pos]
    # Document frequency: count each n-gram once per row.
    pair = keys ^ mix64(rows.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    _, first = np.unique(pair, return_index=True)
    uk, df = np.unique(keys[first], return_counts=True)
    limit = max(NGRAM_ROW_SHARE * n, 1)
    frequent = uk[df > limit]
    if len(frequent) == 0:
        return 0.0, []
    hit = np.isin(keys, frequent)
    cover = np.zeros(total + 1, dtype=np.int64)
    np.add.at(cover, pos[hit], 1)
    np.add.at(cover, pos[hit] + NGRAM, -1)
    covered = int((np.cumsum(cover[:-1]) > 0).sum())
    top = np.argsort(-df[df > limit], kind="stable")[:3]
    examples = []
    for t in top:
        key = frequent[t]
        first_pos = pos[np.flatnonzero(keys == key)[0]]
        examples.append((int(rowid[first_pos]), int(df[df > limit][t])))
    return covered / total, examples


def check(train: SplitText, seed: int) -> tuple[list[Finding], dict[str, Any]]:
    n = len(train)
    counts = collections.Counter(train.responses)
    unique = share(len(counts), n)
    repeated = [(r, c) for r, c in counts.most_common(TOP_K) if c > 1]
    top_share = share(sum(c for _, c in repeated), n)
    repeated_rows = sum(c for c in counts.values() if c > 1)
    d2, bigrams = distinct2(train.responses, seed)
    sample = seeded_sample(n, NGRAM_SAMPLE_ROWS, seed)
    idx = sample if sample is not None else range(n)
    with no_gc():
        wl = [words(train.responses[i]) for i in idx]
    coverage, top_ngrams = frequent_ngram_coverage(wl)
    blob = "\n".join(train.responses).encode("utf-8")[:GZIP_SAMPLE_BYTES]
    gzip_ratio = round(len(blob) / max(len(zlib.compress(blob, 6)), 1), 3) if blob else None
    stats = {"rows": n, "unique_response_share": unique, "top20_share": top_share, "repeated_response_rows": repeated_rows,
             "distinct2": None if d2 is None else round(d2, 4), "distinct2_bigrams": bigrams,
             "frequent_8gram_coverage": None if coverage is None else round(coverage, 4), "gzip_ratio": gzip_ratio}
    signals = []
    if n and unique < UNIQUE_MIN:
        signals.append(f"only {pct(unique)} of responses are unique (< {pct(UNIQUE_MIN)})")
    if top_share > TOP_MAX:
        signals.append(f"the {len(repeated)} most common responses cover {pct(top_share)} of rows (> {pct(TOP_MAX)})")
    if d2 is not None and d2 < DISTINCT2_MIN:
        signals.append(f"distinct-2 of responses is {d2:.3f} (< {DISTINCT2_MIN})")
    if coverage is not None and coverage > NGRAM_COVERAGE_MAX:
        signals.append(f"{pct(coverage)} of response words sit inside 8-word phrases shared by more than "
                       f"{pct(NGRAM_ROW_SHARE)} of rows (> {pct(NGRAM_COVERAGE_MAX)})")
    if not signals:
        return [], stats
    rows_used = list(idx)
    ev = dict(stats)
    ev["count"] = repeated_rows
    ev["share"] = share(repeated_rows, n)
    first_row = {}
    for i, r in enumerate(train.responses):
        first_row.setdefault(r, i)
    ev["top_responses"] = [{"count": c, "example": preview(train.examples[first_row[r]].response),
                            "first": train.where(first_row[r])} for r, c in repeated[:5]]
    ev["frequent_phrases"] = [{"rows": df, "in": train.where(rows_used[row]),
                               "example": preview(train.examples[rows_used[row]].response)} for row, df in top_ngrams]
    ev["signals"] = signals
    ev["thresholds"] = {"unique_response_share_min": UNIQUE_MIN, "top20_share_max": TOP_MAX,
                        "distinct2_min": DISTINCT2_MIN, "frequent_8gram_coverage_max": NGRAM_COVERAGE_MAX}
    severity = "error" if len(signals) >= 2 else "warning"
    msg = "The training responses look templated: " + "; ".join(signals) + \
        ", so once the template is learned the loss says little about the model."
    rec = ("Cap rows per template or source, deduplicate repeated responses, and mix in varied data; "
           "if the task really has fixed answers (classification), expect a near-zero loss and judge the run by "
           "accuracy on a clean holdout (data.validation_file) instead.")
    return [finding("LOW_DIVERSITY", severity, msg, ev, rec)], stats
