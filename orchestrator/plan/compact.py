"""Compact sweeps: a stage's points and tasks as sequences computed on demand.

A 10^7-point sweep is a few ranges, not 10^7 dicts and task objects: `Linear` is one
range's values, `Points` a zip or product of them (and of sampled columns), `TaskList`
a stage's tasks. Each behaves as the list it stands for (len, index, slice, iteration,
== against a list) and builds an item only when asked, so `orch plan` of a huge sweep
costs memory by stage, not by task (docs/benchmarks.md).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any


class _ListLike(Sequence):
    """Slices are lists; equal to any sequence with the same items."""

    __slots__ = ()

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._at(k) for k in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._at(i)

    def _at(self, i: int) -> Any:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(repr(x) for x in itertools.islice(self, 3))
        return f"{type(self).__name__}([{head}{', ...' if len(self) > 3 else ''}] x{len(self)})"


class Linear(_ListLike):
    """`start + i * step` for i < count, as float or int; `last` replaces the last value
    (an inclusive float range ends exactly at its stop)."""

    __slots__ = ("as_float", "count", "last", "start", "step")

    def __init__(self, start: float, step: float, count: int, last: Any = None,
                 as_float: bool = True):
        self.start, self.step, self.count = start, step, count
        self.last, self.as_float = last, as_float

    def __len__(self) -> int:
        return self.count

    def _at(self, i: int) -> Any:
        if self.last is not None and i == self.count - 1:
            return self.last
        v = self.start + i * self.step
        return float(v) if self.as_float else v

    def __iter__(self) -> Iterator[Any]:
        for i in range(self.count):
            yield self._at(i)


class Points(_ListLike):
    """Sweep points: `columns` (one value sequence per name) zipped or crossed in
    itertools.product order, then, if any, each crossed with every sampled point."""

    __slots__ = ("_grid", "_radix", "columns", "mode", "names", "scolumns", "snames")

    def __init__(self, names: Sequence[str], columns: Sequence[Sequence[Any]], mode: str,
                 snames: Sequence[str] = (), scolumns: Sequence[Sequence[Any]] = ()):
        self.names, self.columns, self.mode = tuple(names), tuple(columns), mode
        self.snames, self.scolumns = tuple(snames), tuple(scolumns)
        if not self.names:
            self._grid = 1
        elif mode == "zip":
            self._grid = len(self.columns[0])
        else:
            self._grid = math.prod(len(c) for c in self.columns)
        self._radix = tuple(len(c) for c in self.columns)

    @property
    def samples(self) -> int:
        return len(self.scolumns[0]) if self.snames else 1

    def __len__(self) -> int:
        return self._grid * self.samples

    def _grid_at(self, g: int) -> dict[str, Any]:
        if self.mode == "zip" or len(self.columns) == 1:
            return {n: c[g] for n, c in zip(self.names, self.columns, strict=True)}
        idx = []
        for size in reversed(self._radix):
            g, r = divmod(g, size)
            idx.append(r)
        idx.reverse()
        return {n: c[k] for n, c, k in zip(self.names, self.columns, idx, strict=True)}

    def _sample_at(self, s: int) -> dict[str, Any]:
        return {n: _py(c[s]) for n, c in zip(self.snames, self.scolumns, strict=True)}

    def _at(self, i: int) -> dict[str, Any]:
        if not self.snames:
            return self._grid_at(i)
        g, s = divmod(i, self.samples)
        if not self.names:
            return self._sample_at(s)
        return {**self._grid_at(g), **self._sample_at(s)}

    def _grid_iter(self) -> Iterator[dict[str, Any]]:
        names = self.names
        if not names:
            yield {}
            return
        rows = zip(*self.columns, strict=True) if self.mode == "zip" \
            else itertools.product(*self.columns)
        for row in rows:
            yield dict(zip(names, row, strict=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.snames:
            yield from self._grid_iter()
            return
        samples = [dict(zip(self.snames, row, strict=True))
                   for row in zip(*(_pylist(c) for c in self.scolumns), strict=True)] \
            if self.samples <= 100_000 else None
        grid = self._grid_iter() if self.names else iter([{}])
        for g in grid:
            if samples is not None:
                for s in samples:
                    yield {**g, **s}
            else:
                for k in range(self.samples):
                    yield {**g, **self._sample_at(k)}


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _pylist(c: Sequence[Any]) -> list[Any]:
    return c.tolist() if hasattr(c, "tolist") else list(c)


class TaskList(_ListLike):
    """A stage's tasks: `stage[i]` at point i with device slot i mod len(slots); an
    unswept stage (points None) has the one task `stage`."""

    __slots__ = ("points", "slots", "stage")

    def __init__(self, stage: str, points: Sequence[dict[str, Any]] | None,
                 slots: Sequence[tuple[dict[str, str], tuple[str, ...]]]):
        self.stage, self.points, self.slots = stage, points, tuple(slots)

    def __len__(self) -> int:
        return 1 if self.points is None else len(self.points)

    def _at(self, i: int):
        from orchestrator.plan.model import PlannedTask

        if self.points is None:
            return PlannedTask(self.stage, self.stage, None, None, *self.slots[0])
        return PlannedTask(f"{self.stage}[{i}]", self.stage, i, self.points[i],
                           *self.slots[i % len(self.slots)])

    def __iter__(self):
        from orchestrator.plan.model import PlannedTask

        if self.points is None:
            yield self._at(0)
            return
        name, slots, n = self.stage, self.slots, len(self.slots)
        for i, p in enumerate(self.points):
            yield PlannedTask(f"{name}[{i}]", name, i, p, *slots[i % n])

    def ids(self) -> Iterator[str]:
        """Task ids in order, without building the tasks."""
        if self.points is None:
            yield self.stage
        else:
            name = self.stage
            for i in range(len(self.points)):
                yield f"{name}[{i}]"

    def device_masks(self) -> list[dict[str, str]]:
        """The masks its tasks use (slots in use), without building the tasks."""
        return [s[0] for s in self.slots[:len(self)]]
