"""The ensemble's error on a held-out test set labelled by the reference: energy RMSE
per atom (meV/atom) and force RMSE (eV/Å) of the ensemble mean, with DeePMD-kit's own
inference (deepmd.infer.DeepPot)."""

from __future__ import annotations

import os

import numpy as np


def predict(models: list[str], positions: np.ndarray, cells: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble-mean energies (F,) and forces (F, N, 3)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # TensorFlow's per-op chatter
    from deepmd.infer import DeepPot

    n_frames, n_atoms = positions.shape[:2]
    energies, forces = [], []
    for path in models:
        dp = DeepPot(path)
        e, f, _ = dp.eval(positions.reshape(n_frames, -1), cells.reshape(n_frames, 9),
                          [0] * n_atoms)
        energies.append(np.asarray(e).reshape(n_frames))
        forces.append(np.asarray(f).reshape(n_frames, n_atoms, 3))
    return np.mean(energies, axis=0), np.mean(forces, axis=0)


def errors(models: list[str], test: dict[str, np.ndarray]) -> dict[str, float]:
    pos, cells = test["positions"], test["cells"]
    e, f = predict(models, pos, cells)
    n_atoms = pos.shape[1]
    de = (e - test["energies"]) / n_atoms
    df = f - test["forces"]
    return {"test_energy_rmse_mev": float(np.sqrt(np.mean(de ** 2)) * 1000),
            "test_force_rmse": float(np.sqrt(np.mean(df ** 2))),
            "test_force_rms": float(np.sqrt(np.mean(test["forces"] ** 2))),
            "test_frames": len(pos)}
