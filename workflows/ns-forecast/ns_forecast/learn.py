"""train: fit the one-step FNO on every trajectory so far (inside the loop `refine`).

Iteration 1 trains on dataset's training trajectories; later ones add the trajectories
resolve computed for flagged candidates (its result arrives through the loop's feedback and
lists every data file so far) and start from the previous iteration's weights.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ns_forecast import model
from orchestrator.library.stage_io import iteration_of, one, task_dir

MODEL = "model.pt"
HISTORY = "history.json"


def train(epochs: int, learning_rate: float, batch_size: int, width: int, modes: int,
          layers: int, seed: int = 0, threads: int = 0,
          results: dict[str, list[Any]] | None = None,
          feedback: dict[str, list[Any]] | None = None,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Fit the stepper on all data so far; writes model.pt and history.json."""
    ds = one(results, "dataset")
    prev = ((feedback or {}).get("resolve") or [None])[0]
    files = list(prev["data_files"]) if prev else [ds["dataset"]]
    trajs: list[np.ndarray] = []
    for f in files:
        with np.load(f) as data:
            trajs += list(data["train"])
    state, facts = model.train(trajs, int(epochs), float(learning_rate), int(batch_size),
                               int(width), int(modes), int(layers), int(seed), int(threads),
                               start_from=prev["model"] if prev else None)
    out = task_dir(context)
    model.save(state, out / MODEL)
    tmp = out / (HISTORY + ".tmp")
    tmp.write_text(json.dumps(facts["history"]))
    tmp.replace(out / HISTORY)
    return {"model": str(out / MODEL), "data_files": files, "trajectories": len(trajs),
            "used": list(prev["used"]) if prev else [], "iteration": iteration_of(context),
            "history": list(prev["history"]) if prev else [],
            "loss": facts["history"][-1], "seconds": facts["seconds"], "pairs": facts["pairs"],
            "parameters": facts["parameters"], "warm_start": facts["warm_start"]}
