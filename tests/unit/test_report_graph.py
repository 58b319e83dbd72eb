"""The stage graph's layout (orchestrator/report/graph.py): long chains fold into bands
so the drawing stays narrow enough for the page, without splitting a loop, and an edge
into a later band crosses no box. The browser checks are tests/browser/test_report_layout.py.
"""

from __future__ import annotations

import re
from itertools import pairwise

from orchestrator.report.graph import MAX_BAND_LAYERS, bands, dag, layout
from orchestrator.report.stage_graph import Edge, dag_layers


def test_bands_are_few_even_and_cover_every_layer():
    assert bands(4) == [range(4)]
    assert bands(6) == [range(0, 3), range(3, 6)]
    for n in range(1, 30):
        split = bands(n)
        assert [i for r in split for i in r] == list(range(n))
        assert max(len(r) for r in split) <= MAX_BAND_LAYERS
        assert len(split) == -(-n // MAX_BAND_LAYERS)
        assert max(len(r) for r in split) - min(len(r) for r in split) <= 1


def test_a_loop_is_not_split_across_bands():
    chain = [f"s{i}" for i in range(5)]
    edges = [Edge(a, b) for a, b in pairwise(chain)] + [Edge("s2", "s1", True)]
    layers = dag_layers(chain, edges)
    _, band_of, *_ = layout(layers, 160, 46)
    assert band_of["s1"] != band_of["s2"]  # the most even split cuts it...
    _, band_of, *_ = layout(layers, 160, 46, edges, [["s1", "s2"]])
    assert band_of["s1"] == band_of["s2"]  # ...unless it is a loop


def test_a_long_chain_is_drawn_narrow_and_its_edges_cross_no_box():
    names = [f"stage_{i}" for i in range(9)]
    edges = [Edge(a, b) for a, b in pairwise(names)]
    boxes: dict[str, tuple[float, float]] = {}

    def node(s, x, y):
        boxes[s] = (x, y)
        return f'<g class="node" data-stage="{s}"></g>'

    svg = dag(dag_layers(names, edges), edges, node)
    w, h = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', svg).groups())
    assert f'viewBox="0 0 {w} {h}"' in svg and w < 1000 and len(boxes) == 9
    paths = re.findall(r'<path d="(M[^"]+)" fill="none" stroke="#888"', svg)
    assert len(paths) == 8
    folded = [p for p in paths if "V" in p]
    assert len(folded) == 2  # one edge into each later band, routed square
    for p in folded:
        xs = [float(x) for x in re.findall(r"H([\d.]+)", p)]
        for x, _ in boxes.values():  # both vertical runs are in gaps between columns
            assert not any(x - 10 < v < x + 170 for v in xs[:-1]), (p, x)


def test_a_band_more_rather_than_a_split_loop():
    """active-learning and dpgen: a 4-layer loop after one layer, in 6 or 7 layers."""
    chain = [f"s{i}" for i in range(6)]
    edges = [Edge(a, b) for a, b in pairwise(chain)]
    _, band_of, *_ = layout(dag_layers(chain, edges), 160, 46, edges, [chain[1:5]])
    assert [band_of[s] for s in chain] == [0, 1, 1, 1, 1, 2]
