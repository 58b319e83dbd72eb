"""lammps-md: LAMMPS MD driven by an ensemble of DeePMD-kit models, with DP-GEN's model
deviation (the step library's `lammps-md`, docs/templates.md#step-library).

`pair_style deepmd m0.pb m1.pb ... out_freq K out_file model_devi.out` runs MD with the
first model and writes, every K steps, the deviation of all models' forces and virials;
the trajectory is dumped at the same steps, so each row of model_devi.out has its frame
in frames.npz. model_devi.json summarises the max force deviation (and DP-GEN's
accurate / candidate / failed fractions at the trust levels). As in DP-GEN's
model_devi_jobs, a loop's later iterations can run hotter (`heat_per_iteration`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library.atomistic import codes, selection
from orchestrator.library.atomistic import frames as fr
from orchestrator.library.stage_io import input_paths, iteration_of, task_dir

DEVI = "model_devi.out"
TRAJ = "traj.dump"
FRAMES = "frames.npz"
SUMMARY = "model_devi.json"
DEVI_COLUMNS = ("step", "max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f",
                "min_devi_f", "avg_devi_f")


def read_structure(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(positions (N, 3), cell (3, 3), symbols) of a frame file's first frame, or of any
    file ASE reads (extxyz, POSCAR, CIF, ...)."""
    if path.suffix == ".npz":
        data = fr.load(path)
        if not len(data["positions"]):
            raise RuntimeError(f"structure {path} has no frames")
        return data["positions"][0], data["cells"][0], fr.symbols_of(data, path)
    from ase.io import read
    atoms = read(path)
    return atoms.positions, atoms.cell.array, atoms.get_chemical_symbols()


def masses_of(elements: list[str]) -> list[float]:
    """Standard atomic masses (ASE's table)."""
    from ase.data import atomic_masses, atomic_numbers
    return [float(atomic_masses[atomic_numbers[e]]) for e in elements]


def write_data(path: Path, positions: np.ndarray, cell: np.ndarray, symbols: list[str],
               elements: list[str], masses: list[float]) -> None:
    """A LAMMPS data file (atom_style atomic) of an orthogonal cell; type i is elements[i-1],
    of mass masses[i-1]."""
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-8:
        raise RuntimeError("lammps-md: the structure's cell is not orthogonal (only "
                           "orthogonal boxes are written for LAMMPS here)")
    a, b, c = np.diag(cell)
    lines = ["written by orchestrator's lammps-md step", "", f"{len(symbols)} atoms",
             f"{len(elements)} atom types", f"0 {a:.10f} xlo xhi", f"0 {b:.10f} ylo yhi",
             f"0 {c:.10f} zlo zhi", "", "Masses", ""]
    lines += [f"{i + 1} {m:.6g}" for i, m in enumerate(masses)]
    lines += ["", "Atoms # atomic", ""]
    lines += [f"{i + 1} {elements.index(s) + 1} {x:.10f} {y:.10f} {z:.10f}"
              for i, (s, (x, y, z)) in enumerate(zip(symbols, positions, strict=True))]
    path.write_text("\n".join(lines) + "\n")


def lammps_input(models: list[str], temperature: float, pressure: float | None, steps: int,
                 every: int, seed: int, dt: float = 0.002,
                 elements: list[str] | tuple[str, ...] = ()) -> str:
    """NVT, or NPT (isotropic, bar) when a pressure is given; metal units (ps, K, bar).
    `elements` maps the data file's types to the models' type_map by name."""
    ensemble = (f"fix 1 all npt temp {temperature} {temperature} {100 * dt} "
                f"iso {pressure} {pressure} {1000 * dt}" if pressure is not None else
                f"fix 1 all nvt temp {temperature} {temperature} {100 * dt}")
    return "\n".join([
        "units metal", "boundary p p p", "atom_style atomic", "read_data conf.lmp",
        f"pair_style deepmd {' '.join(models)} out_freq {every} out_file {DEVI}",
        " ".join(["pair_coeff * *", *elements]),
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


def ensemble_models(models: Any, results: dict[str, list[Any]] | None,
                    context: dict[str, Any] | None) -> list[str]:
    """`models` (paths), else the `model` of every upstream result that has one, in the
    order of their `member`; at least two (their disagreement is the deviation)."""
    paths = [str(p) for p in input_paths(models, context)]
    if not paths:
        recs = [r for rs in (results or {}).values() for r in rs
                if isinstance(r, dict) and r.get("model")]
        paths = [r["model"] for r in sorted(recs, key=lambda r: r.get("member", 0))]
    if len(paths) < 2:
        raise RuntimeError(f"explore needs an ensemble of at least two trained models "
                           f"(args.models, or upstream results with a `model`); got {paths}")
    spaced = [p for p in paths if any(c.isspace() for c in p)]
    if spaced:
        raise RuntimeError(f"LAMMPS cannot read a model path with spaces: {spaced[0]!r}")
    return paths


def summarise(devi: np.ndarray, trust_lo: float | None, trust_hi: float | None
              ) -> dict[str, Any]:
    """Statistics of the max force deviation per frame, and DP-GEN's fractions at the
    trust levels when given."""
    out: dict[str, Any] = {"frames": len(devi)}
    if len(devi):
        out["max_devi_f"] = {"min": float(np.min(devi)), "median": float(np.median(devi)),
                             "mean": float(np.mean(devi)), "max": float(np.max(devi))}
    if trust_lo is not None and trust_hi is not None:
        classes = selection.classify(devi, float(trust_lo), float(trust_hi))
        out.update({"trust_lo": float(trust_lo), "trust_hi": float(trust_hi),
                    **selection.fractions(classes)})
    return out


def run_md(temperature: float, pressure: float | None = None, structure: Any = None,
           models: Any = None, steps: int = 2000, every: int = 20,
           heat_per_iteration: float = 0.0, seed: int = 0, ranks: int = 1,
           launcher: str = "mpiexec", trust_lo: float | None = None,
           trust_hi: float | None = None, dt: float = 0.002,
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    paths = ensemble_models(models, results, context)
    given = input_paths(structure, context)
    if not given:
        raise RuntimeError("explore needs a starting structure: args.structure (a frame "
                           "file, or any file ASE reads), e.g. ${stages.init.outputs.conf}")
    out = task_dir(context)
    iteration = iteration_of(context)
    temp = float(temperature) + (iteration - 1) * float(heat_per_iteration)
    press = None if pressure in (None, "", "none") else float(pressure)
    positions, cell, symbols = read_structure(given[0])
    elements = fr.type_map_of(symbols)
    write_data(out / "conf.lmp", positions, cell, symbols, elements, masses_of(elements))
    s = fr.seed_of(seed, iteration, int(temp), 0xE7) % 900_000 + 1
    (out / "in.lammps").write_text(lammps_input(paths, temp, press, int(steps), int(every), s,
                                                float(dt), elements))
    t0 = time.perf_counter()
    ranks = int(ranks)
    codes.run(lammps_command(ranks, launcher), out, "lmp",
              max(1, codes.threads_of(context) // ranks))
    md_seconds = time.perf_counter() - t0
    dsteps, devi = read_devi(out / DEVI)
    tsteps, traj, cells = read_dump(out / TRAJ)
    keep = np.isin(tsteps, dsteps)
    traj, cells, tsteps = traj[keep], cells[keep], tsteps[keep]
    devi = devi[np.isin(dsteps, tsteps)]
    fr.save(out / FRAMES, positions=traj, cells=cells, symbols=np.asarray(symbols),
            deviation=devi, steps=tsteps)
    summary = {"temperature": temp, "pressure": press, "steps": int(steps),
               "every": int(every), "models": paths, **summarise(devi, trust_lo, trust_hi)}
    (out / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"explore T={temp:g} K P={press} bar: {len(devi)} frames, max force deviation "
          f"{devi.max():.3f} eV/Å (median {np.median(devi):.3f}); MD {md_seconds:.1f} s",
          flush=True)
    return {"temperature": temp, "pressure": press, "frames_file": str(out / FRAMES),
            "ranks": ranks, "frames": len(devi), "models": paths, "md_seconds": md_seconds,
            "max_deviation": float(devi.max()) if len(devi) else None,
            "seconds": time.perf_counter() - start}
