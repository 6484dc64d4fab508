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
  2% of rows.
- TOKENIZER_MISMATCH: tokenize(prompt) is not a prefix of tokenize(prompt + response).
  Warning above 1% of the rows checked. (Whether the largest token id fits the model's
  embedding cannot be checked without loading the model; the largest id is in the stats.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tuneguard.audit.common import MAX_EXAMPLES, finding, preview, seeded_sample, share
from tuneguard.catalog import T
from tuneguard.config.schema import Config
from tuneguard.data.collate import build_collator
from tuneguard.data.formats import Example
from tuneguard.data.tokenize import IGNORE_INDEX, TokenizeStats, special_prefix
from tuneguard.findings import Finding

log = logging.getLogger(__name__)

NEEDED_LENGTH_SAMPLE = 200
TOKENIZE_BATCH = 512


def _tok(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    out: list[list[int]] = []
    for s in range(0, len(texts), TOKENIZE_BATCH):
        out.extend(tokenizer(texts[s: s + TOKENIZE_BATCH], add_special_tokens=False, return_attention_mask=False,
                             return_token_type_ids=False)["input_ids"])
    return out


def is_truncated(f: dict[str, Any], eos: int, max_length: int) -> bool:
    """Whether max_length cut this row's answer (tuneguard.fix drops such rows on request).

    tokenize appends EOS to every response; it is gone only when max_length cut the answer."""
    ids = f["input_ids"]
    return len(ids) >= max_length and (not ids or ids[-1] != eos)


def _is_empty(f: dict[str, Any]) -> bool:
    lab = f["labels"]
    if lab and lab[-1] != IGNORE_INDEX:
        return False
    return all(x == IGNORE_INDEX for x in lab)


def check(cfg: Config, examples: Sequence[Example], features: Sequence[dict[str, Any]], tokenizer: Any,
          tokenize_stats: TokenizeStats | None = None) -> tuple[list[Finding], dict[str, Any]]:
    """Run every token-level check on the (audited) training rows."""
    dcfg, acfg = cfg.data, cfg.audit
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id
    n = len(features)
    findings: list[Finding] = []

    truncated = [i for i, f in enumerate(features) if is_truncated(f, eos, dcfg.max_length)]
    empty_rows = {i for i, f in enumerate(features) if _is_empty(f)}

    # --- the sample: tokenizer round trip, then the real collator -------------------
    sample = seeded_sample(n, cfg.audit.label_check_rows, dcfg.seed)
    idx = list(range(n)) if sample is None else sample
    prefix = special_prefix(tokenizer)
    with_prompt = [i for i in idx if examples[i].prompt]
    p_ids = _tok(tokenizer, [examples[i].prompt for i in with_prompt])
    j_ids = _tok(tokenizer, [examples[i].prompt + examples[i].response for i in with_prompt])
    prompt_len = {i: len(prefix) + len(p) for i, p in zip(with_prompt, p_ids)}
    mismatched = [(i, p, j) for i, p, j in zip(with_prompt, p_ids, j_ids) if j[: len(p)] != p]

    collator = build_collator(dcfg.collator, tokenizer, dcfg.pad_to_multiple_of, dcfg.max_length)
    bs = max(1, cfg.train.batch_size)
    positions = pad_positions = pad_supervised = 0
    pad_sup_rows: list[int] = []
    sup_tokens = prompt_sup_tokens = 0
    sup_eos = masked_eos = feat_eos = 0
    masked_eos_rows: list[int] = []
    overwritten_rows: list[int] = []
    overwritten_tokens = 0
    prompt_sup_rows = 0
    no_eos_rows: list[int] = []
    eos_checked = 0
    collated_empty: list[int] = []
    max_id = -1
    batches = 0
    for s in range(0, len(idx), bs):
        chunk = idx[s: s + bs]
        batch = collator([features[i] for i in chunk])
        batches += 1
        ids = batch["input_ids"].numpy()
        labels = batch["labels"].numpy()
        att = batch["attention_mask"].numpy() if "attention_mask" in batch else None
        positions += labels.size
        max_id = max(max_id, int(ids.max()))
        for r, i in enumerate(chunk):
            f = features[i]
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
            k = min(k, len(real))
            real = real[:k]
            f_lab = np.asarray(f["labels"][:k], dtype=np.int64)
            f_ids = np.asarray(f["input_ids"][:k], dtype=np.int64)
            c_lab = labels[r, real]
            n_pad = int(padmask.sum())
            pad_positions += n_pad
            ps = int((labels[r, padmask] != IGNORE_INDEX).sum()) if n_pad else 0
            if ps:
                pad_supervised += ps
                pad_sup_rows.append(i)
            sup = c_lab != IGNORE_INDEX
            n_sup = int(sup.sum())
            sup_tokens += n_sup
            if n_sup == 0:
                collated_empty.append(i)
            # EOS: what the features supervise at real EOS positions vs what the batch keeps.
            f_eos = (f_ids == eos) & (f_lab != IGNORE_INDEX)
            feat_eos += int(f_eos.sum())
            m = int((f_eos & ~sup).sum())
            if m:
                masked_eos += m
                masked_eos_rows.append(i)
            row_sup_eos = int((sup & (c_lab == eos)).sum())
            sup_eos += row_sup_eos
            if i not in empty_rows and n_sup and not is_truncated(f, eos, dcfg.max_length):
                eos_checked += 1
                if row_sup_eos == 0:
                    no_eos_rows.append(i)
            # Prompt: positions the features masked but the batch supervises.
            over = int(((f_lab == IGNORE_INDEX) & sup).sum())
            if over:
                overwritten_tokens += over
                overwritten_rows.append(i)
            lead = int(np.argmax(f_lab != IGNORE_INDEX)) if (f_lab != IGNORE_INDEX).any() else k
            plen = lead if lead > 0 else min(prompt_len.get(i, len(prefix)), k)
            ps_tok = int(sup[:plen].sum())
            prompt_sup_tokens += ps_tok
            if ps_tok:
                prompt_sup_rows += 1

    checked = len(idx)
    all_empty = sorted(empty_rows | set(collated_empty))

    def rows(lst: Sequence[int]) -> list[str]:
        return [examples[i].where for i in list(lst)[:MAX_EXAMPLES]]

    stats: dict[str, Any] = {
        "rows": n, "sampled_rows": checked, "batches": batches, "batch_size": bs, "collator": dcfg.collator,
        "pad_token_id": pad, "eos_token_id": eos, "positions": positions, "padding_positions": pad_positions,
        "padding_supervised": pad_supervised, "supervised_tokens": sup_tokens, "supervised_eos": sup_eos,
        "masked_eos": masked_eos, "prompt_supervised_tokens": prompt_sup_tokens,
        "prompt_supervised_share": share(prompt_sup_tokens, sup_tokens), "prompt_mask_overwritten_rows": len(overwritten_rows),
        "rows_without_eos": len(no_eos_rows), "empty_label_rows": len(all_empty), "answer_truncated_rows": len(truncated),
        "tokenizer_checked_rows": len(with_prompt), "tokenizer_mismatch_rows": len(mismatched),
        "max_token_id": max_id, "tokenizer_size": len(tokenizer),
        "embedding_check": "skipped (needs the model; the trainer resizes embeddings to the tokenizer)",
        "tokenize_stats": tokenize_stats.to_dict() if tokenize_stats is not None else None,
    }

    # --- PAD_IS_EOS -------------------------------------------------------------------
    if pad is not None and pad == eos:
        tok_name = getattr(tokenizer, "eos_token", None)
        ev = {"count": len(masked_eos_rows), "pad_token_id": pad, "eos_token_id": eos, "token": tok_name,
              "collator": dcfg.collator, "sampled_rows": checked, "eos_labels_in_features": feat_eos,
              "eos_labels_masked_by_collator": masked_eos, "supervised_eos_in_batches": sup_eos,
              "examples": rows(masked_eos_rows)}
        if masked_eos:
            msg = T("PAD_IS_EOS.masked", token=tok_name, eos=eos, masked=masked_eos, labels=feat_eos, rows=checked)
            rec = T("PAD_IS_EOS.masked.rec")
            findings.append(finding("PAD_IS_EOS", "error", msg, ev, rec))
        else:
            msg = T("PAD_IS_EOS.kept", token=tok_name, eos=eos)
            rec = T("PAD_IS_EOS.kept.rec")
            findings.append(finding("PAD_IS_EOS", "warning", msg, ev, rec))

    # --- PAD_IN_LABELS ----------------------------------------------------------------
    if pad_supervised:
        frac = share(pad_supervised, positions)
        ev = {"count": len(pad_sup_rows), "positions": pad_supervised, "share_of_positions": frac,
              "padding_positions": pad_positions, "all_positions": positions, "sampled_rows": checked,
              "examples": rows(pad_sup_rows), "thresholds": {"audit.pad_in_labels_error": acfg.pad_in_labels_error}}
        msg = T("PAD_IN_LABELS.supervised", positions=pad_supervised, share=frac, rows=len(pad_sup_rows),
                checked=checked)
        rec = T("PAD_IN_LABELS.supervised.rec")
        findings.append(finding("PAD_IN_LABELS", "error" if frac > acfg.pad_in_labels_error else "warning", msg, ev, rec))

    # --- EOS_MISSING ------------------------------------------------------------------
    # Only rows that should end in EOS count: a row cut by max_length lost its EOS to the cut,
    # which ANSWER_TRUNCATED reports with the fix that works (a longer max_length), so data whose
    # every row is cut (long documents) gets no EOS_MISSING error telling it to append EOS.
    if checked and eos_checked and (sup_eos == 0 or no_eos_rows):
        frac = share(len(no_eos_rows), eos_checked)
        ev = {"count": len(no_eos_rows), "share": frac, "rows_checked": eos_checked, "sampled_rows": checked,
              "supervised_eos_in_batches": sup_eos, "eos_masked_by_collator": masked_eos, "eos_token_id": eos,
              "examples": rows(no_eos_rows), "thresholds": {"audit.eos_missing_warning": acfg.eos_missing_warning}}
        if sup_eos == 0:
            why = T("EOS_MISSING.masked_why") if masked_eos else ""
            msg = T("EOS_MISSING.none", batches=batches, rows=checked, why=why)
            sev = "error"
        else:
            msg = T("EOS_MISSING.some", count=len(no_eos_rows), checked=eos_checked, share=frac)
            sev = "warning" if frac > acfg.eos_missing_warning else "info"
        rec = T("EOS_MISSING.rec")
        findings.append(finding("EOS_MISSING", sev, msg, ev, rec))

    # --- PROMPT_NOT_MASKED ------------------------------------------------------------
    p_share = share(prompt_sup_tokens, sup_tokens)
    if overwritten_rows or prompt_sup_tokens:
        ev = {"count": len(overwritten_rows) if overwritten_rows else prompt_sup_rows,
              "prompt_supervised_tokens": prompt_sup_tokens, "supervised_tokens": sup_tokens,
              "prompt_share_of_supervised": p_share, "rows_with_supervised_prompt": prompt_sup_rows,
              "rows_where_collator_overwrote_mask": len(overwritten_rows), "tokens_unmasked_by_collator": overwritten_tokens,
              "sampled_rows": checked, "train_on_prompt": dcfg.train_on_prompt, "collator": dcfg.collator,
              "examples": rows(overwritten_rows or [i for i in idx if examples[i].prompt]),
              "thresholds": {"audit.prompt_share_warning": acfg.prompt_share_warning}}
        if overwritten_rows:
            msg = T("PROMPT_NOT_MASKED.overwritten", collator=dcfg.collator, rows=len(overwritten_rows),
                    checked=checked, share=p_share)
            rec = T("PROMPT_NOT_MASKED.overwritten.rec")
            findings.append(finding("PROMPT_NOT_MASKED", "error", msg, ev, rec))
        else:
            sev = "warning" if p_share > acfg.prompt_share_warning else "info"
            msg = T("PROMPT_NOT_MASKED.share", share=p_share, rows=prompt_sup_rows, checked=checked)
            rec = T("PROMPT_NOT_MASKED.share.rec")
            findings.append(finding("PROMPT_NOT_MASKED", sev, msg, ev, rec))

    # --- EMPTY_LABELS -----------------------------------------------------------------
    if all_empty:
        ev = {"count": len(all_empty), "share": share(len(all_empty), n), "rows_total": n,
              "in_features": len(empty_rows), "after_collation_in_sample": len(collated_empty), "examples": rows(all_empty)}
        msg = T("EMPTY_LABELS.rows", count=len(all_empty))
        rec = T("EMPTY_LABELS.rows.rec")
        findings.append(finding("EMPTY_LABELS", "error", msg, ev, rec))

    # --- ANSWER_TRUNCATED -------------------------------------------------------------
    if truncated:
        frac = share(len(truncated), n)
        look = truncated[:NEEDED_LENGTH_SAMPLE]
        pl = _tok(tokenizer, [examples[i].prompt for i in look])
        rl = _tok(tokenizer, [examples[i].response for i in look])
        needed = sorted(len(prefix) + len(a) + len(b) + 1 for a, b in zip(pl, rl))
        p95 = needed[min(len(needed) - 1, math.ceil(0.95 * len(needed)) - 1)]
        suggest = int(-(-p95 // 64) * 64)
        ev = {"count": len(truncated), "share": frac, "rows_total": n, "max_length": dcfg.max_length,
              "needed_length_p95": p95, "needed_length_max": needed[-1],
              "prompt_truncated": tokenize_stats.prompt_truncated if tokenize_stats else None,
              "response_truncated": tokenize_stats.response_truncated if tokenize_stats else None,
              "examples": rows(truncated), "thresholds": {"audit.truncated_warning": acfg.truncated_warning}}
        every = T("ANSWER_TRUNCATED.every") if len(truncated) == n else ""
        if any(examples[i].prompt for i in truncated):
            msg = T("ANSWER_TRUNCATED.answers", count=len(truncated), n=n, share=frac, max_length=dcfg.max_length,
                    every=every)
            shorten = T("ANSWER_TRUNCATED.shorten_answers")
        else:  # plain text: no answer, the document's tail is what is lost
            msg = T("ANSWER_TRUNCATED.texts", count=len(truncated), n=n, share=frac, max_length=dcfg.max_length,
                    every=every)
            shorten = T("ANSWER_TRUNCATED.split_texts", max_length=dcfg.max_length)
        rec = T("ANSWER_TRUNCATED.rec", suggest=suggest, shorten=shorten)
        findings.append(finding("ANSWER_TRUNCATED", "warning" if frac > acfg.truncated_warning else "info", msg, ev, rec))

    # --- TOKENIZER_MISMATCH -----------------------------------------------------------
    if mismatched:
        frac = share(len(mismatched), len(with_prompt))
        examples_ev = []
        for i, p, j in mismatched[:MAX_EXAMPLES]:
            at = next((x for x, (a, b) in enumerate(zip(p, j)) if a != b), min(len(p), len(j)))
            examples_ev.append({
                "row": examples[i].where, "prompt_end": preview(examples[i].prompt[-40:], 40),
                "prompt_tokens": tokenizer.convert_ids_to_tokens(p[max(0, at - 2): at + 2]),
                "joint_tokens": tokenizer.convert_ids_to_tokens(j[max(0, at - 2): at + 2])})
        ev = {"count": len(mismatched), "share": frac, "rows_checked": len(with_prompt), "examples": examples_ev,
              "thresholds": {"audit.tokenizer_mismatch_warning": acfg.tokenizer_mismatch_warning}}
        msg = T("TOKENIZER_MISMATCH.boundary", count=len(mismatched), checked=len(with_prompt), share=frac)
        rec = T("TOKENIZER_MISMATCH.boundary.rec")
        findings.append(finding("TOKENIZER_MISMATCH", "warning" if frac > acfg.tokenizer_mismatch_warning else "info", msg, ev, rec))
    return findings, stats
