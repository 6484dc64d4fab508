"""A Thai run end to end: a planted collapse, a policy rollback, a halt and the report.

One real tiny run (every row the same) with `notify.language: th`, notifying a real local
HTTP server through apprise's json:// URL, and a policy that rolls back on LOSS_COLLAPSE once
and halts the second time. Every message body, split into sentences, must be Thai: English
is allowed only for code names, config keys, commands, paths, numbers and the terms
docs/THAI.md keeps in English. The run's report.html is in Thai (report.language defaults to
notify.language) and renders its Thai text with real glyphs in a headless browser."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from tests.helpers.cli import missing
from tests.httpserver import Endpoint, _Handler
from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.config.load import read_source, validate_config
from tuneguard.data.synthetic import write_jsonl
from tuneguard.report import write_report
from tuneguard.report.html import render_html
from tuneguard.report.recommend import recommend_for_run
from tuneguard.report.rundata import load_run
from tuneguard.report.verdict import compute_verdict
from tuneguard.train.run import run_training

pytestmark = pytest.mark.slow

THAI = re.compile("[\u0e00-\u0e7f]")


@pytest.fixture(scope="module")
def thai_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("thai")
    ep = Endpoint()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.endpoint = ep  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        rows = [{"instruction": "Say hello.", "output": "Hello there, friend."}] * 800
        raw, _ = read_source("tiny")
        raw["data"]["train_file"] = str(write_jsonl(rows, tmp / "collapse.jsonl"))
        raw["train"].update({"max_steps": -1, "num_epochs": 1, "logging_steps": 2, "save_steps": 2})
        raw.setdefault("eval", {}).update({"steps": 2})
        raw.setdefault("policy", {})["rules"] = {"LOSS_COLLAPSE": {"action": "rollback", "times": 1, "then": "halt"}}
        raw["notify"] = {"urls": [f"json://127.0.0.1:{srv.server_address[1]}/hook"], "language": "th",
                         "flush_timeout_s": 10, "timeout_s": 5, "retries": 1}
        run = tmp / "run"
        code = run_training(validate_config(raw), run, force=True, console=Console(file=open(os.devnull, "w"))).exit_code
        yield {"code": code, "run": run, "bodies": list(ep.bodies), "tmp": tmp}
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_thai_run_notifies_in_thai_sentences(thai_run: dict[str, Any]) -> None:
    assert thai_run["code"] == 1
    bodies = thai_run["bodies"]
    titles = [b["title"] for b in bodies]
    # The run's story arrived: start, the collapse, the policy's rollback and halt, the halt, the report.
    for head in ("เริ่มการฝึก", "พบปัญหา", "หยุดการฝึก", "รายงานผลการฝึก"):
        assert any(t.startswith(head) for t in titles), (head, titles)
    messages = [b["message"] for b in bodies]
    assert any("LOSS_COLLAPSE -> rollback" in m and "ย้อนกลับจาก step 12 ไปที่ checkpoint-10" in m for m in messages)
    assert any("LOSS_COLLAPSE -> halt" in m and "พบ LOSS_COLLAPSE อีกครั้งหลัง rollback ไปแล้ว 1 ครั้ง" in m
               for m in messages)
    collapse = next(m for m in messages if m.startswith("การรัน: run\nรหัส: LOSS_COLLAPSE\n"))
    # The same numbers as the English message, in Thai sentences.
    assert "ค่า loss การฝึกลดจาก 6.626 เหลือ 0.2955 (ต่ำกว่า 5% ของค่า loss เริ่มต้น) ที่ step 12" in collapse
    assert "คำแนะนำ: แก้ข้อมูล ไม่ใช่ learning rate" in collapse
    report = next(m for m in messages if "ผลวินิจฉัย:" in m)
    assert "ผลสรุป: ไม่ผ่าน (ผ่าน 2, ไม่ผ่าน 1, ไม่ทราบ 0, ไม่ได้ตรวจ 2): ไม่ผ่านเกณฑ์ ค่า loss การฝึกลดลงอย่างค่อยเป็นค่อยไป" in report
    allowed = kept_in_english()
    bad = {b["title"]: english_sentences(b["message"], allowed) for b in bodies}
    assert {t: s for t, s in bad.items() if s} == {}
    # Each Thai message arrives whole in one LINE push (title and text within LINE's 5,000
    # characters, counted as LINE counts them: UTF-16 units), not cut into parts.
    from tuneguard.notify.messages import LINE_TEXT_LIMIT

    sizes = {b["title"]: len((b["title"] + "\n" + b["message"]).encode("utf-16-le")) // 2 for b in bodies}
    assert max(sizes.values()) <= LINE_TEXT_LIMIT and not any(re.search(r" \(\d+/\d+\)$", t) for t in sizes), sizes


def test_the_english_check_catches_english(thai_run: dict[str, Any]) -> None:
    """The sentence check is live: the English messages of the same findings fail it."""
    allowed = kept_in_english()
    from tuneguard.store.run_store import RunStore

    with RunStore(thai_run["run"]) as s:
        findings = s.findings()
    assert findings and all(f.text for f in findings)
    for f in findings:
        assert english_sentences(f.message, allowed), f.message
        assert not english_sentences(f.message_in("th"), allowed), f.message_in("th")


def test_the_thai_report_and_the_english_one(thai_run: dict[str, Any]) -> None:
    run_dir = thai_run["run"]
    html = write_report(run_dir).read_text("utf-8")
    assert '<html lang="th">' in html
    for text in ("ผลวินิจฉัย: ข้อมูลมีข้อบกพร่อง", "<h2>ผลสรุปตามเกณฑ์</h2>", "<h2>สิ่งที่ตรวจพบ</h2>",
                 "ค่า loss การฝึกลดลงอย่างค่อยเป็นค่อยไป", "ค่า loss validation ลดตาม loss การฝึก",
                 "แถวซ้ำทุกตัวอักษร", "ค่า loss (สเกล log)", ">ไม่ผ่าน<",
                 # the events table: names and the records that have words, in Thai
                 '<td>policy ลงมือ</td><td class="mono small">ย้อนกลับจาก step 12 ไปที่ checkpoint-10',
                 '<td>รายงาน</td><td class="mono small">ผลสรุป: ไม่ผ่าน (ผ่าน 2, ไม่ผ่าน 1, ไม่ทราบ 0, ไม่ได้ตรวจ 2)',
                 "ส่งการแจ้งเตือน halted แล้ว (json)"):
        assert text in html, text
    md = (run_dir / "report.md").read_text("utf-8")
    assert md.startswith("# รายงาน tuneguard: run\n") and "## ผลสรุปตามเกณฑ์" in md
    run = load_run(run_dir)
    english = render_html(run, compute_verdict(run), recommend_for_run(run), language="en")
    assert not THAI.search(english)
    assert "<h2>Verdict</h2>" in english and "Training loss decreased gradually" in english


# The platform fonts that draw a node's text (CSS.getPlatformFontsForNode), and whether two
# different Thai strings draw different pixels (tofu boxes draw the same box for each).
GLYPHS_JS = """
(() => {
  const c = document.createElement('canvas'); c.width = 400; c.height = 60;
  const x = c.getContext('2d'); x.font = getComputedStyle(document.querySelector('h2')).font;
  const draw = t => {
    x.clearRect(0, 0, 400, 60); x.fillText(t, 4, 40); return x.getImageData(0, 0, 400, 60).data.join(); };
  return draw('กขคง') !== draw('ฮฬอฯ') && draw('กขคง') !== draw('    ');
})()
"""


def test_the_thai_report_renders_thai_glyphs(thai_run: dict[str, Any]) -> None:
    from tests.report.browser import CHROMIUM, Browser

    if not os.access(CHROMIUM, os.X_OK):
        missing(f"the headless browser check needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)")
    if not subprocess.run(["fc-list", ":lang=th"], capture_output=True, text=True).stdout.strip():
        missing("no Thai font is installed (apt-get install -y fonts-thai-tlwg; scripts/install.sh --test does)")
    path = write_report(thai_run["run"])
    shot = thai_run["tmp"] / "report-th.png"
    with Browser(width=1280, height=3000) as browser:
        page = browser.open_page(path.as_uri())
        assert page.problems() == [], page.problems()
        assert page.evaluate("document.querySelector('#verdict h2').textContent") == "ผลสรุปตามเกณฑ์"
        assert page.evaluate(GLYPHS_JS) is True
        fonts = thai_fonts(browser, page)
        page.screenshot(shot)
    assert fonts, "no font drew the Thai heading"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def thai_fonts(browser: Any, page: Any) -> list[str]:
    """The fonts that drew the Thai verdict heading, each named in the report's CSS font stack."""
    from tuneguard.report.components import css

    s = page.session
    browser.send("DOM.enable", session=s)
    browser.send("CSS.enable", session=s)
    root = browser.send("DOM.getDocument", session=s)["root"]["nodeId"]
    node = browser.send("DOM.querySelector", {"nodeId": root, "selector": "#verdict h2"}, session=s)["nodeId"]
    used = browser.send("CSS.getPlatformFontsForNode", {"nodeId": node}, session=s)["fonts"]
    stack = css().split("font: 15px/1.55", 1)[1].split(";", 1)[0]
    names = [f["familyName"] for f in used if f.get("glyphCount", 0) > 0]
    # Every font that drew it is one the page asks for: the stack covers Thai, not a lucky fallback.
    assert names and all(n in stack for n in names), (names, stack)
    return names
