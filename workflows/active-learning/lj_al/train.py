"""train[member]: fit one ensemble member on every frame labelled so far.

Iteration 1 trains on init_data's frames; later iterations add what `label` produced
(its results arrive through the loop's feedback and list every data file so far).
Members differ only by their seed, as in DP-GEN; from the second iteration on each member
starts from its own weights of the previous iteration (DP-GEN's `training_reuse_iter`):
the fit only has to absorb the new frames, so members do not drift apart by optimiser
noise where nothing changed, and training is faster.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from lj_al import potential, system
from orchestrator.library.stage_io import first

TABLE = "table.npz"
MODEL = "model.pt"
HISTORY = "history.json"


def data_so_far(results: dict[str, list[Any]] | None,
                feedback: dict[str, list[Any]] | None) -> tuple[list[str], dict[str, Any]]:
    """(data files, init_data's result): init's file plus every file the previous
    iteration's label tasks list (they carry the earlier iterations' files too)."""
    init = first(results, "init_data", "train")
    files = list(init["data_files"])
    for rec in (feedback or {}).get("label") or []:
        files += [f for f in rec["data_files"] if f not in files]
    return files, init


def previous_model(feedback: dict[str, list[Any]] | None, member: int) -> str | None:
    labels = (feedback or {}).get("label") or []
    models = labels[0].get("model_files", {}) if labels else {}
    return models.get(str(member))


def history_so_far(feedback: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    labels = (feedback or {}).get("label") or []
    return list(labels[0].get("history", [])) if labels else []


def train_member(member: int, cutoff: float, epochs: int = 1500, seed: int = 0,
                 width: int = 32, depth: int = 2, threads: int = 1, reuse: bool = True,
                 learning_rate: float | None = None, batch_size: int | None = None,
                 results: dict[str, list[Any]] | None = None,
                 feedback: dict[str, list[Any]] | None = None,
                 context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Fit member `member`; writes table.npz (what MD runs), model.pt, history.json.

    `epochs` counts L-BFGS iterations over the full data set; `learning_rate` and
    `batch_size` (from the surrogate-train template) do not apply to this full-batch
    optimiser and are recorded only. `reuse`: start from this member's previous model."""
    import torch

    files, init = data_so_far(results, feedback)
    data = system.load_frames(files)
    iteration = int((context or {}).get("iteration") or 1)
    previous = previous_model(feedback, int(member)) if reuse else None
    init_state = torch.load(previous, weights_only=True) if previous else None

    def log(step: int, loss: float) -> None:
        if step % 250 == 0:
            print(f"member {member}, iteration {iteration}: L-BFGS step {step}: "
                  f"loss {loss:.3e}", flush=True)

    res = potential.fit(data["positions"], data["box"], data["energy"], data["forces"],
                        float(cutoff), epochs=int(epochs),
                        seed=system.seed_of(seed, member, iteration), width=int(width),
                        depth=int(depth), threads=int(threads), log=log,
                        init_state=init_state)
    out = system.task_dir(context)
    potential.save_table(out / TABLE, res.table, float(cutoff))
    torch.save(res.state, out / MODEL)
    (out / HISTORY).write_text(json.dumps({"loss": res.loss}))
    return {"member": int(member), "table": str(out / TABLE), "model": str(out / MODEL),
            "data_files": files, "test_set": init["test_set"], "n_atoms": init["n_atoms"],
            "history": history_so_far(feedback), "warm_start": previous, "n_frames": len(data["energy"]),
            "train_force_rmse": res.force_rmse, "train_energy_rmse": res.energy_rmse,
            "final_loss": res.loss[-1] if res.loss else None, "steps": len(res.loss),
            "seconds": res.seconds, "parameters": res.parameters,
            "force_rms": float(np.sqrt(np.mean(data["forces"] ** 2))),
            "unused": {"learning_rate": learning_rate, "batch_size": batch_size}}
