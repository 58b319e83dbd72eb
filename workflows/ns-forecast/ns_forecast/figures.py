"""The two SVG figures evaluate writes (declared outputs, so `orch report` embeds them):
the error against lead time and a forecast beside the truth. Plain SVG text, no plotting
library."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

ERRORS = "error_vs_lead.svg"
FORECAST = "forecast.svg"


def _write(path: Path, body: str, width: int, height: int) -> None:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'
           f'<rect width="{width}" height="{height}" fill="white"/>{body}</svg>\n')
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(svg)
    tmp.replace(path)


def error_vs_lead(path: Path, e: dict[str, Any]) -> None:
    """Rel. L2 error per lead time (log scale): surrogate, solver at the same grid and the
    equal-accuracy solver, all against the finer solve."""
    w, h, left, right, top, bottom = 600, 360, 70, 170, 30, 50
    leads = [k * e["model_dt"] for k in range(1, e["steps"] + 1)]
    series = [("FNO surrogate", e["surrogate_errors"][1:], "#d62728"),
              (f"solver {e['grid']}x{e['grid']}", e["solver_errors"][1:], "#1f77b4")]
    if e.get("equal_accuracy"):
        eq = e["equal_accuracy"]
        series.append((f"solver {eq['grid']}x{eq['grid']} dt={eq['dt']:g}", eq["errors"][1:],
                       "#2ca02c"))
    vals = [v for _, s, _ in series for v in s if v > 0]
    lo = math.floor(math.log10(min(vals))) if vals else -3
    hi = math.ceil(math.log10(max(vals))) if vals else 0
    hi = max(hi, lo + 1)

    def px(t: float) -> float:
        span = (leads[-1] - leads[0]) or 1.0
        return left + (t - leads[0]) / span * (w - left - right)

    def py(v: float) -> float:
        v = max(v, 10.0 ** lo)
        return top + (hi - math.log10(v)) / (hi - lo) * (h - top - bottom)

    body = [f'<text x="{w / 2 - 60}" y="18">rel. L2 error vs lead time</text>',
            f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
            f'<text x="{(left + w - right) / 2 - 30}" y="{h - 12}">lead time</text>']
    for d in range(lo, hi + 1):
        y = py(10.0 ** d)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#ddd"/>'
                    f'<text x="{left - 45}" y="{y + 4:.1f}">1e{d}</text>')
    for t in leads:
        body.append(f'<text x="{px(t) - 6:.1f}" y="{h - bottom + 16}">{t:g}</text>')
    for i, (name, s, colour) in enumerate(series):
        pts = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in zip(leads, s, strict=True))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        y = top + 20 * i + 10
        body.append(f'<line x1="{w - right + 10}" y1="{y}" x2="{w - right + 30}" y2="{y}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                    f'<text x="{w - right + 35}" y="{y + 4}">{name}</text>')
    _write(path, "".join(body), w, h)


def _colour(v: float) -> str:
    """Blue-white-red for v in [-1, 1]."""
    v = max(-1.0, min(1.0, v))
    a = int(255 * (1 - abs(v)))
    return f"#{255:02x}{a:02x}{a:02x}" if v > 0 else f"#{a:02x}{a:02x}{255:02x}"


def _field(data: np.ndarray, x0: int, y0: int, cell: float, vmax: float) -> str:
    n = data.shape[0]
    rows = []
    for i in range(n):
        for j in range(n):
            rows.append(f'<rect x="{x0 + j * cell:.1f}" y="{y0 + (n - 1 - i) * cell:.1f}" '
                        f'width="{cell + 0.05:.2f}" height="{cell + 0.05:.2f}" '
                        f'fill="{_colour(data[i, j] / vmax)}"/>')
    return "".join(rows)


def forecast(path: Path, truth: np.ndarray, pred: np.ndarray, model_dt: float) -> None:
    """Held-out trajectory 0 at the first lead, halfway and the horizon: truth (finer
    solve) and forecast on one colour scale per row, their difference on its own."""
    frames = truth.shape[0] - 1
    picks = sorted({1, max(1, frames // 2), frames})
    size, gap, top, left = 180, 14, 40, 70
    w = left + 3 * (size + gap) + 60  # room for the last caption
    h = top + len(picks) * (size + gap) + 10
    cell = size / truth.shape[-1]
    body = [f'<text x="{left}" y="16">vorticity: truth (finer solve), FNO forecast, '
            'difference</text>']
    dmax = float(max(np.abs(pred[k] - truth[k]).max() for k in picks)) or 1.0
    names = ("truth", "forecast", f"forecast - truth (scale ±{dmax:.2g})")
    for c, name in enumerate(names):
        body.append(f'<text x="{left + c * (size + gap)}" y="{top - 6}">{name}</text>')
    for r, k in enumerate(picks):
        y0 = top + r * (size + gap)
        vmax = float(np.abs(truth[k]).max()) or 1.0
        body.append(f'<text x="4" y="{y0 + size / 2:.0f}">t={k * model_dt:g}</text>')
        for c, (data, scale) in enumerate(((truth[k], vmax), (pred[k], vmax),
                                           (pred[k] - truth[k], dmax))):
            body.append(_field(data, left + c * (size + gap), y0, cell, scale))
    _write(path, "".join(body), w, h)
