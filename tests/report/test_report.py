"""The report files: sections, self-containment, escaping of run data, the CLI function."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer
from typer.testing import CliRunner

from tuneguard.cli.report_cmd import report
from tuneguard.findings import Finding
from tuneguard.report import write_report
from tuneguard.store.run_store import RunStore

from .runs import build_healthy

SECTIONS = ('id="verdict"', 'id="plots"', 'id="findings"', 'id="recommendations"', 'id="qa"', 'id="run"')


def svg_blocks(html: str) -> list[str]:
    return re.findall(r'<svg class="plot".*?</svg>', html, flags=re.S)


def assert_self_contained(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"""<(?:link|img|iframe|object|embed)\b""", html, flags=re.I)
    # The only URL is the SVG namespace, which browsers never fetch.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "@import" not in html and "url(http" not in html


def test_healthy_report(healthy_run: Path) -> None:
    path = write_report(healthy_run)
    assert path == healthy_run / "report.html"
    html = path.read_text("utf-8")
    for s in SECTIONS:
        assert s in html
    assert_self_contained(html)
    assert '<div class="badge inconclusive"><div class="word">INCONCLUSIVE</div>' in html
    plots = svg_blocks(html)
    assert len(plots) == 8  # loss, log loss, gap, lr, grad norm, tokens/s, step time, memory
    for svg in plots:
        assert re.search(r'<polyline class="series" points="[\d.]+,[\d.]+ [\d.]+,[\d.]+', svg), svg[:200]
    assert "The capital of France is Paris." in html and "★ best" in html
    assert "transformers" in html and "5.24.0" in html
    assert "checkpoint-60" in html
    md = (healthy_run / "report.md").read_text("utf-8")
    assert "| Training loss decreased gradually | PASS |" in md
    assert "| Held-out test loss within margin of validation | UNKNOWN |" in md


def test_collapse_report(collapse_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "collapse.html"
    assert write_report(collapse_run, out) == out
    html = out.read_text("utf-8")
    assert '<div class="badge fail"><div class="word">FAIL</div><div class="why">3 of 5 criteria failed</div>' in html
    # the finding is marked on the loss plot at its step, with its code
    loss_svg = svg_blocks(html)[0]
    assert '<g class="vmark"><title>LOSS_COLLAPSE at step 12:' in loss_svg
    # the timeline: audit finding first, then the guard finding
    assert html.index("DUPLICATE_EXACT</span>") < html.index("LOSS_COLLAPSE</span>")
    assert "Deduplicate the training data" in html
    md = (collapse_run / "report.md").read_text("utf-8")
    assert "| Training loss decreased gradually | FAIL | LOSS_COLLAPSE at step 12:" in md
    assert "**Verdict: FAIL**" in md


def test_recommendations_show_diff_and_command(tmp_path: Path) -> None:
    spike = Finding("LOSS_SPIKE", "warning", "Loss jumped.", {"loss": 7.0}, "Lower the learning rate.", 25, "guard")
    run = build_healthy(tmp_path / "spiky", findings=[spike])
    html = write_report(run).read_text("utf-8")
    assert '<td class="key">train.learning_rate</td><td class="old">0.003</td><td class="new">0.0015</td>' in html
    expected = (f"tuneguard train {run / 'config.yaml'} --run-dir {tmp_path / 'spiky-next'} \\\n"
                "  --set train.learning_rate=0.0015 \\\n  --set train.max_grad_norm=0.5")
    assert expected + "</pre>" in html
    md = (run / "report.md").read_text("utf-8")
    assert expected + "\n```" in md
    # the shell reads the continued lines as one command
    cmd = md.split(f"tuneguard train {run / 'config.yaml'}", 1)[1].split("```", 1)[0]
    assert shlex.split(cmd.replace("\\\n", " ")) == [
        "--run-dir", str(tmp_path / "spiky-next"), "--set", "train.learning_rate=0.0015",
        "--set", "train.max_grad_norm=0.5"]


def test_run_data_is_escaped(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    run = build_healthy(tmp_path / "evil", findings=[
        Finding("QA_DEGRADED", "warning", f"message {evil}", {"sample": evil, "rows": [evil]}, f"do {evil}", 40,
                "guard")])
    with RunStore(run) as s:
        s.add_qa_sample(60, f"prompt {evil}", f"output {evil} | pipe", ["k<b>"], 0.0, False, 0.1)
        s.set_meta(environment={"device": evil}, best_checkpoint=evil)
    html = write_report(run).read_text("utf-8")
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    md = (run / "report.md").read_text("utf-8")
    assert "<script>" not in md.split("```")[0]  # outside code fences nothing is raw HTML


def test_cli_report(healthy_run: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(report)
    r = CliRunner().invoke(app, [str(healthy_run), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "Verdict: INCONCLUSIVE (4 pass, 0 fail, 1 unknown)" in r.output
    assert (tmp_path / "r.html").exists() and (healthy_run / "report.md").exists()
    missing = CliRunner().invoke(app, [str(tmp_path / "nothing")])
    assert missing.exit_code == 2
    assert "nothing does not exist" in missing.output and "Traceback" not in missing.output


def test_long_runs_are_decimated_but_keep_extremes() -> None:
    import math

    from tuneguard.report.plots import MAX_POINTS, Series, decimate, line_chart

    pts = [(float(i), 2.0 + math.sin(i / 50)) for i in range(20_000)]
    pts[12_345] = (12_345.0, 9.0)  # a spike
    pts[15_000] = (15_000.0, math.nan)
    small = decimate(pts)
    assert len(small) <= MAX_POINTS + 2
    assert (12_345.0, 9.0) in small
    assert any(x == 15_000.0 and math.isnan(y) for x, y in small)
    assert [x for x, _ in small] == sorted(x for x, _ in small)
    svg = line_chart([Series("loss", pts)], title="Loss")
    assert svg is not None and len(svg) < 60_000
