"""Token-level checks on the batches exactly as training builds them.

The training features (tokenized by `tuneguard.data.tokenize`) go through the collator
training will use (`build_collator(data.collator, ...)`, so DataCollatorForLanguageModeling
when `data.collator: language_modeling`) in batches of train.batch_size; the checks read
the resulting input_ids / labels / attention_mask and compare them with the features'
labels. Nothing here re-implements masking: a fault in the real pipeline shows up here.

A seeded sample of audit.label_check_rows training rows is collated; the cheap per-row
checks (ANSWER_TRUNCATED, EMPTY_LABELS) look at every audited row.

Codes and rules (research note, causes 4, 5, 6, 12); the shares are audit config fields
(audit.pad_in_labels_error, eos_missing_warning, prompt_share_warning, truncated_warning,
tokenizer_mismatch_warning) with the defaults named here:
- PAD_IS_EOS: pad id == EOS id. Error when the collator masks labels at real EOS
  positions (so the model never learns to stop); warning when it does not (fragile: any
  collator that masks padding by id will).
- PAD_IN_LABELS: padding positions (attention_mask 0) with a real label. Error above 5%
  of all positions, warning for any.
- EOS_MISSING: rows (neither truncated nor empty) without a supervised EOS. Error when no
  EOS is supervised in any batch, warning above 2% of rows; nothing when every row is cut
  (ANSWER_TRUNCATED says so).
- PROMPT_NOT_MASKED: error when the collator supervises prompt tokens that the features
  masked (it overwrote the prompt mask); warning when prompt tokens are more than 50% of
  the supervised tokens (data.train_on_prompt).
- EMPTY_LABELS: rows with no supervised token (their loss is 0 and hides the others).
  Error for any row.
- ANSWER_TRUNCATED: rows whose answer end / EOS was cut by data.max_length. Warning above
  2% of rows. Else prompts whose middle was cut, when more than PROMPT_CUT_WARNING (10%) of
  the prompt tokens were lost (a long document to summarise).
- TOKENIZER_MISMATCH: tokenize(prompt) is not a prefix of tokenize(prompt + response).
  Warning above 1% of the rows checked. (Whether the largest token id fits the model's
  embedding cannot be checked without loading the model; the largest id is in the stats.)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tuneguard.audit.common import MAX_EXAMPLES, finding, preview, seeded_sample, share
from tuneguard.catalog import J, T
from tuneguard.config.schema import Config
from tuneguard.data.collate import build_collator
from tuneguard.data.formats import Example
from tuneguard.data.tokenize import (IGNORE_INDEX, TokenizeStats, masked_prompt_length, pair_tokens, prompt_flags,
                                     special_prefix, split_tokens, with_prefix)
from tuneguard.findings import Finding
from tuneguard.model.load import configured_context

log = logging.getLogger(__name__)

NEEDED_LENGTH_SAMPLE = 200
# Prompts cut to fit data.max_length are said (ANSWER_TRUNCATED) when more than this share of the
# prompt tokens is lost: a few tokens from the middle of a passage cost little (SmolLM2 at
# max_length 96 on docstring paragraphs: 20% of the rows lose 4% of the prompt tokens), half of
# each document to summarise changes the task (man pages at 512: most of each page).
PROMPT_CUT_WARNING = 0.10
TOKENIZE_BATCH = 512


def is_truncated(f: dict[str, Any], eos: int, max_length: int) -> bool:
    """Whether max_length cut this row's answer (tuneguard.fix drops such rows on request).

    tokenize appends EOS to every response; it is gone only when max_length cut the answer."""
    ids = f["input_ids"]
    return len(ids) >= max_length and (not ids or ids[-1] != eos)


def prompt_cut_share(stats: TokenizeStats | None, train_on_prompt: bool) -> float:
    """The share of the prompts' tokens that data.max_length cut (tokenize keeps each cut
    prompt's start and end and drops its middle)."""
    if stats is None or not stats.prompt_truncated:
        return 0.0
    kept = stats.total_tokens if train_on_prompt else stats.total_tokens - stats.supervised_tokens
    return stats.tokens_cut / max(kept + stats.tokens_cut, 1)


def _cut_prompts(examples: Sequence[Example], features: Sequence[dict[str, Any]], eos: int, max_length: int) -> list[int]:
    """Rows whose answer is whole but fill data.max_length exactly: tokenize cut their prompt's
    middle to fit (a row that fits to the token is counted too; rare)."""
    return [i for i, f in enumerate(features)
            if examples[i].prompt and len(f["input_ids"]) >= max_length and not is_truncated(f, eos, max_length)]


def _is_empty(f: dict[str, Any]) -> bool:
    lab = f["labels"]
    if lab and lab[-1] != IGNORE_INDEX:
        return False
    return all(x == IGNORE_INDEX for x in lab)


def check(cfg: Config, examples: Sequence[Example], features: Sequence[dict[str, Any]], tokenizer: Any,
          tokenize_stats: TokenizeStats | None = None) -> tuple[list[Finding], dict[str, Any]]:
    """Run every token-level check on the (audited) training rows: one scan of a sample of
    them through the tokenizer and the real collator, then one rule per finding code."""
    dcfg = cfg.data
    eos = tokenizer.eos_token_id
    n = len(features)
    truncated = [i for i, f in enumerate(features) if is_truncated(f, eos, dcfg.max_length)]
    empty_rows = {i for i, f in enumerate(features) if _is_empty(f)}
    sample = seeded_sample(n, cfg.audit.label_check_rows, dcfg.seed)
    scan = _Scan(rows=n, sampled=list(range(n)) if sample is None else sample, prefix=special_prefix(tokenizer))
    scan.round_trip(tokenizer, examples, dcfg.max_length)
    scan.collate(cfg, features, tokenizer, empty_rows)
    all_empty = sorted(empty_rows | set(scan.rows_empty_after_collation))
    stats = scan.stats(cfg, tokenizer, truncated, all_empty, tokenize_stats)
    rules = _Rules(cfg, tokenizer, examples, scan)
    cut_prompts = (_cut_prompts(examples, features, eos, dcfg.max_length)
                   if prompt_cut_share(tokenize_stats, dcfg.train_on_prompt) > PROMPT_CUT_WARNING else [])
    found = [rules.pad_is_eos(), rules.pad_in_labels(), rules.eos_missing(), rules.prompt_not_masked(),
             rules.empty_labels(all_empty, len(empty_rows)), rules.answer_truncated(truncated, tokenize_stats, cut_prompts),
             rules.tokenizer_mismatch()]
    return [f for f in found if f is not None], stats


@dataclasses.dataclass
class _Scan:
    """What a sample of the training rows holds as the tokenizer and the collator see them:
    counts over the sample's batches and the rows behind each fault."""

    rows: int
    sampled: list[int]
    prefix: list[int]
    # The tokenizer round trip: rows whose prompt tokens change once the response follows.
    with_prompt: list[int] = dataclasses.field(default_factory=list)
    mismatched: list[tuple[int, list[int], list[int]]] = dataclasses.field(default_factory=list)
    prompt_len: dict[int, int] = dataclasses.field(default_factory=dict)
    # The batches.
    batches: int = 0
    positions: int = 0
    padding_positions: int = 0
    padding_supervised: int = 0
    rows_padding_supervised: list[int] = dataclasses.field(default_factory=list)
    supervised_tokens: int = 0
    supervised_eos: int = 0
    masked_eos: int = 0
    eos_labels_in_features: int = 0
    rows_eos_masked: list[int] = dataclasses.field(default_factory=list)
    rows_eos_checked: int = 0
    rows_without_eos: list[int] = dataclasses.field(default_factory=list)
    prompt_supervised_tokens: int = 0
    rows_prompt_supervised: int = 0
    rows_prompt_mask_overwritten: list[int] = dataclasses.field(default_factory=list)
    tokens_prompt_mask_overwritten: int = 0
    rows_empty_after_collation: list[int] = dataclasses.field(default_factory=list)
    max_token_id: int = -1

    def round_trip(self, tokenizer: Any, examples: Sequence[Example], max_length: int) -> None:
        """The sampled rows with a prompt as training tokenizes them (tuneguard.data.tokenize.
        pair_tokens): where the prompt tokenized alone is not the start of the whole, and how
        many tokens of each training row are the prompt's after truncation."""
        self.with_prompt = [i for i in self.sampled if examples[i].prompt]
        for s in range(0, len(self.with_prompt), TOKENIZE_BATCH):
            rows = self.with_prompt[s: s + TOKENIZE_BATCH]
            pairs = pair_tokens(tokenizer, [examples[i].prompt for i in rows], [examples[i].response for i in rows])
            turns = prompt_flags(tokenizer, [examples[i] for i in rows], pairs)  # earlier answers are not prompt
            for k, (i, (p, j, cut)) in enumerate(zip(rows, pairs, strict=False)):
                self.prompt_len[i] = masked_prompt_length(self.prefix, j[:cut], j[cut:], tokenizer.eos_token_id,
                                                          max_length, turns.get(k))
                if j[: len(p)] != p:
                    self.mismatched.append((i, p, j))

    def collate(self, cfg: Config, features: Sequence[dict[str, Any]], tokenizer: Any, empty_rows: set[int]) -> None:
        """The sample in batches of train.batch_size through the configured collator."""
        dcfg = cfg.data
        collator = build_collator(dcfg.collator, tokenizer, dcfg.pad_to_multiple_of, dcfg.max_length)
        bs = max(1, cfg.train.batch_size)
        for s in range(0, len(self.sampled), bs):
            chunk = self.sampled[s: s + bs]
            batch = collator([features[i] for i in chunk])
            self.batches += 1
            ids = batch["input_ids"].numpy()
            labels = batch["labels"].numpy()
            att = batch["attention_mask"].numpy() if "attention_mask" in batch else None
            self.positions += labels.size
            self.max_token_id = max(self.max_token_id, int(ids.max()))
            for r, i in enumerate(chunk):
                real, padmask = _real_positions(features[i], r, ids, att, tokenizer)
                self._row(i, features[i], labels[r], real, padmask, tokenizer.eos_token_id,
                          counts_eos=i not in empty_rows and not is_truncated(features[i], tokenizer.eos_token_id,
                                                                              dcfg.max_length))

    def _row(self, i: int, f: dict[str, Any], row_labels: Any, real: Any, padmask: Any, eos: int,
             counts_eos: bool) -> None:
        """One collated row against its features: padding, supervision, EOS, the prompt."""
        k = len(real)
        feature_labels = np.asarray(f["labels"][:k], dtype=np.int64)
        feature_ids = np.asarray(f["input_ids"][:k], dtype=np.int64)
        collated_labels = row_labels[real]
        n_pad = int(padmask.sum())
        self.padding_positions += n_pad
        pad_sup = int((row_labels[padmask] != IGNORE_INDEX).sum()) if n_pad else 0
        if pad_sup:
            self.padding_supervised += pad_sup
            self.rows_padding_supervised.append(i)
        sup = collated_labels != IGNORE_INDEX
        n_sup = int(sup.sum())
        self.supervised_tokens += n_sup
        if n_sup == 0:
            self.rows_empty_after_collation.append(i)
        # EOS: what the features supervise at real EOS positions vs what the batch keeps.
        feature_eos = (feature_ids == eos) & (feature_labels != IGNORE_INDEX)
        self.eos_labels_in_features += int(feature_eos.sum())
        masked = int((feature_eos & ~sup).sum())
        if masked:
            self.masked_eos += masked
            self.rows_eos_masked.append(i)
        row_sup_eos = int((sup & (collated_labels == eos)).sum())
        self.supervised_eos += row_sup_eos
        if counts_eos and n_sup:
            self.rows_eos_checked += 1
            if row_sup_eos == 0:
                self.rows_without_eos.append(i)
        # Prompt: positions the features masked but the batch supervises.
        over = int(((feature_labels == IGNORE_INDEX) & sup).sum())
        if over:
            self.tokens_prompt_mask_overwritten += over
            self.rows_prompt_mask_overwritten.append(i)
        lead = int(np.argmax(feature_labels != IGNORE_INDEX)) if (feature_labels != IGNORE_INDEX).any() else k
        prompt_end = lead if lead > 0 else min(self.prompt_len.get(i, len(self.prefix)), k)
        prompt_sup = int(sup[:prompt_end].sum())
        self.prompt_supervised_tokens += prompt_sup
        if prompt_sup:
            self.rows_prompt_supervised += 1

    def stats(self, cfg: Config, tokenizer: Any, truncated: list[int], all_empty: list[int],
              tokenize_stats: TokenizeStats | None) -> dict[str, Any]:
        return {
            "rows": self.rows, "sampled_rows": len(self.sampled), "batches": self.batches,
            "batch_size": max(1, cfg.train.batch_size), "collator": cfg.data.collator,
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
            "positions": self.positions, "padding_positions": self.padding_positions,
            "padding_supervised": self.padding_supervised, "supervised_tokens": self.supervised_tokens,
            "supervised_eos": self.supervised_eos, "masked_eos": self.masked_eos,
            "prompt_supervised_tokens": self.prompt_supervised_tokens,
            "prompt_supervised_share": share(self.prompt_supervised_tokens, self.supervised_tokens),
            "prompt_mask_overwritten_rows": len(self.rows_prompt_mask_overwritten),
            "rows_without_eos": len(self.rows_without_eos), "empty_label_rows": len(all_empty),
            "answer_truncated_rows": len(truncated), "tokenizer_checked_rows": len(self.with_prompt),
            "tokenizer_mismatch_rows": len(self.mismatched), "max_token_id": self.max_token_id,
            "tokenizer_size": len(tokenizer),
            "embedding_check": "skipped (needs the model; the trainer resizes embeddings to the tokenizer)",
            "tokenize_stats": tokenize_stats.to_dict() if tokenize_stats is not None else None,
        }


def _real_positions(f: dict[str, Any], r: int, ids: Any, att: Any, tokenizer: Any) -> tuple[Any, Any]:
    """(the batch positions of row r's real tokens, cut to the feature's length; its padding mask)."""
    k = len(f["input_ids"])
    if att is not None:
        real = np.flatnonzero(att[r])
        padmask = att[r] == 0
    else:
        left = getattr(tokenizer, "padding_side", "right") == "left"
        width = ids.shape[1]
        real = np.arange(width - k, width) if left else np.arange(k)
        padmask = np.ones(width, dtype=bool)
        padmask[real] = False
    return real[:min(k, len(real))], padmask


class _Rules:
    """One finding code each, from the scan; None when the data does not have the fault."""

    def __init__(self, cfg: Config, tokenizer: Any, examples: Sequence[Example], scan: _Scan) -> None:
        self.dcfg, self.acfg, self.tokenizer, self.examples, self.scan = cfg.data, cfg.audit, tokenizer, examples, scan
        self.cfg = cfg
        self.eos, self.pad, self.checked = tokenizer.eos_token_id, tokenizer.pad_token_id, len(scan.sampled)

    @functools.cached_property
    def context(self) -> int | None:
        """The model's context, as far as it is known without loading the model (model.context_length,
        its config.json's positions, the tiny model's, the tokenizer's): read only when a row is
        truncated, the one advice that needs it."""
        return configured_context(self.cfg, self.tokenizer, tokenizer_limit=True)

    def rows(self, lst: Sequence[int]) -> list[str]:
        return [self.examples[i].where for i in list(lst)[:MAX_EXAMPLES]]

    def pad_is_eos(self) -> Finding | None:
        sc = self.scan
        if self.pad is None or self.pad != self.eos:
            return None
        tok_name = getattr(self.tokenizer, "eos_token", None)
        ev = {"count": len(sc.rows_eos_masked), "pad_token_id": self.pad, "eos_token_id": self.eos, "token": tok_name,
              "collator": self.dcfg.collator, "sampled_rows": self.checked, "eos_labels_in_features": sc.eos_labels_in_features,
              "eos_labels_masked_by_collator": sc.masked_eos, "supervised_eos_in_batches": sc.supervised_eos,
              "examples": self.rows(sc.rows_eos_masked)}
        if sc.masked_eos:
            msg = T("PAD_IS_EOS.masked", token=tok_name, eos=self.eos, masked=sc.masked_eos,
                    labels=sc.eos_labels_in_features, rows=self.checked)
            return finding("PAD_IS_EOS", "error", msg, ev, T("PAD_IS_EOS.masked.rec"))
        msg = T("PAD_IS_EOS.kept", token=tok_name, eos=self.eos)
        return finding("PAD_IS_EOS", "warning", msg, ev, T("PAD_IS_EOS.kept.rec"))

    def pad_in_labels(self) -> Finding | None:
        sc = self.scan
        if not sc.padding_supervised:
            return None
        frac = share(sc.padding_supervised, sc.positions)
        ev = {"count": len(sc.rows_padding_supervised), "positions": sc.padding_supervised, "share_of_positions": frac,
              "padding_positions": sc.padding_positions, "all_positions": sc.positions, "sampled_rows": self.checked,
              "examples": self.rows(sc.rows_padding_supervised),
              "thresholds": {"audit.pad_in_labels_error": self.acfg.pad_in_labels_error}}
        msg = T("PAD_IN_LABELS.supervised", positions=sc.padding_supervised, share=frac,
                rows=len(sc.rows_padding_supervised), checked=self.checked)
        sev = "error" if frac > self.acfg.pad_in_labels_error else "warning"
        return finding("PAD_IN_LABELS", sev, msg, ev, T("PAD_IN_LABELS.supervised.rec"))

    def eos_missing(self) -> Finding | None:
        # Only rows that should end in EOS count: a row cut by max_length lost its EOS to the cut,
        # which ANSWER_TRUNCATED reports with the fix that works (a longer max_length), so data whose
        # every row is cut (long documents) gets no EOS_MISSING error telling it to append EOS.
        sc = self.scan
        if not (self.checked and sc.rows_eos_checked and (sc.supervised_eos == 0 or sc.rows_without_eos)):
            return None
        frac = share(len(sc.rows_without_eos), sc.rows_eos_checked)
        ev = {"count": len(sc.rows_without_eos), "share": frac, "rows_checked": sc.rows_eos_checked,
              "sampled_rows": self.checked, "supervised_eos_in_batches": sc.supervised_eos,
              "eos_masked_by_collator": sc.masked_eos, "eos_token_id": self.eos,
              "examples": self.rows(sc.rows_without_eos),
              "thresholds": {"audit.eos_missing_warning": self.acfg.eos_missing_warning}}
        if sc.supervised_eos == 0:
            why = T("EOS_MISSING.masked_why") if sc.masked_eos else ""
            msg = T("EOS_MISSING.none", batches=sc.batches, rows=self.checked, why=why)
            sev = "error"
        else:
            msg = T("EOS_MISSING.some", count=len(sc.rows_without_eos), checked=sc.rows_eos_checked, share=frac)
            sev = "warning" if frac > self.acfg.eos_missing_warning else "info"
        return finding("EOS_MISSING", sev, msg, ev, T("EOS_MISSING.rec"))

    def prompt_not_masked(self) -> Finding | None:
        sc, dcfg = self.scan, self.dcfg
        p_share = share(sc.prompt_supervised_tokens, sc.supervised_tokens)
        overwritten = sc.rows_prompt_mask_overwritten
        if not (overwritten or sc.prompt_supervised_tokens):
            return None
        ev = {"count": len(overwritten) if overwritten else sc.rows_prompt_supervised,
              "prompt_supervised_tokens": sc.prompt_supervised_tokens, "supervised_tokens": sc.supervised_tokens,
              "prompt_share_of_supervised": p_share, "rows_with_supervised_prompt": sc.rows_prompt_supervised,
              "rows_where_collator_overwrote_mask": len(overwritten),
              "tokens_unmasked_by_collator": sc.tokens_prompt_mask_overwritten,
              "sampled_rows": self.checked, "train_on_prompt": dcfg.train_on_prompt, "collator": dcfg.collator,
              "examples": self.rows(overwritten or [i for i in sc.sampled if self.examples[i].prompt]),
              "thresholds": {"audit.prompt_share_warning": self.acfg.prompt_share_warning}}
        if overwritten:
            msg = T("PROMPT_NOT_MASKED.overwritten", collator=dcfg.collator, rows=len(overwritten),
                    checked=self.checked, share=p_share)
            return finding("PROMPT_NOT_MASKED", "error", msg, ev, T("PROMPT_NOT_MASKED.overwritten.rec"))
        sev = "warning" if p_share > self.acfg.prompt_share_warning else "info"
        msg = T("PROMPT_NOT_MASKED.share", share=p_share, rows=sc.rows_prompt_supervised, checked=self.checked)
        return finding("PROMPT_NOT_MASKED", sev, msg, ev, T("PROMPT_NOT_MASKED.share.rec"))

    def empty_labels(self, all_empty: list[int], in_features: int) -> Finding | None:
        if not all_empty:
            return None
        n = self.scan.rows
        ev = {"count": len(all_empty), "share": share(len(all_empty), n), "rows_total": n,
              "in_features": in_features, "after_collation_in_sample": len(self.scan.rows_empty_after_collation),
              "examples": self.rows(all_empty)}
        return finding("EMPTY_LABELS", "error", T("EMPTY_LABELS.rows", count=len(all_empty)), ev,
                       T("EMPTY_LABELS.rows.rec"))

    def answer_truncated(self, truncated: list[int], tokenize_stats: TokenizeStats | None,
                         cut_prompts: Sequence[int] = ()) -> Finding | None:
        """Answers (or plain texts) cut by data.max_length; else prompts whose middle it cut
        (a long document to summarise: the model learns to answer from text it never saw)."""
        answers = bool(truncated)
        truncated = truncated or list(cut_prompts)
        if not truncated:
            return None
        n, dcfg, examples = self.scan.rows, self.dcfg, self.examples
        frac = share(len(truncated), n)
        look = truncated[:NEEDED_LENGTH_SAMPLE]
        # As training builds the row: the response in context, one BOS, EOS appended.
        pairs = split_tokens(self.tokenizer, [examples[i].prompt for i in look], [examples[i].response for i in look])
        needed = sorted(len(with_prefix(self.scan.prefix, a)) + len(b) + 1 for a, b in pairs)
        p95 = needed[min(len(needed) - 1, math.ceil(0.95 * len(needed)) - 1)]
        ev = {"count": len(truncated), "share": frac, "rows_total": n, "max_length": dcfg.max_length,
              "needed_length_p95": p95, "needed_length_max": needed[-1],
              "prompt_truncated": tokenize_stats.prompt_truncated if tokenize_stats else None,
              "response_truncated": tokenize_stats.response_truncated if tokenize_stats else None,
              "examples": self.rows(truncated), "thresholds": {"audit.truncated_warning": self.acfg.truncated_warning}}
        every = T("ANSWER_TRUNCATED.every") if len(truncated) == n else ""
        if not answers:
            ev["what"] = "prompts"
            msg = T("ANSWER_TRUNCATED.prompts", count=len(truncated), n=n, share=frac, max_length=dcfg.max_length)
            shorten = T("ANSWER_TRUNCATED.shorten_prompts")
        elif any(examples[i].prompt for i in truncated):
            msg = T("ANSWER_TRUNCATED.answers", count=len(truncated), n=n, share=frac, max_length=dcfg.max_length,
                    every=every)
            shorten = T("ANSWER_TRUNCATED.shorten_answers")
            # The rows whose answer fits only because their prompt was cut are truncated too: said,
            # so that removing the rows above (`fix --truncation drop`) is not taken for a fix.
            cut = len(set(cut_prompts) - set(truncated))
            if cut:
                ev["prompts_cut"] = cut
                msg = J("join.none", [msg, T("ANSWER_TRUNCATED.also_prompts", count=cut, share=share(cut, n))])
        else:  # plain text: no answer, the document's tail is what is lost
            msg = T("ANSWER_TRUNCATED.texts", count=len(truncated), n=n, share=frac, max_length=dcfg.max_length,
                    every=every)
            shorten = T("ANSWER_TRUNCATED.split_texts", max_length=dcfg.max_length)
        rec = self._longer(ev, p95, shorten)
        sev = "warning" if frac > self.acfg.truncated_warning else "info"
        return finding("ANSWER_TRUNCATED", sev, msg, ev, rec)

    def _longer(self, ev: dict[str, Any], p95: int, shorten: Any) -> Any:
        """ANSWER_TRUNCATED's advice: a data.max_length covering 95% of the truncated rows (`p95`
        tokens, rounded up to 64), never above the model's context when it is known; rows that need
        more than the context cannot be held by any max_length: shorten or split them, or a model
        with a longer context."""
        suggest = int(-(-p95 // 64) * 64)
        context = self.context
        if context is None:
            ev["suggested_max_length"] = suggest
            return T("ANSWER_TRUNCATED.rec", suggest=suggest, shorten=shorten)
        ev["context_length"] = context
        if p95 > context:
            # A max_length beyond the context cannot be set: the advice is to shorten, split or drop.
            return T("ANSWER_TRUNCATED.beyond_context.rec", context=context, shorten=shorten, need=p95)
        ev["suggested_max_length"] = min(suggest, context)
        return T("ANSWER_TRUNCATED.rec_context", suggest=min(suggest, context), shorten=shorten, context=context)

    def tokenizer_mismatch(self) -> Finding | None:
        sc = self.scan
        if not sc.mismatched:
            return None
        frac = share(len(sc.mismatched), len(sc.with_prompt))
        examples_ev = []
        for i, p, j in sc.mismatched[:MAX_EXAMPLES]:
            at = next((x for x, (a, b) in enumerate(zip(p, j, strict=False)) if a != b), min(len(p), len(j)))
            examples_ev.append({
                "row": self.examples[i].where, "prompt_end": preview(self.examples[i].prompt[-40:], 40),
                "prompt_tokens": self.tokenizer.convert_ids_to_tokens(p[max(0, at - 2): at + 2]),
                "joint_tokens": self.tokenizer.convert_ids_to_tokens(j[max(0, at - 2): at + 2])})
        ev = {"count": len(sc.mismatched), "share": frac, "rows_checked": len(sc.with_prompt), "examples": examples_ev,
              "thresholds": {"audit.tokenizer_mismatch_warning": self.acfg.tokenizer_mismatch_warning}}
        msg = T("TOKENIZER_MISMATCH.boundary", count=len(sc.mismatched), checked=len(sc.with_prompt), share=frac)
        sev = "warning" if frac > self.acfg.tokenizer_mismatch_warning else "info"
        return finding("TOKENIZER_MISMATCH", sev, msg, ev, T("TOKENIZER_MISMATCH.boundary.rec"))
