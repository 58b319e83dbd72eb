"""ase-label: energies, forces and virials of frames from a reference method through ASE
(the step library's `ase-label`, DP-GEN's `fp` step; docs/templates.md#step-library).

The frames are frame files (orchestrator/library/atomistic/frames.py) given as `frames`
(a path or a list, e.g. `${stages.select.outputs.selected}`); shard `shard` of
`n_shards` labels every n_shards-th of them. The method is a name
(orchestrator/library/atomistic/calculators.py: `emt`, `xtb`, `cp2k`). The result's
`data_files` are the labelled files so far (those upstream results list in `data_files`,
then this shard's), so that a loop's training step finds every file through feedback."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from orchestrator.library.atomistic import calculators
from orchestrator.library.atomistic import frames as fr
from orchestrator.library.stage_io import input_paths, task_dir

LABELS = "labels.npz"


def upstream_files(results: dict[str, list[Any]] | None) -> list[str]:
    """The `data_files` upstream results carry (a growing data set), in order, once each."""
    out: list[str] = []
    for records in (results or {}).values():
        for rec in records:
            for f in (rec.get("data_files") or []) if isinstance(rec, dict) else []:
                if f not in out:
                    out.append(f)
    return out


def label(frames: Any = None, calculator: str = "emt", shard: int = 0, n_shards: int = 1,
          results: dict[str, list[Any]] | None = None,
          context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    if calculator not in calculators.METHODS:   # before reading anything
        raise ValueError(f"reference {calculator!r}: choose one of "
                         f"{', '.join(calculators.METHODS)}")
    files = input_paths(frames, context)
    if not files:
        raise RuntimeError("label needs frames: args.frames (frame files), e.g. "
                           "${stages.select.outputs.selected}")
    data = fr.load_many(files, empty_ok=True)    # nothing selected: nothing to label
    positions = data["positions"][int(shard)::int(n_shards)]
    cells = data["cells"][int(shard)::int(n_shards)]
    labelled = calculators.label(positions, cells, fr.symbols_of(data, files[0]), calculator)
    path = task_dir(context) / LABELS
    fr.save(path, **{k: v for k, v in labelled.items() if k != "seconds"})
    own = [str(path)] if len(positions) else []
    print(f"label shard {shard}: {len(positions)} frames by {calculator} in "
          f"{labelled['seconds'].sum():.1f} s", flush=True)
    return {"shard": int(shard), "labelled": len(positions), "data_file": str(path),
            "data_files": upstream_files(results) + own, "reference": calculator,
            "reference_seconds": float(np.sum(labelled["seconds"])),
            "seconds": time.perf_counter() - start}
