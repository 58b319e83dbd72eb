"""sample -> simulate[i] -> dataset, and the loop's resolve: the solver half (NumPy only).

Files travel between stages by absolute path in the results (each task writes into its own
directory, atomically). Initial fields come from three seeded streams that never overlap:
training and held-out (`initial.npz`, the first n_samples - n_test train) and the
candidate pool the loop may add to the data (`candidates.npz`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library.solvers import navier_stokes as ns
from orchestrator.library.stage_io import first, one, task_dir

INITIAL = "initial.npz"
CANDIDATES = "candidates.npz"
TRAJECTORY = "trajectory.npy"
DATASET = "dataset.npz"
ADDED = "added.npz"
STREAMS = {"samples": 0, "candidates": 1}


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


def draw(count: int, grid: int, seed: int, stream: int, amplitude: list[float]) -> np.ndarray:
    """`count` random initial vorticities: the FNO paper's Gaussian random field, each
    scaled by an amplitude drawn uniformly from [low, high] (stronger fields are more
    nonlinear)."""
    low, high = (float(a) for a in amplitude)
    if not 0 < low <= high:
        raise ValueError(f"amplitude must be [low, high] with 0 < low <= high, got {amplitude}")
    rng = np.random.default_rng([int(seed), int(stream), 7])
    fields = ns.random_initial(int(count), int(grid), int(rng.integers(2 ** 31)))
    return fields * rng.uniform(low, high, (int(count), 1, 1))


def sample(n: int, n_candidates: int, grid: int, amplitude: list[float],
           solver_dt: float = 0.02, spinup: float = 0.0, seed: int = 0,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Draw the n initial fields of the sweep and the loop's candidate pool (the latter
    already spun up: they are forecast from, as the held-out states are)."""
    out = task_dir(context)
    x = draw(n, grid, seed, STREAMS["samples"], amplitude)
    c = draw(n_candidates, grid, seed, STREAMS["candidates"], amplitude)
    if len(c):
        c = spun_up(c, grid, solver_dt, spinup)
    save_npz(out / INITIAL, fields=x)
    save_npz(out / CANDIDATES, fields=c)
    return {"initial": str(out / INITIAL), "candidates": str(out / CANDIDATES), "n": int(n),
            "n_candidates": int(n_candidates), "grid": int(grid), "seed": int(seed),
            "amplitude": [float(a) for a in amplitude]}


def solve(w0: np.ndarray, grid: int, solver_dt: float, model_dt: float,
          steps: int) -> ns.Trajectory:
    """The reference trajectories of the fields w0: frames every model_dt to steps * model_dt."""
    return ns.Solver(grid, solver_dt).run(w0, steps * model_dt, model_dt)


def spun_up(w0: np.ndarray, grid: int, solver_dt: float, spinup: float) -> np.ndarray:
    """The fields w0 advanced by `spinup` time units (the FNO paper forecasts from t=10:
    the random field's small scales have decayed by then)."""
    if spinup <= 0:
        return np.asarray(w0, dtype=float)
    return ns.Solver(grid, solver_dt).run(w0, spinup, spinup).states[-1]


def simulate(index: int, solver_dt: float, model_dt: float, steps: int,
             spinup: float = 0.0, results: dict[str, list[Any]] | None = None,
             context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """One trajectory: sample `index`, spun up, advanced `steps` model steps; writes
    trajectory.npy (steps + 1, N, N). A diverged solve fails the task."""
    info = one(results, "sample")
    with np.load(info["initial"]) as data:
        w0 = data["fields"][int(index)]
    start = time.perf_counter()
    w0 = spun_up(w0, info["grid"], solver_dt, spinup)
    traj = solve(w0, info["grid"], solver_dt, model_dt, steps)
    traj.seconds = time.perf_counter() - start
    path = task_dir(context) / TRAJECTORY
    save_npy(path, traj.states[:, 0])
    return {"index": int(index), "trajectory": str(path), "seconds": traj.seconds,
            "solver_steps": traj.steps, "enstrophy_end": float(0.5 * (traj.states[-1] ** 2).mean())}


def dataset(n_test: int, results: dict[str, list[Any]] | None = None,
            context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Fan-in: the last n_test trajectories are held out, the rest train."""
    info = one(results, "sample")
    sims = sorted((results or {}).get("simulate") or [], key=lambda r: r["index"])
    n, n_test = len(sims), int(n_test)
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be between 1 and {n - 1} (n_samples - 1), got {n_test}")
    trajs = np.stack([np.load(r["trajectory"]) for r in sims])
    split = n - n_test
    path = task_dir(context) / DATASET
    save_npz(path, train=trajs[:split], test=trajs[split:])
    seconds = np.array([r["seconds"] for r in sims])
    return {"dataset": str(path), "n_train": split, "n_test": n_test, "grid": info["grid"],
            "frames": int(trajs.shape[1]), "data_seconds": float(seconds.sum()),
            "solve_seconds_mean": float(seconds.mean())}


def resolve(solver_dt: float, model_dt: float, steps: int, target: float,
            max_iterations: int, results: dict[str, list[Any]] | None = None,
            context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Run the solver on the candidates assess flagged; writes added.npz. Returns every
    data file so far (train's plus this one), the candidates used and the model to warm
    start from: what train reads in the next iteration (the loop's feedback)."""
    info = one(results, "sample")
    trained = first(results, "train", "resolve")
    flagged = first(results, "assess", "resolve")
    last = (flagged["horizon_error"] < float(target)
            or int(trained["iteration"]) >= int(max_iterations))
    chosen = [] if last else [int(i) for i in flagged["selected"]]
    files = list(trained["data_files"])
    seconds = 0.0
    if chosen:
        with np.load(info["candidates"]) as data:
            w0 = data["fields"][chosen]
        traj = solve(w0, info["grid"], solver_dt, model_dt, steps)
        path = task_dir(context) / ADDED
        save_npz(path, train=traj.states.transpose(1, 0, 2, 3))
        files.append(str(path))
        seconds = traj.seconds
    return {"data_files": files, "used": sorted(set(trained["used"]) | set(chosen)),
            "added": len(chosen), "model": trained["model"], "seconds": seconds,
            "history": [*trained.get("history", []), {
                "iteration": trained["iteration"], "trajectories": trained["trajectories"],
                "horizon_error": flagged["horizon_error"], "added": len(chosen)}]}
