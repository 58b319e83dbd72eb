"""Bundles: many sweep points of one stage launched as one engine task (`bundle:` in the
spec), each point still a task of its own for the driver (its own future, journal records,
retries and resume). Engine-neutral: the worker side is `bundle_run.py`.

`bundle: N` groups the points in order, N at a time. `bundle: auto` first launches a few
small probe bundles; when the first one is back, the rest are grouped so that one bundle
runs about `AUTO_TARGET_S` on its worker (from the probe points' own run times), but never
fewer than `AUTO_SPREAD` bundles per slot of the pool, so that all its workers stay busy.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.plan.model import StagePlan

AUTO_TARGET_S = 0.2  # a bundle's run time on its worker: engine overhead becomes ~1%
AUTO_SPREAD = 4  # at least this many bundles per slot (load balance across workers)
AUTO_PROBE_POINTS = 4  # points per probe bundle
AUTO_MIN_TIME_S = 20e-6  # a point never counts as faster than this
MAX_AUTO = 10_000


@dataclass
class Point:
    """One sweep point of a bundled stage: what runs it and the future its dependents and
    the driver wait on."""

    payload: dict[str, Any]
    meta: dict[str, Any]
    handles: list[Any]
    future: cf.Future = field(default_factory=cf.Future)
    tries: int = 0  # tries that failed before the one running now


@dataclass
class Bundle:
    """Points launched together as one engine task."""

    stage: StagePlan
    points: list[Point]
    group: Group | None = None  # an auto-sized stage's points, while it is being measured


@dataclass
class Group:
    """The points of an `auto` stage held back until a probe bundle has measured them."""

    stage: StagePlan
    rest: list[Point]
    shared: bool
    expected: int = 0  # points after the probes (cached ones included: an estimate)
    size: int = 0  # points per bundle, once measured
    closed: bool = False  # every point of the stage is in


def chunks(points: list[Point], size: int) -> list[list[Point]]:
    return [points[i:i + size] for i in range(0, len(points), size)]


def auto_size(seconds: list[float], remaining: int, slots: int) -> int:
    """Points per bundle for the rest of a stage, from the run times of probe points."""
    if not remaining:
        return 1
    per_point = max(AUTO_MIN_TIME_S, statistics.median(seconds)) if seconds else 1.0
    by_time = max(1, int(AUTO_TARGET_S / per_point))
    by_spread = max(1, math.ceil(remaining / (AUTO_SPREAD * max(1, slots))))
    return max(1, min(by_time, by_spread, MAX_AUTO))


def slots(stage: StagePlan) -> int:
    """How many of the stage's tasks can run at once (its pool's nodes x tasks per node)."""
    return max(1, stage.binding.slots_per_node) * max(1, stage.binding.pool_nodes)


def wire(points: list[Point], shared: bool) -> tuple[list[Any], list[int] | None]:
    """The bundle's inputs: the points' upstream handles once when every point reads the
    same (a whole-stage need), else each point's in turn with their counts."""
    if shared:
        return list(points[0].handles), None
    return [h for p in points for h in p.handles], [len(p.handles) for p in points]


class Bundler:
    """Groups a bundled stage's points into bundles and launches them through `launch`
    (stage, bundle payload, handles, Bundle) -> None, as soon as each bundle is full: the
    engine starts, and the first bundles run, while the driver still prepares the rest."""

    def __init__(self, launch: Callable[[StagePlan, dict[str, Any], list[Any], Bundle], None],
                 run_dir: str):
        self._launch = launch
        self._run_dir = run_dir
        self._lock = threading.Lock()

    def open(self, stage: StagePlan, shared: bool) -> Filler:
        """A stage's points, one by one (`Filler.add`, then `Filler.close`)."""
        return Filler(self, stage, shared)

    def launch(self, stage: StagePlan, points: list[Point], shared: bool,
               group: Group | None = None) -> None:
        handles, counts = wire(points, shared)
        payload = {"task_id": f"bundle:{points[0].payload['task_id']}", "run_dir": self._run_dir,
                   "placement": points[0].payload["placement"],
                   "points": [p.payload for p in points], "counts": counts}
        self._launch(stage, payload, handles, Bundle(stage, points, group))

    def measured(self, bundle: Bundle, seconds: list[float]) -> None:
        """A probe bundle is back: size the rest of its stage from it (once), and launch
        what is already there."""
        group = bundle.group
        if group is None:
            return
        with self._lock:
            if group.size:
                return
            group.size = auto_size(seconds, group.expected, slots(group.stage))
            rest, group.rest = group.rest, []
            closed = group.closed
        self._flush(group, rest, closed)

    def _flush(self, group: Group, rest: list[Point], closed: bool) -> None:
        """Launch `rest` in bundles of the group's size (all of it once the stage is closed,
        else whole bundles only, the remainder kept)."""
        size = group.size
        whole = len(rest) if closed else len(rest) - len(rest) % size
        for chunk in chunks(rest[:whole], size):
            self.launch(group.stage, chunk, group.shared)
        if whole < len(rest):
            with self._lock:
                if not group.closed:  # the stage's next points, or its close, take them
                    group.rest[:0] = rest[whole:]
                    return
                # closed while this flush ran (a probe measured as the driver closed the
                # stage): the close found nothing to launch, so the remainder goes now
                left, group.rest = rest[whole:] + group.rest, []
            for chunk in chunks(left, size):
                self.launch(group.stage, chunk, group.shared)


class Filler:
    """Fills one stage's bundles in order (see Bundler.open)."""

    def __init__(self, bundler: Bundler, stage: StagePlan, shared: bool):
        self.bundler = bundler
        self.stage = stage
        self.shared = shared
        self.current: list[Point] = []
        self.auto = stage.bundle == "auto"
        self.size = AUTO_PROBE_POINTS if self.auto else int(stage.bundle or 1)
        self.probes = min(slots(stage), math.ceil(len(stage.tasks) / AUTO_PROBE_POINTS))
        self.group = Group(stage, [], shared, expected=max(
            0, len(stage.tasks) - self.probes * AUTO_PROBE_POINTS)) if self.auto else None

    def add(self, point: Point) -> None:
        if self.auto and self.probes <= 0:
            self._rest(point)
            return
        self.current.append(point)
        if len(self.current) >= self.size:
            self._launch()

    def _launch(self) -> None:
        chunk, self.current = self.current, []
        if not chunk:
            return
        self.bundler.launch(self.stage, chunk, self.shared, self.group)
        self.probes -= 1

    def _rest(self, point: Point) -> None:
        group = self.group
        with self.bundler._lock:
            group.rest.append(point)
            if not group.size or len(group.rest) < group.size:
                return
            rest, group.rest = group.rest, []
        self.bundler._flush(group, rest, False)

    def close(self) -> None:
        self._launch()
        if self.group is None:
            return
        with self.bundler._lock:
            self.group.closed = True
            if not self.group.size:
                return  # the first probe back launches the rest
            rest, self.group.rest = self.group.rest, []
        self.bundler._flush(self.group, rest, True)
