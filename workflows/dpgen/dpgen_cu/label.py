"""label[shard]: the reference on this shard's share of the selected candidates (DP-GEN's
`fp` step). The data files so far, plus this shard's, go back to train through the loop
feedback."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dpgen_cu import reference, system
from orchestrator.library.stage_io import first, task_dir

LABELS = "labels.npz"


def label(shard: int, n_shards: int, reference_method: str = "emt",
          results: dict[str, list[Any]] | None = None,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    sel = first(results, "select", "label")
    chosen = system.load(sel["selected_file"])
    positions = chosen["positions"][int(shard)::int(n_shards)]
    cells = chosen["cells"][int(shard)::int(n_shards)]
    data = reference.label(positions, cells, reference_method)
    path = task_dir(context) / LABELS
    system.save(path, **{k: v for k, v in data.items() if k != "seconds"})
    files = list(sel["data_files"]) + ([str(path)] if len(positions) else [])
    print(f"label shard {shard}: {len(positions)} frames by {reference_method} in "
          f"{data['seconds'].sum():.1f} s", flush=True)
    return {"shard": int(shard), "labelled": len(positions), "data_files": files,
            "history": sel["history"], "reference": reference_method,
            "reference_seconds": float(np.sum(data["seconds"])),
            "seconds": time.perf_counter() - start}
