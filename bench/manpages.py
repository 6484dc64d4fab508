"""Manual pages (roff) as text for the benches: a page's NAME summary and its DESCRIPTION
paragraphs, shared by bench/diagnosis.py and bench/shapes.py.

Hand-written because no installed library reads roff into paragraphs (man -Tutf8 | col needs
groff at run time and renders tables and examples as text we leave out). The parser keeps the
text of plain lines and of font macros (.B, .IR ...), drops comments and requests, leaves out
tables and examples (.TS/.TE, .nf/.fi, .EX/.EE), and ends a paragraph at a break request
(.PP, .TP, .SH ...). A paragraph belongs to the section it was written in: it is closed before
a new section heading takes effect, so the NAME line never becomes a DESCRIPTION paragraph and
the last DESCRIPTION paragraph is kept when the next section starts.
"""

from __future__ import annotations

import dataclasses
import gzip
import re
from pathlib import Path

_ESC = [(re.compile(r"\\f(\(..|\[[^]]*\]|.)"), ""), (re.compile(r"\\\[aq\]"), "'"), (re.compile(r"\\\[(em|en)\]"), "-"),
        (re.compile(r"\\\(em|\\\(en"), "-"), (re.compile(r"\\\[[^]]*\]|\\\(..|\\\*\(..|\\\*."), ""),
        (re.compile(r"\\-"), "-"), (re.compile(r"\\e"), "\\"), (re.compile(r"\\&|\\:|\\%|\\/|\\,|\\\||\\\^"), ""),
        (re.compile(r"\\s[-+]?\d"), ""), (re.compile(r"\\ "), " "), (re.compile(r'\\"'), "")]
_BREAK = re.compile(r"^\.(PP|P|LP|TP|IP|SH|SS|HP|RS|RE|in|sp|br)\b")
_FONT = re.compile(r"^\.(B|I|BR|IR|RB|RI|BI|IB|SM|SB|UR|MT)\s+(.*)$")


def unroff(text: str) -> str:
    """roff escapes removed (fonts, special characters, sizes), whitespace collapsed."""
    for pat, rep in _ESC:
        text = pat.sub(lambda _m, r=rep: r, text)
    return " ".join(text.split())


@dataclasses.dataclass
class Page:
    name: str
    section: str
    summary: str  # the NAME line after " - ": one sentence saying what the page is about
    paragraphs: list[str]  # DESCRIPTION, one text per paragraph

    @property
    def description(self) -> str:
        return " ".join(self.paragraphs)


def sections(raw: str) -> dict[str, list[str]]:
    """Section heading (upper case) -> its paragraphs of text, tables and examples left out."""
    out: dict[str, list[str]] = {}
    cur: list[str] = []
    section: str | None = None
    skip = False

    def close() -> None:
        if cur and section is not None:
            out.setdefault(section, []).append(unroff(" ".join(cur)))
        cur.clear()

    for line in raw.splitlines():
        if line.startswith((".TS", ".nf", ".EX")):
            skip = True
        if line.startswith((".TE", ".fi", ".EE")):
            skip = False
            continue
        if skip:
            continue
        if _BREAK.match(line):
            close()  # before the heading below changes the section: the paragraph is its own section's
            if line.startswith(".SH"):
                section = line[3:].strip().strip('"').upper()
            continue
        if line.startswith(("'", '.\\"')):
            continue
        if line.startswith("."):
            m = _FONT.match(line)
            if not m:
                continue
            line = m.group(2).replace('"', "")
        cur.append(line)
    close()
    return {k: [p for p in v if p] for k, v in out.items()}


def parse(raw: str, name: str, section: str) -> Page | None:
    """The page, or None when it is a link (.so) or its NAME line has no " - summary"."""
    if raw.startswith(".so "):
        return None
    secs = sections(raw)
    line = " ".join(secs.get("NAME", []))
    if " - " not in line:
        return None
    return Page(name, section, line.split(" - ", 1)[1].strip(), secs.get("DESCRIPTION", []))


def read_pages(man_dir: Path, secs: str, limit: int | None = None) -> list[Page]:
    """The pages of sections `secs` under `man_dir` (e.g. /usr/share/man), symlinks (other
    names of a page already read) and links (.so) left out; at most `limit` files a section."""
    pages = []
    for sec in secs:
        for path in sorted((man_dir / f"man{sec}").glob("*.gz"))[:limit]:
            if path.is_symlink():
                continue
            try:
                raw = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
            except (OSError, EOFError):
                continue
            page = parse(raw, path.name.split(".")[0], sec)
            if page is not None:
                pages.append(page)
    return pages
