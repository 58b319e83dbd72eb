"""explore[temperature, pressure]: LAMMPS MD driven by the ensemble, DP-GEN's model_devi.

`pair_style deepmd m0.pb m1.pb ... out_freq K out_file model_devi.out` runs MD with the
first model and writes, every K steps, the deviation of all models' forces; the
trajectory is dumped at the same steps so that each row of model_devi.out has its frame.
As in DP-GEN's model_devi_jobs, later iterations explore hotter (`heat_per_iteration`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from dpgen_cu import codes, system
from orchestrator.library.stage_io import task_dir

DEVI = "model_devi.out"
TRAJ = "traj.dump"
FRAMES = "frames.npz"


def write_data(path: Path, atoms) -> None:
    """A LAMMPS data file of an orthogonal cell (the ideal supercell)."""
    a, b, c = np.diag(atoms.cell.array)
    lines = ["copper supercell (orchestrator dpgen)", "", f"{len(atoms)} atoms", "1 atom types",
             f"0 {a:.10f} xlo xhi", f"0 {b:.10f} ylo yhi", f"0 {c:.10f} zlo zhi", "",
             "Masses", "", f"1 {system.MASS}", "", "Atoms # atomic", ""]
    lines += [f"{i + 1} 1 {x:.10f} {y:.10f} {z:.10f}"
              for i, (x, y, z) in enumerate(atoms.positions)]
    path.write_text("\n".join(lines) + "\n")


def lammps_input(models: list[str], temperature: float, pressure: float | None, steps: int,
                 every: int, seed: int, dt: float = 0.002) -> str:
    """NVT, or NPT (isotropic, bar) when a pressure is given; metal units (ps, K, bar)."""
    ensemble = (f"fix 1 all npt temp {temperature} {temperature} {100 * dt} "
                f"iso {pressure} {pressure} {1000 * dt}" if pressure is not None else
                f"fix 1 all nvt temp {temperature} {temperature} {100 * dt}")
    return "\n".join([
        "units metal", "boundary p p p", "atom_style atomic", "read_data conf.lmp",
        f"mass 1 {system.MASS}",
        f"pair_style deepmd {' '.join(models)} out_freq {every} out_file {DEVI}",
        "pair_coeff * *",
        f"velocity all create {temperature} {seed} dist gaussian mom yes rot yes",
        ensemble, f"timestep {dt}", f"thermo {every}",
        "thermo_style custom step temp pe press vol",
        f"dump traj all custom {every} {TRAJ} id type x y z",
        "dump_modify traj sort id", f"run {steps}", ""])


def read_dump(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, positions (F, N, 3), cells (F, 3, 3)) of an orthogonal-box custom dump
    sorted by id with columns id type x y z."""
    steps, positions, cells = [], [], []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("ITEM: TIMESTEP"):
            steps.append(int(lines[i + 1]))
            n = int(lines[i + 3])
            bounds = [tuple(map(float, lines[i + 5 + k].split()[:2])) for k in range(3)]
            cells.append(np.diag([hi - lo for lo, hi in bounds]))
            lo = np.array([b[0] for b in bounds])
            rows = np.array([line.split() for line in lines[i + 9:i + 9 + n]], dtype=float)
            positions.append(rows[:, 2:5] - lo)
            i += 9 + n
        else:
            i += 1
    return np.array(steps), np.array(positions), np.array(cells)


def read_devi(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, max force deviation) from model_devi.out (column 4: max_devi_f, eV/Å)."""
    data = np.loadtxt(path, ndmin=2)
    return data[:, 0].astype(int), data[:, 4]


def lammps_command(ranks: int, launcher: str = "mpiexec") -> list[str]:
    """`lmp -in in.lammps`, under `launcher -n RANKS` for more than one rank (DP-GEN's
    model_devi_command); LAMMPS then splits the box over the ranks."""
    argv = ["lmp", "-in", "in.lammps", "-log", "log.lammps"]
    return [*launcher.split(), "-n", str(int(ranks)), *argv] if int(ranks) > 1 else argv


def run_md(temperature: float, pressure: float | None = None, n_cells: int = 2,
           steps: int = 2000, every: int = 20, heat_per_iteration: float = 0.0,
           seed: int = 0, ranks: int = 1, launcher: str = "mpiexec",
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    members = sorted((results or {}).get("train") or [], key=lambda r: r["member"])
    if len(members) < 2:
        raise RuntimeError("explore needs an ensemble of at least two trained models")
    out = task_dir(context)
    iteration = system.iteration_of(context)
    temp = float(temperature) + (iteration - 1) * float(heat_per_iteration)
    press = None if pressure in (None, "", "none") else float(pressure)
    write_data(out / "conf.lmp", system.supercell(int(n_cells), members[0]["lattice"]))
    models = [m["model"] for m in members]
    s = system.seed_of(seed, iteration, int(temp), 0xE7) % 900_000 + 1
    (out / "in.lammps").write_text(lammps_input(models, temp, press, int(steps), int(every), s))
    t0 = time.perf_counter()
    ranks = int(ranks)
    codes.run(lammps_command(ranks, launcher), out, "lmp",
              max(1, codes.threads_of(context) // ranks))
    md_seconds = time.perf_counter() - t0
    dsteps, devi = read_devi(out / DEVI)
    tsteps, positions, cells = read_dump(out / TRAJ)
    keep = np.isin(tsteps, dsteps)
    positions, cells, tsteps = positions[keep], cells[keep], tsteps[keep]
    devi = devi[np.isin(dsteps, tsteps)]
    system.save(out / FRAMES, positions=positions, cells=cells, deviation=devi,
                steps=tsteps)
    print(f"explore T={temp:g} K P={press} bar: {len(devi)} frames, max force deviation "
          f"{devi.max():.3f} eV/Å (median {np.median(devi):.3f}); MD {md_seconds:.1f} s",
          flush=True)
    return {"temperature": temp, "pressure": press, "frames_file": str(out / FRAMES),
            "ranks": ranks,
            "frames": len(devi), "models": models,
            "train_frames": members[0]["train_frames"], "md_seconds": md_seconds,
            "train_seconds": sum(m["train_seconds"] + m["freeze_seconds"] for m in members),
            "history": members[0].get("history") or [],
            "data_files": members[0].get("data_files") or [],
            "seconds": time.perf_counter() - start}
