"""Langevin molecular dynamics (BAOAB splitting) with forces from the kernel layer.

The forces are those of a tabulated pair potential (kernels.table_forces): the ensemble's
mean table drives the dynamics, and on every kept frame each member's table gives its own
forces, whose spread is the model deviation (DP-GEN's max force deviation):

    devi = max_i sqrt( mean_m |F_i^m - mean_m F_i^m|^2 )

A walker that blows up stops, its last frame kept with an infinite deviation so that
selection counts it failed: non-finite or huge forces, or two atoms closer than
MIN_DISTANCE (checked on kept frames). An ensemble that extrapolates a soft or attractive
core lets atoms pass through each other; such frames are unphysical (the reference
energy at r = 0.75 is ~100 epsilon, out of reach at these temperatures) and must not be
labelled.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from orchestrator.library.kernels import PairTable, lj_forces, table_forces

MAX_FORCE = 1e4
MIN_DISTANCE = 0.75


def min_distance(pos: np.ndarray, box: float) -> float:
    d = pos[:, None, :] - pos[None, :, :]
    d -= box * np.floor(d / box + 0.5)
    r2 = (d * d).sum(axis=2)
    np.fill_diagonal(r2, np.inf)
    return float(np.sqrt(r2.min())) if len(pos) > 1 else math.inf


@dataclass
class Trajectory:
    frames: list[np.ndarray] = field(default_factory=list)
    deviation: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)
    stopped_at: int | None = None
    steps: int = 0
    seconds: float = 0.0
    backend: str = ""
    stop_reason: str | None = None


def _ou_coefficients(friction: float, dt: float, temperature: float) -> tuple[float, float]:
    """Velocity decay and noise amplitude of the exact Ornstein-Uhlenbeck (O) step."""
    c1 = math.exp(-friction * dt)
    return c1, math.sqrt((1 - c1 * c1) * temperature)


def _baoab(x: np.ndarray, v: np.ndarray, f: np.ndarray, forces, box: float, dt: float,
           c1: float, c2: float, rng: np.random.Generator) -> np.ndarray:
    """One BAOAB step, x and v in place (positions wrapped into the box); returns the
    forces at the new positions."""
    v += 0.5 * dt * f
    x += 0.5 * dt * v
    v *= c1
    v += c2 * rng.standard_normal(v.shape)
    x += 0.5 * dt * v
    x %= box
    f = forces(x)
    v += 0.5 * dt * f
    return f


def model_deviation(pos: np.ndarray, box: float, cutoff: float, members: list[PairTable],
                    backend: str = "auto") -> float:
    forces = np.stack([table_forces(pos, box, cutoff, t, backend).forces for t in members])
    spread = forces - forces.mean(axis=0)
    return float(np.sqrt((spread ** 2).sum(axis=2).mean(axis=0)).max())


def langevin(pos: np.ndarray, box: float, cutoff: float, mean: PairTable,
             members: list[PairTable], temperature: float, steps: int, dt: float,
             frame_every: int, seed: int, friction: float = 1.0,
             backend: str = "auto") -> Trajectory:
    """Run `steps` steps from `pos` at `temperature`; keep every frame_every-th frame."""
    rng = np.random.default_rng(seed)
    n = len(pos)
    x = np.array(pos, dtype=np.float64)
    v = rng.normal(0.0, math.sqrt(temperature), (n, 3))
    v -= v.mean(axis=0)
    c1, c2 = _ou_coefficients(friction, dt, temperature)
    traj = Trajectory()
    start = time.perf_counter()
    res = table_forces(x, box, cutoff, mean, backend)
    f = res.forces
    traj.backend = str(res.backend)
    for step in range(1, steps + 1):
        f = _baoab(x, v, f, lambda y: table_forces(y, box, cutoff, mean, backend).forces,
                   box, dt, c1, c2, rng)
        traj.steps = step
        kept = step % frame_every == 0
        if not np.isfinite(f).all() or np.abs(f).max() > MAX_FORCE:
            traj.stop_reason = "force"
        elif kept and min_distance(x, box) < MIN_DISTANCE:
            traj.stop_reason = "overlap"
        if traj.stop_reason:
            traj.frames.append(x.copy())
            traj.deviation.append(math.inf)
            traj.temperature.append(float((v * v).sum() / (3 * n - 3)))
            traj.stopped_at = step
            break
        if kept:
            traj.frames.append(x.copy())
            traj.deviation.append(model_deviation(x, box, cutoff, members, backend))
            traj.temperature.append(float((v * v).sum() / (3 * n - 3)))
    traj.seconds = time.perf_counter() - start
    return traj


def langevin_reference(n_atoms: int, density: float, temperature: float, cutoff: float,
                       steps: int, dt: float, frames: int, seed: int,
                       friction: float = 1.0) -> tuple[list[np.ndarray], float]:
    """Frames of Langevin MD under the reference LJ forces (the test set): `frames` evenly
    spaced over the second half of `steps` (the first half equilibrates)."""
    from lj_al.system import fcc

    rng = np.random.default_rng(seed)
    x, box = fcc(n_atoms, density)
    v = rng.normal(0.0, math.sqrt(temperature), x.shape)
    c1, c2 = _ou_coefficients(friction, dt, temperature)
    keep = set(np.linspace(steps // 2, steps, frames).astype(int).tolist())
    out = []
    f = lj_forces(x, box, cutoff, shift=True).forces
    for step in range(1, steps + 1):
        f = _baoab(x, v, f, lambda y: lj_forces(y, box, cutoff, shift=True).forces,
                   box, dt, c1, c2, rng)
        if step in keep:
            out.append(x.copy())
    return out, box
