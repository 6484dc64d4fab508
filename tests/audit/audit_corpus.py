"""Realistic, varied instruction rows for the audit tests: Python's own docstrings.

Each row asks about one documented object of the standard library and answers with its
docstring (real English with the repetition real data has). Docstrings that resemble each
other (str.ljust / str.rjust ...) are dropped with an exact Jaccard test on word 3-grams, so
the clean set holds no near duplicates by construction and planted faults are the only
faults.
"""

from __future__ import annotations

import functools
import importlib
import random
import re
import sys
import types
import warnings

MODULES = (
    "abc argparse ast asyncio base64 bisect builtins calendar cmd codecs collections colorsys concurrent.futures "
    "configparser contextlib copy csv ctypes dataclasses datetime decimal difflib dis email email.message "
    "enum fnmatch fractions ftplib functools gettext getopt glob gzip hashlib heapq hmac html html.parser "
    "http.client http.cookies http.server imaplib importlib inspect io ipaddress itertools json keyword locale "
    "logging lzma mailbox math mimetypes multiprocessing numbers operator optparse os os.path pathlib pdb "
    "pickle pkgutil platform plistlib poplib pprint queue quopri random re reprlib sched secrets selectors shelve "
    "shlex shutil signal smtplib socket socketserver sqlite3 ssl statistics string struct subprocess symtable "
    "sysconfig tabnanny tarfile tempfile textwrap threading timeit token tokenize trace traceback types typing "
    "unittest urllib.parse urllib.request uuid warnings wave weakref xml.dom.minidom xml.etree.ElementTree "
    "xmlrpc.client zipfile zlib "
    # Appended (positions above stay put): enough docstrings for the largest tests.
    "array binascii bz2 cmath code codeop contextvars doctest filecmp fileinput graphlib linecache netrc "
    "pstats pyclbr runpy stat stringprep sys time tracemalloc zipimport zoneinfo").split()

QUESTIONS = (
    "What does {name} in Python's {mod} module do?",
    "Explain the purpose of {mod}.{name}.",
    "Describe {name} from the {mod} module.",
    "How is {mod}.{name} used?",
    "Summarize the documentation of {name} ({mod}).",
    "I am reading code that calls {mod}.{name}. What is it for?",
    "Give a short explanation of {name} in {mod}.",
)

_WORD = re.compile(r"[a-z0-9]+")


def _shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    w = _WORD.findall(text.lower())
    return {tuple(w[i:i + n]) for i in range(max(len(w) - n + 1, 1))}


def _members(mod: object) -> list[tuple[str, object]]:
    """Public module members, and the public methods of its classes (Class.method).

    Submodules are left out, and lazily loaded names are loaded (`dir` + `getattr`): a
    module's `vars` grow with what other code imported, and the corpus must be the same
    whatever ran before it (the tests index it by position)."""
    out = []
    for name in sorted(dir(mod)):
        if name.startswith("_"):
            continue
        try:
            obj = getattr(mod, name)
        except Exception:  # noqa: BLE001 - a lazy name whose import fails here is not part of the corpus
            continue
        if isinstance(obj, types.ModuleType):
            continue
        out.append((name, obj))
        if isinstance(obj, type) and getattr(obj, "__module__", "").split(".")[0] == mod.__name__.split(".")[0]:
            for attr in sorted(vars(obj)):
                if not attr.startswith("_") and _stdlib(vars(obj)[attr]):
                    out.append((f"{name}.{attr}", vars(obj)[attr]))
    return out


def _stdlib(obj: object) -> bool:
    """Defined by the standard library: transformers adds `Logger.info_once` to logging's class."""
    owner = getattr(obj, "__module__", None)
    return not isinstance(owner, str) or owner.split(".")[0] in sys.stdlib_module_names


def docstrings(min_words: int = 25, max_words: int = 120, max_similarity: float = 0.25) -> list[tuple[str, str, str]]:
    """(module, name, docstring) triples, deduplicated, in a fixed order."""
    return list(_docstrings(min_words, max_words, max_similarity))


@functools.lru_cache(maxsize=4)
def _docstrings(min_words: int, max_words: int, max_similarity: float) -> tuple[tuple[str, str, str], ...]:
    seen_docs: set[str] = set()
    out: list[tuple[str, str, str]] = []
    index: dict[tuple[str, ...], list[int]] = {}
    kept_sets: list[set[tuple[str, ...]]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mod_name in MODULES:
            try:
                mod = importlib.import_module(mod_name)
            except Exception:  # noqa: BLE001 - an optional module missing here is fine
                continue
            for name, obj in _members(mod):
                doc = getattr(obj, "__doc__", None)
                if not isinstance(doc, str):
                    continue
                text = " ".join(doc.split())
                n_words = len(text.split())
                if not (min_words <= n_words <= max_words) or text in seen_docs:
                    continue
                seen_docs.add(text)
                sh = _shingles(text)
                shared: dict[int, int] = {}
                for s in sh:
                    for j in index.get(s, ()):
                        shared[j] = shared.get(j, 0) + 1
                if any(c / len(sh | kept_sets[j]) > max_similarity for j, c in shared.items()):
                    continue
                for s in sh:
                    index.setdefault(s, []).append(len(kept_sets))
                kept_sets.append(sh)
                out.append((mod_name, name, text))
    return tuple(out)


def clean_rows(n: int, seed: int = 0, offset: int = 0) -> list[dict[str, str]]:
    """n instruction rows {"instruction", "output"} from distinct docstrings, starting at `offset`."""
    docs = docstrings()
    if offset + n > len(docs):
        raise ValueError(f"only {len(docs)} docstrings available, asked for {offset + n}")
    rng = random.Random(seed)
    rows = []
    for mod, name, doc in docs[offset: offset + n]:
        rows.append({"instruction": rng.choice(QUESTIONS).format(mod=mod, name=name), "output": doc})
    return rows


def long_rows(n: int, docs_per_row: int = 3, seed: int = 0, offset: int = 0) -> list[dict[str, str]]:
    """n rows whose answer joins `docs_per_row` distinct docstrings (about 150 words, the
    median of instruction data); every docstring is used once, from `offset` on."""
    docs = docstrings()
    need = offset + n * docs_per_row
    if need > len(docs):
        raise ValueError(f"only {len(docs)} docstrings available, asked for {need}")
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        part = docs[offset + i * docs_per_row: offset + (i + 1) * docs_per_row]
        mod, name, _ = part[0]
        rows.append({"instruction": rng.choice(QUESTIONS).format(mod=mod, name=name),
                     "output": " ".join(d for _, _, d in part)})
    return rows


def edit_words(text: str, edits: int, rng: random.Random) -> str:
    """`edits` single-word edits (substitute, delete or insert) at distinct random places."""
    w = text.split()
    fillers = ("value", "object", "returns", "given", "default", "string", "module", "call")
    for pos in sorted(rng.sample(range(1, len(w) - 1), edits), reverse=True):
        op = rng.choice(("sub", "del", "ins"))
        if op == "sub":
            w[pos] = rng.choice([f for f in fillers if f != w[pos]])
        elif op == "del":
            del w[pos]
        else:
            w.insert(pos, rng.choice(fillers))
    return " ".join(w)
