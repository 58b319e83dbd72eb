"""select: sort every explored frame by its max force deviation (DP-GEN's trust levels,
orchestrator/library/atomistic/selection.py), pick at most max_select candidates for
labelling, and measure the ensemble on the held-out test set (the learning curve).
Returns `accurate_fraction`, which ends the loop; the history of every iteration so far
(the previous select's, through the loop's feedback, with what the previous iteration's
label shards did); and `data_files`, the frame files this iteration's models trained on
(label passes them on, with its own, to the next iteration's train)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dpgen_cu import evaluate
from orchestrator.library.atomistic import frames as fr
from orchestrator.library.atomistic import selection
from orchestrator.library.stage_io import first, iteration_of, task_dir

SELECTED = "selected.npz"


def with_labels(history: list[dict[str, Any]], labels: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """The history with the label shards' counts and reference seconds added to its last
    iteration (the one they labelled for)."""
    if not history:
        return history
    last = {**history[-1], "labelled": sum(int(r["labelled"]) for r in labels),
            "label_seconds": sum(float(r["reference_seconds"]) for r in labels)}
    return [*history[:-1], last]


def history_so_far(feedback: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    """The previous iteration's history (its select's result, fed back), with its label
    shards' counts and seconds; [] in the first iteration."""
    previous = (feedback or {}).get("select") or []
    if not previous:
        return []
    return with_labels(list(previous[0].get("history") or []),
                       (feedback or {}).get("label") or [])


def select(trust_lo: float, trust_hi: float, max_select: int, seed: int = 0,
           results: dict[str, list[Any]] | None = None,
           feedback: dict[str, list[Any]] | None = None,
           context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    results = results or {}
    walkers = results.get("explore") or []
    if not walkers:
        raise RuntimeError("select needs explore's results")
    member = first(results, "train", "select")
    members = results["train"]
    test = first(results, "testset", "select")
    parts = [fr.load(w["frames_file"]) for w in walkers]
    positions = np.concatenate([p["positions"] for p in parts])
    cells = np.concatenate([p["cells"] for p in parts])
    deviation = np.concatenate([p["deviation"] for p in parts])
    walker_of = np.concatenate([np.full(len(p["deviation"]), i) for i, p in enumerate(parts)])
    classes = selection.classify(deviation, float(trust_lo), float(trust_hi))
    iteration = iteration_of(context)
    rng = np.random.default_rng(fr.seed_of(seed, iteration, 0x5E1))
    chosen = selection.pick(classes, int(max_select), rng)
    out = task_dir(context) / SELECTED
    fr.save(out, positions=positions[chosen], cells=cells[chosen], symbols=parts[0]["symbols"],
            deviation=deviation[chosen], walker=walker_of[chosen])
    models = walkers[0]["models"]
    errs = evaluate.errors(models, fr.load(test["test_file"]))
    entry = {"iteration": iteration, "frames": len(classes),
             **selection.fractions(classes),
             "candidates": int(np.sum(classes == selection.CANDIDATE)),
             "selected": len(chosen), "train_frames": member["train_frames"],
             "temperatures": sorted({w["temperature"] for w in walkers}),
             "max_deviation": float(np.nanmax(deviation)) if len(deviation) else None,
             "models": models, "frames_files": [w["frames_file"] for w in walkers], **errs,
             "train_seconds": float(sum(m["train_seconds"] + m["freeze_seconds"]
                                        for m in members)),
             "md_seconds": float(sum(w["md_seconds"] for w in walkers))}
    print(f"iteration {iteration}: {entry['frames']} frames: accurate "
          f"{entry['accurate_fraction']:.1%}, candidate {entry['candidate_fraction']:.1%}, "
          f"failed {entry['failed_fraction']:.1%}; {len(chosen)} selected; test force RMSE "
          f"{errs['test_force_rmse']:.4f} eV/Å, energy {errs['test_energy_rmse_mev']:.2f} "
          "meV/atom", flush=True)
    return {**entry, "selected_file": str(out), "history": [*history_so_far(feedback), entry],
            "data_files": list(member["data_files"]), "seconds": time.perf_counter() - start}
