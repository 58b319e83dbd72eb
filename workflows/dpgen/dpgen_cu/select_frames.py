"""select: sort every explored frame by its max force deviation (selection.py's trust
levels), pick at most max_select candidates for labelling, and measure the ensemble on
the held-out test set (the learning curve). Returns `accurate_fraction`, which ends the
loop, and the history of every iteration so far (carried on through label)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dpgen_cu import evaluate, selection, system
from orchestrator.library.stage_io import first, task_dir

SELECTED = "selected.npz"


def select(trust_lo: float, trust_hi: float, max_select: int, seed: int = 0,
           results: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    results = results or {}
    walkers = results.get("explore") or []
    if not walkers:
        raise RuntimeError("select needs explore's results")
    test = first(results, "testset", "select")
    parts = [system.load(w["frames_file"]) for w in walkers]
    positions = np.concatenate([p["positions"] for p in parts])
    cells = np.concatenate([p["cells"] for p in parts])
    deviation = np.concatenate([p["deviation"] for p in parts])
    walker_of = np.concatenate([np.full(len(p["deviation"]), i) for i, p in enumerate(parts)])
    classes = selection.classify(deviation, float(trust_lo), float(trust_hi))
    iteration = system.iteration_of(context)
    rng = np.random.default_rng(system.seed_of(seed, iteration, 0x5E1))
    chosen = selection.pick(classes, int(max_select), rng)
    out = task_dir(context) / SELECTED
    system.save(out, positions=positions[chosen], cells=cells[chosen],
                deviation=deviation[chosen], walker=walker_of[chosen])
    models = walkers[0]["models"]
    errs = evaluate.errors(models, system.load(test["test_file"]))
    previous = _previous(results)
    entry = {"iteration": iteration, "frames": len(classes),
             **selection.fractions(classes),
             "candidates": int(np.sum(classes == selection.CANDIDATE)),
             "selected": len(chosen), "train_frames": walkers[0]["train_frames"],
             "temperatures": sorted({w["temperature"] for w in walkers}),
             "max_deviation": float(np.nanmax(deviation)) if len(deviation) else None,
             "models": models, "frames_files": [w["frames_file"] for w in walkers], **errs,
             "train_seconds": float(walkers[0].get("train_seconds") or 0.0),
             "md_seconds": float(sum(w["md_seconds"] for w in walkers))}
    print(f"iteration {iteration}: {entry['frames']} frames: accurate "
          f"{entry['accurate_fraction']:.1%}, candidate {entry['candidate_fraction']:.1%}, "
          f"failed {entry['failed_fraction']:.1%}; {len(chosen)} selected; test force RMSE "
          f"{errs['test_force_rmse']:.4f} eV/Å, energy {errs['test_energy_rmse_mev']:.2f} "
          "meV/atom", flush=True)
    return {**entry, "selected_file": str(out), "history": [*previous, entry],
            "data_files": _data_files(results), "seconds": time.perf_counter() - start}


def _previous(results: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The history so far: the previous iteration's label tasks carry it to train, and
    train passes it on (through its own result) to explore and here."""
    for rec in results.get("explore") or []:
        if rec.get("history"):
            return list(rec["history"])
    return []


def _data_files(results: dict[str, list[Any]]) -> list[str]:
    for rec in results.get("explore") or []:
        return list(rec.get("data_files") or [])
    return []
