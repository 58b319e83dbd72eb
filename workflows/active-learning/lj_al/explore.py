"""explore[walker]: Langevin MD driven by the ensemble at one (temperature, density).

Forces come from the kernel layer (tabulated pair potential: SYCL on an XPU worker,
numba or NumPy elsewhere). Every frame_every-th frame is kept with its model deviation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lj_al import md, potential, system

FRAMES = "frames.npz"


def run_md(temperature: float, density: float, n_atoms: int, md_steps: int, dt: float,
           frame_every: int, cutoff: float = 2.5, seed: int = 0, backend: str = "auto",
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    members = sorted((results or {}).get("train") or [], key=lambda r: r["member"])
    if len(members) < 2:
        raise RuntimeError(f"exploration needs an ensemble of at least 2 models, "
                           f"got {len(members)}")
    tables = [potential.load_table(m["table"]) for m in members]
    pos, box = system.fcc(int(n_atoms), float(density))
    system.check_box(box, float(cutoff))
    ctx = context or {}
    walker_seed = system.seed_of(seed, int(ctx.get("iteration") or 1),
                                 int(ctx.get("index") or 0), 0xE4)
    traj = md.langevin(pos, box, float(cutoff), potential.mean_table(tables), tables,
                       float(temperature), int(md_steps), float(dt), int(frame_every),
                       walker_seed, backend=backend)
    path = system.task_dir(context) / FRAMES
    system.save_frames(path, positions=np.array(traj.frames).reshape(-1, int(n_atoms), 3),
                       box=np.full(len(traj.frames), box), deviation=np.array(traj.deviation))
    finite = [d for d in traj.deviation if np.isfinite(d)]
    first = members[0]
    return {"frames": str(path), "n_frames": len(traj.frames),
            "temperature": float(temperature), "density": float(density),
            "mean_temperature": float(np.mean(traj.temperature)) if traj.temperature else None,
            "max_deviation": max(finite) if finite else None,
            "stopped_at": traj.stopped_at, "stop_reason": traj.stop_reason, "steps": traj.steps, "seconds": traj.seconds,
            "backend": traj.backend, "models": [m["table"] for m in members],
            "model_files": {str(m["member"]): m["model"] for m in members},
            "data_files": first["data_files"], "test_set": first["test_set"],
            "history": first["history"], "n_train_frames": first["n_frames"],
            "train_force_rmse": float(np.mean([m["train_force_rmse"] for m in members]))}
