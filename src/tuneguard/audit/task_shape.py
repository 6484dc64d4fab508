"""What kind of task the data is, so that each check judges it for what it is.

A classifier's answers are a few label words, so "only 5% of responses are unique" is what
classification is, not a template; an extractor's answers are spans of its input, so "the
answer is in the prompt" is the task, not a leak. The audit therefore first decides the
shape of the task, from the data (or `data.task` when the user states it):

- classification: answers from a small set (at most audit.task_max_labels distinct answers):
  short ones (median at most CLASS_MAX_WORDS words), each seen at least CLASS_MIN_PER_LABEL
  times on average (labels); or longer ones given to differently worded prompts: at least
  audit.task_share of the prompts asked once, and at least REPLY_SHARED of the rows answered
  with a reply another row has too (an FAQ's fixed replies, some reworded or with a greeting
  added: the model learns which reply each wording asks for, as a classifier learns its label);
- extraction: at least audit.task_share of the rows with a prompt have their answer as a
  verbatim span of a longer prompt;
- rewriting: at least audit.task_share of those rows either are spans or answer with mostly
  the prompt's own words (REWRITE_RECALL of the answer's words occur in the prompt): the
  answer transforms the input (a synonym swapped, a case changed, a sentence restructured);
- open: anything else (free answers, and plain-text rows without a prompt).

Structured answers are judged by their values: when at least audit.task_share of the answers
are JSON objects with one key set (`structured`) and every field takes few values (at most
audit.task_max_labels, each seen CLASS_MIN_PER_LABEL times on average), the rows are
classification on several fields at once (a ticket's component, priority and sentiment), even
though the combinations of values outnumber task_max_labels: 6 x 4 x 3 fields make 72 distinct
answers, all of one template, which the "templated answers" rule would call an error. A field
of free values (a name, a date, an amount) keeps the rows' other shape, named extraction when
the answers repeat their prompt's words (the values are copied, the keys and dates reformatted).

Words are split on whitespace and punctuation, and a run of Thai (or another script written
without spaces) into pseudo-words of about a word's size (tuneguard.audit.common.words), so the
word counts and the overlap mean the same in Thai; a Thai answer to an English prompt shares
none, as it should.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import statistics
from typing import Any

from tuneguard.audit.common import SplitText, preview, seeded_sample, share, trained_responses, words
from tuneguard.catalog import Spec, T, render
from tuneguard.config.schema import AuditConfig

log = logging.getLogger(__name__)

SHAPES = ("classification", "extraction", "rewriting", "open")
CLASS_MAX_WORDS = 5
CLASS_MIN_PER_LABEL = 3
REPLY_SHARED = 0.5
REWRITE_RECALL = 0.6
REWRITE_MIN_WORDS = 3
SPAN_PROMPT_FACTOR = 1.5  # "a longer input": the prompt is at least this much longer than the answer
SAMPLE_ROWS = 5_000  # the shares are known to about 1% from 5,000 rows; more costs seconds at 100,000
TOP_LABELS = 20


@dataclasses.dataclass
class TaskShape:
    """The task's shape, where it came from, and the numbers it was decided on."""

    shape: str
    source: str  # "inferred" or "data.task"
    text: Spec  # why, as a catalog spec (auditcli.why.*): the console says it in the config's language
    stats: dict[str, Any]

    @property
    def reason(self) -> str:
        """Why, in English (stats.task.reason of `audit --json`)."""
        return render(self.text, "en")

    @property
    def label_like(self) -> bool:
        return self.shape == "classification"

    @property
    def copies_input(self) -> bool:
        """Answers are expected to repeat the prompt's text (extraction, rewriting)."""
        return self.shape in ("extraction", "rewriting")

    def to_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "source": self.source, "reason": self.reason, **self.stats}


def _is_span(prompt: str, response: str) -> bool:
    return bool(response) and len(prompt) >= SPAN_PROMPT_FACTOR * len(response) and response in prompt


def _is_rewrite(prompt_words: set[str], response_words: list[str]) -> bool:
    if len(response_words) < REWRITE_MIN_WORDS:
        return False
    hit = sum(w in prompt_words for w in response_words)
    return hit >= REWRITE_RECALL * len(response_words)


def _fields(response: str) -> dict[str, str] | None:
    """A JSON object answer's fields, each value as its JSON text; None for any other answer."""
    response = response.strip()
    if not (response.startswith("{") and response.endswith("}")):
        return None
    try:
        obj = json.loads(response)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not obj:
        return None
    return {str(k): json.dumps(v, sort_keys=True, ensure_ascii=False) for k, v in obj.items()}


def structured(responses: list[str], acfg: AuditConfig) -> dict[str, Any] | None:
    """When at least audit.task_share of the answers (of distinct rows) are JSON objects of one key
    set: the keys, the number of values each field takes, and whether every field takes few values
    (labels: at most audit.task_max_labels, each seen CLASS_MIN_PER_LABEL times on average); else None."""
    parsed = [_fields(r) for r in responses]
    keysets = collections.Counter(tuple(sorted(f)) for f in parsed if f is not None)
    if not keysets:
        return None
    keys, n_keys = keysets.most_common(1)[0]
    if n_keys < acfg.task_share * len(responses):
        return None
    values = {k: collections.Counter(f[k] for f in parsed if f is not None and tuple(sorted(f)) == keys) for k in keys}
    labels = all(len(c) <= acfg.task_max_labels and n_keys >= CLASS_MIN_PER_LABEL * len(c) for c in values.values())
    return {"keys": list(keys), "values_per_key": {k: len(c) for k, c in values.items()},
            "share": share(n_keys, len(responses)), "labels": labels}


def _label_preview(response: str) -> str:
    """A label as the report lists it: a JSON object's fields as key=value, so that labels that
    differ in their last field do not all read `{"component": "command", "prio…`."""
    fields = _fields(response)
    if fields is None:
        return preview(response, 40)
    return preview(" ".join(f"{k}={v.strip(chr(34))}" for k, v in fields.items()), 60)


def measure(train: SplitText, seed: int, acfg: AuditConfig) -> dict[str, Any]:
    """The numbers every shape is decided on (a seeded sample of at most SAMPLE_ROWS rows)."""
    n = len(train)
    trained = trained_responses(train)  # what each row teaches: a multi-turn chat's every trained turn
    counts = collections.Counter(trained)
    sample = seeded_sample(n, SAMPLE_ROWS, seed)
    idx = range(n) if sample is None else sample
    with_prompt = spans = rewrites = 0
    prompt_counts = collections.Counter(train.prompts[i] for i in idx)
    lengths: list[int] = []
    # Each distinct row once: rows copied 20 times make 20 values look like labels.
    responses = [r for _, r in dict.fromkeys((train.prompts[i], trained[i]) for i in idx)]
    for i in idx:
        p, r = train.prompts[i], train.responses[i]
        rw = words(r)
        lengths.append(len(words(trained[i])))
        if not p:
            continue
        with_prompt += 1
        if _is_span(p, r):
            spans += 1
        elif _is_rewrite(set(words(p)), rw):
            rewrites += 1
    return {"rows": n, "rows_measured": len(lengths), "rows_with_prompt": with_prompt,
            "distinct_responses": len(counts), "median_response_words": statistics.median(lengths) if lengths else 0,
            "span_share": share(spans, with_prompt), "rewrite_share": share(rewrites, with_prompt),
            "unique_prompt_share": share(sum(c == 1 for p, c in prompt_counts.items() if p), with_prompt),
            "shared_reply_share": share(sum(c for c in counts.values() if c > 1), n),
            "structured": structured(responses, acfg) if responses else None, "_counts": counts}


def infer(train: SplitText, acfg: AuditConfig, stated: str, seed: int) -> TaskShape:
    """The task's shape: `stated` (data.task) unless it is "auto", else inferred from the rows."""
    m = measure(train, seed, acfg)
    counts: collections.Counter[str] = m.pop("_counts")
    n, distinct = m["rows"], m["distinct_responses"]
    few = n > 0 and distinct <= acfg.task_max_labels
    short = m["median_response_words"] <= CLASS_MAX_WORDS
    replies = (few and not short and m["unique_prompt_share"] >= acfg.task_share
               and m["shared_reply_share"] >= REPLY_SHARED)
    fields = m["structured"]
    label_fields = fields is not None and fields["labels"]
    label_like = few and short and n >= CLASS_MIN_PER_LABEL * distinct or replies or label_fields
    if label_like or stated == "classification":
        first: dict[str, int] = {}
        for i, r in enumerate(trained_responses(train)):
            first.setdefault(r, i)
        m["labels"] = [{"label": _label_preview(train.examples[first[r]].response), "count": c, "share": share(c, n)}
                       for r, c in counts.most_common(TOP_LABELS)]
        m["label_majority_share"] = share(counts.most_common(1)[0][1], n) if counts else 0.0
    if stated != "auto":
        return TaskShape(stated, "data.task", T("auditcli.why.stated", shape=stated), m)
    shape, text = _decide(m, acfg, label_like, replies)
    return TaskShape(shape, "inferred", text, m)


def _decide(m: dict[str, Any], acfg: AuditConfig, label_like: bool, replies: bool) -> tuple[str, Spec]:
    """The inferred shape and why (a catalog spec), from the numbers of measure()."""
    n, distinct, fields = m["rows"], m["distinct_responses"], m["structured"]
    counts = {"distinct": distinct, "n": n, "max_labels": acfg.task_max_labels}
    if fields is not None and fields["labels"]:
        per_key = ", ".join(f"{k} {c}" for k, c in fields["values_per_key"].items())
        return "classification", T("auditcli.why.fields", share=fields["share"], keys=", ".join(fields["keys"]),
                                   per_key=per_key, **counts)
    if replies:
        return "classification", T("auditcli.why.replies", shared=m["shared_reply_share"],
                                   unique=m["unique_prompt_share"], median=m["median_response_words"], **counts)
    if label_like:
        return "classification", T("auditcli.why.labels", per_label=n / distinct,
                                   median=m["median_response_words"], **counts)
    spans, repeat = m["span_share"], m["span_share"] + m["rewrite_share"]
    if m["rows_with_prompt"] and spans >= acfg.task_share:
        return "extraction", T("auditcli.why.spans", share=spans, limit=acfg.task_share)
    if m["rows_with_prompt"] and repeat >= acfg.task_share and fields is not None:
        return "extraction", T("auditcli.why.structured_extraction", share=fields["share"],
                               keys=", ".join(fields["keys"]), repeat=repeat, recall=REWRITE_RECALL)
    if m["rows_with_prompt"] and repeat >= acfg.task_share:
        return "rewriting", T("auditcli.why.rewrites", repeat=repeat, recall=REWRITE_RECALL, limit=acfg.task_share)
    if not m["rows_with_prompt"]:
        return "open", T("auditcli.why.no_prompt")
    return "open", T("auditcli.why.open", distinct=distinct, spans=spans, rewrites=m["rewrite_share"],
                      limit=acfg.task_share)
