"""Line charts as inline SVG, written by hand: the report must open offline, with no
script and no CDN, and look the same in any browser or in an e-mail.

`line_chart` returns None when there is nothing to draw, so a page never shows an empty
frame pretending to be a plot (the browser test checks every <svg class="plot"> has data).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import zlib
from html import escape
from typing import Iterable, Sequence

from tuneguard.catalog import say

log = logging.getLogger(__name__)

# Colour-blind-safe palette (Okabe-Ito), in the order series use them.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SEVERITY_COLORS = {"error": "#C62828", "warning": "#E08600", "info": "#5470A8"}


@dataclasses.dataclass
class Series:
    """One line: (x, y) points, drawn in order; non-finite y breaks the line."""

    label: str
    points: Sequence[tuple[float, float]]
    color: str = PALETTE[0]
    dash: str | None = None
    width: float = 2.0
    dots: bool = False


@dataclasses.dataclass
class VMark:
    """A vertical marker at x (a finding at its step); `title` becomes the hover text."""

    x: float
    label: str
    color: str = SEVERITY_COLORS["warning"]
    title: str = ""


ACTION_COLOR = "#7B3FA0"  # policy actions (tuneguard.policy): distinct from the severity colours


def action_marks(events: Iterable[dict], language: str = "en") -> list[VMark]:
    """Markers for the policy's `action` events (rollback, scale_lr, set_lr, halt...) at their step,
    their message in `language` where the event carries its catalog spec."""
    from tuneguard.catalog import in_language, say

    marks = []
    for e in events:
        p = e.get("payload") or {}
        if e.get("type") != "action" or e.get("step") is None:
            continue
        label = str(p.get("action", "action"))
        if label == "rollback" and p.get("to") is not None:
            label = f"rollback→{p['to']}"
        message = in_language(p.get("text"), p.get("message", ""), language)
        marks.append(VMark(float(e["step"]), label, ACTION_COLOR,
                           say("report.mark.finding", language, code=label, step=e["step"], message=message)))
    return marks


@dataclasses.dataclass
class HLine:
    """A horizontal reference line (a threshold)."""

    y: float
    label: str
    color: str = "#888888"


def _finite(v: float) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


MAX_POINTS = 1200


def decimate(points: list[tuple[float, float]], max_points: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most about `max_points` points: the lowest and highest value of each bucket, in x
    order, so spikes and collapses survive; non-finite points are always kept (they break
    the line where they happened)."""
    if len(points) <= max_points:
        return points
    size = math.ceil(len(points) / (max_points // 2))
    out: list[tuple[float, float]] = []
    isfinite = math.isfinite
    for i in range(0, len(points), size):
        bucket = points[i:i + size]
        # Indices, not values: one pass per bucket (a 100,000-step run has a dozen such series).
        keep: set[int] = set()
        lo = hi = -1
        for j, (_, y) in enumerate(bucket):
            if not (isinstance(y, (int, float)) and isfinite(y)):
                keep.add(j)
            else:
                if lo < 0 or y < bucket[lo][1]:
                    lo = j
                if hi < 0 or y > bucket[hi][1]:
                    hi = j
        keep |= {j for j in (lo, hi) if j >= 0}
        out.extend(bucket[j] for j in sorted(keep))
    return out


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k) covering [lo, hi]; whole numbers only
    when `integer` (steps)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1, round(step)) if step >= 1 else 1
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Decades, with 2 and 5 in between when the range spans few decades."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mults = (1,) if b - a > 3 else (1, 2, 5)
    ticks = [m * 10 ** e for e in range(a, b + 1) for m in mults if lo <= m * 10 ** e <= hi]
    # Less than a decade: round linear values, placed on the log axis.
    return ticks if len(ticks) >= 3 else nice_ticks(lo, hi, 4)


def fmt_tick(v: float) -> str:
    """Short tick label: 12k, 1.5M, 0.005, 2e-05."""
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e4:
        return f"{v / 1e3:g}k"
    if a >= 1e-3:
        return f"{v:.4g}"
    return f"{v:.1e}".replace("e-0", "e-")


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float, log_scale: bool = False):
        self.log = log_scale
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log_scale else (lo, hi)
        self.a, self.b = a, b

    def __call__(self, v: float) -> float:
        x = math.log10(v) if self.log else v
        span = (self.hi - self.lo) or 1.0
        return self.a + (x - self.lo) / span * (self.b - self.a)


def _range(values: list[float], log_scale: bool, pad: float = 0.05) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1e-12):
        hi = lo  # equal up to float noise (0.12 vs 0.11999999999999988)
    if log_scale:
        if lo == hi:
            return lo / 2, hi * 2
        return lo / (hi / lo) ** pad, hi * (hi / lo) ** pad
    if lo == hi:
        if lo > 0:
            return 0.0, lo * 1.25  # a constant (learning rate): show it against zero
        d = abs(lo) * 0.1 or 1.0
        return lo - d, hi + d
    d = (hi - lo) * pad
    low = lo - d
    if lo >= 0 > low:
        low = 0.0  # non-negative data (losses, rates): do not invent negative room
    return low, hi + d


def line_chart(series: Iterable[Series], *, title: str, y_label: str = "", x_label: str = "step",
               log_y: bool = False, vmarks: Iterable[VMark] = (), hlines: Iterable[HLine] = (),
               x_range: tuple[float, float] | None = None, integer_x: bool = True,
               width: int = 600, height: int = 300, language: str = "en") -> str | None:
    """An SVG line chart, or None when no series has a drawable point.

    `x_range` fixes the x axis (plots of one run share the run's step range, so a single
    evaluation point does not get an axis of its own); `language` is that of the chart's own
    words (a point's hover text, the log-scale note), the caller's labels come translated."""
    usable = _drawable(series, log_y)
    if not usable:
        return None
    vmarks, hlines = list(vmarks), [h for h in hlines if _finite(h.y) and (h.y > 0 or not log_y)]
    legend, rows = _legend([s for s, _, _ in usable], width)
    f = _frame(usable, vmarks, hlines, x_range, rows, width, height, log_y)
    clip = f"clip{zlib.crc32(f'{title}|{width}|{height}|{log_y}'.encode())}"
    out = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<title>{escape(title)}</title>',
           f'<defs><clipPath id="{clip}"><rect x="{f.ml}" y="{f.mt - 2}" width="{f.pw}" height="{f.ph + 4}"/>'
           "</clipPath></defs>",
           f'<rect x="{f.ml}" y="{f.mt}" width="{f.pw}" height="{f.ph}" class="plot-bg"/>']
    out += _axes(f, x_label, y_label, integer_x, language)
    out += _hlines_svg(f, hlines)
    out += _vmarks_svg(f, vmarks)
    out.append(f'<g clip-path="url(#{clip})">')
    for s, pts, fin in usable:
        out += _series_svg(f, s, pts, fin, language)
    out.append("</g>")
    out.extend(legend)
    out.append("</svg>")
    return "\n".join(out)


Points = list[tuple[float, float]]


def _drawable(series: Iterable[Series], log_y: bool) -> list[tuple[Series, Points, Points]]:
    """(series, its decimated points, the drawable ones) for each series with a drawable point."""
    usable = []
    for s in series:
        pts = decimate([(float(x), float(y)) for x, y in s.points
                        if isinstance(x, (int, float)) and math.isfinite(x)])
        finite = [(x, y) for x, y in pts if _finite(y) and (y > 0 or not log_y)]
        if finite:
            usable.append((s, pts, finite))
    return usable


@dataclasses.dataclass
class _Frame:
    """Where the plot area is (margins, size) and the scales into it."""

    ml: int
    mt: int
    pw: int
    ph: int
    height: int
    log_y: bool
    sx: _Scale
    sy: _Scale
    xlo: float
    xhi: float
    ylo: float
    yhi: float


def _frame(usable: list[tuple[Series, Points, Points]], vmarks: list[VMark], hlines: list[HLine],
           x_range: tuple[float, float] | None, rows: int, width: int, height: int, log_y: bool) -> _Frame:
    # The legend rows, then a band for finding labels above the frame.
    ml, mr, mb = 58, 18, 40
    mt = 10 + 16 * rows + (32 if vmarks else 10)
    pw, ph = width - ml - mr, height - mt - mb
    xs = [x for _, pts, _ in usable for x, _ in pts] + [m.x for m in vmarks if _finite(m.x)]
    if x_range is not None:
        xs += [float(v) for v in x_range if _finite(v)]
    ys = [y for _, _, fin in usable for _, y in fin] + [h.y for h in hlines]
    xlo, xhi = min(xs), max(xs)
    if xlo == xhi:
        xlo, xhi = xlo - 1, xhi + 1
    ylo, yhi = _range(ys, log_y)
    return _Frame(ml, mt, pw, ph, height, log_y, _Scale(xlo, xhi, ml, ml + pw), _Scale(ylo, yhi, mt + ph, mt, log_y),
                  xlo, xhi, ylo, yhi)


def _axes(f: _Frame, x_label: str, y_label: str, integer_x: bool, language: str = "en") -> list[str]:
    """Grid, ticks, frame and axis labels."""
    out = []
    for t in (log_ticks(f.ylo, f.yhi) if f.log_y else nice_ticks(f.ylo, f.yhi)):
        y = f.sy(t)
        out.append(f'<line class="grid" x1="{f.ml}" x2="{f.ml + f.pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{f.ml - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt_tick(t)}</text>')
    for t in nice_ticks(f.xlo, f.xhi, 6, integer=integer_x):
        x = f.sx(t)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{f.mt}" y2="{f.mt + f.ph}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{f.mt + f.ph + 16}" text-anchor="middle">{fmt_tick(t)}</text>')
    out.append(f'<rect x="{f.ml}" y="{f.mt}" width="{f.pw}" height="{f.ph}" class="frame"/>')
    out.append(f'<text class="axis" x="{f.ml + f.pw / 2:.1f}" y="{f.height - 6}" text-anchor="middle">'
               f'{escape(x_label)}{escape(say("report.plot.log_y", language)) if f.log_y else ""}</text>')
    if y_label:
        out.append(f'<text class="axis" transform="translate(13 {f.mt + f.ph / 2:.1f}) rotate(-90)" '
                   f'text-anchor="middle">{escape(y_label)}</text>')
    return out


def _hlines_svg(f: _Frame, hlines: list[HLine]) -> list[str]:
    out = []
    for h in hlines:
        y = f.sy(h.y)
        out.append(f'<line class="hline" x1="{f.ml}" x2="{f.ml + f.pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{h.color}"/>')
        # Labelled at the left: curves that fall (losses) leave the lower left free.
        out.append(f'<text class="hlabel" x="{f.ml + 4}" y="{y - 4:.1f}" text-anchor="start" fill="{h.color}">'
                   f'{escape(h.label)}</text>')
    return out


def _vmarks_svg(f: _Frame, vmarks: list[VMark]) -> list[str]:
    """Finding markers, grouped by x so labels at one step do not overprint."""
    by_x: dict[float, list[VMark]] = {}
    for m in vmarks:
        if _finite(m.x):
            by_x.setdefault(m.x, []).append(m)
    out = []
    for i, (x0, ms) in enumerate(sorted(by_x.items())):
        x = f.sx(x0)
        color = ms[0].color
        tip = escape("\n".join(m.title or m.label for m in ms))
        label = escape(", ".join(dict.fromkeys(m.label for m in ms)))
        anchor = "end" if x > f.ml + f.pw * 0.7 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<g class="vmark"><title>{tip}</title>'
                   f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{f.mt - 6 - 13 * (i % 2)}" y2="{f.mt + f.ph}" stroke="{color}"/>'
                   f'<text x="{x + dx:.1f}" y="{f.mt - 8 - 13 * (i % 2)}" text-anchor="{anchor}" fill="{color}">'
                   f'{label}</text></g>')
    return out


def _series_svg(f: _Frame, s: Series, pts: Points, fin: Points, language: str = "en") -> list[str]:
    """A series as polylines broken at undrawable points, dots where asked (or where a
    segment is a single point), and a mark for each non-finite value."""
    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
    seg: list[str] = []
    segments: list[list[str]] = []
    for x, y in pts:
        if _finite(y) and (y > 0 or not f.log_y):
            seg.append(f"{f.sx(x):.1f},{f.sy(y):.1f}")
        elif seg:
            segments.append(seg)
            seg = []
    if seg:
        segments.append(seg)
    out = [f'<polyline class="series" points="{" ".join(sg)}" stroke="{s.color}" '
           f'stroke-width="{s.width}"{dash}><title>{escape(s.label)}</title></polyline>'
           for sg in segments if len(sg) >= 2]
    if s.dots or any(len(sg) == 1 for sg in segments):
        for x, y in fin:
            out.append(f'<circle class="data-point" cx="{f.sx(x):.1f}" cy="{f.sy(y):.1f}" r="3" fill="{s.color}">'
                       f'<title>{escape(say("report.plot.at", language, label=s.label, x=fmt_tick(x), y=f"{y:.4g}"))}'
                       "</title></circle>")
    for x, y in pts:
        if not _finite(y):
            out.append(f'<text class="nonfinite" x="{f.sx(x):.1f}" y="{f.mt + 14}" text-anchor="middle" '
                       f'fill="{SEVERITY_COLORS["error"]}">×<title>'
                       f'{escape(say("report.plot.at", language, label=s.label, x=fmt_tick(x), y=str(y)))}</title></text>')
    return out


def _legend(series: list[Series], width: int, left: int = 58, right: int = 18) -> tuple[list[str], int]:
    """Legend items along the top, wrapped into rows that fit the width; (svg, rows)."""
    out, lx, row = [], left, 0
    for s in series:
        w = 23 + int(6.6 * len(s.label)) + 18  # about 6.6 px per character at 12 px
        if lx > left and lx + w - 18 > width - right:
            lx, row = left, row + 1
        y = 14 + 16 * row
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{y}" y2="{y}" stroke="{s.color}" stroke-width="2.5"{dash}/>')
        out.append(f'<text class="legend" x="{lx + 23}" y="{y + 4}">{escape(s.label)}</text>')
        lx += w
    return out, row + 1
