"""Resources used per stage: node hours and, for every device kind with an `hours_label` in
orchestrator/device_kinds.py, its unit hours (gpu_hours, xpu_hours), each as used (done and
cached tasks' run time), expected (earlier runs' mean) and planned (plan.json's bound).
Pure data for the report's Summary; a new device kind adds its column here by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.device_kinds import KINDS
from orchestrator.report.numbers import finite
from orchestrator.state.history import StageHistory
from orchestrator.state.states import SUCCESS_STATES
from orchestrator.state.status_model import RunStatus, TaskStatus
from orchestrator.units import parse_walltime


@dataclass(frozen=True)
class HoursColumn:
    """One kind of hours the report counts: nodes, or a device kind's units."""
    kind: str                 # "node" or a device kind's name
    label: str                # its field in plan.json's stages: node_hours, gpu_hours, ...
    count_field: str | None   # the resources field counting its units; None for nodes

    @property
    def heading(self) -> str:
        """Its table heading's prefix: node-h, GPU-h, XPU-h."""
        return "node-h" if self.kind == "node" else f"{self.kind.upper()}-h"


HOURS: tuple[HoursColumn, ...] = (
    HoursColumn("node", "node_hours", None),
    *(HoursColumn(k.name, k.hours_label, k.count_field) for k in KINDS.values()
      if k.hours_label),
)


@dataclass
class StageUsage:
    """Figures keyed by HoursColumn.label; `u.gpu_hours`, `u.planned_gpu_hours` and
    `u.expected_gpu_hours` read them by name."""
    name: str
    loop: str | None
    pool: str | None
    device: str | None
    tasks: int
    timed: int
    busy_seconds: float
    used: dict[str, float]
    planned: dict[str, float | None]
    rates: dict[str, float]
    """Units held by one running task (nodes: its share of a node x nodes)."""
    durations: list[float] = field(default_factory=list, repr=False)
    expected: dict[str, float | None] = field(default_factory=dict)
    """From earlier runs' mean task run time (state/history.py), the plan's tasks and shares,
    loop stages at max_iterations like the planned figure; None where never measured."""
    expected_runs: int = 0

    def __getattr__(self, name: str) -> float | None:
        for prefix, figures in (("planned_", "planned"), ("expected_", "expected"),
                                ("", "used")):
            table = self.__dict__.get(figures) or {}
            if name.startswith(prefix) and name[len(prefix):] in table:
                return table[name[len(prefix):]]
        raise AttributeError(name)

    @property
    def node_rate(self) -> float:
        return self.rates["node_hours"]

    def quantile(self, q: float) -> float | None:
        d = self.durations
        return d[min(len(d) - 1, int(q * len(d)))] if d else None


def _rates(s: dict[str, Any]) -> dict[str, float]:
    """Units of each column held by one running task, from the plan's own estimate."""
    res = s.get("resources") or {}
    nodes = finite(res.get("nodes")) or 1.0
    try:
        est_h = parse_walltime(res.get("estimated_walltime") or res.get("walltime")) / 3600
    except (TypeError, ValueError):
        est_h = 0.0
    n = finite(s.get("tasks")) or 0.0
    if est_h > 0 and n > 0 and finite(s.get("node_hours")) is not None:
        per = n * est_h
        return {c.label: (finite(s.get(c.label)) or 0.0) / per for c in HOURS}
    slots = finite(s.get("slots_per_node")) or 1.0
    ranks = finite(res.get("ranks")) or 1.0
    return {c.label: nodes / slots if c.count_field is None
            else (finite(res.get(c.count_field)) or 0.0) * ranks for c in HOURS}


@dataclass
class StageTasks:
    """What usage needs of one stage's tasks: how many, the done and cached ones' run times
    (sorted) and the first loop one names."""
    tasks: int
    durations: list[float]
    loop: str | None


def stage_tasks(tasks: Iterable[TaskStatus]) -> dict[str, StageTasks]:
    """StageTasks of each stage, by first appearance (report/usage_columns.py: the same from
    a task table's columns)."""
    by_stage: dict[str, list[TaskStatus]] = {}
    for t in tasks:
        by_stage.setdefault(t.stage, []).append(t)
    return {name: StageTasks(len(ts), sorted(t.duration for t in ts if t.state in
                                             SUCCESS_STATES and t.duration is not None),
                             next((t.loop for t in ts if t.loop), None))
            for name, ts in by_stage.items()}


def stage_usage(plan: dict[str, Any], st: RunStatus,
                history: Mapping[str, StageHistory] | None = None,
                found: dict[str, StageTasks] | None = None) -> list[StageUsage]:
    """Per stage: the hours of each column used by done and cached tasks, the plan's bound
    and, given earlier runs' `history`, what they made one expect. `found`: stage_tasks of
    the run's tasks, if already known."""
    loops = {lp.get("name"): lp.get("max_iterations") for lp in plan.get("loops") or []
             if isinstance(lp, dict)}
    by_stage = stage_tasks(st.tasks) if found is None else found
    planned = {s["name"]: s for s in plan.get("stages") or []
               if isinstance(s, dict) and isinstance(s.get("name"), str)}
    out = []
    for name in [*planned, *(n for n in by_stage if n not in planned)]:
        s = planned.get(name, {})
        rates = _rates(s) if s else dict.fromkeys((c.label for c in HOURS), 0.0)
        tasks = by_stage.get(name) or StageTasks(0, [], None)
        durs = tasks.durations
        busy = sum(durs)
        iters = loops.get(s.get("loop")) if s.get("loop") else 1
        iters = iters if isinstance(iters, int) else 1
        h = (history or {}).get(name)
        # expected: the same rates as used, for each planned task at the recorded mean time
        exp = (h.seconds / 3600 * (finite(s.get("tasks")) or 0.0) * iters
               if h is not None and s else None)
        out.append(StageUsage(
            name=name, loop=s.get("loop") or tasks.loop,
            pool=s.get("pool"), device=s.get("device"), tasks=tasks.tasks, timed=len(durs),
            busy_seconds=busy, used={k: busy / 3600 * r for k, r in rates.items()},
            planned={c.label: _scaled(s.get(c.label), iters) for c in HOURS},
            rates=rates, durations=durs,
            expected={k: None if exp is None else exp * r for k, r in rates.items()},
            expected_runs=h.runs if h is not None else 0))
    return out


def _scaled(v: Any, k: int) -> float | None:
    n = finite(v)
    return None if n is None else n * k
