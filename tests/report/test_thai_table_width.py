"""Rich measures Thai as a terminal that follows Unicode draws it: a vowel or tone mark above or
below its consonant (category Mn: ั ิ ี ุ ่ ้ ...) takes no cell, so the terminal's tables (`status`,
`compare`, `next`, `config diff`) keep their columns in Thai. rich.cells.cell_len already gives
those marks width 0 (since rich 13, the oldest version tuneguard accepts), so tuneguard computes
no widths of its own; a terminal that draws the marks a cell wide (rich issue #3957) shifts a
Thai row, and nothing a program measures can know that."""

from __future__ import annotations

import io
import re
import unicodedata

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from tuneguard.catalog import TABLES

THAI_RUN = re.compile("[\u0e00-\u0e7f]+")


def _unicode_width(thai: str) -> int:
    return sum(0 if unicodedata.category(c) == "Mn" else 1 for c in thai)


def test_rich_measures_every_thai_text_of_the_catalog_as_unicode_does() -> None:
    runs = {run for t in TABLES.values() for entry in t.values() for run in THAI_RUN.findall(entry.get("th", ""))}
    assert len(runs) > 500
    wrong = {run: (cell_len(run), _unicode_width(run)) for run in runs if cell_len(run) != _unicode_width(run)}
    assert wrong == {}
    assert cell_len("ที่") == 1 and cell_len("น้ำ") == 2 and cell_len("สิ่งที่ตรวจพบ") == 9


def test_a_thai_table_keeps_its_columns() -> None:
    out = io.StringIO()
    table = Table()
    table.add_column("คีย์")
    table.add_column("เหตุผล")
    for key, why in (("train.learning_rate", "ลดลงครึ่งหนึ่ง เพราะ loss พุ่ง"), ("ที่สิ่ง", "น้ำ"), ("abc", "def")):
        table.add_row(key, why)
    Console(file=out, width=80, color_system=None).print(table)
    lines = out.getvalue().splitlines()
    # Every line as wide as the first, and each border at the same column, counted as Unicode does.
    assert {_unicode_width(line) for line in lines} == {_unicode_width(lines[0])}
    borders = {tuple(i for i, c in enumerate(_columns(line)) if c in "│┃┆╇╈┼┿╋┡┩┏┓┗┛└┘┌┐├┤") for line in lines[3:-1]}
    assert len(borders) == 1


def _columns(line: str) -> list[str]:
    """The line as the cells a terminal draws (a mark joins the cell before it)."""
    cells: list[str] = []
    for c in line:
        if unicodedata.category(c) == "Mn" and cells:
            cells[-1] += c
        else:
            cells.append(c)
    return [cell[0] for cell in cells]
