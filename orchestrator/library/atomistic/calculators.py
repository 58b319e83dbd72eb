"""Labelling frames with a reference method: ASE calculators by name, as DP-GEN's `fp` step
chooses its code.

`emt`: ASE's effective-medium theory (Al, Cu, Ag, Au, Ni, Pd, Pt, and H, C, N, O roughly;
real, deterministic, ~10 ms per 32-atom frame: for quick runs and tests). `xtb`: GFN1-xTB
through tblite (tight-binding quantum chemistry, ~2 s per 32-atom Cu frame on one core).
`cp2k`: DFT (PBE) with CP2K through ASE's calculator; the binary comes from
`ASE_CP2K_COMMAND`, which the site's environment sets (docs/dpgen.md): ~80 s for a
4-atom Cu cell on one core."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from orchestrator.library.atomistic.frames import atoms_list

METHODS = ("emt", "xtb", "cp2k")

# CP2K's DFT settings: PBE, MOLOPT basis, GTH pseudopotentials (files from CP2K's data
# directory), Fermi-Dirac smearing for metals, Broyden mixing.
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
    """A fresh ASE calculator for `method` (one of METHODS)."""
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


def label(positions: np.ndarray, cells: np.ndarray, symbols: Sequence[str],
          method: str) -> dict[str, np.ndarray]:
    """Energies (eV), forces (eV/Å) and virials (eV, DeePMD-kit's sign: -stress·volume)
    of each frame, and the seconds each took. Virials let a model learn pressure, which
    NPT exploration needs."""
    calc = calculator(method)
    energies, forces, virials, seconds = [], [], [], []
    for atoms in atoms_list(positions, cells, symbols):
        start = time.perf_counter()
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        virials.append(-atoms.get_stress(voigt=False) * atoms.get_volume())
        seconds.append(time.perf_counter() - start)
    n = len(positions)
    n_atoms = positions.shape[1] if n else len(symbols)
    return {"positions": positions, "cells": cells, "symbols": np.asarray(list(symbols)),
            "energies": np.asarray(energies, dtype=float),
            "forces": np.asarray(forces, dtype=float).reshape(n, n_atoms, 3),
            "virials": np.asarray(virials, dtype=float).reshape(n, 3, 3),
            "seconds": np.asarray(seconds, dtype=float)}
