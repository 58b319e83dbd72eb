"""One rule for numbers read from a run's files: finite ints and floats count, booleans,
NaN, infinities and everything else do not. Shared by the report's fact modules."""

from __future__ import annotations

import math
from typing import Any


def finite(v: Any) -> float | None:
    """`v` as a float if it is a finite number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)
