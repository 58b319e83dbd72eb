"""sample -> simulate[i] -> dataset -> train[member]: the data and model half.

Files travel between stages by absolute path in the results (each task writes into its
own directory); arrays are float64 on disk, float32 in the network.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from orchestrator.library import fields
from orchestrator.library.solvers import darcy as solver_mod
from orchestrator.library.stage_io import one, task_dir

FIELDS = "fields.npz"
SOLUTION = "solution.npy"
DATASET = "dataset.npz"
MODEL = "model.pt"
HISTORY = "history.json"
MAX_ITERATIONS = 2_000_000

_warm: set[tuple[str, str]] = set()  # (kind, solver) compiled in this worker process


def features(x: np.ndarray, kind: str) -> np.ndarray:
    """What the network sees: log-conductivity for Darcy, the source for Poisson."""
    return np.asarray(x, dtype=np.float64) if kind == "source" else np.log(x)




def sample(n: int, grid: int, field: str = "lognormal", correlation_length: float = 0.1,
           contrast: float = 10.0, seed: int = 0,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Draw n input fields of the training stream (fields.STREAMS) into fields.npz."""
    start = time.perf_counter()
    x = fields.sample_fields(field, int(n), int(grid), float(correlation_length),
                             float(contrast), int(seed), fields.STREAMS["train"])
    path = task_dir(context) / FIELDS
    np.savez(path, fields=x)
    return {"fields": str(path), "n": int(n), "grid": int(grid), "kind": field,
            "seed": int(seed), "stream": fields.STREAMS["train"],
            "correlation_length": float(correlation_length), "contrast": float(contrast),
            "min": float(x.min()), "max": float(x.max()),
            "seconds": time.perf_counter() - start}


def simulate(index: int, solver: str = "cg", tolerance: float = 1e-6,
             results: dict[str, list[Any]] | None = None,
             context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Solve sample `index` to `tolerance`; writes solution.npy. A solve that does not
    converge fails the task (retries apply), so no unconverged solution is trained on."""
    info = one(results, "sample")
    kind = info["kind"]
    with np.load(info["fields"]) as data:
        x = data["fields"][int(index)]
    warm = 0.0
    if (kind, solver) not in _warm:  # JIT of the kernel layer: once per worker, untimed
        warm = solver_mod.warm_up(kind, solver)
        _warm.add((kind, solver))
    res = solver_mod.solve(x, kind, solver, float(tolerance), MAX_ITERATIONS)
    if not res.converged:
        raise RuntimeError(f"sample {index}: {solver} stopped at relative residual "
                           f"{res.residual:.3g} > {tolerance} after {res.iterations} iterations")
    path = task_dir(context) / SOLUTION
    np.save(path, res.u)
    return {"index": int(index), "solution": str(path), "seconds": res.seconds,
            "residual": res.residual, "iterations": res.iterations, "solver": solver,
            "backend": res.backend, "warmup_seconds": warm}


def dataset(n_test: int, results: dict[str, list[Any]] | None = None,
            context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Fan-in: the last n_test samples are held out for evaluate, the rest train."""
    info = one(results, "sample")
    sims = sorted((results or {}).get("simulate") or [], key=lambda r: r["index"])
    n = len(sims)
    n_test = int(n_test)
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be between 1 and {n - 1} (n_samples - 1), got {n_test}")
    with np.load(info["fields"]) as data:
        x = data["fields"][[r["index"] for r in sims]]
    y = np.stack([np.load(r["solution"]) for r in sims])
    seconds = np.array([r["seconds"] for r in sims])
    split = n - n_test
    path = task_dir(context) / DATASET
    np.savez(path, x_train=features(x[:split], info["kind"]), y_train=y[:split],
             x_test=features(x[split:], info["kind"]), y_test=y[split:], raw_test=x[split:],
             seconds_test=seconds[split:])
    return {"dataset": str(path), "n_train": split, "n_test": n_test, "grid": info["grid"],
            "kind": info["kind"], "solver": sims[0]["solver"], "backend": sims[0]["backend"],
            "data_seconds": float(seconds.sum()),
            "solve_seconds_mean": float(seconds.mean()),
            "solve_seconds_median": float(np.median(seconds)),
            "iterations_mean": float(np.mean([r["iterations"] for r in sims])),
            "residual_max": float(max(r["residual"] for r in sims))}


def train(member: int = 0, epochs: int = 100, learning_rate: float = 1e-3,
          batch_size: int = 16, seed: int = 0, width: int = 24, modes: int = 10,
          layers: int = 4, threads: int = 1, results: dict[str, list[Any]] | None = None,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Train ensemble member `member` (its own initialisation and shuffling); writes
    model.pt (the state_dict with the model config and normaliser) and history.json."""
    from orchestrator.library.surrogates import train as tr

    info = one(results, "dataset")
    with np.load(info["dataset"]) as data:
        x, y = data["x_train"], data["y_train"]
        x_val, y_val = data["x_test"], data["y_test"]
    config = tr.TrainConfig(epochs=int(epochs), learning_rate=float(learning_rate),
                            batch_size=int(batch_size), seed=int(seed) * 1000 + int(member),
                            width=int(width), modes=int(modes), layers=int(layers),
                            padding=max(1, x.shape[-1] // 8), threads=int(threads))

    def log(epoch: int, res: Any) -> None:
        if epoch % 10 == 9 or epoch == config.epochs - 1:
            print(f"epoch {epoch + 1}: loss {res.history[-1]:.4f}, held-out "
                  f"{res.val_history[-1]:.4f}", flush=True)

    res = tr.train_fno(x, y, config, x_val, y_val, log=log)
    out = task_dir(context)
    tr.save(res.state, out / MODEL)
    history = {"loss": res.history, "val_loss": res.val_history, "config": vars(config)}
    (out / HISTORY).write_text(json.dumps(history, indent=1))
    return {"member": int(member), "model": str(out / MODEL), "loss": res.history,
            "val_loss": res.val_history, "final_loss": res.history[-1],
            "final_val_loss": res.val_history[-1] if res.val_history else None,
            "seconds": res.seconds, "device": res.device, "parameters": res.parameters,
            "threads": int(threads)}
