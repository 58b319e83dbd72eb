"""The report's stage graph as inline SVG: layers of dependency left to right.

A long chain of layers would make a drawing wider than the page (a 7-layer workflow
such as dpgen is 1,600 px), so the layers fold into bands of at most MAX_BAND_LAYERS,
stacked top to bottom: the drawing stays under 1,000 px and the page's CSS
(max-width:100%; height:auto) only has to shrink it a little on a narrow window, which
keeps its text readable. An edge into a later band runs down the gap beside its source's
column, along the gutter under that band and into its target from the left, so it
crosses no box.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from orchestrator.report.stage_graph import Edge
from orchestrator.report.svg import esc

MAX_BAND_LAYERS = 4
EXTRA_BAND = 0.5  # a band more than the fewest is better than a loop split in two
GX, GY, PAD, GUTTER = 70, 18, 30, 60
Pos = dict[str, tuple[float, float]]


def bands(n_layers: int, most: int = MAX_BAND_LAYERS,
          cut: Callable[[int], float] = lambda i: 0.0) -> list[range]:
    """Bands of at most `most` layers: the fewest, unless one or two more save a break
    that costs 1 or more (`cut(i)` is the cost of a break after layer i: a split loop);
    then the cheapest breaks, then the most even bands."""
    if n_layers == 0:
        return [range(0)]
    fewest = math.ceil(n_layers / most)
    tries = [_split(n_layers, k, most, cut) for k in range(fewest, min(fewest + 2, n_layers) + 1)]
    ends = min((c + extra * EXTRA_BAND, e) for extra, (c, e) in enumerate(tries))[1]
    return [range(a, z) for a, z in zip([0, *ends[:-1]], ends, strict=True)]


def _split(n: int, k: int, most: int, cut: Callable[[int], float]) -> tuple[float, list[int]]:
    """The cheapest way to cut layers 0..n-1 into k bands of at most `most`: (cost, ends)."""
    even = n / k
    best: dict[tuple[int, int], tuple[float, list[int]]] = {(0, 0): (0.0, [])}
    for b in range(1, k + 1):  # best[(j, b)]: layers 0..j-1 in b bands
        for j in range(b, n + 1):
            options = [(c + (j - i - even) ** 2 / 100 + (cut(j - 1) if j < n else 0),
                        [*ends, j]) for i in range(max(0, j - most), j)
                       if (i, b - 1) in best for c, ends in [best[(i, b - 1)]]]
            if options:
                best[(j, b)] = min(options)
    return best.get((n, k), (math.inf, []))


def layout(layers: list[list[str]], bw: int, bh: int, edges: Sequence[Edge] = (),
           groups: Sequence[list[str]] = (), most: int = MAX_BAND_LAYERS,
           ) -> tuple[Pos, dict[str, int], list[float], int, int]:
    """Top-left corner of each box, each stage's band, the bottom of each band, and the
    drawing's width and height. Bands break where fewest edges cross, never inside a
    group (a loop) when they can help it."""
    pos: Pos = {}
    band_of: dict[str, int] = {}
    bottoms: list[float] = []
    y = PAD
    split = bands(len(layers), most, _cut_cost(layers, edges, groups))
    for b, rng in enumerate(split):
        for col, li in enumerate(rng):
            for ri, s in enumerate(layers[li]):
                pos[s] = (PAD + col * (bw + GX), y + ri * (bh + GY))
                band_of[s] = b
        y += max((len(layers[li]) for li in rng), default=1) * (bh + GY) - GY
        bottoms.append(y)
        y += GUTTER
    cols = max((len(r) for r in split), default=1)
    return pos, band_of, bottoms, PAD * 2 + cols * (bw + GX) - GX, int(y - GUTTER + 24 + PAD)


def _cut_cost(layers: list[list[str]], edges: Sequence[Edge],
              groups: Sequence[list[str]]) -> Callable[[int], float]:
    """A break after layer i costs 1 for each group it splits, 1/1000 for each edge."""
    at = {s: li for li, row in enumerate(layers) for s in row}
    wires = [(at[e.src], at[e.dst]) for e in edges
             if not e.feedback and e.src in at and e.dst in at]
    loops = [(min(ls), max(ls)) for g in groups if (ls := [at[m] for m in g if m in at])]
    return lambda i: (sum(a <= i < z for a, z in loops)
                      + sum(a <= i < z for a, z in wires) / 1000)


def dag(layers: list[list[str]], edges: list[Edge], node: Callable[[str, float, float], str],
        boxes: Sequence[tuple[list[str], str]] = (), bw: int = 160, bh: int = 46) -> str:
    """`node(name, x, y)` draws a box of bw x bh; `boxes` are dashed frames (members,
    label) around groups such as loops, one per band they reach; feedback edges are
    dashed. The SVG's width and height are its natural size; CSS may scale it down."""
    pos, band_of, bottoms, w, h = layout(layers, bw, bh, edges, [m for m, _ in boxes])
    out = [f'<svg id="dag-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
           f'width="{w}" height="{h}" role="img" aria-label="stage graph"><defs><marker id="arr" '
           'viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#777"/></marker></defs>']
    for members, label in boxes:
        out += _frames([m for m in members if m in pos], label, pos, band_of, bw, bh)
    out += [_edge(e, pos, band_of, bottoms, bw, bh) for e in edges
            if e.src in pos and e.dst in pos]
    out += [node(s, *pos[s]) for row in layers for s in row]
    out.append("</svg>")
    return "".join(out)


def _frames(members: list[str], label: str, pos: Pos, band_of: dict[str, int], bw: int,
            bh: int) -> list[str]:
    out = []
    for k, band in enumerate(sorted({band_of[m] for m in members})):
        pts = [pos[m] for m in members if band_of[m] == band]
        x0, y0 = min(x for x, _ in pts) - 10, min(y for _, y in pts) - 18
        x1, y1 = max(x for x, _ in pts) + bw + 10, max(y for _, y in pts) + bh + 8
        text = label if k == 0 else f"{label} (continued)"
        out.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="8" '
                   f'fill="#faf5ff" stroke="#b07aa1" stroke-dasharray="6 4"/><text '
                   f'x="{x0 + 6}" y="{y0 + 12}" font-size="10" fill="#7a4f8a">{esc(text)}'
                   "</text>")
    return out


def _edge(e: Edge, pos: Pos, band_of: dict[str, int], bottoms: list[float], bw: int,
          bh: int) -> str:
    (x1, y1), (x2, y2) = pos[e.src], pos[e.dst]
    if e.feedback:
        a, b = x1 + bw / 2, x2 + bw / 2
        return (f'<path d="M{a} {y1 + bh}C{a} {y1 + bh + 40} {b} {y2 + bh + 40} {b} '
                f'{y2 + bh}" fill="none" stroke="#b07aa1" stroke-dasharray="5 3" '
                f'marker-end="url(#arr)"><title>feedback: {esc(e.src)} → next '
                f"{esc(e.dst)}</title></path>")
    ya, yb = y1 + bh / 2, y2 + bh / 2
    if band_of[e.dst] > band_of[e.src]:  # down the gaps and the gutter, never across a box
        lane = bottoms[band_of[e.src]] + 14
        d = f"M{x1 + bw} {ya}H{x1 + bw + 15}V{lane}H{x2 - 15}V{yb}H{x2}"
    else:
        mid = (x1 + bw + x2) / 2
        d = f"M{x1 + bw} {ya}C{mid} {ya} {mid} {yb} {x2} {yb}"
    return (f'<path d="{d}" fill="none" stroke="#888" marker-end="url(#arr)"><title>'
            f"{esc(e.src)} → {esc(e.dst)}</title></path>")
