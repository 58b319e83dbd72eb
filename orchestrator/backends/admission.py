"""When a task may start: the driver's view of a pool's nodes (or, on a local site, of the
machine that all its pools share), so that a task reaches a worker only when its cores,
units and memory are free there.

Parsl's executors start a task as soon as a worker is idle, whatever the task asks for.
Gating at submission keeps every worker useful: a task that does not fit yet waits here,
not inside a worker that smaller tasks could have used. The node ledger on the node itself
(backends/placement.py) still decides the exact CPUs and is the last word; this admission
is exact on a local site (one node) and, on multi-node pools, a first-fit over the pool's
nodes that the ledger corrects.

Policy (shared with the ledger; docs/placement.md): arrival order with backfill (a task
that fits may pass one that does not), and once the oldest waiting task has waited
`STARVATION_S`, nothing passes it any more.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from orchestrator.backends import placement

BACKFILL_WINDOW = 64


@dataclass(frozen=True)
class Shape:
    """What a task takes of one node: cores (None: all), kind-qualified units, bytes."""

    cores: int | None
    units: tuple[str, ...] = ()
    memory: int = 0


@dataclass
class _Node:
    cores: int | None  # None: unknown (read on the node; not gated here)
    memory: int | None
    free_cpus: list[int] | None = None  # the CPU ids, where this admission is exact
    used_cores: int = 0
    used_memory: int = 0
    busy_units: set[str] = field(default_factory=set)
    whole: int = 0  # tasks holding every core (`cores: all` where the count is unknown)
    tasks: int = 0

    def fits(self, s: Shape) -> bool:
        if self.whole or (s.cores is None and self.tasks):
            return False
        if self.cores is not None and s.cores is not None and \
                self.used_cores + s.cores > self.cores:
            return False
        if self.memory is not None and self.used_memory + s.memory > self.memory:
            return False
        return not self.busy_units.intersection(s.units)

    def take(self, s: Shape, sign: int, cpus: tuple[int, ...] = ()) -> tuple[int, ...]:
        """Hold (sign +1) or give back (-1) a task's share; with known CPU ids, the CPUs it
        is given (the lowest free ones) or gives back."""
        if self.free_cpus is not None:
            if sign > 0:
                n = len(self.free_cpus) if s.cores is None else s.cores
                cpus, self.free_cpus = tuple(self.free_cpus[:n]), self.free_cpus[n:]
            else:
                self.free_cpus = sorted((*self.free_cpus, *cpus))
        self.tasks += sign
        self.used_cores += sign * (s.cores or 0)
        self.used_memory += sign * s.memory
        self.whole += sign * (s.cores is None)
        if sign > 0:
            self.busy_units.update(s.units)
        else:
            self.busy_units.difference_update(s.units)
        return cpus


@dataclass
class _Waiting:
    shape: Shape
    start: Any  # what the caller needs to start the task
    since: float
    cpus: tuple[int, ...] = ()  # given on admission where the admission is exact


class Admission:
    """The nodes of one scope and the tasks waiting for them: `offer` queues a task, `done`
    gives a share back; both return what may start now."""

    def __init__(self, nodes: int, cores: int | None, memory: int | None,
                 cpus: list[int] | None = None):
        """`cpus`: the CPU ids of a scope that is one node (a local site): admission is then
        exact, and it gives each task its CPUs itself (the node needs no ledger)."""
        exact = nodes == 1 and cpus is not None
        if exact:
            cores = len(cpus)
        self.nodes = [_Node(cores, memory, list(cpus) if exact else None)
                      for _ in range(max(1, nodes))]
        self._empty = _Node(cores, memory)
        self.exact = exact
        self.lock = threading.Lock()
        self.waiting: deque[_Waiting] = deque()

    def offer(self, shape: Shape, start: Any) -> list[tuple[int, _Waiting]]:
        """Queue a task; return the tasks (this one or earlier ones) that may start now, each
        with its node index (-1: it fits no node, and the node's ledger will fail it with
        the reason). The caller starts them: `item.start`."""
        with self.lock:
            self.waiting.append(_Waiting(shape, start, time.monotonic()))
            return self._admit()

    def done(self, shape: Shape, node: int, cpus: tuple[int, ...] = ()
             ) -> list[tuple[int, _Waiting]]:
        """Give a finished task's share (and CPUs) back; return what may start now."""
        with self.lock:
            if node >= 0:
                self.nodes[node].take(shape, -1, cpus)
            return self._admit()

    def _admit(self) -> list[tuple[int, _Waiting]]:
        """Start waiting tasks in arrival order; past the first that does not fit, look at
        most BACKFILL_WINDOW further (so a long queue costs O(window) per event, not O(n))."""
        ready: list[tuple[int, _Waiting]] = []
        now = time.monotonic()
        i = skipped = 0
        while i < len(self.waiting) and skipped <= BACKFILL_WINDOW:
            item = self.waiting[i]
            node = -1 if not self._empty.fits(item.shape) else next(
                (k for k, n in enumerate(self.nodes) if n.fits(item.shape)), None)
            if node is None:
                if now - item.since > placement.STARVATION_S:
                    break  # the oldest long waiter goes first: nothing passes it
                i += 1
                skipped += 1
                continue
            if node >= 0:  # (-1: it fits no node; the node's ledger will say why)
                item.cpus = self.nodes[node].take(item.shape, +1)
            del self.waiting[i]
            ready.append((node, item))
            if not skipped and not self._room():
                break  # full: nothing further can fit
        return ready

    def _room(self) -> bool:
        """Could any further task fit somewhere (a core, or an unknown count, is free)?"""
        return any(not n.whole and (n.cores is None or n.used_cores < n.cores)
                   for n in self.nodes)

    @property
    def queued(self) -> int:
        return len(self.waiting)


def stage_shape(cores: Any, units: int, memory: str | int | None) -> tuple:
    """A stage's task shape as far as packing goes: (cores, has units, memory)."""
    return (cores, units > 0, memory or 0)


def placement_modes(scopes: dict[str, list[str]], shapes: dict[str, set[tuple]],
                    exact: bool, unpinned: set[str] = frozenset()) -> dict[str, str]:
    """How each executor's tasks are placed, per scope (a set of executors sharing nodes):
    - "pinned": one executor whose tasks all have one shape without devices or memory: its
      workers are pinned to cores (HTEX `cpu_affinity`; a threads pool's task threads pin
      themselves, task_binding._thread_block) and no task ever waits for
      another, so nothing is gated (no round trip to the driver between tasks);
    - "exact": the driver's admission gives each task its CPUs (a scope of one node; and
      always for `unpinned` executors, whose workers cannot be pinned: a process pool);
    - "ledger": the admission gates, and the node's ledger picks the CPUs (several nodes).
    """
    modes = {}
    for labels in scopes.values():
        one = len(labels) == 1 and len(shapes[labels[0]]) == 1
        shape = next(iter(shapes[labels[0]])) if one else None
        pinned = one and not shape[1] and not shape[2] and labels[0] not in unpinned
        for label in labels:
            modes[label] = "pinned" if pinned else "exact" if exact else "ledger"
    return modes
