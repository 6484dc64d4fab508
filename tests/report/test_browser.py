"""The reports in a real headless browser (Debian's chromium, driven over the DevTools
protocol): no console errors or failed loads, every plot has drawn content, and a
screenshot is saved under the test's temp directory."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.helpers.cli import missing
from tuneguard.report import write_compare, write_report

from .browser import CHROMIUM, Browser
from .runs import build_collapse, build_healthy


@pytest.fixture(autouse=True)
def chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"the headless browser check needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)")


# Per <svg class="plot">: the number of polylines with at least two points, the number of
# data-point circles, and the rendered size of what they draw.
DRAWN_JS = """
Array.from(document.querySelectorAll('svg.plot')).map(svg => {
  const lines = Array.from(svg.querySelectorAll('polyline.series')).filter(p => p.points.numberOfItems >= 2);
  const dots = svg.querySelectorAll('circle.data-point');
  let w = 0, h = 0;
  for (const el of [...lines, ...dots]) { const b = el.getBBox(); w = Math.max(w, b.width); h = Math.max(h, b.height); }
  const r = svg.getBoundingClientRect();
  return {label: svg.getAttribute('aria-label'), lines: lines.length, dots: dots.length, w, h,
          shownW: r.width, shownH: r.height};
})
"""


class _SvgCounter(HTMLParser):
    """Counts drawn elements per <svg class="plot"> in a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: list[dict[str, int]] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" and a.get("class") == "plot":
            self._in = True
            self.plots.append({"points": 0, "circles": 0})
        elif self._in and tag == "polyline":
            pts = re.findall(r"[-\d.]+,[-\d.]+", a.get("points") or "")
            if len(pts) >= 2:
                self.plots[-1]["points"] += len(pts)
        elif self._in and tag == "circle":
            self.plots[-1]["circles"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._in = False


def check_page(browser: Browser, path: Path, shot: Path, expected_plots: int) -> None:
    page = browser.open_page(path.as_uri())
    assert page.problems() == [], page.problems()
    assert page.evaluate("document.title").startswith("tuneguard")
    drawn = page.evaluate(DRAWN_JS)
    assert len(drawn) == expected_plots
    for p in drawn:
        assert p["lines"] + p["dots"] > 0, p
        assert p["w"] > 0 or p["h"] > 0, p
        assert p["shownW"] > 300 and p["shownH"] > 150, p
    counter = _SvgCounter()
    counter.feed(page.dom())
    assert len(counter.plots) == expected_plots
    for p in counter.plots:
        assert p["points"] >= 2 or p["circles"] >= 1, p
    page.screenshot(shot)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a rendered page, not a blank one


def test_reports_in_headless_chromium(tmp_path: Path) -> None:
    healthy = build_healthy(tmp_path / "healthy", test=1.7)
    collapse = build_collapse(tmp_path / "collapse")
    other = build_healthy(tmp_path / "healthy-lr1e-3", lr=1e-3)
    pages = [("healthy", write_report(healthy), 8), ("collapse", write_report(collapse), 8),
             ("compare", write_compare(healthy, other, tmp_path / "compare.html"), 6)]
    with Browser(width=1280, height=4000) as browser:
        for name, path, n in pages:
            check_page(browser, path, tmp_path / f"screenshot-{name}.png", n)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "screenshot-collapse.png", "screenshot-compare.png", "screenshot-healthy.png"]


def test_the_check_sees_console_errors(tmp_path: Path) -> None:
    """The browser check is live: a page with a console error and a missing image fails it."""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><script>console.error("boom")</script><img src="missing.png"></body></html>')
    with Browser() as browser:
        problems = browser.open_page(bad.as_uri()).problems()
    assert any("console.error: boom" in p for p in problems), problems
    assert any("missing.png" in p for p in problems), problems
