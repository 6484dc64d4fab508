"""DUPLICATE_EXACT and DUPLICATE_NEAR: rows the model has already seen when it "learns" them.

Duplicates are the most common reason a loss falls to ~0 within the first epoch: the
"new" batches were already memorised (research note, cause 1).

- DUPLICATE_EXACT: rows whose normalised prompt + response (lower case, whitespace
  collapsed) equal an earlier row. Extra copies / rows: warning above audit.exact_dup_warning
  (1%), error above audit.exact_dup_error (5%).
- DUPLICATE_NEAR: MinHash over word n-grams (audit.ngram, default 5; shorter rows use one
  shingle of all their words), audit.num_perm permutations, LSH, candidates verified by
  the MinHash Jaccard estimate >= audit.near_dup_threshold (0.8); and, for rows under 49
  words, where one changed word breaks most 5-grams, rows one word edit apart whose word
  sequences are that alike (tuneguard.audit.short_rows); clustered by connected
  components. The prompt start and end shared by many rows (a long system prompt or
  instruction; a classifier's options after the row's text) and the header shared by many
  plain-text rows (a licence block) are left out of the comparison
  (tuneguard.audit.boilerplate), so rows are judged by what differs between them; and a pair
  counts only when its answers are alike too (`responses_alike`). Counted over distinct
  texts, so exact copies stay DUPLICATE_EXACT's: extra near copies = distinct texts in
  clusters - clusters. Warning above
  audit.near_dup_warning (1%) of rows; error above audit.near_dup_error (10%), or when the
  largest cluster holds more than audit.near_cluster_error (0.5%) of the rows (and at least
  audit.near_cluster_min (10) distinct texts, so that a handful of similar rows in a small
  file is not an error).

When the audit read a sample of the training rows (audit.max_rows), the shares are judged by
their estimate for all of them (`Sample`).

Both splits and every check share one `DupIndex`, built once: exact keys, and near pairs
computed over the distinct texts of train, validation and test together (so leakage uses
the same pairs).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from tuneguard.audit.boilerplate import header_cuts, own_text
from tuneguard.audit.common import (
    MAX_EXAMPLES,
    SEP,
    SplitText,
    finding,
    preview,
    share,
    shingle_words,
)
from tuneguard.audit.minhash import NearDuplicates, near_duplicates
from tuneguard.audit.short_rows import short_near_pairs
from tuneguard.catalog import J, T
from tuneguard.config.schema import AuditConfig
from tuneguard.findings import Finding

log = logging.getLogger(__name__)

TOP_GROUPS = 5
RESPONSE_MIN_JACCARD = 0.5


@dataclasses.dataclass(frozen=True)
class Sample:
    """The audited training rows as a seeded sample of `population` rows (audit.max_rows).

    A copy is seen in a sample only when both of its rows are drawn: with a fraction f of the
    rows audited, a pair is found with probability f squared among f of the rows, so the share
    measured is about f times the whole's. Shares are divided by f to estimate the whole
    (first order: exact for pairs, which most copies are; larger groups are found more often)."""

    audited: int
    population: int

    @property
    def fraction(self) -> float:
        return self.audited / self.population if self.population > self.audited > 0 else 1.0

    def estimate(self, measured: float) -> float:
        return min(1.0, round(measured / self.fraction, 6))

    def note(self, measured: float) -> dict[str, Any] | None:
        """The sentence a finding adds when its share was measured on a sample, else None."""
        if self.fraction >= 1.0:
            return None
        return T("audit.sampled", audited=self.audited, population=self.population, estimate=self.estimate(measured))

    def evidence(self, measured: float) -> dict[str, Any]:
        if self.fraction >= 1.0:
            return {}
        return {"sampled": {"audited_rows": self.audited, "population_rows": self.population,
                            "fraction": round(self.fraction, 6), "estimated_share": self.estimate(measured)}}


def sampled_message(msg: dict[str, Any], sample: Sample, measured: float) -> dict[str, Any]:
    note = sample.note(measured)
    return msg if note is None else J("join.none", [msg, note])


@dataclasses.dataclass
class DupIndex:
    """Distinct normalised texts of all splits and the verified near pairs between them."""

    splits: dict[str, SplitText]
    text_ids: dict[str, np.ndarray]  # per split: row -> distinct text id
    texts: list[str]
    near: NearDuplicates
    cfg: AuditConfig
    unlike_pairs: int = 0  # similar rows whose answers differ: not near copies (`responses_alike`)
    sample: Sample = Sample(0, 0)  # the training rows audited of those trained on
    unasked_pairs: int = 0  # one answer to differently worded prompts: not near copies (`prompts_alike`)

    @property
    def n_texts(self) -> int:
        return len(self.texts)

    def present(self, split: str) -> np.ndarray:
        """Boolean mask over text ids: the text occurs in `split`."""
        mask = np.zeros(self.n_texts, dtype=bool)
        mask[self.text_ids[split]] = True
        return mask

    def counts(self, split: str) -> np.ndarray:
        return np.bincount(self.text_ids[split], minlength=self.n_texts)

    def first_row(self, split: str) -> np.ndarray:
        """Per text id, the first row of `split` holding it (-1 when none)."""
        ids = self.text_ids[split]
        first = np.full(self.n_texts, -1, dtype=np.int64)
        uniq, at = np.unique(ids, return_index=True)
        first[uniq] = at
        return first


def own_texts(texts: Sequence[str], ngram: int) -> list[str]:
    """Each whole-example key as the near-copy check compares it: what the row shares with many
    others left out, so that rows are judged by what differs between them. In a prompt, the start
    and the end that many prompts share (a long system prompt or instruction; options and
    "Answer:" after the row's own text); in a plain-text row, the header that many files share
    (a licence block). Only the n-grams wholly inside the shared text go: ngram - 1 of its
    words are kept, so n-grams reaching into the row's own words stay."""
    prompts = [t[: t.index(SEP)] for t in texts]
    spans = own_text(prompts, keep_words=ngram - 1)
    plain = [i for i, p in enumerate(prompts) if not p]
    heads = header_cuts([texts[i][1:] for i in plain], keep_words=ngram - 1)
    out = [p[a:b] + t[len(p):] for t, p, (a, b) in zip(texts, prompts, spans, strict=True)]
    for i, c in zip(plain, heads, strict=True):
        out[i] = SEP + texts[i][1 + c:]
    return out


def _bigrams(text: str) -> set[tuple[str, ...]]:
    w = shingle_words(text)
    return set(zip(w, w[1:], strict=False)) if len(w) > 1 else {tuple(w)}


def _alike(ga: set[tuple[str, ...]], gb: set[tuple[str, ...]]) -> bool:
    return len(ga & gb) >= RESPONSE_MIN_JACCARD * len(ga | gb)


def responses_alike(texts: Sequence[str], pairs: np.ndarray) -> np.ndarray:
    """Per near pair, whether the two answers (the supervised text) are alike too: equal, or
    sharing at least RESPONSE_MIN_JACCARD of their word bigrams.

    Why: the near-copy check compares prompt and answer together, and two code-completion rows
    whose prompts are overlapping windows of one file, or two questions on the same passage,
    are alike as wholes while the model learns two different answers from them; memorising a
    copy needs the answer to repeat. One word changed in a 10-word answer keeps 55% of its
    bigrams; the code-completion rows of bench/shapes.py whose prompts overlap share a median
    20% of their answers' bigrams (80 of 110 pairs under half, the most 47%)."""
    return _parts_alike(texts, pairs, answer=True)


def prompts_alike(own: Sequence[str], pairs: np.ndarray) -> np.ndarray:
    """Per near pair, whether the two prompts are alike too: equal, or sharing at least
    RESPONSE_MIN_JACCARD of their word bigrams, compared on each row's own part (`own`: what
    many prompts share, a system prompt or instruction, left out).

    Why: a long answer outweighs a short question in the whole-row comparison, so an FAQ's
    canned answer given to "Where is my order?" and to "My parcel hasn't arrived yet" made the
    two rows near copies, and 8 wordings of 22 answers were a DUPLICATE_NEAR error (27% of the
    rows) and a TRAIN_VAL_LEAKAGE error for held-out wordings. One answer to differently worded
    questions is the task (the model learns which answer each wording asks for), not a copy;
    answers that repeat across many prompts are LOW_DIVERSITY's to judge, by the task's shape.
    A question with a greeting added ("Hi, where is my order?") keeps most of its bigrams and
    stays a copy."""
    return _parts_alike(own, pairs, answer=False)


def _parts_alike(texts: Sequence[str], pairs: np.ndarray, answer: bool) -> np.ndarray:
    """Per pair, whether the answers (`answer`) or the prompts of the two keys are alike."""
    keep = np.ones(len(pairs), dtype=bool)
    cache: dict[int, set[tuple[str, ...]]] = {}

    def part(i: int) -> str:
        cut = texts[i].index(SEP)
        return texts[i][cut + 1:] if answer else texts[i][:cut]

    def grams(i: int) -> set[tuple[str, ...]]:
        if i not in cache:
            cache[i] = _bigrams(part(i))
        return cache[i]

    for k, (a, b) in enumerate(pairs.tolist()):
        if part(a) != part(b):
            keep[k] = _alike(grams(a), grams(b))
    return keep


def with_short_rows(near: NearDuplicates, own: Sequence[str], cfg: AuditConfig) -> NearDuplicates:
    """The MinHash pairs and the near copies of short rows (one word edit apart,
    tuneguard.audit.short_rows), which word 5-grams cannot see, as one set of pairs."""
    pairs, sims, cands = short_near_pairs(own, cfg.near_dup_threshold, cfg.ngram, shingle_words)
    if not len(pairs):
        return dataclasses.replace(near, candidates=near.candidates + cands)
    allp = np.concatenate([near.pairs.reshape(-1, 2), pairs])
    alls = np.concatenate([near.similarity, sims])
    allp, first = np.unique(allp, axis=0, return_index=True)
    return dataclasses.replace(near, pairs=allp, similarity=alls[first], candidates=near.candidates + cands,
                               short_pairs=int((first >= len(near.pairs)).sum()))


def build_index(splits: Sequence[SplitText], cfg: AuditConfig, seed: int = 1, sample: Sample | None = None) -> DupIndex:
    """Exact keys and near pairs for the given splits (one pass over their distinct texts)."""
    ids: dict[str, int] = {}
    text_ids: dict[str, np.ndarray] = {}
    for sp in splits:
        keys = sp.keys()
        text_ids[sp.name] = np.fromiter((ids.setdefault(k, len(ids)) for k in keys), dtype=np.int64, count=len(keys))
    texts = list(ids)
    del ids
    own = own_texts(texts, cfg.ngram)
    near = near_duplicates(own, cfg.near_dup_threshold, cfg.num_perm, cfg.ngram, seed, to_words=shingle_words)
    del own  # a copy of every text: gone before the next one is made
    # The short-row measure judges a row by its own words alone: the few shared words kept for
    # the n-grams above would make every short row of a templated prompt look long enough.
    own1 = own_texts(texts, 1)
    near = with_short_rows(near, own1, cfg)
    alike = responses_alike(texts, near.pairs)
    unlike = int((~alike).sum())
    near = dataclasses.replace(near, pairs=near.pairs[alike], similarity=near.similarity[alike])
    asked = prompts_alike(own1, near.pairs)
    near = dataclasses.replace(near, pairs=near.pairs[asked], similarity=near.similarity[asked])
    return DupIndex({sp.name: sp for sp in splits}, text_ids, texts, near, cfg, unlike, sample or Sample(0, 0),
                    unasked_pairs=int((~asked).sum()))


def _rows_of(ids: np.ndarray, wanted: set[int], limit: int) -> dict[int, list[int]]:
    """First `limit` rows holding each wanted text id."""
    out: dict[int, list[int]] = {t: [] for t in wanted}
    for row, t in enumerate(ids.tolist()):
        lst = out.get(t)
        if lst is not None and len(lst) < limit:
            lst.append(row)
    return out


def rows_by_text(index: DupIndex, split: str) -> dict[int, list[int]]:
    """Every row of `split` per distinct text id, rows in order."""
    out: dict[int, list[int]] = {}
    for row, t in enumerate(index.text_ids[split].tolist()):
        out.setdefault(t, []).append(row)
    return out


def exact_groups(index: DupIndex, split: str = "train") -> list[list[int]]:
    """Every group of rows of `split` with the same normalised prompt + response (two rows or
    more), each listing all its rows in order, groups in the order of their first row.

    The check below reports the largest groups only (the evidence stays short); `tuneguard
    fix` needs every row of every group, and takes them from here."""
    return [rows for rows in rows_by_text(index, split).values() if len(rows) > 1]


def near_groups(index: DupIndex, split: str = "train") -> list[list[list[int]]]:
    """Every near-duplicate cluster of `split` as the rows of each of its distinct texts:
    texts in the order of their first row, clusters in the order of their first row."""
    rows = rows_by_text(index, split)
    groups = [sorted((rows[t] for t in c), key=lambda r: r[0])
              for c in index.near.clusters(index.n_texts, index.present(split))]
    return sorted(groups, key=lambda g: g[0][0])


def check_exact(index: DupIndex, split: str = "train") -> tuple[list[Finding], dict[str, Any]]:
    sp = index.splits[split]
    n = len(sp)
    counts = index.counts(split)
    distinct = int((counts > 0).sum())
    extra = n - distinct
    groups = np.flatnonzero(counts > 1)
    frac = share(extra, n)
    stats = {"rows": n, "distinct": distinct, "duplicate_rows": extra, "share": frac,
             "groups": len(groups), "largest_group": int(counts.max()) if n else 0}
    if extra == 0:
        return [], stats
    top = groups[np.argsort(-counts[groups], kind="stable")][:TOP_GROUPS]
    rows = _rows_of(index.text_ids[split], set(top.tolist()), MAX_EXAMPLES)
    largest = [{"count": int(counts[t]), "rows": [sp.where(r) for r in rows[int(t)]],
                "example": preview(sp.examples[rows[int(t)][0]].response)} for t in top]
    cfg = index.cfg
    est = index.sample.estimate(frac) if split == "train" else frac
    severity = "error" if est > cfg.exact_dup_error else "warning" if est > cfg.exact_dup_warning else "info"
    ev = {"count": extra, "share": frac, "rows": n, "distinct": distinct, "groups": len(groups),
          "largest_groups": largest, **(index.sample.evidence(frac) if split == "train" else {}),
          "thresholds": {"audit.exact_dup_warning": cfg.exact_dup_warning, "audit.exact_dup_error": cfg.exact_dup_error}}
    # At info (a few copies, under audit.exact_dup_warning) the copies are a fact: saying the
    # model "memorises them instead of learning" of 3 rows in 320 alarmed without cause.
    key = "DUPLICATE_EXACT.copies.info" if severity == "info" else "DUPLICATE_EXACT.copies"
    msg = T(key, extra=extra, n=n, share=frac, groups=len(groups), largest=int(counts[top[0]]))
    if split == "train":
        msg = sampled_message(msg, index.sample, frac)
    rec = T("DUPLICATE_EXACT.copies.rec")
    return [finding("DUPLICATE_EXACT", severity, msg, ev, rec)], stats


def check_near(index: DupIndex, split: str = "train") -> tuple[list[Finding], dict[str, Any]]:
    sp = index.splits[split]
    n = len(sp)
    cfg = index.cfg
    counts = index.counts(split)
    clusters = index.near.clusters(index.n_texts, index.present(split))
    extra = sum(len(c) - 1 for c in clusters)
    in_clusters = int(sum(int(counts[c].sum()) for c in clusters))
    biggest = len(clusters[0]) if clusters else 0
    frac = share(extra, n)
    big_frac = share(biggest, n)
    stats = {"rows": n, "clusters": len(clusters), "near_duplicate_rows": in_clusters, "extra_rows": extra,
             "share": frac, "largest_cluster": biggest, "lsh_candidates": index.near.candidates,
             "verified_pairs": len(index.near.pairs), "short_row_pairs": index.near.short_pairs,
             "pairs_with_different_answers": index.unlike_pairs,
             "pairs_with_different_prompts": index.unasked_pairs, "bands": index.near.bands, "rows_per_band": index.near.rows,
             "threshold": cfg.near_dup_threshold, "num_perm": cfg.num_perm, "ngram": cfg.ngram}
    if not clusters:
        return [], stats
    first = index.first_row(split)
    largest = []
    for c in clusters[:TOP_GROUPS]:
        members = [int(first[t]) for t in c]
        largest.append({"texts": len(c), "rows": int(counts[c].sum()),
                        "where": [sp.where(r) for r in sorted(members)[:MAX_EXAMPLES]],
                        "example": preview(sp.examples[min(members)].response)})
    big_cluster = biggest >= cfg.near_cluster_min and big_frac > cfg.near_cluster_error
    est = index.sample.estimate(frac) if split == "train" else frac
    severity = ("error" if est > cfg.near_dup_error or big_cluster else
                "warning" if est > cfg.near_dup_warning else "info")
    ev = {"count": extra, "share": frac, "rows": n, "clusters": len(clusters), "near_duplicate_rows": in_clusters,
          "largest_cluster": biggest, "largest_cluster_share": big_frac, "largest_clusters": largest,
          **(index.sample.evidence(frac) if split == "train" else {}),
          "threshold": cfg.near_dup_threshold, "ngram": cfg.ngram, "num_perm": cfg.num_perm,
          "thresholds": {"audit.near_dup_warning": cfg.near_dup_warning, "audit.near_dup_error": cfg.near_dup_error,
                         "audit.near_cluster_error": cfg.near_cluster_error, "audit.near_cluster_min": cfg.near_cluster_min}}
    msg = T("DUPLICATE_NEAR.copies", extra=extra, share=frac, ngram=cfg.ngram, threshold=cfg.near_dup_threshold,
            clusters=len(clusters), biggest=biggest, big_share=big_frac)
    if split == "train":
        msg = sampled_message(msg, index.sample, frac)
    rec = T("DUPLICATE_NEAR.copies.rec")
    return [finding("DUPLICATE_NEAR", severity, msg, ev, rec)], stats
