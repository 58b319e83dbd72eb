"""A toy solver for the solver-sweep example: du/dt = -k u with explicit Euler steps,
one decay rate k per sample index. Only NumPy; seconds in all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def simulate(index: int, steps: int = 200, **_: Any) -> dict[str, Any]:
    """Solve sample `index`; write solution.npz in the task directory (the template's
    declared output) and return where it is with the final value."""
    rate = 0.5 * (int(index) + 1)
    dt = 5.0 / steps
    u = np.empty(steps + 1)
    u[0] = 1.0
    for n in range(steps):
        u[n + 1] = u[n] * (1.0 - rate * dt)
    np.savez("solution.npz", t=np.linspace(0.0, 5.0, steps + 1), u=u)
    exact = float(np.exp(-rate * 5.0))
    return {"index": int(index), "rate": rate, "final": float(u[-1]),
            "error": abs(float(u[-1]) - exact), "solution": str(Path("solution.npz").resolve())}


def summary(results: dict[str, list[dict[str, Any]]], **_: Any) -> dict[str, Any]:
    runs = results["simulate"]
    return {"samples": len(runs), "max_error": max(r["error"] for r in runs),
            "finals": [r["final"] for r in runs]}
