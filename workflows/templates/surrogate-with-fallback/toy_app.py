"""Toy stages for the surrogate-with-fallback example (docs/surrogate-with-fallback.md
has the contract): the "solver" is sin(2 pi x), each ensemble member a polynomial fit to
a bootstrap resample of the training set. Only NumPy; each stage takes milliseconds."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

DEGREE = 5


def _solve(x: float) -> float:
    return float(np.sin(2.0 * np.pi * x))


def sample(n: int, seed: int, **_: Any) -> dict[str, Any]:
    """The n inputs, seeded."""
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(0.0, 1.0, int(n)).tolist(), "seed": int(seed)}


def simulate(index: int, results: dict[str, list[dict[str, Any]]], **_: Any) -> dict[str, Any]:
    """Solve input `index`; writes solution.npz (the solver-sweep template's output)."""
    start = time.perf_counter()
    x = results["sample"][0]["x"][int(index)]
    y = _solve(x)
    np.savez("solution.npz", x=x, y=y)
    return {"index": int(index), "x": x, "y": y, "seconds": time.perf_counter() - start}


def dataset(n_test: int, results: dict[str, list[dict[str, Any]]], **_: Any) -> dict[str, Any]:
    """Fan-in: the last n_test samples are held out; writes dataset.npz."""
    runs = sorted(results["simulate"], key=lambda r: r["index"])
    x = np.array([r["x"] for r in runs])
    y = np.array([r["y"] for r in runs])
    cut = len(runs) - int(n_test)
    np.savez("dataset.npz", x_train=x[:cut], y_train=y[:cut], x_test=x[cut:], y_test=y[cut:])
    return {"x_train": x[:cut].tolist(), "y_train": y[:cut].tolist(),
            "x_test": x[cut:].tolist(), "y_test": y[cut:].tolist(),
            "solve_seconds": float(sum(r["seconds"] for r in runs))}


def train(member: int, seed: int, results: dict[str, list[dict[str, Any]]],
          **_: Any) -> dict[str, Any]:
    """One member: a polynomial fit to its own bootstrap resample; writes model.pt and
    history.json (the surrogate-train template's outputs)."""
    data = results["dataset"][0]
    x, y = np.array(data["x_train"]), np.array(data["y_train"])
    rng = np.random.default_rng(1000 * int(seed) + int(member))
    pick = rng.integers(0, len(x), len(x))
    coef = np.polyfit(x[pick], y[pick], min(DEGREE, len(set(pick.tolist())) - 1))
    loss = float(np.mean((np.polyval(coef, x) - y) ** 2))
    with open("model.pt", "wb") as f:
        np.savez(f, coef=coef)
    with open("history.json", "w") as f:
        json.dump({"loss": [loss]}, f)
    return {"member": int(member), "coef": coef.tolist(), "loss": loss}


def _ensemble(members: list[dict[str, Any]], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    preds = np.array([np.polyval(m["coef"], x) for m in members])
    return preds.mean(axis=0), preds.std(axis=0) + 1e-9


def evaluate(coverage: float, results: dict[str, list[dict[str, Any]]],
             **_: Any) -> dict[str, Any]:
    """Held-out error, and the factor that makes factor x spread bound `coverage` of the
    errors; writes evaluation.json."""
    data = results["dataset"][0]
    x, y = np.array(data["x_test"]), np.array(data["y_test"])
    mean, spread = _ensemble(results["train"], x)
    err = np.abs(mean - y)
    factor = float(np.quantile(err / spread, float(coverage)))
    out = {"rmse": float(np.sqrt(np.mean(err**2))), "factor": factor,
           "coverage": float(coverage)}
    with open("evaluation.json", "w") as f:
        json.dump(out, f)
    return out


def couple(n_queries: int, trust_threshold: float, seed: int,
           results: dict[str, list[dict[str, Any]]], **_: Any) -> dict[str, Any]:
    """Answer new queries with the surrogate where factor x spread is within the
    threshold, with the solver elsewhere; writes coupling.json."""
    rng = np.random.default_rng(int(seed) + 1)
    x = rng.uniform(0.0, 1.0, int(n_queries))
    mean, spread = _ensemble(results["train"], x)
    trusted = results["evaluate"][0]["factor"] * spread <= float(trust_threshold)
    exact = np.array([_solve(v) for v in x])
    answers = np.where(trusted, mean, exact)
    out = {"queries": int(n_queries), "surrogate": int(trusted.sum()),
           "solver": int((~trusted).sum()),
           "accepted_max_error": float(np.abs(answers - exact)[trusted].max())
           if trusted.any() else 0.0}
    with open("coupling.json", "w") as f:
        json.dump(out, f)
    return out
