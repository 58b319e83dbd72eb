"""init_data: the first labelled frames and the fixed test set.

Training frames are fcc lattices at random densities in the exploration range, each
atom displaced by Gaussian noise: cheap, and all nearest-neighbour distances stay near
the lattice spacing. The test set is what exploration will meet: frames of reference
Langevin MD at a grid of (temperature, density) points spanning the same ranges, used
only to measure the force error per iteration (never trained on).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lj_al import system
from lj_al.md import langevin_reference

TRAIN = "init.npz"
TEST = "test.npz"


def init_data(n: int, n_atoms: int, cutoff: float, seed: int = 0,
              density: tuple[float, float] = (0.7, 0.95),
              temperature: tuple[float, float] = (0.6, 2.0), displacement: float = 0.06,
              test_points: int = 3, test_frames: int = 4, test_steps: int = 400,
              dt: float = 0.005, context: dict[str, Any] | None = None,
              **_: Any) -> dict[str, Any]:
    """Label n perturbed lattices (init.npz) and build the test set (test.npz)."""
    start = time.perf_counter()
    rng = np.random.default_rng(system.seed_of(seed, 0xDA7A))
    lo, hi = (float(v) for v in density)
    system.check_box(system.fcc(int(n_atoms), hi)[1], float(cutoff))
    positions, boxes = [], []
    for _ in range(int(n)):
        pos, box = system.fcc(int(n_atoms), rng.uniform(lo, hi))
        pos = pos + rng.normal(0.0, displacement * rng.uniform(0.3, 1.0), pos.shape)
        positions.append(pos % box)
        boxes.append(box)
    positions, boxes = np.array(positions), np.array(boxes)
    energy, forces, backend = system.label_frames(positions, boxes, float(cutoff))
    out = system.task_dir(context)
    system.save_frames(out / TRAIN, positions=positions, box=boxes, energy=energy,
                       forces=forces)

    test_pos, test_box = [], []
    t_lo, t_hi = (float(v) for v in temperature)
    for a, temp in enumerate(np.linspace(t_lo, t_hi, test_points)):
        for b, dens in enumerate(np.linspace(lo, hi, test_points)):
            frames, box = langevin_reference(int(n_atoms), float(dens), float(temp),
                                             float(cutoff), int(test_steps), float(dt),
                                             int(test_frames),
                                             system.seed_of(seed, 0x7E57, a, b))
            test_pos += frames
            test_box += [box] * len(frames)
    test_pos, test_box = np.array(test_pos), np.array(test_box)
    t_energy, t_forces, _ = system.label_frames(test_pos, test_box, float(cutoff))
    system.save_frames(out / TEST, positions=test_pos, box=test_box, energy=t_energy,
                       forces=t_forces)
    return {"data_files": [str(out / TRAIN)], "test_set": str(out / TEST),
            "n_frames": len(positions), "n_test": len(test_pos), "n_atoms": int(n_atoms),
            "backend": backend, "force_rms": float(np.sqrt(np.mean(forces ** 2))),
            "test_force_rms": float(np.sqrt(np.mean(t_forces ** 2))),
            "seconds": time.perf_counter() - start}
