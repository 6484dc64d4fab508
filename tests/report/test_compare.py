"""compare: two runs with different learning rates on one page."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from tuneguard.cli.report_cmd import compare
from tuneguard.report import write_compare
from tuneguard.report.plots import PALETTE

from .runs import build_collapse, build_healthy
from .test_report import assert_self_contained, svg_blocks


def test_compare_learning_rates(tmp_path: Path) -> None:
    a = build_healthy(tmp_path / "lr3e-3", lr=3e-3)
    b = build_healthy(tmp_path / "lr1e-3", lr=1e-3)
    out = write_compare(a, b, tmp_path / "cmp.html")
    html = out.read_text("utf-8")
    assert_self_contained(html)
    # both curves overlaid on the loss plot: train and eval of each run, in each run's colour
    loss = svg_blocks(html)[0]
    for label in ("lr3e-3 train", "lr3e-3 eval", "lr1e-3 train", "lr1e-3 eval"):
        assert f"<title>{label}</title></polyline>" in loss, label
    strokes = re.findall(r'<polyline class="series" points="[^"]+" stroke="(#[0-9A-Fa-f]{6})"', loss)
    assert strokes.count(PALETTE[0]) == 2 and strokes.count(PALETTE[1]) == 2
    # the learning-rate row of the config diff, and only that row
    rows = re.findall(r'<tr><td class="key">([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>', html)
    assert rows == [("train.learning_rate", "0.003", "0.001")]
    # both verdicts, and both runs' QA answers at their best checkpoints
    assert html.count('class="badge ') == 2
    assert "lr3e-3 · step 60" in html and "lr1e-3 · step 60" in html


def test_compare_healthy_and_collapse(tmp_path: Path) -> None:
    a = build_healthy(tmp_path / "v2")
    b = build_collapse(tmp_path / "v1")
    out = write_compare(a, b)
    assert out == tmp_path / "compare_v2_vs_v1.html"
    html = out.read_text("utf-8")
    assert '<div class="badge inconclusive">' in html and '<div class="badge fail">' in html
    assert "train.logging_steps" in html


def test_cli_compare(tmp_path: Path) -> None:
    a, b = build_healthy(tmp_path / "a"), build_healthy(tmp_path / "b", lr=1e-3)
    app = typer.Typer()
    app.command()(compare)
    r = CliRunner().invoke(app, [str(a), str(b), "--out", str(tmp_path / "c.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c.html").exists()
    assert CliRunner().invoke(app, [str(a), str(tmp_path / "none")]).exit_code == 2
