"""Expand a stage's sweep into points: product/zip of values, and qmc samples.

Samples come from scipy.stats.qmc (LHS, Sobol) or NumPy's generator, always
with a recorded seed: given, or derived from the workflow and stage names so
that the same spec always plans the same points.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from typing import Any

from orchestrator.plan.compact import Linear, Points
from orchestrator.spec.models import RangeSpec, Sample, Sweep


class ExpandError(ValueError):
    """A sweep that cannot be expanded; `path` is relative to the sweep."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path


def derived_seed(workflow: str, stage: str) -> int:
    digest = hashlib.sha256(f"{workflow}/{stage}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def range_values(r: RangeSpec) -> list[Any]:
    return list(range_seq(r))


def range_seq(r: RangeSpec) -> Sequence[Any]:
    """A range's values as a compact sequence (plan/compact.py): no list of 10^7 numbers."""
    if r.num is not None:
        if r.num == 1:
            return [r.start]
        span = r.stop - r.start
        ints = isinstance(r.start, int) and isinstance(r.stop, int) and span % (r.num - 1) == 0
        if ints:
            step = span // (r.num - 1)
            return Linear(r.start, step, r.num, as_float=False)
        step = span / (r.num - 1)
        return Linear(r.start, step, r.num, last=float(r.stop))
    assert r.step is not None
    try:
        count = max(0, math.ceil((r.stop - r.start) / r.step - 1e-9))
    except (OverflowError, ValueError):
        raise ExpandError((), "range bounds must be finite numbers") from None
    if count > 10_000_000:
        raise ExpandError((), f"range has {count} values; the limit is 10,000,000")
    if all(isinstance(v, int) for v in (r.start, r.stop, r.step)):
        return range(r.start, r.stop, r.step)
    return Linear(r.start, r.step, count)


def sample_points(sample: Sample, seed: int) -> list[dict[str, float]]:
    names, columns = sample_columns(sample, seed)
    rows = zip(*(c.tolist() for c in columns), strict=True)
    return [dict(zip(names, row, strict=True)) for row in rows]


def sample_columns(sample: Sample, seed: int) -> tuple[list[str], list[Any]]:
    """The samples as one NumPy column per name (8 bytes a value, not a dict a point)."""
    names = list(sample.space)
    d = len(names)
    if sample.method == "random":
        import numpy as np

        unit = np.random.default_rng(seed).random((sample.n, d))
    else:
        from scipy.stats import qmc

        if sample.method == "lhs":
            engine = qmc.LatinHypercube(d=d, seed=seed)
        else:
            engine = qmc.Sobol(d=d, scramble=True, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance warning for n not a power of 2
            unit = engine.random(sample.n)
    columns = []
    for j, name in enumerate(names):
        b = sample.space[name]
        u = unit[:, j]
        if b.log:
            col = (math.log(b.low) + u * (math.log(b.high) - math.log(b.low)))
            import numpy as np

            col = np.exp(col)
        else:
            col = b.low + u * (b.high - b.low)
        columns.append(col)
    return names, columns


def expand(sweep: Sweep | None, seed: int) -> Points | None:
    """Points of a sweep (None for an unswept stage), as a compact sequence."""
    if sweep is None:
        return None
    names: list[str] = []
    lists: list[Sequence[Any]] = []
    if sweep.values:
        names = list(sweep.values)
        for name in names:
            spec = sweep.values[name]
            try:
                values = range_seq(spec) if isinstance(spec, RangeSpec) else list(spec)
            except ExpandError as exc:
                raise ExpandError(("values", name), str(exc)) from None
            if not len(values):
                raise ExpandError(("values", name), "no values to sweep over")
            lists.append(values)
        if sweep.mode == "zip":
            lengths = {len(v) for v in lists}
            if len(lengths) > 1:
                sizes = ", ".join(f"{n} has {len(v)}" for n, v in zip(names, lists, strict=True))
                raise ExpandError(("mode",), f"zip needs lists of equal length: {sizes}")
        else:
            total = math.prod(len(v) for v in lists)
            if total > 10_000_000:
                raise ExpandError(("values",), f"the product has {total:,} points; "
                                  "the limit is 10,000,000")
    snames: list[str] = []
    scolumns: list[Any] = []
    if sweep.sample is not None:
        snames, scolumns = sample_columns(sweep.sample, seed)
        grid = len(Points(names, lists, sweep.mode)) if sweep.values else 1
        if sweep.values and grid * sweep.sample.n > 10_000_000:
            raise ExpandError(("sample", "n"), "values x samples exceed 10,000,000 points")
    return Points(names, lists, sweep.mode, snames, scolumns)
