"""Near copies of short rows (under 49 words), which word 5-grams cannot see: one word changed
in the middle of a 23-word row leaves 9 of its 19 shingles (Jaccard 0.33)."""

from __future__ import annotations

import numpy as np

from tests.audit.audit_corpus import clean_rows
from tests.audit.audit_helpers import get, serious
from tuneguard.audit.common import shingle_words
from tuneguard.audit.minhash import near_duplicates, word_hashes
from tuneguard.audit.short_rows import edit_keys, short_near_pairs

ROW = ("the scheduler keeps every worker busy by moving queued tasks from the longest queue to the idle "
       "worker that asked first for more")  # 23 words


def pairs_of(texts: list[str]) -> list[tuple[int, int, float]]:
    p, sims, _ = short_near_pairs(texts, 0.8, 5, shingle_words)
    return [(a, b, round(s, 4)) for (a, b), s in zip(p.tolist(), sims.tolist(), strict=True)]


def test_one_word_edit_apart_is_a_near_copy_that_5_grams_miss():
    changed = ROW.replace("longest", "shortest")
    dropped = ROW.replace(" busy", "")
    twice = changed.replace("idle", "free")
    assert len(near_duplicates([ROW, changed], 0.8, 128, 5, to_words=shingle_words).pairs) == 0
    # "twice" is two edits from ROW (not a pair) and one from "changed" (a pair): one cluster
    assert pairs_of([ROW, changed, dropped, twice]) == [(0, 1, round(44 / 46, 4)), (0, 2, round(44 / 45, 4)),
                                                        (1, 3, round(44 / 46, 4))]


def test_short_rows_one_word_apart_are_different_rows_unless_misspelt():
    texts = ["please recieve the parcel at the front desk", "please receive the parcel at the front desk",
             "unload a kernel module", "load a kernel module",  # another system call
             "whether the toolbar item is visible when the toolbar is in a vertical orientation",
             "whether the toolbar item is visible when the toolbar is in a horizontal orientation",
             "get file status", "get file status extended"]
    assert pairs_of(texts) == [(0, 1, 0.875)]


def test_a_changed_number_is_a_changed_fact():
    a = ROW + " after 12 seconds"
    assert pairs_of([a, a.replace("12", "13"), ROW + " after twelve seconds"]) == []


def test_each_left_out_word_key_equals_the_key_of_that_shorter_sequence():
    seqs = [["a", "b", "c", "d"], ["a", "c", "d"], ["b", "c", "d"], ["a", "b", "d"], ["a", "b", "c"], ["x", "b", "c", "d"]]
    keys, owner = edit_keys(*word_hashes(seqs))
    whole = dict(zip(owner[:len(seqs)].tolist(), keys[:len(seqs)].tolist(), strict=True))
    left_out = keys[len(seqs):][owner[len(seqs):] == 0].tolist()  # "a b c d" without each of its words
    assert left_out == [whole[2], whole[1], whole[3], whole[4]]
    assert len(np.unique(keys[:len(seqs)])) == len(seqs)


def cut(rows: list[dict[str, str]], n: int) -> list[dict[str, str]]:
    """The rows whose answer has at least 22 words, the answer cut to its first 22."""
    return [{"instruction": r["instruction"], "output": " ".join(r["output"].split()[:22])}
            for r in rows if len(r["output"].split()) >= 22][:n]


def test_the_audit_finds_one_word_copies_of_22_word_rows(audit_rows):
    base = cut(clean_rows(400), 300)
    copies = []
    for r in base[:15]:
        w = r["output"].split()
        w[11] = "changed"
        copies.append({"instruction": r["instruction"], "output": " ".join(w)})
    result, _ = audit_rows(base + copies, validation=cut(clean_rows(150, seed=1, offset=500), 60))
    assert serious(result) == {"DUPLICATE_NEAR": "warning"}
    f = get(result, "DUPLICATE_NEAR")
    assert (f.evidence["count"], f.evidence["clusters"]) == (15, 15)
