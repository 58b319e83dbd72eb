"""The Lennard-Jones system: fcc lattices, the reference labeller and frame files.

Reduced units (sigma = epsilon = mass = 1). The reference is the truncated and shifted
LJ potential (energy 0 at the cutoff) through the kernel layer, so the labeller runs on
whatever backend the stage's device offers. A frame file (.npz) holds `positions`
(M, N, 3), `box` (M,) and, once labelled, `energy` (M,) and `forces` (M, N, 3).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from orchestrator.library.kernels import lj_forces
from orchestrator.library.stage_io import task_dir as task_dir  # the stages call system.task_dir


def fcc(n_atoms: int, density: float) -> tuple[np.ndarray, float]:
    """An fcc lattice of n_atoms = 4 k^3 atoms at `density`: (positions, box side)."""
    k = round((n_atoms / 4) ** (1 / 3))
    if 4 * k ** 3 != n_atoms:
        raise ValueError(f"n_atoms must be 4 k^3 for an fcc lattice (32, 108, 256, 500, ...), "
                         f"got {n_atoms}")
    box = (n_atoms / density) ** (1 / 3)
    a = box / k
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.stack(np.meshgrid(*[np.arange(k)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    pos = ((cells + basis[None]) * a).reshape(-1, 3) + 0.25 * a
    return pos, float(box)


def check_box(box: float, cutoff: float) -> None:
    if cutoff > box / 2:
        raise ValueError(f"cutoff {cutoff} exceeds half the box ({box / 2:.3f}): use more "
                         f"atoms (n_atoms) or a lower density or cutoff")


def reference(pos: np.ndarray, box: float, cutoff: float,
              backend: str = "auto") -> tuple[float, np.ndarray, str]:
    """Exact (energy, forces, backend) of one configuration."""
    res = lj_forces(np.ascontiguousarray(pos, dtype=np.float64), box, cutoff, shift=True,
                    backend=backend)
    return res.energy, res.forces, str(res.backend)


def label_frames(positions: np.ndarray, boxes: np.ndarray, cutoff: float,
                 backend: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """Reference energies (M,) and forces (M, N, 3) of M frames."""
    energy = np.zeros(len(positions))
    forces = np.zeros_like(positions, dtype=np.float64)
    used = "none"
    for m, (pos, box) in enumerate(zip(positions, boxes, strict=True)):
        energy[m], forces[m], used = reference(pos, float(box), cutoff, backend)
    return energy, forces, used


def save_frames(path: Path, **arrays: np.ndarray) -> Path:
    """Write a frame file atomically (a half-written file never looks finished)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_frames(paths: list[str]) -> dict[str, np.ndarray]:
    """Concatenate labelled frame files (positions, box, energy, forces)."""
    parts: dict[str, list[np.ndarray]] = {"positions": [], "box": [], "energy": [], "forces": []}
    for p in paths:
        with np.load(p) as data:
            for key in parts:
                parts[key].append(data[key])
    if not parts["positions"]:
        raise ValueError("no labelled frames")
    return {key: np.concatenate(v) for key, v in parts.items()}


def seed_of(*parts: int) -> int:
    """A seed for (base seed, iteration, index, ...) that differs for every tuple."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])
