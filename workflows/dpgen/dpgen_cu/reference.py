"""The reference methods' copper. The methods themselves (ASE's EMT, GFN1-xTB through
tblite, CP2K) are orchestrator/library/atomistic/calculators.py, shared with the
`ase-label` step that labels the loop's candidates; here is what this workflow adds:
each method's own fcc Cu lattice, where structures start."""

from __future__ import annotations

import numpy as np

from orchestrator.library.atomistic import calculators, structures

ELEMENT = "Cu"
# Each reference's own fcc Cu lattice constant (Å), where its pressure is ~0: structures
# start there, or the first MD would relax a 20 GPa box. EMT: 3.59 (p = 1.1 GPa at 3.58,
# -2.7 at 3.615); GFN1-xTB: 3.87 (p = 1.0 GPa at 3.85, -1.4 at 3.90; xTB overestimates
# metals' lattices, experiment is 3.615).
# PBE: 3.63 (PBE overestimates Cu's lattice by ~0.5-1 %).
LATTICE = {"emt": 3.59, "xtb": 3.87, "cp2k": 3.63}


def lattice(method: str) -> float:
    calculators.calculator(method)  # the same error for an unknown name
    return LATTICE[method]


def supercell(n_cells: int, a: float):
    """The cubic fcc Cu cell repeated n_cells times along each axis (4 n^3 atoms)."""
    return structures.bulk(ELEMENT, a, n_cells)


def label(positions: np.ndarray, cells: np.ndarray, method: str) -> dict[str, np.ndarray]:
    """Copper frames labelled by `method` (calculators.label)."""
    return calculators.label(positions, cells, [ELEMENT] * positions.shape[1], method)
