"""What the audit's checks share: normalised text views of a split and Finding helpers.

Every check sees the same normalisation (lower case, runs of whitespace collapsed), so
"duplicate" means the same thing to DUPLICATE_EXACT, TRAIN_VAL_LEAKAGE and LOW_DIVERSITY.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import logging
import random
import re
import string
import unicodedata
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from tuneguard.data.formats import Example
from tuneguard.findings import Finding, Severity

log = logging.getLogger(__name__)

# How many example row locations a finding lists; enough to find the pattern, short
# enough to read on a phone.
MAX_EXAMPLES = 10

SEP = "\x1f"  # between prompt and response in a whole-example key
# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, Japanese kana, CJK.
_SCRIPTS = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x3400, 0x4DBF),
            (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# ASCII punctuation, and the punctuation of the scripts written without spaces (。，、「」 and the
# fullwidth forms, Thai ๚, Khmer ។, Myanmar ။): "好。" and "好" are one word.
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "".join(
    chr(c) for a, b in (*_SCRIPTS[:3], (0x3000, 0x303F), (0xFF00, 0xFF65))
    for c in range(a, b + 1) if unicodedata.category(chr(c)).startswith("P"))})


def normalise(text: str) -> str:
    """Lower case, whitespace runs collapsed to one space, ends stripped."""
    return " ".join(text.lower().split())


def words(normalised: str) -> list[str]:
    """Words of a normalised text, punctuation dropped ("yes." and "yes" are one word).

    Runs of a script written without spaces (Thai, Lao, Khmer, Myanmar, CJK, kana) are cut
    into pseudo-words (`_unspaced_words`); other words of a mixed text ("ไฟล์ PDF") stay words.
    Every measure that counts words, n-grams of words or shared words uses this, so its
    threshold means the same on Thai as on English.
    """
    text = normalised.translate(_PUNCT)
    if text.isascii() or not _UNSPACED.search(text):
        return text.split()
    out: list[str] = []
    for run in _RUN.findall(text):
        if _UNSPACED.match(run):
            out.extend(_unspaced_words(run))
        else:
            out.append(run)
    return out


_CHARS = "".join(f"{chr(a)}-{chr(b)}" for a, b in _SCRIPTS)
_UNSPACED = re.compile(f"([{_CHARS}])")
_RUN = re.compile(f"[{_CHARS}]+|[^\\s{_CHARS}]+")
# A character cluster: a base character with its combining marks (vowel signs, tone marks, a
# Khmer or Myanmar stacked consonant), a Thai/Lao vowel written before its consonant and one
# written after it (ะ า ำ) kept with it, so that a cluster is the smallest unit a word boundary
# can fall around (close to the Thai Character Cluster of Theeramunkong et al.).
_MARKS = "".join(chr(c) for a, b in _SCRIPTS for c in range(a, b + 1) if unicodedata.category(chr(c)) in ("Mn", "Mc"))
_CLUSTER = re.compile(f"[\u0e40-\u0e44\u0ec0-\u0ec4]*[{_CHARS}]"
                      f"(?:[\u17d2\u1039][{_CHARS}]|[{re.escape(_MARKS)}])*[\u0e30\u0e32\u0e33\u0eb0\u0eb2\u0eb3]?")
# Clusters per pseudo-word on average: 3, and 2 for a CJK ideograph (about a word on its own).
# Measured on LibreOffice's messages (English msgid against the translation): Thai (12,291
# messages) 1.21 pseudo-words per English word and distinct-2 0.49 (0.46 on 10,276 Firefox
# strings), Chinese (18,790) 1.08 and 0.60, Japanese (16,955) 1.34 and 0.50, against 0.40-0.44
# for the English words; single clusters give Thai 3.1 per English word and distinct-2 0.13, which would
# call any Thai text templated.
_CLUSTERS_PER_WORD = 3
_IDEOGRAPHS_PER_WORD = 2


@functools.lru_cache(maxsize=1 << 16)
def _ends_word(before: str, cluster: str, per_word: int) -> bool:
    """Whether a pseudo-word ends after `cluster` (following `before`): decided by the two
    clusters alone, so a text cuts the same wherever it occurs, and an edit or an inserted
    value moves the cuts only next to it (as a changed word does in English)."""
    return zlib.crc32(f"{before}|{cluster}".encode()) % per_word == 0


@functools.lru_cache(maxsize=1 << 16)
def _unspaced_words(run: str) -> tuple[str, ...]:
    """Pseudo-words of a run of an unspaced script, about one word each (see _CLUSTERS_PER_WORD).

    Why not a dictionary segmenter: none is installed, and the audit needs units whose counts
    and n-gram diversity match English words, not a correct reading of the text. Cached: the
    same runs (phrases between spaces, canned replies) recur across rows.
    """
    out: list[str] = []
    word, before = "", ""
    for cluster in _CLUSTER.findall(run):
        word += cluster
        if _ends_word(before, cluster, _IDEOGRAPHS_PER_WORD if cluster >= "\u3400" else _CLUSTERS_PER_WORD):
            out.append(word)
            word = ""
        before = cluster
    if word:
        out.append(word)
    return tuple(out)


def shingle_words(normalised: str) -> list[str]:
    """`words`, with each character of a script written without spaces as a word of its own.

    Why: a Thai or Chinese sentence has no spaces, so a whole clause would be one word and a
    near copy with one character changed would share almost no word n-gram with its original
    (5 of 40 such Thai copies were found); character n-grams are the usual unit for these
    scripts. Only the near-duplicate shingles use this: distinct-n over characters would make
    any Thai text look templated to LOW_DIVERSITY.
    """
    if normalised.isascii():
        return words(normalised)
    return _UNSPACED.sub(r" \1 ", normalised).translate(_PUNCT).split()


@dataclasses.dataclass
class SplitText:
    """One split as the text checks see it: examples plus their normalised prompt/response."""

    name: str
    examples: list[Example]
    prompts: list[str]
    responses: list[str]

    @classmethod
    def build(cls, name: str, examples: Sequence[Example]) -> SplitText:
        ex = list(examples)
        with no_gc():
            prompts = [normalise(e.prompt) for e in ex]
            responses = [normalise(e.response) for e in ex]
        return cls(name, ex, prompts, responses)

    def __len__(self) -> int:
        return len(self.examples)

    def keys(self) -> list[str]:
        """Whole-example keys: prompt and response kept apart by a separator, so moving a
        word across the boundary makes a different example."""
        return [p + SEP + r for p, r in zip(self.prompts, self.responses, strict=False)]

    def where(self, i: int) -> str:
        return self.examples[i].where


def trained_responses(train: SplitText) -> list[str]:
    """Each row's supervised text, normalised: its response, or for a multi-turn chat under
    data.chat_turns all (Example.segments) every trained assistant turn joined in order. What a
    row teaches is judged on this (the task's shape, LOW_DIVERSITY): a courtesy reply closing
    most conversations is not a template when the answers before it are trained too."""
    if not any(e.segments for e in train.examples):
        return train.responses
    return [normalise(" ".join(t for t, sup in e.segments if sup)) if e.segments else r
            for e, r in zip(train.examples, train.responses, strict=True)]


def seeded_sample(n: int, k: int, seed: int) -> list[int] | None:
    """Sorted indices of a seeded sample of k of n items, or None when k >= n (use all)."""
    if k >= n:
        return None
    return sorted(random.Random(seed).sample(range(n), k))


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small lists.

    Why: building word lists for 100k rows allocates millions of containers, and the
    collector's generation scans then cost about as much as the work itself (measured: 2.0 s
    vs 0.9 s for 100k rows). Nothing allocated here forms reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def pct(x: float) -> str:
    return f"{x:.1%}" if x >= 0.001 or x == 0 else f"{x:.2%}"


def finding(code: str, severity: Severity, message: dict[str, Any], evidence: dict[str, Any],
            recommendation: dict[str, Any]) -> Finding:
    """An audit finding whose message and recommendation are catalog specs (tuneguard.catalog)."""
    return Finding.said(code, severity, message, recommendation, evidence, step=None, source="audit")


def preview(text: str, width: int = 80) -> str:
    """One line of a text for evidence: newlines shown as spaces, cut to `width`."""
    t = " ".join(text.split())
    return t if len(t) <= width else t[: width - 1] + "…"
