"""The Plan: pure data describing every task, where it runs and what it costs.

Built by `plan.build`, rendered by `orch plan`, compiled by the Parsl backend.
Tasks of one stage share their resources and mask dicts, so a 100,000-task
sweep stays small in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.device_kinds import HOURS_FIELDS


def task_ids(tasks: Sequence[PlannedTask]) -> Iterator[str]:
    """Ids of a stage's tasks in order; a compact TaskList gives them without the tasks."""
    ids = getattr(tasks, "ids", None)
    return ids() if ids is not None else (t.id for t in tasks)


def device_masks(tasks: Sequence[PlannedTask]) -> list[dict[str, str]]:
    """The device masks a stage's tasks use (with repeats), without building 10^7 tasks."""
    masks = getattr(tasks, "device_masks", None)
    return masks() if masks is not None else [t.device_mask for t in tasks]


@dataclass(frozen=True, slots=True)
class PlannedTask:
    """One unit of work: a stage applied to one sweep point."""

    id: str
    stage: str
    index: int | None
    point: dict[str, Any] | None
    device_mask: dict[str, str]
    units: tuple[str, ...] = ()  # accelerator units held exclusively while it runs


@dataclass(frozen=True)
class StageInput:
    """One `${stages.S.outputs.O}` of a stage."""

    ref: str  # "S.outputs.O", the placeholder's name
    stage: str  # the producing stage
    output: str  # the output's name
    path: str  # its path template in the producer's task directory
    mode: str  # "one" | "match" | "all"
    matches: tuple[int, ...] = ()  # match: the producer task index of each consumer task

    def producers(self, index: int | None, count: int) -> range | list[int]:
        """Producer task indexes a consumer task (its sweep index) reads."""
        if self.mode == "match":
            return [self.matches[index or 0]]
        return range(count) if self.mode == "all" else [0]


@dataclass(frozen=True)
class Binding:
    """Where a stage runs, and what each task takes of a node."""

    pool: str
    device: str  # device class of the pool
    requested: str  # device class the stage asked for
    fallback: bool
    ranks_per_node: int
    units_per_task: int  # pinned accelerator units per task (per node)
    slots_per_node: int  # tasks of this stage that fit on one node at once
    node_cores: int | None = None  # the pool's cores per node (None: read on the node)
    node_memory: int | None = None  # bytes per node (None: read on the node)
    node_units: tuple[str, ...] = ()  # the node's accelerator units ("gpu:0", "xpu:1.0")
    pool_nodes: int = 1  # nodes the pool may hold at once (max_blocks x nodes_per_block)


@dataclass(frozen=True)
class Cost:
    """A stage's charge for one iteration of its tasks. One unit-hours field per device
    kind of the registry (`device_kinds.HOURS_FIELDS`; named by hand because the report
    and plan JSON read them by these names)."""

    task_seconds: int
    node_hours: float
    gpu_hours: float
    xpu_hours: float
    charged_hours: float


@dataclass(frozen=True)
class StagePlan:
    name: str
    kind: str  # "python" | "shell"
    target: str  # callable or command template
    needs: tuple[str, ...]
    binding: Binding
    resources: dict[str, Any]
    cost: Cost
    tasks: Sequence[PlannedTask] = field(repr=False)  # a compact TaskList (plan/compact.py)
    loop: str | None = None
    sweep_vars: tuple[str, ...] = ()
    seed: int | None = None
    sampler: str | None = None
    retries: int = 0
    outputs: tuple[str, ...] = ()
    inputs: tuple[StageInput, ...] = ()  # upstream files it reads (plan/inputs.py)

    def matched_needs(self) -> dict[str, tuple[int, ...]]:
        """Needed stages whose files this stage reads only at matching sweep points: each
        task then waits for (and receives the result of) the one producer task at its
        point, not the whole stage. Need -> producer task index per task."""
        out: dict[str, tuple[int, ...]] = {}
        for need in self.needs:
            refs = [i for i in self.inputs if i.stage == need]
            if refs and all(i.mode == "match" for i in refs):
                out[need] = refs[0].matches
        return out
    environment: str | None = None  # a name in Plan.environments
    code_dir: str | None = None  # python stages: the directory its module is imported from
    bundle: int | str | None = None  # sweep points per engine task ("auto": measured)


@dataclass(frozen=True)
class LoopPlan:
    name: str
    stages: tuple[str, ...]
    max_iterations: int
    until: dict[str, Any] | None
    feedback: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Plan:
    """Stages in dependency order, each with its tasks."""

    workflow: str
    site: str
    scheduler: str
    params: dict[str, Any]
    stages: dict[str, StagePlan]
    loops: dict[str, LoopPlan]
    warnings: tuple[str, ...] = ()
    staging: str = "link"  # how upstream files reach a task directory: link | copy
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)  # used ones, resolved

    def tasks(self) -> Iterator[PlannedTask]:
        for stage in self.stages.values():
            yield from stage.tasks

    @property
    def task_count(self) -> int:
        return sum(len(s.tasks) for s in self.stages.values())

    def task_needs(self, task: PlannedTask) -> list[str]:
        """Task ids a task waits for: every task of each stage it needs (fan-in), or the
        task at its own sweep point of a stage it reads file by file (matched_needs)."""
        return list(self.iter_task_needs(task))

    def iter_task_needs(self, task: PlannedTask) -> Iterator[str]:
        """`task_needs` one by one: a fan-in over 10^7 tasks need not be one list."""
        stage = self.stages[task.stage]
        matched = stage.matched_needs() if stage.inputs else {}
        for need in stage.needs:
            tasks = self.stages[need].tasks
            if need in matched:
                yield tasks[matched[need][task.index or 0]].id
            else:
                yield from task_ids(tasks)

    def fan_in(self, stage: StagePlan) -> int:
        """How many task ids each task of `stage` waits for, at most."""
        return sum(len(self.stages[n].tasks) for n in stage.needs)

    def iterations(self, stage: str) -> int:
        loop = self.stages[stage].loop
        return self.loops[loop].max_iterations if loop else 1

    def summary(self) -> dict[str, Any]:
        def total(attr: str) -> float:
            return round(sum(getattr(s.cost, attr) * self.iterations(n)
                             for n, s in self.stages.items()), 6)

        return {
            "tasks": self.task_count,
            "stages": len(self.stages),
            "node_hours": total("node_hours"),
            **{label: total(label) for label in HOURS_FIELDS},
            "charged_node_hours": total("charged_hours"),
            "pools": sorted({s.binding.pool for s in self.stages.values()}),
            "loops": {n: lp.max_iterations for n, lp in self.loops.items()},
            "estimate": "upper bound from task walltimes; loops at max_iterations",
        }
