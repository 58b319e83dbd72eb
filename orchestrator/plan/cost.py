"""Node-hour and accelerator-hour estimates for a stage (upper bounds from walltimes)."""

from __future__ import annotations

from orchestrator.plan.model import Cost
from orchestrator.site.models import Pool
from orchestrator.spec.models import Resources
from orchestrator.units import parse_memory, parse_walltime


def stage_cost(res: Resources, pool: Pool, rpn: int, fallback: bool, tasks: int) -> Cost:
    """Each task is charged the share of its nodes it occupies, for its walltime."""
    seconds = res.walltime_seconds or parse_walltime(pool.task_walltime)
    hours = seconds / 3600
    cores = pool.cores_per_node if isinstance(pool.cores_per_node, int) else 1
    shares = [1.0 if res.cores == "all" else rpn * res.cores / cores]
    units = 0 if fallback else res.accelerators * rpn
    if units and pool.units_per_node:
        shares.append(units / pool.units_per_node)
    if res.memory is not None and pool.memory_per_node not in (None, "auto"):
        shares.append(rpn * parse_memory(res.memory) / parse_memory(pool.memory_per_node))
    node_hours = min(1.0, max(shares)) * res.nodes * hours * tasks
    devices = units * res.nodes
    if pool.pins_tiles and pool.tiles_per_accelerator > 1:
        devices = devices / pool.tiles_per_accelerator
    acc_hours = devices * hours * tasks
    return Cost(
        task_seconds=seconds,
        node_hours=node_hours,
        gpu_hours=acc_hours if pool.device == "gpu" else 0.0,
        xpu_hours=acc_hours if pool.device == "xpu" else 0.0,
        charged_hours=node_hours * pool.charge_factor,
    )
