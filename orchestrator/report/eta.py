"""How long what is left of a run will take: a small simulation of the remaining tasks.

A count-based ETA is wrong whenever tasks differ in length (the last stage of a
surrogate workflow is the long one). Here each stage has an estimated duration per
task (measured in this run, else from earlier runs of the workflow, else its
walltime: `source` says which), its tasks occupy a share of a node of their pool,
and a stage starts when the stages it needs have ended. Tasks of one stage are
started in waves, so the cost grows with the number of waves, not of tasks.
Pure: no I/O.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

_EPS = 1e-9


@dataclass
class StageWork:
    name: str
    needs: tuple[str, ...]
    pool: str
    share: float
    """The fraction of one node of `pool` a task holds (1 / tasks per node, x nodes)."""
    todo: int
    """Tasks not started yet (waiting, queued, or not submitted)."""
    running: list[float] = field(default_factory=list)
    """Seconds each running task has run so far."""
    seconds: float | None = None
    """Estimated run time of one task."""
    source: str = "walltime"
    """measured | earlier runs | walltime: where `seconds` comes from."""


def remaining(stages: list[StageWork], capacity: dict[str, float]) -> dict[str, float | None]:
    """Seconds from now until each stage's last task ends: 0.0 for a stage with nothing
    left, None for one that cannot start (no estimate, or a stage it needs never ends).
    `stages` come in a topological order; needs outside `stages` count as ended."""
    sim = _Simulation(stages, capacity)
    return sim.run()


class _Simulation:
    def __init__(self, stages: list[StageWork], capacity: dict[str, float]):
        self.stages = {s.name: s for s in stages}
        self.order = [s.name for s in stages]  # callers give a topological order
        self.capacity = capacity
        self.todo = {s.name: s.todo for s in stages}
        self.active = {s.name: 0 for s in stages}
        self.used = {pool: 0.0 for pool in capacity}
        self.end: dict[str, float | None] = {}
        self.events: list[tuple[float, int, str, int]] = []
        self.seq = 0

    def run(self) -> dict[str, float | None]:
        for s in self.stages.values():
            if s.running:
                left = [_left(s.seconds, e) for e in s.running]
                for t in left:
                    self._push(t, s.name, 1)
        now = 0.0
        self._settle(now)
        while self.events:
            now, _, name, n = heapq.heappop(self.events)
            self.active[name] -= n
            s = self.stages[name]
            self.used[s.pool] = max(0.0, self.used.get(s.pool, 0.0) - s.share * n)
            self._settle(now)
        return {name: self.end.get(name) for name in self.order}

    def _push(self, t: float, name: str, n: int) -> None:
        s = self.stages[name]
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, name, n))
        self.active[name] += n
        self.used[s.pool] = self.used.get(s.pool, 0.0) + s.share * n

    def _settle(self, now: float) -> None:
        """Mark stages that ended, start what is ready, repeat until nothing changes."""
        changed = True
        while changed:
            changed = False
            for name in self.order:
                if name in self.end:
                    continue
                if self.todo[name] == 0 and self.active[name] == 0:
                    self.end[name] = now
                    changed = True
                elif self.todo[name] and self._ready(name):
                    changed |= self._start(name, now)

    def _ready(self, name: str) -> bool:
        s = self.stages[name]
        return s.seconds is not None and all(
            self.end.get(n) is not None for n in s.needs if n in self.stages)

    def _start(self, name: str, now: float) -> bool:
        s = self.stages[name]
        cap = self.capacity.get(s.pool, 1.0)
        free = cap - self.used.get(s.pool, 0.0)
        n = min(self.todo[name], math.floor((free + _EPS) / max(s.share, _EPS)))
        if n <= 0 and self.used.get(s.pool, 0.0) <= _EPS:
            n = 1  # a task larger than the pool still runs, alone
        if n <= 0:
            return False
        self.todo[name] -= n
        self._push(now + float(s.seconds or 0.0), name, n)
        return True


def _left(seconds: float | None, elapsed: float) -> float:
    """A running task's expected time left; one past its estimate is given a tenth more
    (it is still running, so it has not ended yet)."""
    if seconds is None:
        return max(elapsed, 1.0)
    return max(seconds - elapsed, 0.1 * seconds)
