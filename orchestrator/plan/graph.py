"""Stage ordering: a stable topological sort (declaration order breaks ties)."""

from __future__ import annotations

import heapq
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.plan.model import Plan


def topo_order(needs: dict[str, list[str]], last: Collection[str] = ()) -> list[str]:
    """Stages so that each comes after everything it needs; assumes no cycles. Names in
    `last` wait while anything else is ready (then declaration order breaks ties)."""
    rank = {name: i for i, name in enumerate(needs)}
    indegree = {n: len([d for d in deps if d in needs]) for n, deps in needs.items()}
    users: dict[str, list[str]] = {n: [] for n in needs}
    for n, deps in needs.items():
        for d in deps:
            if d in users:
                users[d].append(n)
    ready = [(n in last, rank[n], n) for n, k in indegree.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, n = heapq.heappop(ready)
        order.append(n)
        for u in users[n]:
            indegree[u] -= 1
            if indegree[u] == 0:
                heapq.heappush(ready, (u in last, rank[u], u))
    if len(order) != len(needs):
        raise ValueError("dependency cycle")  # spec checks report cycles first
    return order


def unit_order(plan: Plan) -> list[str]:
    """The order a run submits in: stages and loops (a loop is one unit) by dependency;
    loops that wait on a condition go last, so nothing that does not need them waits for
    their decisions."""
    unit = {s: plan.stages[s].loop or s for s in plan.stages}
    needs: dict[str, list[str]] = {u: [] for u in unit.values()}
    for s, stage in plan.stages.items():
        needs[unit[s]].extend(unit[n] for n in stage.needs
                              if unit[n] != unit[s] and unit[n] not in needs[unit[s]])
    deciding = {u for u in needs if u in plan.loops and plan.loops[u].until}
    return topo_order(needs, last=deciding)
