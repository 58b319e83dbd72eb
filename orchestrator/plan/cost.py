"""Node-hour and accelerator-hour estimates for a stage: upper bounds from walltimes (what
the scheduler charges at most) and, from earlier runs' durations, what to expect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator import device_kinds
from orchestrator.plan.model import Cost, Plan
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
    return Cost(
        task_seconds=seconds,
        node_hours=node_hours,
        charged_hours=node_hours * pool.charge_factor,
        **unit_hours(pool.device, devices * hours * tasks),
    )


def unit_hours(device: str, hours: float) -> dict[str, float]:
    """`hours` under the pool's kind's figure, 0.0 under every other kind's (registry)."""
    kind = device_kinds.KINDS.get(device)
    own = kind.hours_label if kind else None
    return {label: hours if label == own else 0.0 for label in device_kinds.HOURS_FIELDS}


# ---- expected cost, from earlier runs' durations ---------------------------------------------
class Measured(Protocol):
    """What an earlier-runs history gives per stage (state/history.py StageHistory)."""

    seconds: float
    tasks: int
    runs: int


@dataclass(frozen=True)
class StageExpected:
    seconds: float  # mean measured run time of one task
    measured: int  # done tasks it is measured from
    runs: int  # earlier runs those came from
    cost: Cost  # the stage's tasks, one iteration (as StagePlan.cost)
    times: int = 1  # iterations counted (a loop's max_iterations, as the bound counts them)

    def hours(self, attr: str) -> float:
        """Over every counted iteration."""
        return getattr(self.cost, attr) * self.times


@dataclass(frozen=True)
class Expectation:
    """The plan's cost if tasks take as long as they did before, not their walltimes."""

    runs: int  # earlier runs read
    root: str  # where they were looked for (for messages)
    stages: dict[str, StageExpected] = field(default_factory=dict)  # measured stages only

    def total(self, attr: str) -> float:
        return sum(s.hours(attr) for s in self.stages.values())


def expected_cost(cost: Cost, seconds: float) -> Cost:
    """The bound's own charge (share of a node, nodes, accelerators, tasks) for `seconds`
    a task instead of its walltime, so both figures count the same things."""
    k = seconds / cost.task_seconds if cost.task_seconds > 0 else 0.0
    return Cost(task_seconds=round(seconds), node_hours=cost.node_hours * k,
                charged_hours=cost.charged_hours * k,
                **{label: getattr(cost, label) * k for label in device_kinds.HOURS_FIELDS})


def expect(plan: Plan, history: Mapping[str, Measured], runs: int, root: str) -> Expectation:
    """Expected cost per measured stage; loop stages count `max_iterations` times, as the
    walltime bound does."""
    stages = {}
    for name, s in plan.stages.items():
        h = history.get(name)
        if h is not None and h.tasks > 0:
            stages[name] = StageExpected(h.seconds, h.tasks, h.runs,
                                         expected_cost(s.cost, h.seconds), plan.iterations(name))
    return Expectation(runs, root, stages)
