"""Bulk crystals and DP-GEN's `init_bulk` (perturbed, strained copies of a supercell): the
structures a data set or an exploration starts from."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from orchestrator.library.atomistic import frames as fr
from orchestrator.library.stage_io import task_dir

FRAMES = "frames.npz"
BULK = "bulk.npz"


def bulk(element: str, a: float, n_cells: int, crystal: str = "fcc"):
    """ASE's cubic cell of `crystal` repeated n_cells times along each axis (fcc: 4 n^3
    atoms)."""
    from ase.build import bulk as ase_bulk
    return ase_bulk(element, crystal, a=a, cubic=True).repeat((int(n_cells),) * 3)


def perturbed(base, n: int, strain: float, displacement: float, seed: int) -> list:
    """DP-GEN's init_bulk: `n` copies of `base`, each under a random symmetric strain of at
    most `strain` per cell component and random atom displacements of at most
    `displacement` Å."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        atoms = base.copy()
        eps = rng.uniform(-strain, strain, (3, 3))
        eps = (eps + eps.T) / 2
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        atoms.positions += rng.uniform(-displacement, displacement, atoms.positions.shape)
        out.append(atoms)
    return out


def perturbed_bulk(element: str = "Cu", a: float = 3.6, n_cells: int = 1,
                   crystal: str = "fcc", n_frames: int = 4, strain: float = 0.03,
                   displacement: float = 0.08, seed: int = 0,
                   context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """A stage: `n_frames` perturbed copies of a bulk supercell, written to frames.npz (a
    frame file, unlabelled, for a labelling step), and the supercell itself to bulk.npz
    (one frame: where MD can start)."""
    start = time.perf_counter()
    cell = bulk(element, float(a), int(n_cells), crystal)
    frames = perturbed(cell, int(n_frames), float(strain), float(displacement),
                       fr.seed_of(seed, 0x1A17))
    out = task_dir(context)
    path = fr.save(out / FRAMES, **fr.from_atoms(frames))
    fr.save(out / BULK, **fr.from_atoms([cell]))
    return {"frames_file": str(path), "bulk_file": str(out / BULK), "frames": len(frames),
            "atoms": len(cell), "seconds": time.perf_counter() - start}
