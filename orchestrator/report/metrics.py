"""Metrics from the values tasks returned: numeric fields of each stage's results as points
and series to plot, and a loop's condition value per iteration. Pure data, no HTML (the
Metrics section is report/metrics_view.py). docs/report.md explains every figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.report.numbers import finite
from orchestrator.state.states import SUCCESS_STATES
from orchestrator.state.status_model import LoopStatus, TaskStatus

MAX_FIELDS = 8
MAX_SERIES = 12
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass
class StageMetrics:
    stage: str
    kind: str
    """`loop` (x = iteration), `sweep` (x = task index) or `single` (one task)."""
    points: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)
    series: dict[str, list[tuple[str, list[float]]]] = field(default_factory=dict)
    constants: dict[str, float] = field(default_factory=dict)
    dropped: int = 0


def flatten(value: Any, prefix: str = "", depth: int = 0,
            scalars: dict[str, float] | None = None,
            series: dict[str, list[float]] | None = None):
    """Numeric scalars (dotted keys) and numeric lists of a returned value."""
    scalars = {} if scalars is None else scalars
    series = {} if series is None else series
    n = finite(value)
    if n is not None:
        scalars[prefix or "value"] = n
    elif isinstance(value, dict) and depth < 3:
        for k, v in list(value.items())[:64]:
            flatten(v, f"{prefix}.{k}" if prefix else str(k), depth + 1, scalars, series)
    elif isinstance(value, list) and len(value) >= 2:
        nums = [finite(v) for v in value[:100_000]]
        if all(v is not None for v in nums):
            series[prefix or "value"] = nums  # type: ignore[assignment]
    return scalars, series


def task_index(t: TaskStatus) -> int | None:
    """The sweep index of `stage[i]` / `stage[i]@k`, else the journaled index."""
    m = _INDEX.search(t.id)
    if m:
        return int(m.group(1))
    return t.index if isinstance(t.index, int) else None


def stage_metrics(stage: str, tasks: list[TaskStatus]) -> StageMetrics | None:
    """Numeric fields of a stage's results, as points to plot; None when there are none."""
    done = [t for t in tasks if t.state in SUCCESS_STATES and t.result is not None]
    if not done:
        return None
    loop = any(t.loop for t in done)
    kind = "loop" if loop else "sweep" if len(done) > 1 else "single"
    m = StageMetrics(stage, kind)
    for t in done:
        x = float(t.iteration or 0) if loop else float(task_index(t) or 0)
        scalars, series = flatten(t.result)
        for name, y in scalars.items():
            m.points.setdefault(name, []).append((x, y, t.id))
        for name, ys in series.items():
            m.series.setdefault(name, []).append((t.id, ys))
    for name in list(m.points):
        pts = m.points[name]
        ys = {y for _, y, _ in pts}
        if kind != "single" and all(x == y for x, y, _ in pts) and len(pts) > 1:
            del m.points[name]  # the index or iteration echoed back: nothing to see
        elif kind != "single" and len(ys) == 1:
            m.constants[name] = pts[0][1]
            del m.points[name]
    if len(m.points) > MAX_FIELDS:
        m.dropped += len(m.points) - MAX_FIELDS
        m.points = dict(list(m.points.items())[:MAX_FIELDS])
    if len(m.series) > MAX_FIELDS // 2:
        m.dropped += len(m.series) - MAX_FIELDS // 2
        m.series = dict(list(m.series.items())[:MAX_FIELDS // 2])
    for name, lines in m.series.items():
        if len(lines) > MAX_SERIES:  # the first and the last ones
            m.series[name] = lines[:MAX_SERIES // 2] + lines[-MAX_SERIES // 2:]
    if not (m.points or m.series or m.constants):
        return None
    return m


def loop_points(loop: LoopStatus) -> tuple[list[tuple[int, float, bool | None]], float | None]:
    """(iteration, value, met) of each evaluated iteration, and the threshold."""
    pts = [(i.iteration, float(i.value), i.met) for i in loop.iterations
           if isinstance(i.iteration, int) and finite(i.value) is not None]
    thresholds = [finite(i.threshold) for i in loop.iterations if finite(i.threshold) is not None]
    threshold = thresholds[-1] if thresholds else finite((loop.until or {}).get("value"))
    return pts, threshold
