"""select: sort every explored frame by its model deviation and pick candidates.

DP-GEN's trust window on the max force deviation: below trust_lo a frame is accurate,
from trust_hi on it is failed (the models are lost there; often an unphysical frame),
in between it is a candidate worth labelling. The loop stops on `uncertain_fraction`,
the share of frames that are not accurate (candidates and failed), so a loop where
exploration fails does not look converged. Also measures the ensemble's force error on
init_data's fixed test set: the learning curve.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lj_al import potential, system
from orchestrator.library.kernels import table_forces

SELECTED = "selected.npz"


def test_error(models: list[str], test_set: str, cutoff: float) -> dict[str, float]:
    """Force RMSE of the ensemble mean on the test set, and its RMS force for scale."""
    tables = [potential.load_table(m) for m in models]
    mean = potential.mean_table(tables)
    with np.load(test_set) as data:
        pos, box, ref = data["positions"], data["box"], data["forces"]
    errors = [table_forces(p, float(b), cutoff, mean).forces - f
              for p, b, f in zip(pos, box, ref, strict=True)]
    rmse = potential.rms(np.array(errors))
    scale = potential.rms(ref)
    return {"test_force_rmse": rmse, "test_force_rms": scale,
            "test_force_rel": rmse / scale if scale else 0.0}


def select(trust_lo: float, trust_hi: float, max_select: int, cutoff: float = 2.5,
           seed: int = 0, results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    if not 0 <= trust_lo < trust_hi:
        raise ValueError(f"need 0 <= trust_lo < trust_hi, got {trust_lo} and {trust_hi}")
    walkers = (results or {}).get("explore") or []
    if not walkers:
        raise RuntimeError("select needs explore's results")
    positions, boxes, devi = [], [], []
    for w in walkers:
        with np.load(w["frames"]) as data:
            positions.append(data["positions"])
            boxes.append(data["box"])
            devi.append(data["deviation"])
    positions, boxes, devi = (np.concatenate(a) for a in (positions, boxes, devi))
    accurate = devi < trust_lo
    failed = devi >= trust_hi
    candidate = ~accurate & ~failed
    iteration = int((context or {}).get("iteration") or 1)
    rng = np.random.default_rng(system.seed_of(seed, iteration, 0x5E1))
    chosen = np.flatnonzero(candidate)
    if len(chosen) > max_select:
        chosen = np.sort(rng.choice(chosen, int(max_select), replace=False))
    out = system.task_dir(context) / SELECTED
    system.save_frames(out, positions=positions[chosen], box=boxes[chosen])
    total = len(devi)
    first = walkers[0]
    errors = test_error(first["models"], first["test_set"], float(cutoff))
    finite = devi[np.isfinite(devi)]
    entry = {"iteration": iteration, "frames": total, "accurate": int(accurate.sum()),
             "candidates": int(candidate.sum()), "failed": int(failed.sum()),
             "selected": len(chosen), "train_frames": first["n_train_frames"],
             "max_deviation": float(finite.max()) if len(finite) else None,
             "median_deviation": float(np.median(finite)) if len(finite) else None,
             "uncertain_fraction": float(1 - accurate.mean()) if total else 1.0,
             "train_force_rmse": first["train_force_rmse"], **errors}
    print(f"iteration {iteration}: {total} frames, {entry['accurate']} accurate, "
          f"{entry['candidates']} candidates, {entry['failed']} failed; selected "
          f"{len(chosen)}; test force RMSE {errors['test_force_rmse']:.4f}", flush=True)
    return {**entry, "selected_file": str(out), "models": first["models"],
            "model_files": first["model_files"],
            "data_files": first["data_files"], "test_set": first["test_set"],
            "history": [*first["history"], entry], "seconds": time.perf_counter() - start}
