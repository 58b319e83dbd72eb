"""Stage ordering: a stable topological sort (declaration order breaks ties)."""

from __future__ import annotations

import heapq


def topo_order(needs: dict[str, list[str]]) -> list[str]:
    """Stages so that each comes after everything it needs; assumes no cycles."""
    rank = {name: i for i, name in enumerate(needs)}
    indegree = {n: len([d for d in deps if d in needs]) for n, deps in needs.items()}
    users: dict[str, list[str]] = {n: [] for n in needs}
    for n, deps in needs.items():
        for d in deps:
            if d in users:
                users[d].append(n)
    ready = [(rank[n], n) for n, k in indegree.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for u in users[n]:
            indegree[u] -= 1
            if indegree[u] == 0:
                heapq.heappush(ready, (rank[u], u))
    if len(order) != len(needs):
        raise ValueError("dependency cycle")  # spec checks report cycles first
    return order
