"""False alarms and recall of `tuneguard audit` on legitimate data of many shapes, from the
text on this machine (no network): classification with label words or ids (options listed
after the input too), yes/no QA, templated instructions (translate into French or Thai,
summarise), plain-text code files that share a licence header, code completion, arithmetic
with templated answers, long documents near data.max_length, Thai and mixed-script rows, and
a 50-row set.

Sources, all read offline: gettext catalogues under /usr/share/locale (real translations:
English -> French and Thai), manual pages under /usr/share/man (NAME lines and DESCRIPTION
paragraphs), the Python files of the installed packages (their licence headers, imports and
functions). Each legitimate set has three twins where a fault is planted the way it happens
(3% of rows copied, 3% copied with one word changed, 20 training rows in the validation
file), so recall is measured beside the false alarms.

    python bench/shapes.py [--rows 1500] [--tokenizer tiny|smollm2] [--only NAME ...] [--out FILE]

Prints one line per set: the task the audit inferred and its findings (code:severity), and
writes the whole result as JSON (--out).
"""

from __future__ import annotations

import argparse
import copy
import gettext
import json
import logging
import random
import re
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from manpages import read_pages  # noqa: E402 - the bench folder's own module

log = logging.getLogger("bench.shapes")
SITE = Path(sysconfig.get_paths()["purelib"])


# --- sources ------------------------------------------------------------------------------------------

def mo_pairs(lang: str, min_words: int = 3, max_words: int = 30) -> list[tuple[str, str]]:
    """(English, translation) pairs of every gettext catalogue of `lang`, one per English
    message (catalogues share gnulib's messages: the first, by file name, wins)."""
    seen: dict[str, str] = {}
    for path in sorted(Path(f"/usr/share/locale/{lang}/LC_MESSAGES").glob("*.mo")):
        if path.name.startswith("iso_"):
            continue  # country and language names: one word each
        try:
            with path.open("rb") as fh:
                cat = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
        except (OSError, UnicodeDecodeError):
            continue
        for k, v in cat.items():
            if not isinstance(k, str) or not k or not isinstance(v, str) or not v:
                continue
            en, tr = " ".join(k.split()), " ".join(v.split())
            if min_words <= len(en.split()) <= max_words and en != tr and en not in seen:
                seen[en] = tr
    return sorted(seen.items())


def man_pages(sections: str = "123458", limit: int = 6000) -> list[dict[str, Any]]:
    """Manual pages: name, section, the NAME line's summary, and DESCRIPTION as one text."""
    return [{"name": p.name, "section": p.section, "summary": p.summary, "description": p.description}
            for p in read_pages(Path("/usr/share/man"), sections, limit) if len(p.summary.split()) >= 3]


def py_files(packages: list[str], min_lines: int = 15, max_lines: int = 120) -> list[tuple[str, str]]:
    """(path, text) of the installed packages' Python files of min-max lines."""
    out = []
    for pkg in packages:
        for path in sorted((SITE / pkg).rglob("*.py")):
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if min_lines <= text.count("\n") <= max_lines:
                out.append((str(path.relative_to(SITE)), text))
    return out


LICENCE = re.compile(r"\A(#[^\n]*\n){5,}")
# transformers' model __init__.py files, generated from one template with the model's name
# changed: real near copies (the audit finds them: 194 of 675 rows, DUPLICATE_NEAR error),
# which a careful user removes before training.
GENERATED = re.compile(r"automatically generated")


def licensed_files(n: int, rng: random.Random) -> list[str]:
    """Python files of 15-80 lines that open with a licence or copyright comment block of at
    least 5 lines (in short files the header is a large part of the text), generated files left out."""
    files = [t for _, t in py_files(["transformers", "peft", "accelerate", "torch", "datasets"], 15, 80)
             if LICENCE.match(t) and ("licen" in t[:1200].lower() or "copyright" in t[:600].lower())
             and not GENERATED.search(t[:600])]
    texts = sorted(set(files))
    rng.shuffle(texts)
    return texts[:n]


def functions(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(the file up to a top-level function, that function) from the installed packages: what a
    code-completion set pairs (the imports and earlier code as the prompt, the next function as
    the answer)."""
    out = []
    for _, text in py_files(["transformers", "peft", "accelerate", "datasets", "pydantic", "rich", "typer",
                             "click", "jinja2", "yaml", "requests"], 20, 400):
        starts = [m.start() for m in re.finditer(r"^def \w+\(", text, re.M)]
        for a, b in zip(starts, starts[1:] + [len(text)], strict=False):
            body = text[a:b].rstrip() + "\n"
            if 3 <= body.count("\n") <= 40:
                out.append((text[max(0, a - 2000):a], body))
    out = sorted(set(out))
    rng.shuffle(out)
    return out[:n]


# --- the sets ------------------------------------------------------------------------------------------

def row(instruction: str, output: str, input_: str = "") -> dict[str, str]:
    r = {"instruction": instruction, "output": output}
    if input_:
        r["input"] = input_
    return r


SECTION_LABELS = {"1": "user command", "2": "system call", "3": "library function", "4": "special file",
                  "5": "file format", "8": "system administration command"}


def balanced(pages: list[dict[str, Any]], n: int, rng: random.Random, key: str = "section") -> list[dict[str, Any]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for p in pages:
        by.setdefault(p[key], []).append(p)
    per = max(1, n // len(by))
    out = []
    for items in by.values():
        items = sorted({p["summary"]: p for p in items}.values(), key=lambda p: p["summary"])
        rng.shuffle(items)
        out += items[:per]
    rng.shuffle(out)
    return out


def build_sets(n: int, seed: int) -> dict[str, dict[str, Any]]:
    """name -> {"rows": [...], "data": {data.* settings}} for every legitimate shape."""
    rng = random.Random(seed)
    pages = man_pages()
    fr, th = mo_pairs("fr"), mo_pairs("th")
    sets: dict[str, dict[str, Any]] = {}
    options = ", ".join(SECTION_LABELS.values())
    picked = balanced(pages, n, rng)
    sets["classify_words"] = {"rows": [row("Which kind of manual page has this summary? Answer with one of: "
                                           f"{options}.", SECTION_LABELS[p["section"]], p["summary"]) for p in picked]}
    ids = {s: str(i) for i, s in enumerate(SECTION_LABELS)}
    sets["classify_ids"] = {"rows": [row("Label the manual page summary with its class id (0-5).", ids[p["section"]],
                                         p["summary"]) for p in picked]}
    # The options after the input: the shared prompt start does not cover them.
    sets["classify_options_after"] = {"rows": [
        {"prompt": f"Summary: {p['summary']}\nOptions: {options}\nKind:", "completion": " " + SECTION_LABELS[p["section"]]}
        for p in picked]}
    bad = re.compile(r"\b(cannot|can't|failed|invalid|error|unable|not)\b", re.I)
    yn = rng.sample(fr, min(n, len(fr)))
    sets["yes_no_qa"] = {"rows": [row("Does this message report a problem? Answer yes or no.",
                                      "Yes" if bad.search(en) else "No", en) for en, _ in yn]}
    sets["translate_fr"] = {"rows": [row("Translate the following sentence into French:", f, en)
                                     for en, f in rng.sample(fr, min(n, len(fr)))]}
    sets["translate_th"] = {"rows": [row("Translate the following sentence into Thai:", t, en)
                                     for en, t in rng.sample(th, min(n, len(th)))]}
    sets["thai_text"] = {"rows": [{"text": f"{en}\n{t}"} for en, t in rng.sample(th, min(n, len(th)))]}
    long_pages = [p for p in pages if 120 <= len(p["description"].split()) <= 900]
    long_pages = sorted({p["description"]: p for p in long_pages}.values(), key=lambda p: p["name"])
    rng.shuffle(long_pages)
    sets["summarize_long"] = {"rows": [row("Summarize:", p["summary"], p["description"]) for p in long_pages[:n // 2]],
                              "data": {"max_length": 512}}
    sets["text_licence_header"] = {"rows": [{"text": t} for t in licensed_files(n // 2, rng)],
                                   "data": {"max_length": 2048}}
    sets["code_completion"] = {"rows": [{"prompt": p, "completion": c} for p, c in functions(n, rng)],
                               "data": {"max_length": 1024}}
    math_rows, asked = [], set()
    while len(math_rows) < n:  # distinct questions (asking one twice is a real duplicate); answers repeat
        a, b, op = rng.randint(2, 99), rng.randint(2, 99), rng.choice(["+", "-", "*"])
        if (a, op, b) in asked:
            continue
        asked.add((a, op, b))
        r = a + b if op == "+" else a - b if op == "-" else a * b
        math_rows.append(row(f"What is {a} {op} {b}?", f"The answer is {r}."))
    sets["math_templated"] = {"rows": math_rows}
    tiny = rng.sample(fr, 50)
    sets["tiny_50"] = {"rows": [row("Translate the following sentence into French:", f, en) for en, f in tiny]}
    return sets


# --- planted faults -------------------------------------------------------------------------------------

def _change_word(r: dict[str, str], rng: random.Random) -> dict[str, str]:
    r = dict(r)
    field = max((k for k in r if k != "instruction"), key=lambda k: len(r[k]))
    w = r[field].split(" ")
    i = rng.randrange(len(w))
    w[i] = "changed" if w[i] != "changed" else "altered"
    r[field] = " ".join(w)
    return r


def twins(rows: list[dict[str, str]], seed: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed)
    k = max(2, len(rows) * 3 // 100)
    exact = rows + [dict(rows[i]) for i in rng.sample(range(len(rows)), k)]
    near = rows + [_change_word(rows[i], rng) for i in rng.sample(range(len(rows)), k)]
    rng.shuffle(exact)
    rng.shuffle(near)
    cut = len(rows) // 10
    val = rows[:cut] + [dict(r) for r in rng.sample(rows[cut:], 20)]
    return {"exact": {"rows": exact, "expect": "DUPLICATE_EXACT", "planted": k},
            "near": {"rows": near, "expect": "DUPLICATE_NEAR", "planted": k},
            "leak": {"rows": rows[cut:], "validation": val, "expect": "TRAIN_VAL_LEAKAGE", "planted": 20}}


# --- the audit ------------------------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[Any]) -> str:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return str(path)


def audit_set(workdir: Path, rows: list[dict], validation: list[dict] | None, data: dict, tokenizer: Any,
              preset: str) -> dict[str, Any]:
    from tuneguard.audit import run_audit
    from tuneguard.config.load import read_source, validate_config
    from tuneguard.data.pipeline import prepare_data
    from tuneguard.model.load import setup_pad_token

    workdir.mkdir(parents=True, exist_ok=True)
    raw, _ = read_source(preset)
    raw["data"].update({"train_file": write_jsonl(workdir / "train.jsonl", rows), "max_length": 1024, **data})
    if validation:
        raw["data"]["validation_file"] = write_jsonl(workdir / "val.jsonl", validation)
    if preset == "smollm2-135m":
        sys.path.insert(0, str(Path(__file__).parent))
        from diagnosis import smollm2_source

        folder, gguf = smollm2_source()
        raw["model"].update(name=folder, gguf_file=gguf)
    cfg = validate_config(raw)
    tok = copy.deepcopy(tokenizer)
    setup_pad_token(tok, cfg.data.pad_token)
    t = time.perf_counter()
    result = run_audit(cfg, prepare_data(cfg.data, tok), tok)
    return {"rows": len(rows), "task": result.stats["task"]["shape"], "task_reason": result.stats["task"]["reason"],
            "findings": {f.code: f.severity for f in result.findings},
            "counts": {f.code: f.evidence.get("count") for f in result.findings},
            "messages": {f.code: f.message for f in result.findings},
            "seconds": round(time.perf_counter() - t, 2)}


def load_tokenizer(which: str) -> tuple[Any, str]:
    if which == "tiny":
        from tuneguard.model.load import build_tiny_tokenizer

        return build_tiny_tokenizer(), "tiny"
    from transformers import AutoTokenizer

    sys.path.insert(0, str(Path(__file__).parent))
    from diagnosis import smollm2_source

    folder, gguf = smollm2_source()
    return AutoTokenizer.from_pretrained(folder, gguf_file=gguf), "smollm2-135m"


def cell(findings: dict[str, str]) -> str:
    return ", ".join(f"{c} {s}" for c, s in findings.items()) or "clean"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer", choices=("tiny", "smollm2"), default="tiny")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--no-twins", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/tuneguard-shapes"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tokenizer, preset = load_tokenizer(args.tokenizer)
    sets = build_sets(args.rows, args.seed)
    results: dict[str, Any] = {}
    for name, s in sets.items():
        if args.only and name not in args.only:
            continue
        res = audit_set(args.workdir / name, s["rows"], None, s.get("data", {}), tokenizer, preset)
        recall, found = {}, {}
        if not args.no_twins:
            for tname, tw in twins(s["rows"], args.seed).items():
                r = audit_set(args.workdir / f"{name}-{tname}", tw["rows"], tw.get("validation"), s.get("data", {}),
                              tokenizer, preset)
                recall[tname] = r["findings"].get(tw["expect"], "MISSED")
                found[tname] = {"planted": tw["planted"], "found": r["counts"].get(tw["expect"]) or 0}
        res["recall"], res["found"] = recall, found
        results[name] = res
        print(f"{name:24s} {res['rows']:5d} rows  task {res['task']:14s} {cell(res['findings'])}"
              f"  | planted: {', '.join(f'{k} {v}' for k, v in recall.items())}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
