"""ANSWER_IN_PROMPT: rows whose answer is already written in their own prompt.

The model then learns to copy, and the loss is near zero on rows it has never seen
(research note, cause 7). A row is marked when the longest common substring of its
normalised prompt and response is at least audit.answer_in_prompt_ratio (90%) of the
response's length: a pasted reference answer is all of it, while real translations keep
names, option strings and placeholders ("document Adobe Illustrator") and code completions
repeat the function before them, copying 50-90% of an answer in 2-3.5% of their rows
(bench/shapes.py). Responses shorter than MIN_ANSWER_CHARS are skipped: copying a short
label ("positive") from the options listed in a classification prompt is not a leak, and nor
is a longer label that the rows with other answers list as often (`listed_labels`). Rule:
error above audit.answer_in_prompt_error (5%) of rows, warning above
audit.answer_in_prompt_warning (2%), info for fewer, or for fewer than MIN_ROWS rows (one row
of a 50-row set is 2%): copying teaches a row's share of the loss to copy, so below 2% the
effect on the run is small, and real data copies legitimately that often (dpkg's Thai
translations keep option names and placeholders such as "--%s" verbatim in 1.1% of their
messages, bench/diagnosis.py).

For extraction and rewriting (tuneguard.audit.task_shape) the answer is in the input by
design, so the check does not apply; a reference answer pasted into the prompt of an open or
classification task is still a leak. An open task whose answers mostly (PARAPHRASING_SHARE)
repeat their prompt's words without being spans of it is a summary or rewrite that fell short
of the rewriting shape's 80%: one-line summaries of manual pages (DESCRIPTION -> NAME) are 63%
rewrites and 12% spans, and 7% of their rows restate a sentence of the description verbatim.
Those copies are the far end of the task, not a pasted answer, so the finding is at most a
warning there and says so; a pasted answer makes spans, not rewrites, so it does not lower it.

The prompt start and end that many rows share (a system prompt, a classifier's options;
tuneguard.audit.boilerplate) are not searched: repeating their wording is following them.

Why not difflib: `SequenceMatcher.find_longest_match` is quadratic in the worst case and
its junk heuristic misses matches on long texts; 100,000 rows must take about a second.
The exact test used instead: a common substring of length >= L contains a whole block
response[k*h:(k+1)*h] with h = L // 2 (aligned blocks every h characters), so it suffices
to look each of those few blocks up in the prompt (`str.find`, C speed) and extend every
occurrence both ways to its maximal match.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from tuneguard.audit.boilerplate import own_text
from tuneguard.audit.common import MAX_EXAMPLES, SplitText, finding, preview, share
from tuneguard.audit.task_shape import TaskShape
from tuneguard.catalog import T
from tuneguard.config.schema import AuditConfig
from tuneguard.findings import Finding

log = logging.getLogger(__name__)

MIN_ANSWER_CHARS = 20
MAX_OCCURRENCES = 256
MIN_ROWS = 3  # one or two rows are not a pattern: a 50-row set's single row is 2% of it
OPTION_SAMPLE = 2_000
PARAPHRASING_SHARE = 0.5  # an open task with this share of rewrites paraphrases its input by nature


def listed_labels(train: SplitText, spans: list[tuple[int, int]], labels: set[str]) -> list[str]:
    """The labels of a classifier that its prompts list as options: written in the prompts of
    rows with another answer at least half as often as in the prompts of their own rows, so
    seeing one in a prompt does not tell the answer (options in a per-row order, which no
    shared prompt start or end covers). Measured on the first OPTION_SAMPLE rows."""
    rows = range(min(len(train), OPTION_SAMPLE))
    own = [train.prompts[i][a:b] for i, (a, b) in zip(rows, spans, strict=False)]
    listed = []
    for label in sorted(labels):
        mine = [label in own[i] for i in rows if train.responses[i] == label]
        other = [label in own[i] for i in rows if train.responses[i] != label]
        if mine and other and sum(other) / len(other) >= 0.5 * sum(mine) / len(mine):
            listed.append(label)
    return listed


def longest_common_at_least(prompt: str, response: str, min_len: int) -> int:
    """Length of the longest common substring of prompt and response when it is >= min_len,
    else a smaller number (0 when no aligned block occurs in the prompt)."""
    if min_len <= 0 or len(response) < min_len or len(prompt) < min_len:
        return 0
    h = max(1, min_len // 2)
    best = 0
    n_r, n_p = len(response), len(prompt)
    for s in range(0, n_r - h + 1, h):
        block = response[s: s + h]
        q = prompt.find(block)
        seen = 0
        while q != -1 and seen < MAX_OCCURRENCES:
            left = 0
            while left < s and left < q and response[s - 1 - left] == prompt[q - 1 - left]:
                left += 1
            right = 0
            while s + h + right < n_r and q + h + right < n_p and response[s + h + right] == prompt[q + h + right]:
                right += 1
            best = max(best, left + h + right)
            if best >= n_r:
                return best
            q = prompt.find(block, q + 1)
            seen += 1
    return best


def check(train: SplitText, acfg: AuditConfig, task: TaskShape) -> tuple[list[Finding], dict[str, Any]]:
    n = len(train)
    if task.copies_input:
        return [], {"rows": n, "skipped": f"{task.shape}: answers are expected to repeat the input"}
    ratio = acfg.answer_in_prompt_ratio
    flagged: list[tuple[int, float]] = []
    checked = skipped = 0
    # An answer that repeats words of the prompt start or end every row shares (a system
    # prompt's rules, the options of a classifier) was not pasted into its own prompt: only
    # the row's own part of the prompt is searched.
    spans = own_text(train.prompts)
    for i, (p, r) in enumerate(zip(train.prompts, train.responses, strict=False)):
        if not p:
            continue
        if len(r) < MIN_ANSWER_CHARS:
            skipped += 1
            continue
        checked += 1
        p = p[spans[i][0]: spans[i][1]]
        need = math.ceil(ratio * len(r))
        lcs = longest_common_at_least(p, r, need)
        if lcs >= need:
            flagged.append((i, lcs / len(r)))
    options: list[str] = []
    if task.label_like and flagged:
        options = listed_labels(train, spans, {train.responses[i] for i, _ in flagged})
        flagged = [(i, x) for i, x in flagged if train.responses[i] not in options]
    frac = share(len(flagged), n)
    stats = {"rows": n, "checked": checked, "skipped_short": skipped, "flagged": len(flagged), "share": frac,
             "labels_listed_as_options": len(options)}
    if not flagged:
        return [], stats
    severity = ("info" if len(flagged) < MIN_ROWS else "error" if frac > acfg.answer_in_prompt_error else
                "warning" if frac > acfg.answer_in_prompt_warning else "info")
    rewrites = task.stats.get("rewrite_share", 0.0)
    paraphrasing = task.shape == "open" and rewrites >= PARAPHRASING_SHARE
    if paraphrasing and severity == "error":
        severity = "warning"
    ev = {"count": len(flagged), "share": frac, "rows": n, "checked": checked, "skipped_short_answers": skipped,
          "examples": [{"row": train.where(i), "answer_share_in_prompt": round(x, 3),
                        "answer": preview(train.examples[i].response)} for i, x in flagged[:MAX_EXAMPLES]],
          "task": task.shape,
          "thresholds": {"audit.answer_in_prompt_ratio": ratio, "audit.answer_in_prompt_warning":
                         acfg.answer_in_prompt_warning, "audit.answer_in_prompt_error": acfg.answer_in_prompt_error,
                         "min_answer_chars": MIN_ANSWER_CHARS}}
    ev["rewrite_share"] = rewrites
    key = "ANSWER_IN_PROMPT.paraphrasing" if paraphrasing else "ANSWER_IN_PROMPT.copied"
    msg = T(key, count=len(flagged), n=n, share=frac, ratio=ratio, task=T(f"task.{task.shape}"), rewrites=rewrites)
    rec = T(f"{key}.rec")
    return [finding("ANSWER_IN_PROMPT", severity, msg, ev, rec)], stats
