"""The sentence rule of Thai messages: English only for code names, config keys, commands,
paths, numbers, the user's own text and the terms docs/THAI.md keeps in English."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THAI = re.compile("[\u0e00-\u0e7f]")


def kept_in_english() -> set[str]:
    """The words docs/THAI.md keeps in English (lower case, one word each)."""
    text = (ROOT / "docs" / "THAI.md").read_text("utf-8")
    block = text.split("<!-- kept-in-English: begin -->")[1].split("<!-- kept-in-English: end -->")[0]
    words: set[str] = set()
    for line in block.splitlines():
        for term in line.lstrip("- ").split(","):
            words.update(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_\-]*", term))
    return words


# What may stay English inside a Thai sentence (DESIGN: code names, config keys, commands,
# paths, numbers), removed before the words that remain are judged.
ALLOWED = [
    re.compile(r"`[^`]*`"),  # commands and code in backticks
    re.compile(r"'[^']*'"),  # the user's data, quoted verbatim ('Hello there, friend.')
    re.compile(r"\btuneguard\s+\S+.*$"),  # a command to type ends its line
    re.compile(r"(?:--\w[\w-]*)(?:[ =]\S+)?"),  # options: --force, --set k=v
    re.compile(r"\S+/\S*"),  # paths and file:line
    re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b"),  # finding codes
    re.compile(r"\b[a-z_0-9]+(?:\.[a-z_0-9]+)+: \w+"),  # config settings: data.task: extraction
    re.compile(r"\b[a-z_0-9]+(?:\.[a-z_0-9]+)+\b"),  # config keys: data.pad_token
    re.compile(r"\bfile:line\b"),  # where a row is
    re.compile(r"\S+=\S*"),  # key=value evidence
    re.compile(r"\b\w+_\w+\b"),  # identifiers: max_final_gap, attention_mask
    re.compile(r"[-+]?\d[\d,.]*(?:e[-+]?\d+)?%?"),  # numbers
    re.compile(r"\b(?:builtin:)?tiny-gptj\b"),  # the model's name
]


def english_sentences(body: str, allowed_words: set[str]) -> list[str]:
    """The sentences of `body` with English beyond what a Thai engineer keeps in English:
    two or more words in a row that are not allowed terms."""
    bad = []
    for line in body.splitlines():
        for sentence in re.split(r"(?<=[.;:!?])\s+|\s{2,}", line):
            rest = sentence
            for pattern in ALLOWED:
                rest = pattern.sub(" ", rest)
            # Two English words in a row (nothing Thai between them) that are not kept terms.
            run = 0
            for w in re.findall(r"[A-Za-z][A-Za-z0-9_\-']*|[\u0e00-\u0e7f]+", rest):
                run = 0 if THAI.match(w) or w.lower() in allowed_words else run + 1
                if run >= 2:
                    bad.append(sentence)
                    break
    return bad
