"""TRAIN_VAL_LEAKAGE: validation and test rows that training already contains.

Validation rows drawn from the same duplicated pool collapse with the training rows, so
the failure looks like success (research note, cause 3). A validation or test row is
leaked when its normalised prompt + response equals a training row (exact) or a verified
near pair links it to one (MinHash Jaccard estimate >= audit.near_dup_threshold).
Rule: error when more than audit.leakage_error (5%) of a split's rows leak, warning (with
the list) for any leaked row.

Why 5% and not the research note's 1%: a leaked row's loss falls towards zero as it is
memorised, so it biases the eval loss by at most (share x the clean loss): 2% leakage moves
a loss of 1.5 by 0.03, less than the difference between two evaluations, and a corpus with
0.3% genuine repeats leaks about that much into a split made from it. From 5% (the line
DUPLICATE_EXACT also draws) the bias reaches 0.075 at a loss of 1.5, the size of an eval
loss upturn, so it can hide overfitting and pick the wrong best checkpoint; Lee et al.
(2021) found 4% train/validation overlap in C4 enough to inflate its results.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tuneguard.audit.common import MAX_EXAMPLES, finding, share
from tuneguard.audit.duplicates import DupIndex
from tuneguard.catalog import J, T
from tuneguard.findings import Finding

log = logging.getLogger(__name__)


def leaks(index: DupIndex, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of `split` that occur in training: masks of exact and of near leaks (a row is
    one or the other), and for each row the first training row it repeats (-1: none).

    The check reports a few examples; `tuneguard fix` removes every leaked row, from here."""
    train_present = index.present("train")
    first_train = index.first_row("train")
    # For each distinct text, one training text it is a verified near copy of (-1: none).
    partner = np.full(index.n_texts, -1, dtype=np.int64)
    p = index.near.pairs
    if len(p):
        a, b = p[:, 0], p[:, 1]
        hit = train_present[b]
        partner[a[hit]] = b[hit]
        hit = train_present[a]
        partner[b[hit]] = a[hit]
    ids = index.text_ids[split]
    exact = train_present[ids]
    near = ~exact & (partner[ids] >= 0)
    source = np.where(exact, first_train[ids], np.where(near, first_train[np.maximum(partner[ids], 0)], -1))
    return exact, near, source


def check(index: DupIndex, validation_from_train: bool) -> tuple[list[Finding], dict[str, Any]]:
    """Leakage of every non-train split into train (one finding for all of them)."""
    train = index.splits["train"]
    stats: dict[str, Any] = {}
    per_split: dict[str, Any] = {}
    examples: list[str] = []
    total = worst = 0.0
    leaked_total = 0
    for name in ("validation", "test"):
        if name not in index.splits:
            continue
        sp = index.splits[name]
        exact, near, source = leaks(index, name)
        n_exact, n_near = int(exact.sum()), int(near.sum())
        leaked = n_exact + n_near
        frac = share(leaked, len(sp))
        stats[name] = {"rows": len(sp), "exact": n_exact, "near": n_near, "leaked": leaked, "share": frac}
        total += len(sp)
        leaked_total += leaked
        if leaked:
            per_split[name] = stats[name]
            worst = max(worst, frac)
            for r in np.flatnonzero(exact | near)[:MAX_EXAMPLES].tolist():
                kind = "exact" if exact[r] else "near"
                examples.append(f"{sp.where(r)} = {train.where(int(source[r]))} ({kind})")
    if not leaked_total:
        return [], stats
    limit = index.cfg.leakage_error
    # Leaks are found only against the audited training rows: a sample finds f of them.
    severity = "error" if index.sample.estimate(worst) > limit else "warning"
    parts = [T("TRAIN_VAL_LEAKAGE.part", leaked=s["leaked"], rows=s["rows"], split=T(f"split.{n}"), share=s["share"],
               exact=s["exact"], near=s["near"]) for n, s in per_split.items()]
    msg = T(f"TRAIN_VAL_LEAKAGE.{severity}", parts=J("join.semi", parts), limit=limit)
    rec = T("TRAIN_VAL_LEAKAGE.from_train.rec" if validation_from_train else "TRAIN_VAL_LEAKAGE.separate.rec")
    if index.sample.fraction < 1.0:
        msg = J("join.none", [msg, T("audit.sampled_leaks", audited=index.sample.audited,
                                     population=index.sample.population, estimate=index.sample.estimate(worst))])
    # Whether the validation rows were split from the training file: only then is a leaked
    # validation row a copy inside the training data (which a training-loss collapse can come
    # from); a separate file's leaks make the eval loss unfair but leave training as it was.
    ev = {"count": leaked_total, "share": share(leaked_total, int(total)), "splits": per_split, "examples": examples,
          "validation_from_train": validation_from_train,
          **index.sample.evidence(worst),
          "threshold": index.cfg.near_dup_threshold, "thresholds": {"audit.leakage_error": limit}}
    return [finding("TRAIN_VAL_LEAKAGE", severity, msg, ev, rec)], stats
