"""The reference method that labels frames: a swappable choice, as in DP-GEN's `fp` step.

`emt`: ASE's effective-medium theory for Cu (real, deterministic, ~10 ms per 32-atom
frame: for quick runs and tests). `xtb`: GFN1-xTB through tblite (a tight-binding
quantum-chemistry method, ~2 s per 32-atom frame on one core here). `cp2k`: DFT (PBE)
with CP2K through ASE's calculator; the binary comes from `ASE_CP2K_COMMAND`, which the
site's environment sets (docs/dpgen.md): ~80 s for a 4-atom cell on one core here."""

from __future__ import annotations

import time

import numpy as np

from dpgen_cu import system

METHODS = ("emt", "xtb", "cp2k")
# Each reference's own fcc Cu lattice constant (Å), where its pressure is ~0: structures
# start there, or the first MD would relax a 20 GPa box. EMT: 3.59 (p = 1.1 GPa at 3.58,
# -2.7 at 3.615); GFN1-xTB: 3.87 (p = 1.0 GPa at 3.85, -1.4 at 3.90; xTB overestimates
# metals' lattices, experiment is 3.615).
# PBE: 3.63 (PBE overestimates Cu's lattice by ~0.5-1 %).
LATTICE = {"emt": 3.59, "xtb": 3.87, "cp2k": 3.63}

# CP2K's DFT settings: PBE, MOLOPT basis, GTH pseudopotentials (files from CP2K's data
# directory), Fermi-Dirac smearing for the metal, Broyden mixing.
CP2K_INPUT = """&FORCE_EVAL
&DFT
 &SCF
  ADDED_MOS 20
  &SMEAR ON
   METHOD FERMI_DIRAC
   ELECTRONIC_TEMPERATURE [K] 1000
  &END SMEAR
  &MIXING
   METHOD BROYDEN_MIXING
  &END MIXING
 &END SCF
&END DFT
&END FORCE_EVAL"""


def calculator(method: str):
    if method == "emt":
        from ase.calculators.emt import EMT
        return EMT()
    if method == "xtb":
        from tblite.ase import TBLite
        return TBLite(method="GFN1-xTB", verbosity=0, electronic_temperature=1000.0)
    if method == "cp2k":
        from ase import units
        from ase.calculators.cp2k import CP2K
        return CP2K(xc="PBE", basis_set="DZVP-MOLOPT-SR-GTH", pseudo_potential="GTH-PBE",
                    basis_set_file="BASIS_MOLOPT", potential_file="GTH_POTENTIALS",
                    cutoff=300 * units.Rydberg, max_scf=60, inp=CP2K_INPUT,
                    directory=".cp2k")
    raise ValueError(f"reference {method!r}: choose one of {', '.join(METHODS)}")


def lattice(method: str) -> float:
    calculator(method)  # the same error for an unknown name
    return LATTICE[method]


def label(positions: np.ndarray, cells: np.ndarray, method: str) -> dict[str, np.ndarray]:
    """Energies (eV), forces (eV/Å) and virials (eV, DeePMD-kit's sign: -stress·volume)
    of each frame, and the seconds each took. Virials let the models learn pressure, which
    NPT exploration needs."""
    calc = calculator(method)
    energies, forces, virials, seconds = [], [], [], []
    for atoms in system.atoms_list(positions, cells):
        start = time.perf_counter()
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        virials.append(-atoms.get_stress(voigt=False) * atoms.get_volume())
        seconds.append(time.perf_counter() - start)
    n = len(positions)
    n_atoms = positions.shape[1] if n else 0
    return {"positions": positions, "cells": cells,
            "energies": np.asarray(energies, dtype=float),
            "forces": np.asarray(forces, dtype=float).reshape(n, n_atoms, 3),
            "virials": np.asarray(virials, dtype=float).reshape(n, 3, 3),
            "seconds": np.asarray(seconds, dtype=float)}
