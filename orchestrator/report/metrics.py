"""Facts behind the HTML report (`orch report`), from the run directory alone.

Pure data, no HTML: resources used per stage, timeline lanes, metric series from
returned values, lineage and DAG layers, package versions. Reads the journal,
plan.json and the workers' result files; never imports Parsl. docs/report.md
explains every figure.
"""

from __future__ import annotations

import json
import math
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from orchestrator.state.history import StageHistory
from orchestrator.state.journal import read_journal
from orchestrator.state.results import results_by_task
from orchestrator.state.rundir import task_dirname
from orchestrator.state.states import SUCCESS_STATES, TaskState
from orchestrator.state.status_model import LoopStatus, RunStatus, TaskStatus
from orchestrator.units import parse_walltime

PACKAGES = ("orchestrator", "parsl", "numpy", "pydantic")
PID_FILES_READ = 10_000
"""Worker pids the journal lacks are looked up in result files for at most this many tasks."""
MAX_FIELDS = 8
NOTE_EVENTS = ("sources_changed",)
MAX_SERIES = 12
_INDEX = re.compile(r"\[(\d+)\]")


# ---- per-task facts the status fold does not keep ------------------------------------------
@dataclass
class TaskExtra:
    key: str | None = None
    pid: int | None = None
    devices: dict[str, str] = field(default_factory=dict)


def journal_extras(journal: Path, notes: list[dict[str, Any]] | None = None
                   ) -> dict[str, TaskExtra]:
    """Code key, worker pid and device mask of each task, from the journal; records of the
    NOTE_EVENTS (such as `sources_changed` on a resume) are appended to `notes`."""
    out: dict[str, TaskExtra] = {}
    for rec in read_journal(journal):
        tid = rec.get("task")
        if not isinstance(tid, str):
            if notes is not None and rec.get("ev") in NOTE_EVENTS:
                notes.append(rec)
            continue
        x = out.setdefault(tid, TaskExtra())
        if isinstance(rec.get("key"), str):
            x.key = rec["key"]
        if isinstance(rec.get("pid"), int):
            x.pid = rec["pid"]
        if isinstance(rec.get("devices"), dict) and rec["devices"]:
            x.devices = {str(k): str(v) for k, v in rec["devices"].items()}
    return out


def fill_pids_from_results(run_dir: Path, tasks: list[TaskStatus],
                           extras: dict[str, TaskExtra], limit: int = PID_FILES_READ,
                           records: dict[str, dict[str, Any]] | None = None) -> bool:
    """Worker pids from the workers' result files (`results/*.jsonl`; `tasks/<id>/result.json`
    in runs of earlier versions) where the journal has none: all of them or, beyond `limit`
    tasks, none (lanes are then packed per host). True if it read them. `records`: those
    files already read (`results_by_task`)."""
    missing = [t for t in tasks if t.state in SUCCESS_STATES
               and (extras.get(t.id) is None or extras[t.id].pid is None)]
    if not missing or len(missing) > limit:
        return False
    if records is None:
        records = results_by_task(run_dir)
    for t in missing:
        rec = records.get(t.id)
        if rec is None:
            try:
                rec = json.loads((run_dir / "tasks" / task_dirname(t.id) / "result.json")
                                 .read_text())
            except (OSError, ValueError):
                continue
        if isinstance(rec, dict) and isinstance(rec.get("pid"), int):
            extras.setdefault(t.id, TaskExtra()).pid = rec["pid"]
    return True


# ---- resources used ------------------------------------------------------------------------
@dataclass
class StageUsage:
    name: str
    loop: str | None
    pool: str | None
    device: str | None
    tasks: int
    timed: int
    busy_seconds: float
    node_hours: float
    gpu_hours: float
    xpu_hours: float
    planned_node_hours: float | None
    planned_gpu_hours: float | None
    planned_xpu_hours: float | None
    node_rate: float
    """Nodes held by one running task (its share of a node x nodes)."""
    durations: list[float] = field(default_factory=list, repr=False)
    expected_node_hours: float | None = None
    """From earlier runs' mean task run time (state/history.py), the plan's tasks and shares,
    loop stages at max_iterations like the planned figure; None where never measured."""
    expected_gpu_hours: float | None = None
    expected_xpu_hours: float | None = None
    expected_runs: int = 0

    def quantile(self, q: float) -> float | None:
        d = self.durations
        return d[min(len(d) - 1, int(q * len(d)))] if d else None


def _rates(s: dict[str, Any]) -> tuple[float, float, float]:
    """Node, GPU and XPU units held by one running task, from the plan's own estimate."""
    res = s.get("resources") or {}
    nodes = _num(res.get("nodes")) or 1.0
    try:
        est_h = parse_walltime(res.get("estimated_walltime") or res.get("walltime")) / 3600
    except (TypeError, ValueError):
        est_h = 0.0
    n = _num(s.get("tasks")) or 0.0
    if est_h > 0 and n > 0 and _num(s.get("node_hours")) is not None:
        per = n * est_h
        return (_num(s.get("node_hours")) / per, (_num(s.get("gpu_hours")) or 0.0) / per,
                (_num(s.get("xpu_hours")) or 0.0) / per)
    slots = _num(s.get("slots_per_node")) or 1.0
    ranks = _num(res.get("ranks")) or 1.0
    return (nodes / slots, (_num(res.get("gpus")) or 0.0) * ranks,
            (_num(res.get("xpus")) or 0.0) * ranks)


def stage_usage(plan: dict[str, Any], st: RunStatus,
                history: Mapping[str, StageHistory] | None = None) -> list[StageUsage]:
    """Per stage: node-, GPU- and XPU-hours used by done and cached tasks, the plan's bound
    and, given earlier runs' `history`, what they made one expect."""
    loops = {lp.get("name"): lp.get("max_iterations") for lp in plan.get("loops") or []
             if isinstance(lp, dict)}
    by_stage: dict[str, list[TaskStatus]] = {}
    for t in st.tasks:
        by_stage.setdefault(t.stage, []).append(t)
    planned = {s["name"]: s for s in plan.get("stages") or []
               if isinstance(s, dict) and isinstance(s.get("name"), str)}
    out = []
    for name in [*planned, *(n for n in by_stage if n not in planned)]:
        s = planned.get(name, {})
        node_r, gpu_r, xpu_r = _rates(s) if s else (0.0, 0.0, 0.0)
        tasks = by_stage.get(name, [])
        durs = sorted(t.duration for t in tasks
                      if t.state in SUCCESS_STATES and t.duration is not None)
        busy = sum(durs)
        iters = loops.get(s.get("loop")) if s.get("loop") else 1
        iters = iters if isinstance(iters, int) else 1
        h = (history or {}).get(name)
        # expected: the same rates as used, for each planned task at the recorded mean time
        exp = (h.seconds / 3600 * (_num(s.get("tasks")) or 0.0) * iters
               if h is not None and s else None)
        out.append(StageUsage(
            name=name, loop=s.get("loop") or next((t.loop for t in tasks if t.loop), None),
            pool=s.get("pool"), device=s.get("device"), tasks=len(tasks), timed=len(durs),
            busy_seconds=busy, node_hours=busy / 3600 * node_r, gpu_hours=busy / 3600 * gpu_r,
            xpu_hours=busy / 3600 * xpu_r,
            planned_node_hours=_scaled(s.get("node_hours"), iters),
            planned_gpu_hours=_scaled(s.get("gpu_hours"), iters),
            planned_xpu_hours=_scaled(s.get("xpu_hours"), iters),
            node_rate=node_r, durations=durs,
            expected_node_hours=None if exp is None else exp * node_r,
            expected_gpu_hours=None if exp is None else exp * gpu_r,
            expected_xpu_hours=None if exp is None else exp * xpu_r,
            expected_runs=h.runs if h is not None else 0))
    return out


def _scaled(v: Any, k: int) -> float | None:
    n = _num(v)
    return None if n is None else n * k


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


# ---- timeline lanes ------------------------------------------------------------------------
@dataclass
class Bar:
    task: str
    stage: str
    start: float
    end: float
    state: str
    approx: bool = False
    """True for failed tasks: only when the driver saw it fail is known (start == end)."""
    count: int = 1
    """Tasks merged into this bar (huge runs merge bars narrower than a pixel)."""


@dataclass
class Lane:
    name: str
    bars: list[Bar]


def timeline_lanes(st: RunStatus, extras: dict[str, TaskExtra]) -> list[Lane]:
    """One lane per worker (host + pid, else host + device mask, else packed slots)."""
    groups: dict[tuple[str, str], list[Bar]] = {}
    for t in st.tasks:
        x = extras.get(t.id) or TaskExtra()
        if t.state in SUCCESS_STATES and t.started is not None and t.ended is not None:
            host = t.host or "?"
            if x.pid is not None:
                key = (host, f"pid {x.pid}")
            elif x.devices:
                key = (host, " ".join(f"{k}={v}" for k, v in sorted(x.devices.items())))
            else:
                key = (host, "")
            bar = Bar(t.id, t.stage, t.started, max(t.ended, t.started), t.state.value)
        elif t.state is TaskState.FAILED and t.ended is not None:
            key = ("~failed", "")  # no worker times: a mark when the driver saw it fail
            bar = Bar(t.id, t.stage, t.ended, t.ended, t.state.value, approx=True)
        else:
            continue
        groups.setdefault(key, []).append(bar)
    lanes: list[Lane] = []
    for (host, label), bars in sorted(groups.items(), key=lambda kv: (kv[0][0] == "~failed",
                                                                      kv[0][0], kv[0][1])):
        packed = _pack(bars)
        for k, lane_bars in enumerate(packed):
            lanes.append(Lane(_lane_name(host, label, k, len(packed)), lane_bars))
    return lanes


def _lane_name(host: str, label: str, k: int, n: int) -> str:
    if host == "~failed":
        return "failed" + (f" #{k + 1}" if n > 1 else "")
    if not label:
        return f"{host} · slot {k + 1}"
    return f"{host} · {label}" + (f" #{k + 1}" if n > 1 else "")


def _pack(bars: list[Bar]) -> list[list[Bar]]:
    """Greedy interval packing: bars that do not overlap share a lane."""
    lanes: list[list[Bar]] = []
    ends: list[float] = []
    for b in sorted(bars, key=lambda b: (b.start, b.end)):
        for i, end in enumerate(ends):
            if b.start >= end - 1e-6:
                lanes[i].append(b)
                ends[i] = b.end
                break
        else:
            lanes.append([b])
            ends.append(b.end)
    return lanes


def merge_bars(bars: list[Bar], resolution: float) -> list[Bar]:
    """Merge consecutive bars of one stage and state closer than `resolution` seconds."""
    out: list[Bar] = []
    for b in bars:
        last = out[-1] if out else None
        if (last is not None and last.stage == b.stage and last.state == b.state
                and b.start - last.end < resolution):
            out[-1] = Bar(last.task, last.stage, last.start, max(last.end, b.end), last.state,
                          last.approx, last.count + b.count)
        else:
            out.append(b)
    return out


# ---- metrics from returned values ----------------------------------------------------------
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
    n = _num(value)
    if n is not None:
        scalars[prefix or "value"] = n
    elif isinstance(value, dict) and depth < 3:
        for k, v in list(value.items())[:64]:
            flatten(v, f"{prefix}.{k}" if prefix else str(k), depth + 1, scalars, series)
    elif isinstance(value, list) and len(value) >= 2:
        nums = [_num(v) for v in value[:100_000]]
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
           if isinstance(i.iteration, int) and _num(i.value) is not None]
    thresholds = [_num(i.threshold) for i in loop.iterations if _num(i.threshold) is not None]
    threshold = thresholds[-1] if thresholds else _num((loop.until or {}).get("value"))
    return pts, threshold


# ---- graph ---------------------------------------------------------------------------------
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
    layer = dict.fromkeys(stages, 0)
    for _ in range(2):  # plan order is dependency order: one pass does; two for safety
        for s in stages:
            layer[s] = 1 + max((layer[p] for p in parents[s]), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    pos: dict[str, float] = {}
    order = {s: i for i, s in enumerate(stages)}
    for s in stages:
        layers[layer[s]].append(s)
    for row in layers:
        row.sort(key=lambda s: (sum(pos.get(p, 0.0) for p in parents[s]) / len(parents[s])
                                if parents[s] else -1.0, order[s]))
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


# ---- provenance ----------------------------------------------------------------------------
def package_versions() -> list[tuple[str, str | None]]:
    """Versions installed where the report is generated (read now, not at run time)."""
    out: list[tuple[str, str | None]] = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, None))
    return out
