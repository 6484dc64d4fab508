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

SECTIONS = ('id="diagnosis"', 'id="verdict"', 'id="plots"', 'id="findings"', 'id="recommendations"', 'id="qa"', 'id="run"')


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
    # No data.test_file: the test criterion is not checked, and the four that were decide.
    assert ('<div class="badge pass"><div class="word">PASS</div><div class="why">all 4 criteria passed (1 not '
            'checked: not configured)</div>') in html
    plots = svg_blocks(html)
    assert len(plots) == 8  # loss, log loss, gap, lr, grad norm, tokens/s, step time, memory
    for svg in plots:
        assert re.search(r'<polyline class="series" points="[\d.]+,[\d.]+ [\d.]+,[\d.]+', svg), svg[:200]
    assert "The capital of France is Paris." in html and "★ best" in html
    assert "transformers" in html and "5.24.0" in html
    assert "checkpoint-60" in html
    # the diagnosis comes first, with the evidence that decided it
    assert html.index('id="diagnosis"') < html.index('id="summary"') < html.index('id="verdict"')
    assert '<section id="diagnosis" class="diagnosis healthy"><h2>Diagnosis: healthy</h2>' in html
    # Its eval loss still fell clearly at the last evaluation (2.14 -> 1.778): healthy, still
    # improving, and the one change is a longer run.
    rec = (healthy_run / "recommended.yaml").read_text("utf-8")
    assert "# change train.max_steps: the eval loss was still falling when the run ended" in rec
    assert "max_steps: 120" in rec
    md = (healthy_run / "report.md").read_text("utf-8")
    assert md.split("\n")[4].startswith("**Diagnosis: healthy: the losses fell, the validation loss tracked the "
                                        "training loss, and the eval loss was still falling when the run ended")
    assert "| Training loss decreased gradually | PASS |" in md
    assert "| Held-out test loss within margin of validation | NOT CHECKED | not checked (set data.test_file" in md
    assert '<span class="pill not_checked">not checked</span>' in html


def test_collapse_report(collapse_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "collapse.html"
    assert write_report(collapse_run, out) == out
    html = out.read_text("utf-8")
    assert ('<div class="badge fail"><div class="word">FAIL</div><div class="why">3 of 4 criteria failed (1 not checked: '
            'not configured)</div>') in html
    # the finding is marked on the loss plot at its step, with its code
    loss_svg = svg_blocks(html)[0]
    assert '<g class="vmark"><title>LOSS_COLLAPSE at step 12:' in loss_svg
    # the timeline: audit finding first, then the guard finding
    assert html.index("DUPLICATE_EXACT</span>") < html.index("LOSS_COLLAPSE</span>")
    assert "Deduplicate the training data" in html
    assert "<h2>Diagnosis: data fault</h2>" in html
    assert "<li>LOSS_COLLAPSE at step 12: training loss 3.6 -&gt; 0.005 in epoch 1</li>" in html
    md = (collapse_run / "report.md").read_text("utf-8")
    assert "**Diagnosis: data fault: the data or its labels are faulty" in md
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
    assert "<h2>Diagnosis: unstable training</h2>" in html
    # the same changes as a config file whose comments give the reasons
    rec = (run / "recommended.yaml").read_text("utf-8")
    assert "# change train.learning_rate: smaller updates: the loss spiked or became non-finite at this learning " \
           "rate (LOSS_SPIKE)" in rec
    assert f"tuneguard config diff {run / 'config.yaml'} {run / 'recommended.yaml'}" in md


def test_answers_side_by_side(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "ab", qa=False)
    with RunStore(run) as s:
        s.add_qa_sample(60, "Write 38 in words.", "thirty-eight", [], None, True, 1.0, expected=["thirty-eight"],
                        correct=True)
        s.add_qa_sample(60, "Write 38 in words.", "The answer is 38.", [], None, True, 1.0,
                        expected=["thirty-eight"], correct=False, base=True)
    html = write_report(run).read_text("utf-8")
    assert "<p><b>Better than</b> the base model: 1 of 1 expected answers right after fine-tuning, 0 of 1 before.</p>" \
        in html
    assert ('<td><pre>The answer is 38.</pre><span class="chip bad">wrong</span></td>'
            '<td><pre>thirty-eight</pre><span class="chip good">right</span></td>') in html
    md = (run / "report.md").read_text("utf-8")
    assert "| Write 38 in words. | thirty-eight | The answer is 38. (wrong) | thirty-eight (right) |" in md
    assert "Better than the base model: 1 of 1 expected answers right after fine-tuning, 0 of 1 before." in md
    assert '<div class="small muted">expected: thirty-eight</div>' in html  # per evaluation too
    assert '<span class="chip good">right</span><span class="chip good">EOS</span>' in html


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
    outside = md.split("```")[0]
    assert not re.search(r"(?<!\\)<[A-Za-z/!?]", outside)  # outside code fences nothing is raw HTML
    assert "\\<script>alert(\"x\")\\</script>\\<img src=x onerror=alert(1)>" in outside


def test_cli_report(healthy_run: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(report)
    r = CliRunner().invoke(app, [str(healthy_run), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "Verdict: PASS (4 pass, 0 fail, 0 unknown, 1 not checked)" in r.output
    assert r.output.startswith("Diagnosis: healthy: ")
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


def test_a_store_written_before_expected_answers_still_reports(tmp_path: Path) -> None:
    import sqlite3

    run = build_healthy(tmp_path / "old", qa=False)
    with sqlite3.connect(run / "run.db") as db:  # the qa_samples table as older versions wrote it
        db.execute("DROP TABLE qa_samples")
        db.execute("CREATE TABLE qa_samples (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, "
                   "step INTEGER NOT NULL, prompt TEXT NOT NULL, output TEXT NOT NULL, keywords TEXT NOT NULL, "
                   "keyword_score REAL, emitted_eos INTEGER, distinct2 REAL)")
        db.execute("INSERT INTO qa_samples(time, step, prompt, output, keywords, keyword_score, emitted_eos, "
                   "distinct2) VALUES(0, 60, 'Name a colour.', 'Red.', '[\"red\"]', 1.0, 1, 1.0)")
    with RunStore(run, readonly=True) as s:
        assert [q["output"] for q in s.qa_samples()] == ["Red."] and s.qa_samples(base=True) == []
    assert "Red." in write_report(run).read_text("utf-8")
    # a writer (a resumed run) adds the column; old rows read as having no expected answer
    with RunStore(run) as s:
        s.add_qa_sample(60, "Name a colour.", "Blue.", [], None, True, 1.0, expected=["red"], correct=False, base=True)
        assert s.qa_samples(base=True)[0]["expected"] == ["red"] and s.qa_samples()[0]["expected"] is None


def test_markdown_keeps_comparisons_as_typed_and_escapes_only_markup(tmp_path: Path) -> None:
    # A plain-text reader of report.md sees "<" and ">" as typed, never "&lt;"; only what
    # CommonMark would read as HTML (a tag, an entity) or as a block quote gets a backslash.
    f = Finding("LOSS_SPIKE", "warning", "eval loss > train loss and lr < 1e-3 at <b>step</b> & more &amp; x",
                {"loss": 7.0}, "> keep lr <= 0.001", 25, "guard")
    run = build_healthy(tmp_path / "cmp", findings=[f])
    write_report(run)
    lines = (run / "report.md").read_text("utf-8").splitlines()
    item = [x for x in lines if x.startswith("- **LOSS_SPIKE**")]
    assert item == ["- **LOSS_SPIKE** (warning, step 25): eval loss > train loss and lr < 1e-3 at \\<b>step\\</b> "
                    "& more \\&amp; x"]
    assert lines[lines.index(item[0]) + 2] == "  - do: \\> keep lr <= 0.001"
    assert not any("&lt;" in x or "&gt;" in x for x in lines)


def test_markdown_code_spans_render_and_user_backticks_stay_text(tmp_path: Path) -> None:
    # tuneguard's own `code` spans (commands, from the catalog template) render as code, not as
    # escaped backticks; a backtick or `*` in the user's text (a label here) stays as typed.
    from tuneguard.catalog import T
    from tuneguard.report.markdown import prose

    said = Finding.said("LOW_DIVERSITY", "warning", T("LOW_DIVERSITY.single_label", n=3, label="run `ls` *now*"),
                        T("NON_FINITE.rec", precision="Use bf16."))
    stored = Finding("EOS_MISSING", "warning", "Run `tuneguard fix` on a`b", {}, "", None, "audit")  # no spec
    run = build_healthy(tmp_path / "ticks", findings=[said, stored])
    write_report(run)
    lines = (run / "report.md").read_text("utf-8").splitlines()
    item = [x for x in lines if x.startswith("- **LOW_DIVERSITY**")]
    assert item == ["- **LOW_DIVERSITY** (warning, audit): Every one of the 3 training rows has the answer "
                    "'run \\`ls\\` \\*now\\*': there is nothing to learn but that answer, and the loss will reach "
                    "zero whatever the input says."]
    assert lines[lines.index(item[0]) + 1] == (
        "  - do: Use bf16. Lower train.learning_rate and keep warmup and train.max_grad_norm clipping. Check the "
        "data for rows with no supervised tokens (`tuneguard audit`).")
    assert [x for x in lines if x.startswith("- **EOS_MISSING**")] == [
        "- **EOS_MISSING** (warning, audit): Run `tuneguard fix` on a\\`b"]
    assert prose("see `a|b` and a|b", table=True) == "see `a\\|b` and a\\|b"
    assert prose("see `a|b` *x*") == "see `a|b` \\*x\\*"
    assert "run `ls` *now*" in (run / "report.html").read_text("utf-8")  # the HTML report as before


def test_the_report_says_where_the_adapter_is_and_where_its_card_is(tmp_path: Path) -> None:
    """A user done training reads the report for what to use: the adapter's folder, whose README.md
    says how to load it; a run that saved no adapter does not claim one."""
    run = build_healthy(tmp_path / "run")
    html = write_report(run).read_text("utf-8")
    md = (run / "report.md").read_text("utf-8")
    assert "adapter (its README.md" not in html and "- adapter:" not in md
    (run / "adapter").mkdir()
    (run / "adapter" / "adapter_config.json").write_text("{}", "utf-8")
    html = write_report(run).read_text("utf-8")
    md = (run / "report.md").read_text("utf-8")
    assert "adapter (its README.md: how to load it)" in html and str(run / "adapter") in html
    assert (f"- adapter: {run / 'adapter'} (its README.md: the base model, the prompt format and code that loads it "
            "outside tuneguard; `tuneguard export` ships it)") in md.splitlines()


def test_the_event_timeline_leaves_out_items_without_a_value(tmp_path: Path) -> None:
    run = build_healthy(tmp_path / "run")
    with RunStore(run) as s:
        s.add_event("finished", {"steps": 60, "best_eval_loss": None, "test_rows": None, "test_metrics": {},
                                 "notes": [], "reason": "", "eval_loss": 1.25, "stopped": False}, step=60)
    write_report(run)
    html = (run / "report.html").read_text("utf-8")
    details = re.findall(r'<td class="mono small">([^<]*)</td>', html)
    assert details[-1] == "steps=60, eval_loss=1.25, stopped=False"
    assert not [d for d in details if "None" in d or "={}" in d or "=[]" in d]
    assert "None" not in (run / "report.md").read_text("utf-8")
