"""A toy surrogate for the surrogate-train example: mini-batch gradient descent on a
linear model over polynomial features. Only NumPy; a second or so."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def data(n: int = 64, seed: int = 0, **_: Any) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, n))
    y = x**3 - x + rng.normal(0.0, 0.01, n)
    return {"x": x.tolist(), "y": y.tolist()}


def _features(x: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, x**2, x**3], axis=1)


def train(epochs: int, learning_rate: float, batch_size: int, seed: int,
          results: dict[str, list[dict[str, Any]]], **_: Any) -> dict[str, Any]:
    """Fit; write the template's outputs model.pt (the weights, as NumPy .npz bytes: a
    real model writes its torch state_dict) and history.json; return the final losses."""
    sample = results["data"][0]
    x, y = np.asarray(sample["x"]), np.asarray(sample["y"])
    rng = np.random.default_rng(seed)
    feats, w = _features(x), np.zeros(4)
    history = []
    for _epoch in range(int(epochs)):
        order = rng.permutation(len(x))
        for start in range(0, len(x), int(batch_size)):
            batch = order[start:start + int(batch_size)]
            grad = 2.0 * feats[batch].T @ (feats[batch] @ w - y[batch]) / len(batch)
            w -= float(learning_rate) * grad
        history.append(float(np.mean((feats @ w - y) ** 2)))
    with open("model.pt", "wb") as f:
        np.savez(f, weights=w)
    with open("history.json", "w") as f:
        json.dump({"loss": history}, f)
    return {"final_loss": history[-1], "first_loss": history[0], "epochs": len(history),
            "weights": w.tolist()}
