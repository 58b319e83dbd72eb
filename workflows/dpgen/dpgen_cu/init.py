"""init and testset: the labelled data the loop starts from, and the held-out test set.

init (DP-GEN's init_bulk): perturbed, strained copies of the fcc supercell, labelled by
the reference, and the ideal supercell (conf.npz) that exploration starts from. testset: frames from MD at several temperatures (hotter than the first
iteration explores too), labelled by the reference and never trained on. The test MD is
driven by EMT (cheap), its frames scaled to the reference's lattice, so that a costly
reference pays for labels, not for dynamics; with `reference: emt` they are reference MD."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dpgen_cu import reference
from orchestrator.library.atomistic import frames as fr
from orchestrator.library.atomistic import structures
from orchestrator.library.stage_io import task_dir

INIT = "init.npz"
CONF = "conf.npz"
TEST = "test.npz"


def _labelled(frames, method: str) -> dict[str, np.ndarray]:
    pos = np.array([a.positions for a in frames])
    cells = np.array([a.cell.array for a in frames])
    return reference.label(pos, cells, method)


def init(n_frames: int = 16, n_cells: int = 2, strain: float = 0.03,
         displacement: float = 0.08, reference_method: str = "emt", seed: int = 0,
         context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    a = reference.lattice(reference_method)
    cell = reference.supercell(int(n_cells), a)
    frames = structures.perturbed(cell, int(n_frames), float(strain), float(displacement),
                                  fr.seed_of(seed, 0x1A17))
    data = _labelled(frames, reference_method)
    out = task_dir(context) / INIT
    fr.save(out, **{k: v for k, v in data.items() if k != "seconds"})
    fr.save(out.with_name(CONF), **fr.from_atoms([cell]))
    print(f"init: {n_frames} frames of {len(frames[0])} atoms labelled by "
          f"{reference_method} in {data['seconds'].sum():.1f} s", flush=True)
    return {"data_file": str(out), "conf_file": str(out.with_name(CONF)),
            "frames": int(n_frames), "atoms": len(frames[0]),
            "lattice": a, "reference": reference_method,
            "reference_calls": int(n_frames),
            "reference_seconds": float(data["seconds"].sum()),
            "seconds": time.perf_counter() - start}


def md_frames(n_cells: int, temperature: float, n: int, every: int, seed: int,
              lattice: float, dt_fs: float = 2.0):
    """`n` frames, one each `every` steps after 2·every steps of warm-up, of Langevin MD
    with EMT at `temperature` in EMT's lattice, scaled to `lattice` (the reference's):
    thermal disorder of the right size, in the reference's own volume."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = reference.supercell(n_cells, reference.LATTICE["emt"])
    atoms.calc = EMT()
    scale = lattice / reference.LATTICE["emt"]
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(atoms, dt_fs * units.fs, temperature_K=temperature, friction=0.02,
                   rng=rng)
    dyn.run(2 * every)
    frames = []
    for _ in range(n):
        dyn.run(every)
        frame = atoms.copy()
        frame.set_cell(frame.cell.array * scale, scale_atoms=True)
        frames.append(frame)
    return frames


def testset(temperatures: list[float], per_temperature: int = 8, every: int = 25,
            n_cells: int = 2, reference_method: str = "emt", seed: int = 0,
            context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    frames = []
    for i, t in enumerate(temperatures):
        frames += md_frames(int(n_cells), float(t), int(per_temperature), int(every),
                            fr.seed_of(seed, 0x7E57, i),
                            reference.lattice(reference_method))
    data = _labelled(frames, reference_method)
    out = task_dir(context) / TEST
    fr.save(out, **{k: v for k, v in data.items() if k != "seconds"},
                temperatures=np.repeat(np.asarray(temperatures, dtype=float),
                                       int(per_temperature)))
    print(f"testset: {len(frames)} frames at {list(temperatures)} K labelled by "
          f"{reference_method} in {data['seconds'].sum():.1f} s", flush=True)
    return {"test_file": str(out), "frames": len(frames),
            "temperatures": [float(t) for t in temperatures],
            "reference_calls": len(frames), "reference_seconds": float(data["seconds"].sum()),
            "seconds": time.perf_counter() - start}
