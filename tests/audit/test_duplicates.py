"""DUPLICATE_EXACT, DUPLICATE_NEAR and TRAIN_VAL_LEAKAGE on planted duplicates, and the
near-duplicate detector's precision and recall on a planted set."""

from __future__ import annotations

import random

from tests.audit.audit_corpus import clean_rows, edit_words, long_rows
from tests.audit.audit_helpers import get, serious
from tuneguard.audit.common import normalise, words
from tuneguard.audit.minhash import lsh_params, near_duplicates
from tuneguard.cli.findings_view import evidence_lines


def _respace(row: dict) -> dict:
    """The same example with other case and whitespace: still an exact duplicate."""
    return {"instruction": "  " + row["instruction"].upper(), "output": row["output"].replace(" ", "  \n", 3)}


def test_exact_duplicates_warning(audit_rows):
    base = clean_rows(500)
    train = base + [_respace(r) for r in base[:15]]
    result, _ = audit_rows(train, validation=clean_rows(100, seed=1, offset=500))
    assert serious(result) == {"DUPLICATE_EXACT": "warning"}
    f = get(result, "DUPLICATE_EXACT")
    assert f.evidence["count"] == 15
    assert f.evidence["groups"] == 15
    assert f.evidence["share"] == round(15 / 515, 6)
    assert f.evidence["largest_groups"][0]["rows"][0].endswith("train.jsonl:1")
    assert f.evidence["largest_groups"][0]["rows"][1].endswith("train.jsonl:501")
    assert f.step is None and f.source == "audit"
    assert f.message.endswith("the largest repeats 2 times, so the model memorises them instead of learning.")


def test_a_few_exact_copies_are_said_as_a_fact(audit_rows):
    """3 copies in 503 rows (info): before, "so the model memorises them instead of learning"."""
    base = clean_rows(500)
    result, _ = audit_rows(base + [_respace(r) for r in base[:3]], validation=clean_rows(100, seed=1, offset=500))
    f = get(result, "DUPLICATE_EXACT")
    assert (f.severity, f.evidence["count"]) == ("info", 3)
    assert f.message == ("3 of 503 training rows (0.6%) are exact copies of another row (normalised prompt + response) "
                         "in 3 group(s); the largest repeats 2 times: too few to change what the run learns or what its "
                         "loss says.")


def test_exact_duplicates_error_lists_the_largest_group(audit_rows):
    base = clean_rows(500)
    train = base + [dict(base[7]) for _ in range(40)]
    result, _ = audit_rows(train, validation=clean_rows(100, seed=1, offset=500))
    assert serious(result) == {"DUPLICATE_EXACT": "error"}
    f = get(result, "DUPLICATE_EXACT")
    assert f.evidence["count"] == 40
    assert f.evidence["largest_groups"][0]["count"] == 41
    assert f.evidence["largest_groups"][0]["rows"][0].endswith("train.jsonl:8")
    assert result.has_errors()
    assert evidence_lines(f.evidence)[-1] == "group: x41 train.jsonl:8, train.jsonl:501, train.jsonl:502 …"


def test_near_duplicates_warning(audit_rows):
    rng = random.Random(3)
    base = long_rows(300)
    near = [{"instruction": r["instruction"], "output": edit_words(r["output"], 1, rng)} for r in base[:15]]
    result, _ = audit_rows(base + near, validation=long_rows(50, docs_per_row=2, offset=900),
                           data={"max_length": 2048})
    assert serious(result) == {"DUPLICATE_NEAR": "warning"}
    f = get(result, "DUPLICATE_NEAR")
    assert f.evidence["count"] == 15
    assert f.evidence["clusters"] == 15
    assert f.evidence["near_duplicate_rows"] == 30
    assert "DUPLICATE_EXACT" not in {x.code for x in result.findings}


def test_near_duplicate_cluster_error(audit_rows):
    # One answer rewritten 12 times: a cluster of 13 distinct rows (> 0.5% of the data).
    rng = random.Random(4)
    base = long_rows(300)
    variants = [{"instruction": base[0]["instruction"], "output": edit_words(base[0]["output"], 1, rng)}
                for _ in range(12)]
    result, _ = audit_rows(base + variants, validation=long_rows(50, docs_per_row=2, offset=900),
                           data={"max_length": 2048})
    f = get(result, "DUPLICATE_NEAR")
    assert f.severity == "error"
    assert f.evidence["largest_cluster"] == 13
    assert f.evidence["count"] == 12
    assert len(f.evidence["largest_clusters"][0]["where"]) == 10
    # The terminal view names the cluster's rows (a cluster's "rows" is a count, not where they are).
    assert evidence_lines(f.evidence) == [
        "count: 12", "share: 3.8%", "rows: 312", "largest_cluster: 13",
        "cluster: x13 train.jsonl:1, train.jsonl:301, train.jsonl:302 …"]


def test_train_validation_leakage(audit_rows):
    rng = random.Random(5)
    base = clean_rows(500)
    long = long_rows(4, offset=600)
    val = clean_rows(100, seed=1, offset=500)
    val += [_respace(r) for r in base[10:13]]                                        # 3 exact
    val += [{"instruction": r["instruction"], "output": edit_words(r["output"], 1, rng)} for r in long[:2]]  # 2 near
    result, _ = audit_rows(base + long, validation=val, data={"max_length": 2048})
    # 5 of 105 (4.8%) moves the eval loss by at most 4.8% of itself: a warning with the list.
    assert serious(result) == {"TRAIN_VAL_LEAKAGE": "warning"}
    f = get(result, "TRAIN_VAL_LEAKAGE")
    assert f.evidence["thresholds"] == {"audit.leakage_error": 0.05}
    assert f.evidence["count"] == 5
    assert f.evidence["splits"]["validation"]["exact"] == 3
    assert f.evidence["splits"]["validation"]["near"] == 2
    assert f.evidence["examples"][0].endswith("train.jsonl:11 (exact)")
    assert "val.jsonl:101" in f.evidence["examples"][0]


def test_large_leakage_is_an_error_and_its_threshold_a_config_field(audit_rows):
    base = clean_rows(400)
    val = clean_rows(90, seed=1, offset=400) + [dict(r) for r in base[:10]]  # 10 of 100 leaked
    result, _ = audit_rows(base, validation=val)
    f = get(result, "TRAIN_VAL_LEAKAGE")
    assert (f.severity, f.evidence["count"], f.evidence["share"]) == ("error", 10, 0.1)
    assert "no longer a fair measure" in f.message
    # A separate validation file: its leaks do not touch the training rows (the collapse guard reads this).
    assert f.evidence["validation_from_train"] is False
    result, _ = audit_rows(base, validation=val, audit={"leakage_error": 0.2})
    f = get(result, "TRAIN_VAL_LEAKAGE")
    assert f.severity == "warning" and f.evidence["thresholds"] == {"audit.leakage_error": 0.2}


def test_leakage_into_test_split_is_reported_too(audit_rows):
    base = clean_rows(400)
    result, _ = audit_rows(base, validation=clean_rows(50, seed=1, offset=400),
                           test=clean_rows(99, seed=2, offset=450) + [dict(base[0])])
    f = get(result, "TRAIN_VAL_LEAKAGE")
    assert f.severity == "warning"  # 1 of 100 = 1%, not above
    assert f.evidence["count"] == 1
    assert f.evidence["splits"]["test"]["exact"] == 1


def test_near_duplicate_precision_and_recall():
    """Pairs that differ by one or two words are found; unrelated rows are not paired."""
    rng = random.Random(11)
    base = long_rows(300)  # ~150 words each, every docstring used once: no natural near pairs
    texts = [normalise(r["instruction"]) + "\x1f" + normalise(r["output"]) for r in base]
    truth = set()
    for i in rng.sample(range(len(base)), 80):
        r = base[i]
        edited = edit_words(r["output"], rng.choice((1, 2)), rng)
        truth.add((i, len(texts)))
        texts.append(normalise(r["instruction"]) + "\x1f" + normalise(edited))
    nd = near_duplicates(texts, threshold=0.8, num_perm=128, ngram=5, to_words=words)
    predicted = set()
    for cluster in nd.clusters(len(texts)):
        predicted.update((a, b) for a in cluster for b in cluster if a < b)
    hits = len(predicted & truth)
    precision = hits / len(predicted)
    recall = hits / len(truth)
    assert precision >= 0.95, (precision, recall)
    assert recall >= 0.95, (precision, recall)


def test_lsh_banding_favours_recall():
    bands, rows = lsh_params(0.8, 128)
    assert (bands, rows) == (21, 6)
    assert 1 - (1 - 0.8 ** rows) ** bands >= 0.99


def test_union_find_components_match_a_plain_union_find():
    import numpy as np

    from tuneguard.audit.minhash import components

    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(2, 60))
        pairs = rng.integers(0, n, size=(int(rng.integers(1, 80)), 2))
        parent = list(range(n))

        def find(x: int, parent: list[int] = parent) -> int:
            while parent[x] != x:
                x = parent[x]
            return x

        for a, b in pairs.tolist():
            ra, rb = find(a), find(b)
            parent[max(ra, rb)] = min(ra, rb)
        expected = [min(i for i in range(n) if find(i) == find(j)) for j in range(n)]
        assert components(n, pairs).tolist() == expected



def _chat(system: str, user: str, answer: str) -> dict:
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}]}


def test_a_long_system_prompt_every_row_shares_is_not_a_near_copy(audit_rows):
    """Chats that all begin with the same 450-word system prompt are judged by what differs:
    the three planted near copies are found and nothing else (no leakage either); twelve
    answers that quote the system prompt were not pasted into their own prompts."""
    system = " ".join(r["output"] for r in long_rows(3, offset=1000))
    rng = random.Random(5)
    originals = long_rows(3, offset=900)
    rows = [_chat(system, r["instruction"], r["output"]) for r in clean_rows(300) + originals]
    rows += [_chat(system, r["instruction"], edit_words(r["output"], 1, rng)) for r in originals]
    rules = [x for x in system.split(". ") if len(x.split()) >= 6][:12]
    rows += [_chat(system, q["instruction"], f"As the rules say: {rule}.")
             for q, rule in zip(clean_rows(12, offset=600), rules, strict=True)]
    val = [_chat(system, r["instruction"], r["output"]) for r in clean_rows(50, offset=400)]
    result, _ = audit_rows(rows, validation=val, data={"max_length": 4096})
    assert [x.code for x in result.findings] == ["DUPLICATE_NEAR"]
    f = get(result, "DUPLICATE_NEAR")
    assert (f.severity, f.evidence["count"], f.evidence["clusters"]) == ("info", 3, 3)
    assert [c["where"][0].rsplit("/", 1)[-1] for c in f.evidence["largest_clusters"]] == [
        "train.jsonl:301", "train.jsonl:302", "train.jsonl:303"]


def test_boilerplate_cuts_match_a_brute_force_count():
    from tuneguard.audit.boilerplate import boilerplate_cuts

    rng = random.Random(2)
    for _ in range(40):
        starts = ["you are a bank bot. rules: be kind. ", "you are a bank bot. ", "translate: ", ""]
        prompts = [rng.choice(starts) + " ".join(rng.choice("ab abc b c") for _ in range(rng.randint(0, 4)))
                   for _ in range(rng.randint(1, 40))]
        m = 3
        want = []
        for p in prompts:
            k = max((k for k in range(len(p) + 1) if sum(q.startswith(p[:k]) for q in prompts) >= m), default=0)
            want.append(k if k in (0, len(p)) else p.rfind(" ", 0, k) + 1)
        assert boilerplate_cuts(prompts, share=0.0, minimum=m) == want, prompts


def test_thai_near_copies_are_found_by_their_characters():
    """Thai has no spaces between words: one changed character in a 180-character sentence is
    a near copy, found through character n-grams (whitespace words found few of them)."""
    from tuneguard.audit.common import shingle_words
    from tuneguard.catalog import findings

    thai = sorted({normalise(v["th"]) for table in (findings.AUDIT, findings.GUARD, findings.POLICY)
                   for v in table.values() if len(v["th"]) > 180})[:20]
    rng = random.Random(0)
    copies = []
    for t in thai:
        i = rng.randrange(40, len(t) - 40)
        copies.append(t[:i] + ("ข" if t[i] != "ข" else "ค") + t[i + 1:])
    texts = thai + copies

    def found(to_words) -> int:
        nd = near_duplicates(texts, threshold=0.8, num_perm=128, ngram=5, to_words=to_words)
        pairs = {tuple(sorted(map(int, p))) for p in nd.pairs}
        return sum((i, len(thai) + i) in pairs for i in range(len(thai)))

    assert len(thai) == 20
    assert found(shingle_words) == 20
    assert found(words) < 10


def test_the_recommendation_removes_the_extra_copies_not_every_row(audit_rows):
    """The run's report tells how many rows to remove: the audit's extra copies, not the
    number of rows it read (both are in the evidence)."""
    from tuneguard.report.recommend import recommend

    base = clean_rows(500)
    result, _ = audit_rows(base + [dict(base[7]) for _ in range(40)], validation=clean_rows(100, seed=1, offset=500))
    f = get(result, "DUPLICATE_EXACT")
    assert (f.evidence["count"], f.evidence["rows"]) == (40, 540)
    cfg = {"data": {"train_file": "train.jsonl"}}
    (action,) = [a.text for a in recommend([f], cfg).actions if a.text.startswith("Deduplicate")]
    assert action == ("Deduplicate the training data: remove the exact duplicate rows (40 in the audit) from "
                      "train.jsonl, keeping one of each group, then run `tuneguard audit` again.")


def test_a_leak_share_over_validation_and_test_says_so():
    """"24 of 24 validation rows" and "share: 75.0%" side by side must add up: the share counts
    the 8 test rows too."""
    both = {"count": 24, "share": 0.75, "splits": {"validation": {"rows": 24, "leaked": 24, "share": 1.0}}}
    assert evidence_lines(both)[:2] == ["count: 24", "share: 75.0% of the validation and test rows together"]
    alone = {"count": 20, "share": 0.5, "splits": {"validation": {"rows": 40, "leaked": 20, "share": 0.5}}}
    assert evidence_lines(alone)[:2] == ["count: 20", "share: 50.0%"]
