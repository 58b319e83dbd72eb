"""The deepxde-pinn step: a physics-informed neural network (DeepXDE, PyTorch backend)
for the Poisson problem, and the finite-difference solve it is judged against.

    -lap u = f  on the unit square,  u = 0 on its boundary,
    f = 2 (k pi)^2 sin(k pi x) sin(k pi y)   (exact u = sin(k pi x) sin(k pi y))

`solve` is the 5-point finite-difference solution on a grid x grid interior grid (SciPy's
sparse direct solver); `train` fits DeepXDE's FNN to the PDE residual at random collocation
points, the boundary condition imposed exactly by an output transform (u = x(1-x)y(1-y) N),
then predicts on the solver's grid: rel. L2 error against the solver and against the exact
solution. DeepXDE is imported inside `train` with DDE_BACKEND=pytorch (the project's CPU
torch), never when this module is imported.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from orchestrator.library.stage_io import one, task_dir

SOLUTION = "solution.npz"
PREDICTION = "pinn.npz"
METRICS = "metrics.json"


def exact(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    return np.sin(k * np.pi * x) * np.sin(k * np.pi * y)


def grid_points(grid: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(1, grid + 1) / (grid + 1)
    return np.meshgrid(t, t, indexing="ij")


def solve(grid: int = 31, frequency: int = 1,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """The finite-difference reference: writes solution.npz (x, y, u on the grid)."""
    from scipy.sparse import diags, identity, kron
    from scipy.sparse.linalg import spsolve

    n, k = int(grid), int(frequency)
    if n < 3 or k < 1:
        raise ValueError(f"grid must be >= 3 and frequency >= 1, got {grid}, {frequency}")
    h = 1.0 / (n + 1)
    start = time.perf_counter()
    t = diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) / h ** 2
    a = (kron(t, identity(n)) + kron(identity(n), t)).tocsc()
    x, y = grid_points(n)
    f = 2 * (k * np.pi) ** 2 * exact(x, y, k)
    u = spsolve(a, f.ravel()).reshape(n, n)
    seconds = time.perf_counter() - start
    path = task_dir(context) / SOLUTION
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, x=x, y=y, u=u)
    tmp.replace(path)
    err = float(np.linalg.norm(u - exact(x, y, k)) / np.linalg.norm(exact(x, y, k)))
    return {"solution": str(path), "grid": n, "frequency": k, "seconds": seconds,
            "error_vs_exact": err}


def train(iterations: int = 2000, width: int = 32, depth: int = 3,
          learning_rate: float = 1e-3, n_domain: int = 400, seed: int = 0,
          results: dict[str, list[Any]] | None = None,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Fit the PINN; writes pinn.npz (prediction on the solver's grid) and metrics.json."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    ref = one(results, "solve")
    k = int(ref["frequency"])
    dde.config.set_random_seed(int(seed))
    bk = dde.backend

    def pde(x: Any, u: Any) -> Any:
        lap = dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)
        f = 2 * (k * np.pi) ** 2 * bk.sin(k * np.pi * x[:, 0:1]) * bk.sin(k * np.pi * x[:, 1:2])
        return -lap - f

    geom = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])
    data = dde.data.PDE(geom, pde, [], num_domain=int(n_domain), num_boundary=0)
    net = dde.nn.FNN([2] + [int(width)] * int(depth) + [1], "tanh", "Glorot uniform")
    net.apply_output_transform(
        lambda x, u: x[:, 0:1] * (1 - x[:, 0:1]) * x[:, 1:2] * (1 - x[:, 1:2]) * u)
    model = dde.Model(data, net)
    model.compile("adam", lr=float(learning_rate))
    start = time.perf_counter()
    losses, _ = model.train(iterations=int(iterations), display_every=max(1, int(iterations)),
                            verbose=0)
    seconds = time.perf_counter() - start
    with np.load(ref["solution"]) as sol:
        x, y, u = sol["x"], sol["y"], sol["u"]
    pts = np.stack([x.ravel(), y.ravel()], axis=1)
    start = time.perf_counter()
    pred = np.asarray(model.predict(pts)).reshape(u.shape)
    infer = time.perf_counter() - start
    truth = exact(x, y, k)
    metrics = {
        "error_vs_solver": float(np.linalg.norm(pred - u) / np.linalg.norm(u)),
        "error_vs_exact": float(np.linalg.norm(pred - truth) / np.linalg.norm(truth)),
        "solver_error_vs_exact": float(ref["error_vs_exact"]),
        "loss": float(np.sum(losses.loss_train[-1])), "iterations": int(iterations),
        "train_seconds": seconds, "predict_seconds": infer, "solver_seconds": ref["seconds"],
        "backend": dde.backend.backend_name, "parameters": int(sum(
            p.numel() for p in net.parameters())),
    }
    out = task_dir(context)
    tmp = out / (PREDICTION + ".tmp.npz")
    np.savez(tmp, x=x, y=y, u=pred)
    tmp.replace(out / PREDICTION)
    (out / METRICS).write_text(json.dumps(metrics, indent=1))
    return {"prediction": str(out / PREDICTION), **metrics}
