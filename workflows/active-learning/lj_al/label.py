"""label[shard]: exact LJ energies and forces of this shard's share of the selection."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lj_al import system
from orchestrator.library.stage_io import first

LABELS = "labels.npz"


def label(shard: int, n_shards: int, cutoff: float,
          results: dict[str, list[Any]] | None = None,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    sel = first(results, "select", "label")
    with np.load(sel["selected_file"]) as data:
        positions = data["positions"][int(shard)::int(n_shards)]
        boxes = data["box"][int(shard)::int(n_shards)]
    files = list(sel["data_files"])
    backend = None
    path = system.task_dir(context) / LABELS
    if len(positions):
        energy, forces, backend = system.label_frames(positions, boxes, float(cutoff))
        files.append(str(path))
    else:  # nothing selected for this shard: an empty file (the declared output)
        energy, forces = np.zeros(0), np.zeros_like(positions, dtype=np.float64)
    system.save_frames(path, positions=positions, box=boxes, energy=energy, forces=forces)
    return {"shard": int(shard), "labelled": len(positions), "data_files": files,
            "history": sel["history"], "model_files": sel["model_files"], "backend": backend,
            "seconds": time.perf_counter() - start}
