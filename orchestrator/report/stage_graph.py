"""The stage graph as data: edges from plan.json (needs and loop feedback), longest-path
layers to draw it in, and one word for each stage's state. No HTML: report/graph.py draws
it and report/stages.py is the section. Stage order comes from plan/graph.py's topo_order,
the one topological sort of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.plan.graph import topo_order


@dataclass
class Edge:
    src: str
    dst: str
    feedback: bool = False


def stage_edges(plan: dict[str, Any]) -> list[Edge]:
    stages = [s for s in plan.get("stages") or []
              if isinstance(s, dict) and isinstance(s.get("name"), str)]
    names = {s["name"] for s in stages}
    edges = [Edge(n, s["name"]) for s in stages if isinstance(s.get("needs"), list)
             for n in s["needs"] if isinstance(n, str) and n in names]
    for lp in plan.get("loops") or []:
        for fb in (lp.get("feedback") or []) if isinstance(lp, dict) else []:
            if isinstance(fb, dict) and fb.get("from") in names and fb.get("to") in names:
                edges.append(Edge(fb["from"], fb["to"], feedback=True))
    return edges


def dag_layers(stages: list[str], edges: list[Edge]) -> list[list[str]]:
    """Longest-path layers, ordered within a layer by the mean position of their parents."""
    parents: dict[str, list[str]] = {s: [] for s in stages}
    for e in edges:
        if not e.feedback and e.dst in parents and e.src in parents:
            parents[e.dst].append(e.src)
    try:
        order = topo_order(parents)
    except ValueError:  # a cycle in a hand-edited plan.json: draw it in plan order
        order = list(stages)
    layer = dict.fromkeys(stages, 0)
    for s in order:
        layer[s] = 1 + max((layer[p] for p in parents[s]), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    pos: dict[str, float] = {}
    rank = {s: i for i, s in enumerate(stages)}
    for s in stages:
        layers[layer[s]].append(s)
    for row in layers:
        row.sort(key=lambda s: (sum(pos.get(p, 0.0) for p in parents[s]) / len(parents[s])
                                if parents[s] else -1.0, rank[s]))
        for i, s in enumerate(row):
            pos[s] = float(i)
    return layers


def stage_state(counts: dict[str, int]) -> str:
    """One word for a stage: failed, running, queued (in flight, none started), cancelled,
    done, partial or pending."""
    total = sum(counts.values())
    if counts.get("failed") or counts.get("dep_failed"):
        return "failed"
    if counts.get("running"):
        return "running"
    if counts.get("queued") or counts.get("waiting") or counts.get("submitted"):
        return "queued"
    if counts.get("cancelled"):
        return "cancelled"
    ok = counts.get("done", 0) + counts.get("cached", 0)
    if total and ok == total:
        return "done"
    return "partial" if ok else "pending"
