"""The copper system and the frame files the stages pass on.

Frames live in `.npz` files with `positions` (F, N, 3) Å, `cells` (F, 3, 3) Å and, once
labelled, `energies` (F,) eV and `forces` (F, N, 3) eV/Å: the units of ASE, DeePMD-kit
and LAMMPS `units metal`. `write_deepmd` turns them into DeePMD-kit's `set.000/*.npy`
system directories (what `dp train` reads)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

ELEMENT = "Cu"
MASS = 63.546


def seed_of(*parts: int) -> int:
    """A seed for (base seed, iteration, index, ...) that differs for every tuple."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def iteration_of(context: dict[str, Any] | None) -> int:
    return int((context or {}).get("iteration") or 1)


def supercell(n_cells: int, a: float):
    """The cubic fcc cell repeated n_cells times along each axis (4 n^3 atoms)."""
    from ase.build import bulk
    return bulk(ELEMENT, "fcc", a=a, cubic=True).repeat((n_cells,) * 3)


def perturbed(n_cells: int, a: float, n: int, strain: float, displacement: float,
              seed: int):
    """DP-GEN's init_bulk: `n` copies of the supercell, each under a random strain of at
    most `strain` per cell component and random atom displacements of at most
    `displacement` Å."""
    rng = np.random.default_rng(seed)
    base = supercell(n_cells, a)
    frames = []
    for _ in range(n):
        atoms = base.copy()
        eps = rng.uniform(-strain, strain, (3, 3))
        eps = (eps + eps.T) / 2
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        atoms.positions += rng.uniform(-displacement, displacement, atoms.positions.shape)
        frames.append(atoms)
    return frames


def atoms_list(positions: np.ndarray, cells: np.ndarray):
    from ase import Atoms
    return [Atoms(ELEMENT * len(p), positions=p, cell=c, pbc=True)
            for p, c in zip(positions, cells, strict=True)]


def save(path: Path, **arrays: np.ndarray) -> Path:
    """Write atomically (a half-written file must never look like a result)."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def load_many(paths: list[str]) -> dict[str, np.ndarray]:
    """Concatenate labelled frame files (skipping empty ones)."""
    parts = [load(p) for p in paths]
    parts = [p for p in parts if len(p["positions"])]
    if not parts:
        raise RuntimeError(f"no labelled frames in {paths}")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def write_deepmd(directory: Path, frames: dict[str, np.ndarray]) -> Path:
    """A DeePMD-kit system directory (type.raw, type_map.raw, set.000/*.npy)."""
    n_frames, n_atoms = frames["positions"].shape[:2]
    s = directory / "set.000"
    s.mkdir(parents=True, exist_ok=True)
    np.save(s / "coord.npy", frames["positions"].reshape(n_frames, -1))
    np.save(s / "box.npy", frames["cells"].reshape(n_frames, 9))
    np.save(s / "energy.npy", frames["energies"].reshape(n_frames))
    np.save(s / "force.npy", frames["forces"].reshape(n_frames, -1))
    if "virials" in frames:
        np.save(s / "virial.npy", frames["virials"].reshape(n_frames, 9))
    (directory / "type.raw").write_text("0\n" * n_atoms)
    (directory / "type_map.raw").write_text(ELEMENT + "\n")
    return directory
