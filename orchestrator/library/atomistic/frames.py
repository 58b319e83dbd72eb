"""Frame files: the atomistic data the steps pass on, and DeePMD-kit's system directories.

A frame file is an `.npz` with `positions` (F, N, 3) Å, `cells` (F, 3, 3) Å and `symbols`
(N,) (the chemical symbol of each atom, the same in every frame); labelled frames add
`energies` (F,) eV, `forces` (F, N, 3) eV/Å and `virials` (F, 3, 3) eV (DeePMD-kit's
sign: -stress·volume); frames from MD add `steps` (F,) and `deviation` (F,) (the max
force deviation of the ensemble, eV/Å). The units are those of ASE, DeePMD-kit and
LAMMPS `units metal`. `write_deepmd` turns labelled frames into DeePMD-kit's
`type.raw`, `type_map.raw`, `set.000/*.npy` (what `dp train` reads).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def seed_of(*parts: int) -> int:
    """A seed for (base seed, iteration, index, ...) that differs for every tuple."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def save(path: Path, **arrays: Any) -> Path:
    """Write atomically (a half-written file must never look like a result)."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def load_many(paths: Sequence[str | Path], empty_ok: bool = False) -> dict[str, np.ndarray]:
    """Concatenate frame files (skipping empty ones), keeping the arrays all of them have;
    their atoms must be the same (one DeePMD-kit system). No frames at all is an error,
    or with `empty_ok` the first (empty) file."""
    loaded = [(p, load(p)) for p in paths]
    parts = [(p, d) for p, d in loaded if len(d["positions"])]
    if not parts:
        if empty_ok and loaded:
            return loaded[0][1]
        raise RuntimeError(f"no frames in {[str(p) for p in paths]}")
    first, data = parts[0]
    for path, other in parts[1:]:
        if other["positions"].shape[1:] != data["positions"].shape[1:] or (
                "symbols" in data and "symbols" in other
                and list(other["symbols"]) != list(data["symbols"])):
            raise RuntimeError(f"{path} has other atoms than {first} (frames of one set must "
                               "have the same atoms, in the same order)")
    keys = [k for k in data if all(k in d for _, d in parts)]
    out = {k: np.concatenate([d[k] for _, d in parts]) for k in keys if k != "symbols"}
    if "symbols" in data:
        out["symbols"] = data["symbols"]
    return out


def symbols_of(frames: dict[str, np.ndarray], source: Any = "the frames") -> list[str]:
    if "symbols" not in frames:
        raise RuntimeError(f"{source} have no `symbols` (the chemical symbol of each atom)")
    return [str(s) for s in frames["symbols"]]


def atoms_list(positions: np.ndarray, cells: np.ndarray, symbols: Sequence[str]) -> list:
    """ASE Atoms of each frame (periodic)."""
    from ase import Atoms
    return [Atoms(list(symbols), positions=p, cell=c, pbc=True)
            for p, c in zip(positions, cells, strict=True)]


def from_atoms(frames: Sequence[Any]) -> dict[str, np.ndarray]:
    """positions, cells and symbols of ASE Atoms with the same atoms."""
    return {"positions": np.array([a.positions for a in frames]),
            "cells": np.array([a.cell.array for a in frames]),
            "symbols": np.array(frames[0].get_chemical_symbols() if len(frames) else [])}


def type_map_of(symbols: Sequence[str]) -> list[str]:
    """The element names in the order DeePMD-kit numbers them here: sorted."""
    return sorted(set(symbols))


def write_deepmd(directory: Path, frames: dict[str, np.ndarray],
                 type_map: Sequence[str] | None = None) -> Path:
    """A DeePMD-kit system directory (type.raw, type_map.raw, set.000/*.npy)."""
    n_frames, n_atoms = frames["positions"].shape[:2]
    symbols = symbols_of(frames, directory.name)
    names = list(type_map or type_map_of(symbols))
    if len(symbols) != n_atoms:
        raise RuntimeError(f"{len(symbols)} symbols for {n_atoms} atoms")
    missing = sorted(set(symbols) - set(names))
    if missing:
        raise RuntimeError(f"type_map {names} lacks {missing}")
    s = directory / "set.000"
    s.mkdir(parents=True, exist_ok=True)
    np.save(s / "coord.npy", frames["positions"].reshape(n_frames, -1))
    np.save(s / "box.npy", frames["cells"].reshape(n_frames, 9))
    np.save(s / "energy.npy", frames["energies"].reshape(n_frames))
    np.save(s / "force.npy", frames["forces"].reshape(n_frames, -1))
    if "virials" in frames:
        np.save(s / "virial.npy", frames["virials"].reshape(n_frames, 9))
    (directory / "type.raw").write_text("".join(f"{names.index(x)}\n" for x in symbols))
    (directory / "type_map.raw").write_text("".join(f"{x}\n" for x in names))
    return directory
