"""The shape of a run's status (`orch status`, the report): runs, attempts, stages, loops
and tasks as `state/status.py` folds them from the run directory. Data only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.state.states import TaskState


@dataclass(slots=True)  # 10^6 of them in a large run's status: no __dict__ each
class TaskStatus:
    id: str
    stage: str
    state: TaskState
    attempts: int | None = None
    started: float | None = None
    ended: float | None = None
    result: Any = None
    error: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    iteration: int | None = None
    loop: str | None = None
    index: int | None = None
    host: str | None = None
    exit_code: int | None = None
    """A shell stage's or MPI launch's exit code (128+N when killed by signal N)."""
    signal: str | None = None
    stderr_tail: str | None = None
    """The last lines a failed command wrote to stderr (journaled by the driver)."""
    run_attempt: int = 0
    """Which `orch run` attempt (1-based) wrote the task's latest event; 0 if none did."""
    submitted: float | None = None
    """When the latest attempt handed it to the engine (the journal's task_submitted)."""
    pid: int | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return max(0.0, self.ended - self.started)


@dataclass
class LoopIteration:
    iteration: int
    value: Any
    met: bool | None
    metric: str | None = None
    op: str | None = None
    threshold: Any = None


@dataclass
class LoopStatus:
    name: str
    iterations: list[LoopIteration] = field(default_factory=list)
    reason: str | None = None
    """condition | max_iterations | failed; None while the loop has not finished."""
    error: str | None = None
    max_iterations: int | None = None
    until: dict[str, Any] | None = None
    count: int = 0
    """Iterations started (a loop without `until` evaluates none of them)."""


@dataclass
class StageStatus:
    name: str
    counts: dict[str, int]
    loop: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Attempt:
    number: int
    started: float
    pid: int | None
    resume: bool
    state: str = "running"
    ended: float | None = None
    seconds: float | None = None


@dataclass
class RunStatus:
    run_dir: Path
    workflow: str | None
    site: str | None
    state: str
    attempts: list[Attempt]
    started: float | None
    ended: float | None
    duration: float | None
    tasks: list[TaskStatus]
    """A list, or for a large finished run a state/task_table.TaskTable (a Sequence that
    makes a TaskStatus of each task it is asked for): count with `counts`, `rows`."""
    stages: list[StageStatus]
    loops: list[LoopStatus]
    warnings: list[str] = field(default_factory=list)
    driver: dict | None = None  # who holds the run directory's lock (state/lock.py), if anyone
    plan_stages: list[dict[str, Any]] = field(default_factory=list)  # plan.json's, for ETAs
    capacity: dict[str, float] = field(default_factory=dict)  # nodes per pool (plan.json)

    @property
    def counts(self) -> dict[str, int]:
        if hasattr(self.tasks, "counts"):
            return self.tasks.counts()
        return count_states(self.tasks)

    def failed_tasks(self) -> list[TaskStatus]:
        return self.in_state(TaskState.FAILED)

    def in_state(self, *states: TaskState) -> list[TaskStatus]:
        """The tasks in any of `states`, in plan order (a table makes only those)."""
        if hasattr(self.tasks, "rows"):
            return [self.tasks.task(r) for r in self.tasks.rows(*states).tolist()]
        return [t for t in self.tasks if t.state in states]


def count_states(tasks: list[TaskStatus]) -> dict[str, int]:
    counts = {s.value: 0 for s in TaskState}
    for t in tasks:
        counts[t.state.value] += 1
    return counts


def plan_loops(found: dict[str, LoopStatus], plan: dict[str, Any]) -> dict[str, LoopStatus]:
    """The plan's loops (with their limits and conditions) merged with those the journal
    shows, by name: what status folds loop counts into (objects or columns)."""
    out: dict[str, LoopStatus] = {}
    for p in plan.get("loops") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            continue
        loop = found.get(p["name"]) or LoopStatus(p["name"])
        loop.max_iterations = p.get("max_iterations")
        loop.until = p.get("until")
        out[loop.name] = loop
    for name, loop in found.items():
        out.setdefault(name, loop)
    return out
