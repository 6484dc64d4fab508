"""Legitimate datasets of common shapes get the findings a careful person would raise, and
faults planted in them are still caught (bench/shapes.py measures the same on larger sets).

The rows are real prose (the standard library's docstrings, tests/audit/audit_corpus.py):
generated templates hide the false alarms real text makes."""

from __future__ import annotations

import functools
import random

import pytest

from tests.audit.audit_corpus import docstrings
from tests.audit.audit_helpers import get, serious
from tests.helpers.realtext import first_sentence, shuffled

# >= 20 characters each: shorter answers are never searched in their prompt.
LABELS = ["standard library module", "third party package here", "documentation page text",
          "configuration file format", "command line interface"]


@functools.cache
def distinct_docs() -> tuple[str, ...]:
    """Docstrings no two of which share more than a quarter of their word 3-grams (the stdlib
    holds real near copies, such as bz2.open's and lzma.open's, which would be found)."""
    return tuple(d for _, _, d in docstrings())


def _classified(paras: list[str], order: str) -> list[dict[str, str]]:
    """A classifier whose options follow the passage: in one order ("fixed") or shuffled per row."""
    rng = random.Random(0)
    rows = []
    for i, p in enumerate(paras):
        opts = list(LABELS) if order == "fixed" else rng.sample(LABELS, len(LABELS))
        rows.append({"instruction": "Which source is this passage from?",
                     "input": f"{p}\nOptions: {'; '.join(opts)}.", "output": LABELS[i % len(LABELS)]})
    return rows


def test_a_classifier_listing_its_options_after_the_input_is_clean(audit_rows):
    paras = shuffled(list(distinct_docs()), seed=1)[:300]
    # Before: ANSWER_IN_PROMPT error on every row (its label is among the options every row lists).
    result, _ = audit_rows(_classified(paras, "fixed"))
    assert result.stats["task"]["shape"] == "classification"
    assert serious(result) == {}
    assert result.stats["answer_in_prompt"]["flagged"] == 0
    # Five options in a per-row order (120 orders) share no prompt end: the labels are known as
    # options because the rows with other answers list them as often.
    result, _ = audit_rows(_classified(paras, "shuffled"))
    assert serious(result) == {}
    assert result.stats["answer_in_prompt"]["labels_listed_as_options"] == 5


LONG = {"max_length": 2048}  # the windows fit whole: their prompts are not cut


def _windows(paras: list[str], n: int) -> list[dict[str, str]]:
    """Code-completion-like rows: the prompt is a window over a running text (each window
    shares most of its words with the next), the answer the sentence after it: distinct."""
    return [{"prompt": " ".join(paras[i: i + 6]), "completion": " " + first_sentence(paras[i + 6])} for i in range(n)]


def test_rows_whose_prompts_overlap_are_not_copies_unless_their_answers_are(audit_rows):
    docs = list(distinct_docs())
    rows, held_out = _windows(docs, 240), _windows(docs[300:], 30)
    result, _ = audit_rows(rows, validation=held_out, data=LONG)  # before: DUPLICATE_NEAR error (58 rows)
    assert serious(result) == {}
    assert "DUPLICATE_NEAR" not in [f.code for f in result.findings]
    assert result.stats["duplicates_near"]["pairs_with_different_answers"] > 0
    # Real copies still are: 6 rows again with one word of the prompt changed (20 copies of one
    # row with a word of the answer changed are DUPLICATE_NEAR's too, as a cluster).
    rng = random.Random(2)
    planted = [dict(rows[i], prompt=rows[i]["prompt"] + " Again.") for i in rng.sample(range(240), 6)]
    result, _ = audit_rows(rows + planted, validation=held_out, data=LONG)
    f = get(result, "DUPLICATE_NEAR")
    assert (f.severity, f.evidence["count"], f.evidence["clusters"]) == ("warning", 6, 6)


def _licensed_files(paras: list[str], n: int) -> list[dict[str, str]]:
    """Plain-text rows that open with the same long licence block, then text of their own."""
    header = " ".join(paras[:3])  # the same block at the top of every row: most of a short file
    return [{"text": f"# {header}\n\n{body}"} for body in paras[3: 3 + n]]


def test_text_rows_sharing_a_licence_header_are_not_near_copies_but_copied_files_are(audit_rows):
    docs = list(distinct_docs())
    rows, held_out = _licensed_files(docs, 120), _licensed_files(docs[:3] + docs[200:], 20)
    # Before: DUPLICATE_NEAR, TRAIN_VAL_LEAKAGE and LOW_DIVERSITY errors.
    result, _ = audit_rows(rows, validation=held_out, data={"max_length": 2048})
    assert result.stats["task"]["shape"] == "open"
    assert serious(result) == {}
    assert "DUPLICATE_NEAR" not in [f.code for f in result.findings]
    # Twelve copies of one file, each with its last word changed: they share a start longer than
    # the header too, and stay near copies (the cut keeps 20 words of a row's own or none).
    last = rows[7]["text"].rsplit(" ", 1)[0]
    rows += [{"text": f"{last} end{k}."} for k in range(12)]
    result, _ = audit_rows(rows, validation=held_out, data={"max_length": 2048})
    f = get(result, "DUPLICATE_NEAR")
    assert f.severity == "error" and f.evidence["largest_cluster"] == 13


def _arithmetic(n: int, seed: int) -> list[dict[str, str]]:
    """Distinct sums whose results spread evenly over 400 values (each about 2.5 times)."""
    rng = random.Random(seed)
    asked: set[tuple[int, int]] = set()
    rows = []
    while len(rows) < n:
        total = rng.randint(100, 499)
        a = rng.randint(1, total - 1)
        if (a, total) not in asked:
            asked.add((a, total))
            rows.append({"instruction": f"What is {a} + {total - a}?", "output": f"The answer is {total}."})
    return rows


def test_templated_short_answers_over_many_values_are_not_low_diversity_but_canned_ones_are(audit_rows):
    rows = _arithmetic(1000, seed=0)  # each answer repeats, the questions do not
    result, _ = audit_rows(rows)  # before: LOW_DIVERSITY error (unique responses 40%, distinct-2 0.13)
    assert result.stats["task"]["shape"] == "open"
    assert serious(result) == {}
    assert result.stats["diversity"]["short_answers_spread"] is True
    canned = [dict(r, output="I cannot answer that.") if i % 5 < 2 else r for i, r in enumerate(rows)]
    f = get(audit_rows(canned)[0], "LOW_DIVERSITY")
    assert f.severity == "error"
    assert f.evidence["top_responses"][0]["example"] == "I cannot answer that."


def test_one_copied_answer_in_a_50_row_set_is_a_fact_not_a_warning(audit_rows):
    paras = shuffled(list(distinct_docs()), seed=4)[:50]
    rows = [{"instruction": "Summarize the passage in one sentence.", "output": first_sentence(p),
             "input": " ".join(p.split()[-12:])} for p in paras]
    rows[0]["input"] += " " + rows[0]["output"]
    result, _ = audit_rows(rows)
    f = get(result, "ANSWER_IN_PROMPT")
    assert (f.severity, f.evidence["count"]) == ("info", 1)  # 1 of 45 rows is 2.2%, above the 2% warning line
    for i in range(1, 5):
        rows[i]["input"] += " " + rows[i]["output"]
    f = get(audit_rows(rows)[0], "ANSWER_IN_PROMPT")
    assert f.severity == "error"


def test_a_sampled_audit_judges_duplicates_and_leaks_by_their_estimate_for_the_whole(tmp_path, tiny_tokenizer_base):
    import copy

    from tests.audit.audit_corpus import clean_rows
    from tests.audit.audit_helpers import make_config
    from tuneguard.audit import audit_config
    from tuneguard.model.load import setup_pad_token

    rows = clean_rows(500)
    rows += [dict(r) for r in rows[:60]]  # 60 rows twice: 10.7% of the training rows are extra copies
    validation = clean_rows(100, seed=1, offset=500)
    validation[:8] = [dict(r) for r in rows[100:108]]  # 8% of the validation rows are training rows
    cfg = make_config(tmp_path, rows, validation, audit={"max_rows": 150})
    tok = copy.deepcopy(tiny_tokenizer_base)
    setup_pad_token(tok, cfg.data.pad_token)
    result = audit_config(cfg, tokenizer=tok)
    assert result.stats["rows"]["audited_train"] == 150 and result.stats["rows"]["train_population"] == 560
    f = get(result, "DUPLICATE_EXACT")
    # Of 60 pairs, a sample of 150 of 560 rows holds both rows of about 60 x (150/560)^2 = 4.
    sampled = f.evidence["sampled"]
    assert (f.evidence["count"], sampled["fraction"]) == (4, round(150 / 560, 6))
    assert sampled["estimated_share"] == pytest.approx(4 / 150 / (150 / 560), abs=1e-5)  # 10.0%; measured 2.7%
    assert f.severity == "error"
    assert "Measured on a sample of 150 of 560 training rows (audit.max_rows)" in f.message
    leak = get(result, "TRAIN_VAL_LEAKAGE")
    assert leak.evidence["splits"]["validation"]["share"] <= 0.05  # measured: a warning before the estimate
    assert leak.severity == "error" and leak.evidence["sampled"]["population_rows"] == 560


def test_documents_cut_to_fit_max_length_are_said_with_the_length_that_holds_them(audit_rows):
    docs = list(distinct_docs())
    rows = [{"instruction": "Summarize:", "input": " ".join(docs[3 * i: 3 * i + 3]), "output": first_sentence(docs[3 * i])}
            for i in range(60)]
    # Before: nothing; tokenize cut the middle of most documents to fit, the answers stayed whole.
    result, data = audit_rows(rows, data={"max_length": 256})
    f = get(result, "ANSWER_TRUNCATED")
    cut = sum(len(x["input_ids"]) == 256 for x in data.train.features)
    assert (f.severity, f.evidence["what"], f.evidence["count"]) == ("warning", "prompts", cut)
    assert cut == data.train.stats.prompt_truncated and cut > 40
    assert "than data.max_length (256) leaves room for, so its middle is cut" in f.message
    # The documents need more than the tiny model's 512 positions: no max_length to raise to.
    assert f.evidence["needed_length_p95"] > f.evidence["context_length"] == 512
    assert "suggested_max_length" not in f.evidence and "no data.max_length holds them" in f.recommendation
    assert result.stats["labels"]["answer_truncated_rows"] == 0


def test_answers_cut_by_max_length_also_count_the_rows_whose_prompt_was_cut_to_keep_theirs(audit_rows,
                                                                                           tiny_tokenizer_base):
    """"Repeat this passage" rows at a max_length that holds few rows whole: the longer answers lose
    their end, and many other rows keep their answer only because their prompt's middle was cut.
    Both are said (removing the first kind would leave the second): the SmolLM2 case had 81 of
    360 answers cut and said nothing of the other 279."""
    from tuneguard.audit.labels import is_truncated

    docs = list(distinct_docs())[:60]
    rows = [{"instruction": "Repeat this passage.", "input": d, "output": d} for d in docs]
    result, data = audit_rows(rows, data={"max_length": 256})
    f = get(result, "ANSWER_TRUNCATED")
    feats, eos = data.train.features, tiny_tokenizer_base.eos_token_id
    answers = sum(is_truncated(x, eos, 256) for x in feats)
    prompts = sum(len(x["input_ids"]) >= 256 and not is_truncated(x, eos, 256) for x in feats)
    assert answers > 0 and prompts > 0
    assert (f.severity, f.evidence["count"], f.evidence["prompts_cut"]) == ("warning", answers, prompts)
    assert f.message.endswith(f"the model learns answers that stop mid-sentence. Another {prompts} "
                              f"({100 * prompts / len(feats):.1f}%) keep their answer only because the middle of "
                              "their prompt is cut.")


def _faq(replies: list[str], questions: list[str], per_reply: int, seed: int) -> list[dict[str, str]]:
    """An FAQ: each reply (a real passage) answers `per_reply` differently worded questions
    (real sentences, no two alike); a fifth of the answers open with a greeting, as agents write."""
    rng = random.Random(seed)
    rows = []
    for i, reply in enumerate(replies):
        for k in range(per_reply):
            answer = ("Thanks for asking! " + reply) if rng.random() < 0.2 else reply
            rows.append({"instruction": questions[i * per_reply + k], "input": "", "output": answer})
    rng.shuffle(rows)
    return rows


def test_an_faq_giving_one_reply_to_differently_worded_questions_is_clean_but_its_copies_are_not(audit_rows):
    docs = list(distinct_docs())
    replies = [d for d in docs if 25 <= len(d.split()) <= 60][:20]
    questions = [first_sentence(d) for d in docs if d not in replies][:200]
    rows = _faq(replies, questions, 6, seed=0)
    held_out = _faq(replies[:10], questions[120:], 2, seed=1)  # new wordings of known replies
    # Before: DUPLICATE_NEAR, TRAIN_VAL_LEAKAGE and LOW_DIVERSITY errors (the long reply outweighed
    # the short question in the whole-row comparison, and the replies repeat).
    result, _ = audit_rows(rows, validation=held_out)
    task = result.stats["task"]
    assert (task["shape"], task["source"]) == ("classification", "inferred")
    assert task["reason"].startswith("fixed replies: ")
    assert [f.code for f in result.findings] == []
    assert result.stats["duplicates_near"]["pairs_with_different_prompts"] > 0
    # The same question asked again with a greeting, with its reply, still is a near copy, and so
    # is a held-out row that repeats a training row that way.
    again = dict(rows[0], instruction="Hi, " + rows[0]["instruction"])
    leaked = dict(rows[1], instruction="Hello, " + rows[1]["instruction"])
    result, _ = audit_rows(rows + [again], validation=held_out + [leaked])
    near, leak = get(result, "DUPLICATE_NEAR"), get(result, "TRAIN_VAL_LEAKAGE")
    assert (near.evidence["count"], near.evidence["clusters"]) == (1, 1)
    assert (leak.evidence["splits"]["validation"]["near"], leak.evidence["splits"]["validation"]["exact"]) == (1, 0)


def _summaries(paras: list[str], copied: int) -> list[dict[str, str]]:
    """One-line summaries that reuse the passage's words: its first sentence without every
    third word (a rewrite, 67% of the words), and in the first `copied` rows verbatim."""
    rows = []
    for i, p in enumerate(paras):
        sentence = first_sentence(p)
        short = " ".join(w for k, w in enumerate(sentence.split()) if k % 3 != 2)
        rows.append({"instruction": "Summarize the passage in one line.", "input": p,
                     "output": sentence if i < copied else short})
    return rows


def test_a_summary_task_that_quotes_its_passage_in_a_few_rows_is_warned_not_refused(audit_rows):
    # Real case: manual pages, DESCRIPTION -> NAME line, 63% rewrites and 12% spans (below the
    # rewriting shape's 80%): 7% of rows restate a description sentence, which was an error.
    paras = [p for p in shuffled(list(distinct_docs()), seed=5)
             if len(first_sentence(p).split()) >= 6 and len(p) >= 2 * len(first_sentence(p))][:200]
    rows = _summaries(paras, copied=16)
    rows[150:] = [dict(r, output=first_sentence(paras[(i + 7) % 150])) for i, r in enumerate(rows[150:])]
    result, _ = audit_rows(rows)
    task = result.stats["task"]
    assert task["shape"] == "open" and 0.5 <= task["rewrite_share"] < 0.8
    f = get(result, "ANSWER_IN_PROMPT")
    copied = f.evidence["count"]  # of the 16; a few start with words that many passages share
    assert f.severity == "warning" and 10 <= copied <= 16 and f.evidence["share"] > 0.05
    assert f.evidence["rewrite_share"] == task["rewrite_share"]
    assert "data.task: rewriting" in f.recommendation
    # The same copies in an open task that does not paraphrase its input are still an error.
    unrelated = [dict(r, output=first_sentence(paras[(i + 1) % 200])) if i >= 16 else r for i, r in enumerate(rows)]
    f = get(audit_rows(unrelated)[0], "ANSWER_IN_PROMPT")
    assert (f.severity, f.evidence["count"]) == ("error", copied)
