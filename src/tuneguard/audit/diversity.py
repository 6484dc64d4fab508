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

Short answers (median at most 5 words) whose 20 most common values cover no more than
audit.top_responses_max of the rows ("The answer is 42." over many numbers) repeat by nature
and have few bigrams besides the fixed words around the value: for them the unique share and
distinct-2 are not signals, and the concentration signal is what remains.

A multi-turn chat under data.chat_turns all is judged on every assistant turn it trains, joined:
a closing courtesy ("You're welcome!") that ends 60% of the conversations made the last answers
look canned (36% unique, the 4 commonest covering 65% of rows: an error that refused training)
while the model learns every answer before it too; conversations whose trained turns are all
canned still repeat as wholes and are caught.

Plain-text rows are judged without the header many of them share (a licence block at the top
of each code file): distinct-2 and the 8-gram coverage on their own text; the header's share
of the text is in the stats.

One signal: warning; audit.diversity_error_signals (2) or more: error. The thresholds are
audit config fields. The gzip ratio of the responses is reported in the stats (natural text
compresses about 3x; templated text much more) but is not a rule.

A classifier's answers are a few labels by design (tuneguard.audit.task_shape), so for
classification the signals above say nothing; what can waste the run is the label
distribution: one label for every row (error: nothing to learn) or one label above
audit.label_majority_warning of the rows (warning: always answering it scores that share,
and the loss is low without the task being learned).
"""

from __future__ import annotations

import collections
import logging
import random
import zlib
from typing import Any

import numpy as np

from tuneguard.audit.common import (
    SplitText,
    finding,
    no_gc,
    preview,
    seeded_sample,
    share,
    trained_responses,
    words,
)
from tuneguard.audit.minhash import ROLL_PRIME, mix64, word_hashes
from tuneguard.audit.boilerplate import header_cuts
from tuneguard.audit.task_shape import CLASS_MAX_WORDS, TaskShape
from tuneguard.catalog import J, T, render
from tuneguard.config.schema import AuditConfig
from tuneguard.findings import Finding

log = logging.getLogger(__name__)

TOP_K = 20
DISTINCT2_BIGRAMS = 50_000
DISTINCT2_MIN_BIGRAMS = 1_000
NGRAM = 8
NGRAM_ROW_SHARE = 0.10
NGRAM_SAMPLE_ROWS = 20_000
NGRAM_MIN_ROWS = 20
GZIP_SAMPLE_BYTES = 2_000_000
SHORT_ANSWER_WORDS = CLASS_MAX_WORDS


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
        seen.update(zip(w, w[1:], strict=False))
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


def own_responses(train: SplitText) -> tuple[list[str], dict[str, Any]]:
    """The responses as the phrase signals judge them: for plain-text rows (no prompt), without
    the header that many rows share (a licence block at the top of each code file,
    tuneguard.audit.boilerplate.header_cuts); and the header's numbers for the stats.

    Why: such a header is supervised and learned by heart, but it says nothing about whether
    the rows' own text is templated; its share of the words is reported instead of judged."""
    responses = train.responses
    if any(train.prompts):
        return responses, {}
    cuts = header_cuts(responses)
    cut_rows = sum(c > 0 for c in cuts)
    if not cut_rows:
        return responses, {}
    total = sum(len(r) for r in responses)
    return ([r[c:] for r, c in zip(responses, cuts, strict=True)],
            {"shared_header_rows": cut_rows, "shared_header_char_share": share(sum(cuts), total)})


def _signals(stats: dict[str, Any], acfg: AuditConfig, task: TaskShape, n_repeated: int) -> list[dict[str, Any]]:
    """The templated-data signals that the numbers in `stats` raise (see the module's docstring)."""
    unique, top_share, d2, coverage = (stats["unique_response_share"], stats["top20_share"], stats["distinct2"],
                                       stats["frequent_8gram_coverage"])
    # Short answers spread over many values (numbers, names, dates: "The answer is 42.") repeat
    # by nature, and their few bigrams are mostly the fixed words around the value: only their
    # concentration on a few answers says they are canned.
    spread_short = (task.stats.get("median_response_words", 0) <= SHORT_ANSWER_WORDS
                    and top_share <= acfg.top_responses_max)
    stats["short_answers_spread"] = spread_short
    signals = []
    if stats["rows"] and unique < acfg.unique_response_min and not spread_short:
        signals.append(T("LOW_DIVERSITY.signal.unique", unique=unique, min=acfg.unique_response_min))
    if top_share > acfg.top_responses_max:
        signals.append(T("LOW_DIVERSITY.signal.top", n=n_repeated, share=top_share, max=acfg.top_responses_max))
    if d2 is not None and d2 < acfg.distinct2_min and not spread_short:
        signals.append(T("LOW_DIVERSITY.signal.distinct2", d2=d2, min=acfg.distinct2_min))
    if coverage is not None and coverage > acfg.template_coverage_max:
        signals.append(T("LOW_DIVERSITY.signal.template", coverage=coverage, row_share=NGRAM_ROW_SHARE,
                         max=acfg.template_coverage_max))
    return signals


def check(train: SplitText, seed: int, acfg: AuditConfig, task: TaskShape) -> tuple[list[Finding], dict[str, Any]]:
    n = len(train)
    responses = trained_responses(train)
    counts = collections.Counter(responses)
    unique = share(len(counts), n)
    repeated = [(r, c) for r, c in counts.most_common(TOP_K) if c > 1]
    top_share = share(sum(c for _, c in repeated), n)
    repeated_rows = sum(c for c in counts.values() if c > 1)
    own, header = own_responses(train)
    if responses is not train.responses:
        own, header = responses, {"judged_on": "every trained assistant turn of multi-turn chats"}
    d2, bigrams = distinct2(own, seed)
    sample = seeded_sample(n, NGRAM_SAMPLE_ROWS, seed)
    idx = sample if sample is not None else range(n)
    with no_gc():
        wl = [words(own[i]) for i in idx]
    coverage, top_ngrams = frequent_ngram_coverage(wl)
    blob = "\n".join(responses).encode("utf-8")[:GZIP_SAMPLE_BYTES]
    gzip_ratio = round(len(blob) / max(len(zlib.compress(blob, 6)), 1), 3) if blob else None
    stats = {"rows": n, "unique_response_share": unique, "top20_share": top_share, "repeated_response_rows": repeated_rows,
             "distinct2": None if d2 is None else round(d2, 4), "distinct2_bigrams": bigrams,
             "frequent_8gram_coverage": None if coverage is None else round(coverage, 4), "gzip_ratio": gzip_ratio,
             **header}
    if task.label_like:
        stats["judged_as"] = "classification: label distribution"
        return _labels(train, acfg, task), stats
    signals = _signals(stats, acfg, task, len(repeated))
    if not signals:
        return [], stats
    rows_used = list(idx)
    ev = dict(stats)
    ev["count"] = repeated_rows
    ev["share"] = share(repeated_rows, n)
    first_row = {}
    for i, r in enumerate(responses):
        first_row.setdefault(r, i)
    ev["top_responses"] = [{"count": c, "example": preview(train.examples[first_row[r]].response),
                            "first": train.where(first_row[r])} for r, c in repeated[:5]]
    ev["frequent_phrases"] = [{"rows": df, "in": train.where(rows_used[row]),
                               "example": preview(train.examples[rows_used[row]].response)} for row, df in top_ngrams]
    ev["signals"] = [render(x) for x in signals]
    ev["task"] = task.shape
    ev["thresholds"] = {"audit.unique_response_min": acfg.unique_response_min,
                        "audit.top_responses_max": acfg.top_responses_max, "audit.distinct2_min": acfg.distinct2_min,
                        "audit.template_coverage_max": acfg.template_coverage_max,
                        "audit.diversity_error_signals": acfg.diversity_error_signals}
    severity = "error" if len(signals) >= acfg.diversity_error_signals else "warning"
    msg = T("LOW_DIVERSITY.templated", task=T(f"task.{task.shape}"), signals=J("join.semi", signals))
    rec = T("LOW_DIVERSITY.templated.rec")
    return [finding("LOW_DIVERSITY", severity, msg, ev, rec)], stats


def _labels(train: SplitText, acfg: AuditConfig, task: TaskShape) -> list[Finding]:
    """LOW_DIVERSITY for a classifier: a single label, or one label far above the others."""
    n = len(train)
    labels = task.stats.get("labels") or []
    if not n or not labels:
        return []
    top = labels[0]
    majority = top["share"]
    ev = {"count": top["count"], "share": majority, "rows": n, "task": task.shape,
          "labels": labels, "distinct_labels": task.stats.get("distinct_responses"),
          "thresholds": {"audit.label_majority_warning": acfg.label_majority_warning}}
    if len(labels) == 1:
        msg = T("LOW_DIVERSITY.single_label", n=n, label=top["label"])
        rec = T("LOW_DIVERSITY.single_label.rec")
        return [finding("LOW_DIVERSITY", "error", msg, ev, rec)]
    if majority > acfg.label_majority_warning:
        msg = T("LOW_DIVERSITY.majority", label=top["label"], share=majority, n=n, limit=acfg.label_majority_warning)
        rec = T("LOW_DIVERSITY.majority.rec")
        return [finding("LOW_DIVERSITY", "warning", msg, ev, rec)]
    return []
