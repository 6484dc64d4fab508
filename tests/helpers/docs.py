"""What a user copies from README.md and docs/*.md, read the way tests/test_docs_examples.py
checks it: commands in code blocks (fenced or indented), synopsis lines, `--set` flags, YAML
snippets, finding codes and repository paths.

Markdown is parsed with markdown-it (Rich's own dependency), so an indented list continuation
is not mistaken for a code block. A doc marks a code block it shows on purpose although it
cannot run with `<!-- docs-example: not-runnable REASON -->` on the line before the block.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUNNABLE = re.compile(r"<!--\s*docs-example:\s*not-runnable\s+(\S.*?)\s*-->")
SEPARATORS = {"&&", "||", ";", "|", "&"}
# Paths a command names inside the repository: they must exist.
REPO_DIRS = ("bench/", "scripts/", "configs/", "notebooks/", "tests/", "docs/")


@dataclasses.dataclass(frozen=True)
class Example:
    """One thing a user may copy: where it is (doc, line), and its text."""

    doc: str
    line: int
    text: str
    kind: str  # "block" (a code block's command line), "yaml", "inline" (a code span)

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def code_blocks(path: Path) -> Iterator[tuple[int, str, str, bool]]:
    """(first line of the content, info string, content, marked not runnable) per code block."""
    lines = path.read_text("utf-8").splitlines()
    for tok in _markdown().parse(path.read_text("utf-8")):
        if tok.type not in ("fence", "code_block") or tok.map is None:
            continue
        start = tok.map[0]
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        first = start + (2 if tok.type == "fence" else 1)
        yield first, tok.info.strip(), tok.content, bool(NOT_RUNNABLE.search(before))


def _logical_lines(content: str, first: int) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, and a usage line's indented `[--option]`
    continuation too; in a block that shows a session (`$ cmd` followed by output) only the
    `$` lines are commands."""
    raw = content.splitlines()
    session = any(ln.startswith("$ ") for ln in raw)
    out: list[tuple[int, str]] = []
    pending, start = "", first
    for i, ln in enumerate(raw):
        if not pending:
            start = first + i
            if session:
                if not ln.startswith("$ "):
                    continue
                ln = ln[2:]
            if out and re.match(r"\s+\[", ln) and is_usage_line(out[-1][1]):
                out[-1] = (out[-1][0], out[-1][1] + " " + ln.strip())
                continue
        if ln.rstrip().endswith("\\"):
            pending += ln.rstrip()[:-1] + " "
            continue
        out.append((start, pending + ln))
        pending = ""
    return out


def is_usage_line(text: str) -> bool:
    """A usage line (`tuneguard plan CONFIG [--calibrate N] [--json]`): options in brackets."""
    return bool(re.search(r"\[-|\]\.\.\.|\[[A-Z]|\[same", text))


def code_examples() -> list[Example]:
    """Every command line of every code block, and every YAML block, of every doc."""
    out: list[Example] = []
    for path in DOCS:
        doc = path.relative_to(ROOT).as_posix()
        for first, info, content, skipped in code_blocks(path):
            if skipped:
                continue
            if info in ("yaml", "yml"):
                out.append(Example(doc, first, content, "yaml"))
                continue
            out.extend(Example(doc, n, text, "block") for n, text in _logical_lines(content, first) if text.strip())
    return out


def inline_examples() -> list[Example]:
    """Every inline code span of every doc (tables included)."""
    out: list[Example] = []
    for path in DOCS:
        doc = path.relative_to(ROOT).as_posix()
        for tok in _markdown().parse(path.read_text("utf-8")):
            if tok.type != "inline" or tok.map is None:
                continue
            out.extend(Example(doc, tok.map[0] + 1, c.content, "inline")
                       for c in tok.children or [] if c.type == "code_inline")
    return out


def prose(path: Path) -> str:
    """A doc's text outside code blocks."""
    lines = path.read_text("utf-8").splitlines()
    for tok in _markdown().parse(path.read_text("utf-8")):
        if tok.type in ("fence", "code_block") and tok.map is not None:
            for i in range(*tok.map):
                lines[i] = ""
    return "\n".join(lines)


def split_commands(text: str) -> list[list[str]]:
    """A shell line -> its simple commands' words (comments dropped, `&&`, `|`, `;` split),
    each without leading VAR=value assignments."""
    lex = shlex.shlex(text, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    commands: list[list[str]] = [[]]
    for word in lex:
        if word in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    out = []
    for words in commands:
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
            words = words[1:]
        if words:
            out.append(words)
    return out


def tuneguard_args(words: list[str]) -> list[str] | None:
    """The arguments after the `tuneguard` program in a command (`tuneguard`, `.venv/bin/tuneguard`,
    `python -m tuneguard`, `torchrun ... -m tuneguard`), or None when it runs something else."""
    if Path(words[0]).name == "tuneguard":
        return words[1:]
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "tuneguard":
            return words[i + 2:]
    return None


def is_synopsis(words: list[str]) -> bool:
    """Words of a usage line (`plan CONFIG [--calibrate N] ...`), not a command to run."""
    return any(w.startswith("[") or w.endswith("...") or (w.endswith("]") and "[" not in w) for w in words)


def repo_paths(words: list[str]) -> list[str]:
    """The words of a command that name a file or folder of this repository."""
    return [w.split("::")[0].rstrip(":,.;)") for w in words
            if w.startswith(REPO_DIRS) and not any(c in w for c in "*?[")]
