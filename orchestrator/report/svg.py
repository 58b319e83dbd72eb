"""Inline SVG for the HTML report: the task timeline and x/y charts (the stage graph is
graph.py).

Plain strings, no libraries, no scripts: hover text is an SVG `<title>`. Every
text that comes from a run goes through `esc`. Stage colours are CSS classes
`s0`..`s11` (defined by the page), so a bar costs a few bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from orchestrator.report.lanes import Bar, Lane
from orchestrator.report.status_text import format_seconds

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
           "#ff9da7", "#bab0ac", "#86bcb6", "#d37295", "#a0cbe8")
STATE_COLOURS = {"done": "#59a14f", "cached": "#76b7b2", "failed": "#e15759",
                 "dep_failed": "#c0504d", "cancelled": "#edc948", "submitted": "#4e79a7",
                 "running": "#4e79a7", "queued": "#a0cbe8", "waiting": "#d4e3f0",
                 "pending": "#bab0ac", "partial": "#f28e2b",
                 "succeeded": "#59a14f", "interrupted": "#edc948", "crashed": "#e15759"}
Point = tuple[float, float]
Dot = tuple[float, float, str | None, str]
"""x, y, hover title (None: no title, drawn compactly), colour."""


def esc(value: Any) -> str:
    return escape(value if isinstance(value, str) else str(value), quote=True)


def short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


# ---- timeline ------------------------------------------------------------------------------
def gantt(lanes: list[Lane], colour: dict[str, int], t0: float, span: float,
          marks: Sequence[tuple[float, str]] = (), left: int = 190, width: int = 1000) -> str:
    """One row per lane, one `rect.bar` per bar (data-task = its task id); `marks` are
    vertical dashed lines (time, label), e.g. where a resumed attempt started."""
    n = len(lanes)
    row = 16 if n <= 40 else max(5, 640 // n)
    top, height = 8, n * row
    out = [f'<svg id="timeline-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '
           f'{left + width + 20} {top + height + 30}" width="100%" role="img" '
           f'aria-label="task timeline">']
    for x, label in time_ticks(span, width):
        out.append(f'<line class="gridl" x1="{left + x:.1f}" y1="{top}" x2="{left + x:.1f}" '
                   f'y2="{top + height}"/><text x="{left + x:.1f}" y="{top + height + 14}" '
                   f'font-size="10" text-anchor="middle">{esc(label)}</text>')
    font = min(11, row - 2)
    for i, lane in enumerate(lanes):
        y = top + i * row
        if font >= 7:
            out.append(f'<text x="{left - 6}" y="{y + row - 4}" font-size="{font}" '
                       f'text-anchor="end">{esc(short(lane.name, 32))}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{width}" height="{row}" '
                   f'fill="{"#f7f8fa" if i % 2 else "#fff"}"><title>{esc(lane.name)}</title>'
                   "</rect>")
        out += [_bar(b, colour.get(b.stage, 0), (b.start - t0) / span * width + left,
                     b.end - b.start, span, width, y, row, lane.name) for b in lane.bars]
    for ts, label in marks:
        if t0 <= ts <= t0 + span:
            x = left + (ts - t0) / span * width
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" '
                       f'stroke="#333" stroke-dasharray="4 3"><title>{esc(label)}</title></line>')
    out.append(f'<line class="axis" x1="{left}" y1="{top + height}" x2="{left + width}" '
               f'y2="{top + height}"/></svg>')
    return "".join(out)


def _bar(b: Bar, colour: int, x: float, seconds: float, span: float, width: int, y: int,
         row: int, lane: str) -> str:
    if b.approx:  # a failure: a mark at the time the driver saw it
        return (f'<rect class="bar failed" data-task="{esc(b.task)}" x="{x - 1.5:.1f}" '
                f'y="{y}" width="3" height="{row}"><title>{esc(b.task)} ({esc(b.stage)}) '
                f"failed</title></rect>")
    w = max(1.2, seconds / span * width)
    what = (f"{b.count:,} {b.stage} tasks from {b.task}" if b.count > 1 else
            f"{b.task} ({b.stage}, {b.state})")
    return (f'<rect class="bar s{colour}" data-task="{esc(b.task)}" x="{x:.1f}" y="{y + 1}" '
            f'width="{w:.1f}" height="{row - 2}"><title>{esc(what)}: '
            f"{esc(format_seconds(seconds))} on {esc(lane)}</title></rect>")


def time_ticks(span: float, width: int) -> list[tuple[float, str]]:
    step = nice_step(span / 8, (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
                                7200, 14400, 21600, 43200, 86400))
    out, k = [], 0
    while k * step <= span + 1e-9:
        out.append((k * step / span * width, _tick_label(k * step, step)))
        k += 1
    return out


def nice_step(raw: float, steps: tuple[float, ...] = ()) -> float:
    """The smallest 1-2-5 step (or one of `steps`, above 1) at least `raw`."""
    if raw < 1 or not steps:
        mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
        return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return next((s for s in steps if s >= raw), math.ceil(raw / 86400) * 86400)


def _tick_label(t: float, step: float) -> str:
    if t == 0:
        return "0"
    if step < 1:
        return f"{t:.{max(0, -math.floor(math.log10(step)))}f}s"
    if t < 60:
        return f"{t:.0f}s"
    if step < 60:
        return f"{int(t // 60)}m{int(t % 60):02d}s"
    if t < 3600:
        return f"{int(t // 60)}m"
    return f"{int(t // 3600)}h{int(t % 3600 // 60):02d}"


# ---- x/y charts ----------------------------------------------------------------------------
def chart(title: str, xlabel: str, ylabel: str, lines: Sequence[tuple[str, list[Point], str]]
          = (), dots: Sequence[Dot] = (), hline: tuple[float, str] | None = None,
          integer_x: bool = False, w: int = 440, h: int = 230) -> str:
    """Polylines (name, points, colour), dots and a dashed threshold line; the y axis turns
    logarithmic for positive values over two decades or more that it spreads out better."""
    ys = [y for _, pts, _ in lines for _, y in pts] + [d[1] for d in dots]
    xs = [x for _, pts, _ in lines for x, _ in pts] + [d[0] for d in dots]
    if hline:
        ys.append(hline[0])
    if not xs:
        return ""
    log = _log_scale(ys)
    x0, x1 = _pad(min(xs), max(xs), 0.03)
    y0, y1 = _pad(*((math.log10(min(ys)), math.log10(max(ys))) if log else (min(ys), max(ys))),
                  0.08)
    ml, mt, pw, ph = 58, 24, w - 70, h - 60

    def sx(v: float) -> float:
        return ml + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return mt + ph - ((math.log10(v) if log else v) - y0) / (y1 - y0) * ph

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
           f'width="{w}" height="{h}" role="img" aria-label="{esc(title)}">'
           f'<text x="{ml}" y="15" font-size="12" font-weight="600">{esc(short(title, 60))}'
           f"<title>{esc(title)}</title></text>"]
    for v, label in _value_ticks(y0, y1, log):
        y = mt + ph - (v - y0) / (y1 - y0) * ph
        out.append(f'<line class="gridl" x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text x="{ml - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">'
                   f"{esc(label)}</text>")
    for v, label in _value_ticks(x0, x1, False, integer_x):
        out.append(f'<text x="{sx(v):.1f}" y="{mt + ph + 13}" font-size="10" '
                   f'text-anchor="middle">{esc(label)}</text>')
    out.append(f'<path class="axis" fill="none" d="M{ml} {mt}V{mt + ph}H{ml + pw}"/>'
               f'<text x="{ml + pw / 2}" y="{h - 6}" font-size="10" text-anchor="middle">'
               f'{esc(xlabel)}{" · log y" if log else ""}</text><text font-size="10" '
               f'transform="translate(11 {mt + ph / 2}) rotate(-90)" text-anchor="middle">'
               f"{esc(short(ylabel, 30))}</text>")
    if hline:
        y = sy(hline[0])
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e15759" '
                   f'stroke-dasharray="6 4"/><text x="{ml + pw - 2}" y="{y - 3:.1f}" '
                   f'font-size="10" fill="#e15759" text-anchor="end">{esc(hline[1])}</text>')
    for name, pts, colour in lines:
        d = "".join(f"{'L' if i else 'M'}{sx(x):.1f} {sy(y):.1f}"
                    for i, (x, y) in enumerate(thin(pts)))
        out.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5">'
                   f"<title>{esc(name)}</title></path>")
    out.append(_dots(dots, sx, sy))
    out.append("</svg>")
    return "".join(out)


def _log_scale(ys: list[float]) -> bool:
    """Log when all values are positive, span 100x or more, and the median sits nearer the
    middle of a log axis than of a linear one (losses, errors; not uniform fractions)."""
    lo, hi = min(ys), max(ys)
    if lo <= 0 or hi / lo < 100:
        return False
    med = sorted(ys)[len(ys) // 2]
    p_lin = (med - lo) / (hi - lo)
    p_log = math.log(med / lo) / math.log(hi / lo)
    return abs(p_log - 0.5) < abs(p_lin - 0.5)


def _dots(dots: Sequence[Dot], sx, sy) -> str:
    """Titled dots as circles; untitled ones as zero-length round-capped path segments,
    one path per colour (about 14 bytes a dot, for thousands of tasks)."""
    out = [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{c}"><title>'
           f"{esc(t)}</title></circle>" for x, y, t, c in dots if t]
    plain: dict[str, list[str]] = {}
    for x, y, t, c in dots:
        if not t:
            plain.setdefault(c, []).append(f"M{sx(x):.1f} {sy(y):.1f}h0")
    out += [f'<path d="{"".join(ps)}" stroke="{c}" stroke-width="4" stroke-linecap="round"/>'
            for c, ps in plain.items()]
    return "".join(out)


def thin(pts: list[Point], n: int = 1000) -> list[Point]:
    """At most about 2n points: the lowest and highest of each of n buckets, in order."""
    if len(pts) <= 2 * n:
        return pts
    size = len(pts) / n
    out: list[Point] = []
    for k in range(n):
        chunk = pts[int(k * size):int((k + 1) * size)]
        if chunk:
            lo, hi = min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])
            out += sorted({lo, hi})
    return out


def _pad(lo: float, hi: float, frac: float) -> tuple[float, float]:
    if hi - lo < 1e-12:
        d = abs(lo) * 0.1 or 1.0
        return lo - d, hi + d
    d = (hi - lo) * frac
    return lo - d, hi + d


def _value_ticks(lo: float, hi: float, log: bool, integer: bool = False):
    if log:
        return [(float(e), f"1e{e}") for e in range(math.ceil(lo), math.floor(hi) + 1)]
    step = nice_step((hi - lo) / 5)
    if integer:
        step = max(1.0, float(round(step)))
    out, k = [], math.ceil(lo / step)
    while k * step <= hi + 1e-12:
        v = k * step
        out.append((v, "0" if k == 0 else f"{v:.4g}"))
        k += 1
    return out
