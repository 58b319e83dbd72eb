"""How a plan's tasks share the nodes of each pool: the node's capacity, every task shape
bound to the pool and how many of that shape a node holds at once. Pure data for `orch
plan`; the run keeps it through the node ledger (backends/placement.py)."""

from __future__ import annotations

from typing import Any

from orchestrator.plan.model import Plan
from orchestrator.units import format_memory


def pool_packing(plan: Plan) -> list[dict[str, Any]]:
    """One entry per pool the plan uses, in first-use order."""
    pools: dict[str, dict[str, Any]] = {}
    for s in plan.stages.values():
        b = s.binding
        entry = pools.setdefault(b.pool, {
            "pool": b.pool, "nodes": b.pool_nodes, "cores_per_node": b.node_cores,
            "memory_per_node": format_memory(b.node_memory) if b.node_memory else None,
            "units": list(b.node_units),
            "shapes": [], "node_hours": 0.0, "classes": []})
        if b.device not in entry["classes"]:
            entry["classes"].append(b.device)
        cores = s.resources["cores"]
        entry["shapes"].append({
            "stage": s.name, "tasks": len(s.tasks),
            "cores": cores if s.resources["ranks"] == 1 else
            f"{s.binding.ranks_per_node}x{cores}",
            "units": b.units_per_task, "memory": s.resources["memory"],
            "per_node": b.slots_per_node,
            "placed": "by the MPI launcher" if s.resources["nodes"] > 1 else "on the node"})
        entry["node_hours"] = round(entry["node_hours"]
                                    + s.cost.node_hours * plan.iterations(s.name), 6)
    return list(pools.values())


def packing_lines(plan: Plan) -> list[str]:
    """The text view: per pool, its node and each shape with how many fit one node alone
    (a mix of shapes shares the node)."""
    out = []
    for p in pool_packing(plan):
        node = [f"{p['cores_per_node'] or '?'} cores"]
        if p["units"]:
            units = p["units"]
            node.append(f"{len(units)} units ({units[0]}" +
                        (f" .. {units[-1]})" if len(units) > 1 else ")"))
        if p["memory_per_node"]:
            node.append(p["memory_per_node"])
        out.append(f"{p['pool']} ({'+'.join(p['classes'])}): node {', '.join(node)}; "
                   f"{p['node_hours']:.3g} node-h")
        for sh in p["shapes"]:
            what = [f"{sh['cores']} core" + ("s" if sh["cores"] != 1 else "")]
            if sh["units"]:
                what.append(f"{sh['units']} unit" + ("s" if sh["units"] != 1 else ""))
            if sh["memory"]:
                what.append(sh["memory"])
            out.append(f"  {sh['stage']:<20} {', '.join(what):<24} {sh['per_node']} per node")
    return out
