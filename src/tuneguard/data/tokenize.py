"""Tokenization with correct labels, because the wrong version is what silently ruins runs.

- Labels only on the response: prompt tokens are -100 unless `train_on_prompt`. A multi-turn
  chat row under data.chat_turns all also supervises the earlier assistant turns inside its
  prompt (Example.segments), each cut from the same whole-text tokenization as the response.
- EOS is appended to every example and supervised, so the model learns to stop.
- Truncation shortens the prompt (from its middle, keeping the instruction's start and the
  response header) before it touches the response, and counts what was cut.
- The prompt and the response are cut from the tokenization of the whole text, so the
  response has the tokens it has in context: tokenized alone, a SentencePiece tokenizer
  (Llama 2, Mistral, TinyLlama) starts it with a word-start marker ("▁The") that it never
  has after the prompt's newline ("The"), and the model would learn tokens it never sees.
  Where a token straddles the boundary, it goes to the response, with the tokens of a
  character it shares (_cut, decided on decoded text: offsets are wrong for byte-level BPE).
  The audit checks that the prompt tokenized alone, as generation feeds it, is the start of
  the whole (TOKENIZER_MISMATCH): on a straddling row it is not, and generation feeds the
  model a prompt end that training never showed it.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tuneguard.data.formats import Example
from tuneguard.data.token_rows import TokenRows

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
PROGRESS_EVERY_S = 15.0
BATCH = 1000
WINDOW = 8  # _cut: tokens decoded before the point where prompt and prompt + response part
ONLY_IDS = {"add_special_tokens": False, "return_attention_mask": False, "return_token_type_ids": False}


@dataclasses.dataclass
class TokenizeStats:
    examples: int = 0
    prompt_truncated: int = 0
    response_truncated: int = 0
    rows_truncated: int = 0  # rows cut at all: a row whose prompt and answer were both cut counts once
    tokens_cut: int = 0
    empty_labels: int = 0
    supervised_tokens: int = 0
    total_tokens: int = 0
    # Chat rows under data.chat_turns all: rows that supervise earlier assistant turns too, how
    # many such turns (beyond the last answers), and multi-turn rows that supervise only their
    # last answer because the chat template is not prefix-consistent (Example.fallback).
    multi_turn_rows: int = 0
    earlier_turns: int = 0
    turns_fallback: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def special_prefix(tokenizer: Any) -> list[int]:
    """Tokens the tokenizer puts before text by itself (a BOS), found by asking it."""
    with_sp = tokenizer("a", add_special_tokens=True)["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    if without and len(with_sp) > len(without) and with_sp[-len(without):] == without:
        return list(with_sp[: len(with_sp) - len(without)])
    if without and with_sp[: len(without)] == without:
        return []
    return list(with_sp[:1]) if with_sp and with_sp[0] == getattr(tokenizer, "bos_token_id", None) else []


def with_prefix(prefix: list[int], ids: list[int]) -> list[int]:
    """`ids` after the tokenizer's own leading special tokens, unless the text already starts
    with them: chat templates such as Llama 3's and Gemma's write `{{ bos_token }}` into the
    text, and a second BOS in front gives every example a start the model never saw."""
    if prefix and list(ids[: len(prefix)]) == prefix:
        return list(ids)
    return prefix + list(ids)


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    """A prompt's ids exactly as training saw them (BOS and the like included once), for
    generation: a prompt fed without the BOS the model was fine-tuned after is a mismatch."""
    return with_prefix(special_prefix(tokenizer), tokenizer(text, **ONLY_IDS)["input_ids"])


def _cut_flags(flags: list[bool], head_end: int, tail_start: int) -> list[bool]:
    """`flags` of the prompt tokens kept when [head_end, tail_start) is cut out of its middle.

    A supervised turn whose start was cut keeps its tail as context, not as a target: those
    tokens would be learned after text they never follow (the model sees the conversation's
    start, then half an answer)."""
    tail = list(flags[tail_start:])
    if tail_start > 0 and flags[tail_start - 1]:
        k = 0
        while k < len(tail) and tail[k]:
            tail[k] = False
            k += 1
    return list(flags[:head_end]) + tail


def build_example(prompt_ids: list[int], response_ids: list[int], max_length: int,
                  train_on_prompt: bool, stats: TokenizeStats, prefix_len: int = 0,
                  supervised: list[bool] | None = None) -> dict[str, Any]:
    """Concatenate, truncate (prompt first), and label one example. `supervised`: which
    prompt tokens are labelled too (the earlier assistant turns of a chat row); they are cut
    with the prompt, so the rule that spares the response holds for multi-turn rows as well."""
    flags = list(supervised) if supervised is not None else [False] * len(prompt_ids)
    overflow = len(prompt_ids) + len(response_ids) - max_length
    if overflow > 0:
        stats.rows_truncated += 1
        body = len(prompt_ids) - prefix_len
        # Keep at least a quarter of the budget for the prompt so the model still sees
        # what it answers; cut the middle of the prompt body.
        min_keep = min(body, max(max_length // 4, 0))
        cut_prompt = min(overflow, max(body - min_keep, 0))
        if cut_prompt:
            keep = body - cut_prompt
            head = keep // 2
            tail = keep - head
            flags = _cut_flags(flags, prefix_len + head, len(prompt_ids) - tail if tail else len(prompt_ids))
            prompt_ids = prompt_ids[: prefix_len + head] + (prompt_ids[len(prompt_ids) - tail:] if tail else [])
            stats.prompt_truncated += 1
            stats.tokens_cut += cut_prompt
        overflow -= cut_prompt
        if overflow > 0:
            response_ids = response_ids[: max(len(response_ids) - overflow, 0)]
            stats.response_truncated += 1
            stats.tokens_cut += overflow
            if len(prompt_ids) > max_length:
                prompt_ids, flags = prompt_ids[:max_length], flags[:max_length]
    input_ids = list(prompt_ids) + list(response_ids)
    if train_on_prompt:
        labels = list(input_ids)
    elif supervised is None:  # the whole prompt masked (every row but multi-turn chats)
        labels = [IGNORE_INDEX] * len(prompt_ids) + list(response_ids)
    else:
        labels = [t if sup else IGNORE_INDEX for t, sup in zip(prompt_ids, flags, strict=True)] + list(response_ids)
    n_sup = len(labels) - labels.count(IGNORE_INDEX)
    stats.examples += 1
    stats.supervised_tokens += n_sup
    stats.total_tokens += len(input_ids)
    if n_sup == 0:
        stats.empty_labels += 1
    return {"input_ids": input_ids, "labels": labels, "length": len(input_ids)}


def _decoded(tokenizer: Any, ids: list[int]) -> str:
    """`ids` as text, nothing dropped or tidied (special tokens kept, spaces not cleaned up)."""
    return str(tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False))


def _cut(tokenizer: Any, prompt_ids: list[int], joint_ids: list[int]) -> int:
    """How many of `joint_ids` (prompt + response tokenized together) are the prompt's: the
    most whose text is the start of the prompt's text, so every token that holds a byte of
    the response (the model must produce it) is the response's.

    Decided on decoded text, not on the fast tokenizers' character offsets, which are wrong
    here twice: byte-level BPE gives each token of a multi-byte character the whole
    character's offsets (a Thai or CJK token that ends with the first byte of the answer's
    first character would leave half a character in the prompt), and a ByteLevel
    post-processor with trim_offsets drops a token's spaces from its offsets (a newline-space token
    would stay in the prompt with the answer's first space). Slow tokenizers have no offsets
    at all. Starts where the two tokenizations part (the straddling token is nearly always
    the next one), so a row costs two or three decodes, each of a few tokens: both sides are
    decoded from WINDOW tokens before that point, where they are still the same tokens (so
    the same text, half characters and stripped spaces included); a cut further back decodes
    from the start."""
    part = next((k for k, (a, b) in enumerate(zip(prompt_ids, joint_ids, strict=False)) if a != b),
                min(len(prompt_ids), len(joint_ids)))
    window = max(0, part - WINDOW)
    texts: dict[int, str] = {}

    def inside(k: int) -> bool:  # half a character decodes to U+FFFD, which is not the prompt's
        start = window if k > window else 0
        if start not in texts:
            texts[start] = _decoded(tokenizer, prompt_ids[start:])
        return texts[start].startswith(_decoded(tokenizer, joint_ids[start:k]))

    n = part
    while n > 0 and not inside(n):
        n -= 1
    while n < len(joint_ids) and inside(n + 1):
        n += 1
    return n


def pair_tokens(tokenizer: Any, prompts: list[str], responses: list[str]) -> list[tuple[list[int], list[int], int]]:
    """(the prompt tokenized alone, prompt + response tokenized together, how many of the
    latter are the prompt's) of each pair. Where the prompt's own tokens start the joint
    tokenization (nearly every row) they are the prompt's; where a token straddles the
    boundary (_cut) it goes to the response with any token that shares a character with it,
    so the model must produce every byte of the response and the prompt's tokens decode to the
    prompt's start. The audit reads the same triples (TOKENIZER_MISMATCH: the first is not the
    start of the second; the prompt length; the length a row needs)."""
    joint = [p + r for p, r in zip(prompts, responses, strict=False)]
    p_ids = tokenizer(prompts, **ONLY_IDS)["input_ids"]
    j_ids = tokenizer(joint, **ONLY_IDS)["input_ids"]
    out: list[tuple[list[int], list[int], int]] = []
    for p, j in zip(p_ids, j_ids, strict=False):
        p, j = list(p), list(j)
        out.append((p, j, len(p) if j[: len(p)] == p else _cut(tokenizer, p, j)))
    return out


def _boundaries(examples: list[Example]) -> list[tuple[int, int, bool]]:
    """(example index, character offset, whether the piece before it is supervised) of every
    boundary between two pieces inside each example's prompt (Example.segments)."""
    out: list[tuple[int, int, bool]] = []
    for k, e in enumerate(examples):
        at = 0
        for text, sup in e.segments:
            at += len(text)
            if at >= len(e.prompt):
                break
            out.append((k, at, sup))
    return out


def prompt_flags(tokenizer: Any, examples: list[Example], pairs: list[tuple[list[int], list[int], int]]
                 ) -> dict[int, list[bool]]:
    """Which of each multi-turn chat row's prompt tokens (pair_tokens' joint tokens before the
    cut) are supervised, by row index; rows without segments are absent.

    Each boundary between pieces is placed like the prompt/response cut: at the joint tokens
    that spell the text before it. Nearly always a token ends exactly there, which the fast
    tokenizers' offsets point at and a decode confirms (_spelled_cuts); otherwise that text is
    tokenized alone and cut as the prompt is (_cut): a token that straddles the start of an
    answer goes to the answer, and one that straddles its end stays with it, so the model is
    trained on every byte of every answer."""
    bounds = _boundaries(examples)
    if not bounds:
        return {}
    by_row: dict[int, list[int]] = {}
    for k, at, _ in bounds:
        by_row.setdefault(k, []).append(at)
    cuts = _spelled_cuts(tokenizer, examples, pairs, by_row)
    slow = [b for b in bounds if b[0] not in cuts]
    pre_ids = tokenizer([examples[k].prompt[:at] for k, at, _ in slow], **ONLY_IDS)["input_ids"] if slow else []
    for (k, _, ends_answer), pre in zip(slow, pre_ids, strict=True):
        pre, (_, joint, cut) = list(pre), pairs[k]
        if joint[: len(pre)] == pre:
            n = len(pre)
        else:
            n = _cut(tokenizer, pre, joint)
            if ends_answer:  # up to the token that holds the answer's last byte (rare: a straddle)
                text = _decoded(tokenizer, pre)
                while n < cut and not _decoded(tokenizer, joint[:n]).startswith(text):
                    n += 1
        cuts.setdefault(k, []).append(min(n, cut))
    out: dict[int, list[bool]] = {}
    for k, ns in cuts.items():
        kinds = [sup for _, sup in examples[k].segments]
        edges = [0, *ns, pairs[k][2]]
        flags: list[bool] = []
        for i in range(len(edges) - 1):
            flags += [kinds[i]] * max(edges[i + 1] - max(edges[i], len(flags)), 0)
        out[k] = flags
    return out


def _spelled_cuts(tokenizer: Any, examples: list[Example], pairs: list[tuple[list[int], list[int], int]],
                  by_row: dict[int, list[int]]) -> dict[int, list[int]]:
    """The boundaries (character offsets in `by_row`) of the rows where each falls exactly
    between two joint tokens, as token counts. Why not tokenize the text before each boundary,
    as the prompt's end is found: a 6-turn row has 11 boundaries, and tokenizing that many
    prefixes made tokenization 6 times slower. The offsets only propose the count (they are
    wrong in places, see _cut); it is kept only where the tokens since the previous boundary
    decode to the text between the two, so a row with any doubt takes the exact path."""
    if not getattr(tokenizer, "is_fast", False):
        return {}
    rows = list(by_row)
    enc = tokenizer([examples[k].prompt + examples[k].response for k in rows], return_offsets_mapping=True,
                    **ONLY_IDS)
    out: dict[int, list[int]] = {}
    for k, ids, offsets in zip(rows, enc["input_ids"], enc["offset_mapping"], strict=True):
        joint, cut = pairs[k][1], pairs[k][2]
        if list(ids) != joint:
            continue
        ends = [e for _, e in offsets]
        text, ns, prev_n, prev_at = examples[k].prompt, [], 0, 0
        for at in by_row[k]:
            n = bisect.bisect_right(ends, at, lo=prev_n)
            if n > cut or not _spells(tokenizer, joint, prev_n, n, text[prev_at:at]):
                break
            ns.append(n)
            prev_n, prev_at = n, at
        else:
            out[k] = ns
    return out


def _spells(tokenizer: Any, ids: list[int], start: int, end: int, text: str) -> bool:
    """Whether ids[start:end] decode to `text` where they stand: decoded after up to WINDOW
    tokens before them and that context's own decoding removed, as a streaming detokenizer
    does, so that a decoder that treats a text's first token apart (SentencePiece drops its
    leading space) reads them as it does inside the whole."""
    if end <= start:
        return not text
    a = max(start - WINDOW, 0)
    head = _decoded(tokenizer, ids[a:start]) if start > a else ""
    body = _decoded(tokenizer, ids[a:end])
    return body.startswith(head) and body[len(head):] == text


def split_tokens(tokenizer: Any, prompts: list[str], responses: list[str]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) of each pair, the response's as they are in the tokenization
    of prompt + response (pair_tokens)."""
    return [(j[:cut], j[cut:]) for _, j, cut in pair_tokens(tokenizer, prompts, responses)]


def masked_prompt_length(prefix: list[int], prompt_ids: list[int], response_ids: list[int], eos: int,
                         max_length: int, supervised: list[bool] | None = None) -> int:
    """How many tokens of a training row are its prompt's once truncation (prompt first) is
    done: what the labels mask without data.train_on_prompt, for the audit to count the
    prompt tokens a train_on_prompt run supervises. `supervised` (prompt_flags): the earlier
    assistant turns of a chat row, which are not prompt, so not counted."""
    full = with_prefix(prefix, prompt_ids)
    flags = None if supervised is None else [False] * (len(full) - len(prompt_ids)) + list(supervised)
    ex = build_example(full, response_ids + [eos], max_length, False, TokenizeStats(), prefix_len=len(prefix),
                       supervised=flags)
    return sum(lab == IGNORE_INDEX for lab in ex["labels"])


def _earlier_turns(e: Example) -> int:
    """The supervised pieces of a row's segments that end inside its prompt."""
    n, at = 0, 0
    for text, sup in e.segments:
        at += len(text)
        n += sup and at <= len(e.prompt)
    return n


class Progress:
    """Says how far a long loop has come, at most once every `every_s` seconds, so that
    tokenizing a 200,000-row file does not leave the terminal silent for minutes; a loop
    that ends sooner says nothing. A `total` of 0: not known (rows tokenized as they are read)."""

    def __init__(self, what: str, total: int, every_s: float = PROGRESS_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.total, self.every_s, self.clock = what, total, every_s, clock
        self.start = self.last = clock()

    def update(self, done: int) -> None:
        now = self.clock()
        if now - self.last >= self.every_s and self.total <= 0:  # a source tokenized as it is read: no total yet
            self.last = now
            log.info("tokenized %s %s so far", f"{done:,}", self.what)
        elif now - self.last >= self.every_s and done < self.total:
            self.last = now
            rate = done / max(now - self.start, 1e-9)
            left = (self.total - done) / rate if rate > 0 else 0.0
            log.info("tokenized %s of %s %s (%.0f%%), about %.0f s left", f"{done:,}", f"{self.total:,}", self.what,
                     100 * done / self.total, left)


def tokenize_examples(tokenizer: Any, examples: list[Example], max_length: int,
                      train_on_prompt: bool = False, progress: Progress | None = None
                      ) -> tuple[TokenRows, TokenizeStats]:
    """Tokenize examples in batches (fast tokenizers run batches in Rust); the rows come packed
    (TokenRows: 4 bytes a token, not the lists' 23), each batch's lists dropped once packed."""
    stats = TokenizeStats()
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; set one (tokenizer.eos_token) before training")
    return TokenRows.build(_tokenized(tokenizer, examples, max_length, train_on_prompt, stats, progress)), stats


def _tokenized(tokenizer: Any, examples: list[Example], max_length: int, train_on_prompt: bool,
               stats: TokenizeStats, progress: Progress | None) -> Iterator[dict[str, Any]]:
    """Each example's features (build_example), a batch of examples tokenized at a time."""
    prefix = special_prefix(tokenizer)
    eos = tokenizer.eos_token_id
    for start in range(0, len(examples), BATCH):
        chunk = examples[start: start + BATCH]
        # Only the ids: building attention masks as Python lists nearly doubles the time.
        pairs = pair_tokens(tokenizer, [e.prompt for e in chunk], [e.response for e in chunk])
        flags = prompt_flags(tokenizer, chunk, pairs)
        for k, (e, (_, j, cut)) in enumerate(zip(chunk, pairs, strict=True)):
            p = with_prefix(prefix, j[:cut])
            sup = flags.get(k)
            if sup is not None:
                sup = [False] * (len(p) - cut) + sup
                stats.multi_turn_rows += 1
                stats.earlier_turns += _earlier_turns(e)
            stats.turns_fallback += bool(e.fallback)
            yield build_example(p, j[cut:] + [eos], max_length, train_on_prompt, stats,
                                prefix_len=len(prefix), supervised=sup)
        if progress is not None:
            progress.update(start + len(chunk))


STAT_FIELDS = tuple(f.name for f in dataclasses.fields(TokenizeStats))


def tokenize_with_row_stats(tokenizer: Any, examples: list[Example], max_length: int,
                            train_on_prompt: bool = False) -> tuple[TokenRows, np.ndarray]:
    """tokenize_examples' packed rows, and what each row added to TokenizeStats (a row of
    STAT_FIELDS each, int32): a source tokenized as it is read is split into train and validation
    afterwards, and a split's stats are then the sums of its rows (`stats_of`)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; set one (tokenizer.eos_token) before training")
    stats = TokenizeStats()
    per_row: list[tuple[int, ...]] = []

    def rows() -> Iterator[dict[str, Any]]:
        prev = (0,) * len(STAT_FIELDS)
        for f in _tokenized(tokenizer, examples, max_length, train_on_prompt, stats, None):
            now = tuple(getattr(stats, n) for n in STAT_FIELDS)
            per_row.append(tuple(a - b for a, b in zip(now, prev, strict=True)))
            prev = now
            yield f

    packed = TokenRows.build(rows())
    return packed, np.asarray(per_row, dtype=np.int32).reshape(len(per_row), len(STAT_FIELDS))


def stats_of(row_stats: np.ndarray) -> TokenizeStats:
    """The TokenizeStats of rows from their tokenize_with_row_stats rows (summed)."""
    sums = row_stats.sum(axis=0, dtype=np.int64) if len(row_stats) else [0] * len(STAT_FIELDS)
    return TokenizeStats(**{n: int(v) for n, v in zip(STAT_FIELDS, sums, strict=True)})
