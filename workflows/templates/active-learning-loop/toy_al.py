"""Toy stages for the active-learning-loop example: the reference is f(T) = sin(3 T),
each ensemble member a cubic fit to what is labelled so far but one point (a different
one per member).
The labelled points travel with the results (train -> explore -> select -> label) and
come back to train as the loop's feedback. Only NumPy; milliseconds per task."""

from __future__ import annotations

from typing import Any

import numpy as np


def _reference(t: float) -> float:
    return float(np.sin(3.0 * t))


def init_data(**_: Any) -> dict[str, Any]:
    """Four labelled points to start from."""
    return {"points": [[t, _reference(t)] for t in (0.6, 1.0, 1.5, 2.0)]}


def train(member: int, seed: int, results: dict[str, list[dict[str, Any]]],
          feedback: dict[str, list[dict[str, Any]]] | None = None, **_: Any) -> dict[str, Any]:
    """One member, on the initial points plus every label so far (the feedback)."""
    labelled = feedback["label"][0]["labelled"] if feedback else []
    points = np.array(results["init_data"][0]["points"] + labelled)
    order = np.random.default_rng(int(seed)).permutation(len(points))
    keep = np.delete(np.arange(len(points)), order[int(member) % len(points)])
    coef = np.polyfit(points[keep, 0], points[keep, 1], min(3, len(keep) - 1))
    return {"member": int(member), "coef": coef.tolist(), "labelled": labelled}


def explore(temperature: float, results: dict[str, list[dict[str, Any]]],
            **_: Any) -> dict[str, Any]:
    """Every member's prediction at this walker's point."""
    preds = [float(np.polyval(m["coef"], temperature)) for m in results["train"]]
    return {"x": float(temperature), "mean": float(np.mean(preds)),
            "spread": float(np.std(preds)), "labelled": results["train"][0]["labelled"]}


def select(results: dict[str, list[dict[str, Any]]], threshold: float = 0.05,
           **_: Any) -> dict[str, Any]:
    """Fan-in: walkers whose members disagree by more than `threshold` are candidates;
    `uncertain_fraction` is what the loop's `until` tests."""
    walkers = results["explore"]
    candidates = [w["x"] for w in walkers if w["spread"] > float(threshold)]
    return {"uncertain_fraction": len(candidates) / len(walkers), "candidates": candidates,
            "labelled": walkers[0]["labelled"]}


def label(results: dict[str, list[dict[str, Any]]], **_: Any) -> dict[str, Any]:
    """Reference labels for the candidates, added to everything labelled before."""
    chosen = results["select"][0]
    new = [[x, _reference(x)] for x in chosen["candidates"]]
    return {"labelled": chosen["labelled"] + new, "new": len(new)}
