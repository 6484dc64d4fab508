"""A small instruction dataset that tuneguard makes itself (the demo and the tests use it).

The tasks are simple enough for a small model to learn in minutes on a CPU (arithmetic,
sorting, reversing, counting, numbers in words) and varied enough in wording and content that
the audit finds no duplicates or templating in it: a clean dataset to compare bad ones to.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Callable

WORDS = ("apple river stone cloud garden window pencil market silver forest candle bridge harbor "
         "lantern meadow violin rocket pepper marble canyon falcon ribbon tunnel orchard glacier "
         "compass blanket cactus dolphin engine feather goblet hammer island jacket kettle ladder "
         "magnet napkin oyster parrot quartz saddle teapot umbrella velvet walnut yogurt zipper "
         "anchor basket cobalt desert ember fossil granite helmet igloo jasmine koala lemon mango "
         "nectar olive pebble quill raven sapphire tulip urchin vortex willow yarrow zephyr").split()

Row = dict[str, Any]


def _add(rng: random.Random) -> Row:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    q = rng.choice(["What is {a} plus {b}?", "Add {a} and {b}.", "Compute {a} + {b}.",
                    "What do you get when you add {a} to {b}?"]).format(a=a, b=b)
    r = rng.choice(["{a} plus {b} is {c}.", "The sum is {c}.", "{a} + {b} = {c}.", "You get {c}."])
    return {"instruction": q, "output": r.format(a=a, b=b, c=a + b)}


def _sub(rng: random.Random) -> Row:
    a, b = sorted((rng.randint(2, 99), rng.randint(2, 99)), reverse=True)
    q = rng.choice(["What is {a} minus {b}?", "Subtract {b} from {a}.", "Compute {a} - {b}."]).format(a=a, b=b)
    r = rng.choice(["{a} minus {b} is {c}.", "The difference is {c}.", "{a} - {b} = {c}."])
    return {"instruction": q, "output": r.format(a=a, b=b, c=a - b)}


def _sort(rng: random.Random) -> Row:
    nums = rng.sample(range(1, 100), rng.randint(3, 6))
    q = rng.choice(["Sort these numbers from smallest to largest.", "Put the numbers in ascending order.",
                    "Arrange the following numbers in increasing order."])
    r = rng.choice(["In order: {s}.", "Sorted: {s}.", "{s}."])
    return {"instruction": q, "input": ", ".join(map(str, nums)),
            "output": r.format(s=", ".join(map(str, sorted(nums))))}


def _reverse(rng: random.Random) -> Row:
    words = rng.sample(WORDS, rng.randint(3, 5))
    q = rng.choice(["Reverse the order of these words.", "Write these words backwards, last word first.",
                    "List the words in reverse order."])
    r = rng.choice(["Reversed: {s}.", "{s}.", "The reversed list is: {s}."])
    return {"instruction": q, "input": " ".join(words), "output": r.format(s=" ".join(reversed(words)))}


def _count(rng: random.Random) -> Row:
    words = [rng.choice(WORDS) for _ in range(rng.randint(2, 9))]
    q = rng.choice(["How many words are in this text?", "Count the words in the input.",
                    "Tell me the number of words below."])
    r = rng.choice(["There are {n} words.", "The text has {n} words.", "{n} words."])
    return {"instruction": q, "input": " ".join(words), "output": r.format(n=len(words))}


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
    "sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _in_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens - 2] + ("" if ones == 0 else "-" + _ONES[ones])


def _words(rng: random.Random) -> Row:
    n = rng.randint(0, 99)
    q = rng.choice(["Write {n} in words.", "Spell out the number {n}.", "How do you write {n} in English words?"])
    r = rng.choice(["{w}.", "It is written {w}.", "In words: {w}."])
    return {"instruction": q.format(n=n), "output": r.format(w=_in_words(n))}


def _largest(rng: random.Random) -> Row:
    nums = rng.sample(range(1, 500), rng.randint(3, 6))
    q = rng.choice(["Which number is the largest?", "Find the biggest number in the list.",
                    "What is the maximum of these numbers?"])
    r = rng.choice(["The largest is {m}.", "{m} is the biggest.", "The maximum is {m}."])
    return {"instruction": q, "input": " ".join(map(str, nums)), "output": r.format(m=max(nums))}


TASKS: list[Callable[[random.Random], Row]] = [_add, _sub, _sort, _reverse, _count, _words, _largest]


def make_instruction_rows(n: int, seed: int = 0) -> list[Row]:
    """`n` varied instruction rows (instruction, optional input, output)."""
    rng = random.Random(seed)
    rows: list[Row] = []
    seen: set[str] = set()
    while len(rows) < n:
        row = rng.choice(TASKS)(rng)
        key = json.dumps(row, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        rows.append(row)
    return rows


def write_jsonl(rows: list[Row], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


# Probes for the demo: prompts with the keywords a correct answer contains.
DEMO_PROBES = [
    {"prompt": "### Instruction:\nWhat is 12 plus 30?\n\n### Response:\n", "keywords": ["42"]},
    {"prompt": "### Instruction:\nSort these numbers from smallest to largest.\n\n### Input:\n9, 2, 5\n\n### Response:\n",
     "keywords": ["2, 5, 9"]},
    {"prompt": "### Instruction:\nWrite 27 in words.\n\n### Response:\n", "keywords": ["twenty-seven"]},
]
