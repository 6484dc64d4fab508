"""Small instruction datasets that tuneguard makes itself (the demo and the tests use them).

`make_instruction_rows`: tasks varied in wording and content (arithmetic, sorting, reversing,
counting, numbers in words), so that the audit finds no duplicates or templating in it: a
clean dataset to compare bad ones to (the tests' default data).

`make_demo_rows`: the demo's task, chosen so that a real before/after shows within minutes on
a CPU: answers in a strict format that SmolLM2-135M-Instruct gets wrong before fine-tuning
(it answers "The answer is 57." to "Write 57 in words.", and talks about a person when asked
for their initials) but learns from a few hundred rows: numbers in words, initials, dates in
ISO 8601. `DEMO_PROBES` are held out of those rows and carry their expected answers.
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


FIRST_NAMES = ("Anna Boris Carla David Elena Farid Greta Hugo Irene Jonas Kenji Lena Marco Nadia Oscar Paula "
               "Quentin Rosa Samir Tara Ugo Vera Walter Ximena Yusuf Zoe").split()
LAST_NAMES = ("Keller Lopez Moreau Nakamura Olsen Petrov Quinn Rossi Svensson Tanaka Ueda Varga Weber Xu Young "
              "Zimmer Abbott Brandt Castillo Dubois Eriksen Fischer Garcia Horvat Ivanova Jensen").split()
MONTHS = ("January February March April May June July August September October November December").split()


def _demo_words(rng: random.Random) -> Row:
    n = rng.randint(0, 99)
    return {"instruction": f"Write {n} in words.", "output": _in_words(n)}


def _demo_initials(rng: random.Random) -> Row:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {"instruction": f"Write the initials of {first} {last}.", "output": f"{first[0]}.{last[0]}."}


def _demo_date(rng: random.Random) -> Row:
    y, m, d = rng.randint(1900, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return {"instruction": f"Write {MONTHS[m - 1]} {d}, {y} as an ISO date.", "output": f"{y}-{m:02d}-{d:02d}"}


DEMO_TASKS: list[Callable[[random.Random], Row]] = [_demo_words, _demo_initials, _demo_date]

# The demo's probes: prompts in the training format with the answer expected (held out of the data).
DEMO_PROBES = [
    {"prompt": "### Instruction:\nWrite 38 in words.\n\n### Response:\n", "expected": "thirty-eight"},
    {"prompt": "### Instruction:\nWrite the initials of Greta Svensson.\n\n### Response:\n", "expected": "G.S."},
    {"prompt": "### Instruction:\nWrite July 14, 1989 as an ISO date.\n\n### Response:\n", "expected": "1989-07-14"},
    {"prompt": "### Instruction:\nWrite 71 in words.\n\n### Response:\n", "expected": "seventy-one"},
]


def make_demo_rows(n: int, seed: int = 0) -> list[Row]:
    """`n` distinct rows of the demo's tasks (`DEMO_TASKS`), none of them a probe's question."""
    held_out = {p["prompt"].split("### Instruction:\n")[1].split("\n\n")[0] for p in DEMO_PROBES}
    rng = random.Random(seed)
    rows: list[Row] = []
    seen: set[str] = set(held_out)
    while len(rows) < n:
        row = rng.choice(DEMO_TASKS)(rng)
        if row["instruction"] in seen:
            continue
        seen.add(row["instruction"])
        rows.append(row)
    return rows
