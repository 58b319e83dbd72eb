"""Input stages of the step templates: the placeholder a workflow replaces, and seeded
Darcy producers that the examples use in its place.

A step template reads its input through a stage of its own (`dataset`, `queries`,
`fields`) so that it validates and plans standing alone; that stage runs `required`,
which fails with what to do. A workflow that includes the step overrides the stage with
its own producer (`python:` and `args:`, keeping the output's name), as the examples beside
each template do with the producers below.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orchestrator.library import fields as fields_mod
from orchestrator.library.stage_io import task_dir

FIELDS = "fields.npz"
DATASET = "dataset.npz"
QUERIES = "queries.npz"


def required(context: dict[str, Any] | None = None, **_: Any) -> None:
    """The template's input placeholder: always fails, naming the stage to override."""
    stage = (context or {}).get("stage", "this stage")
    raise RuntimeError(
        f"stage {stage!r} is the step's input: override it in your workflow with the "
        "stage that writes its declared output (see the example.yaml beside the template)")


def _fields(n: int, grid: int, kind: str, correlation_length: float, contrast: float,
            seed: int, stream: str) -> np.ndarray:
    return fields_mod.sample_fields(kind, int(n), int(grid), float(correlation_length),
                                    float(contrast), int(seed), fields_mod.STREAMS[stream])


def darcy_fields(n: int = 4, grid: int = 32, kind: str = "lognormal",
                 correlation_length: float = 0.1, contrast: float = 10.0, seed: int = 0,
                 stream: str = "train", context: dict[str, Any] | None = None,
                 **_: Any) -> dict[str, Any]:
    """n seeded input fields (orchestrator.library.fields) into fields.npz (`fields`)."""
    x = _fields(n, grid, kind, correlation_length, contrast, seed, stream)
    path = task_dir(context) / FIELDS
    np.savez(path, fields=x)
    return {"fields": str(path), "n": int(n), "grid": int(grid), "kind": kind,
            "seed": int(seed), "stream": stream}


def darcy_dataset(n: int = 64, n_val: int = 8, grid: int = 16, kind: str = "lognormal",
                  correlation_length: float = 0.2, contrast: float = 10.0, seed: int = 0,
                  context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """A training set for fno-train: n fields of the train stream and n_val of the test
    stream, solved exactly (sparse LU), into dataset.npz: `inputs`, `targets`,
    `inputs_val`, `targets_val` (features in, solutions out)."""
    from orchestrator.library.solvers import darcy

    out = {}
    for name, count, stream in (("", n, "train"), ("_val", n_val, "test")):
        x = _fields(count, grid, kind, correlation_length, contrast, seed, stream)
        out[f"inputs{name}"] = fields_mod.features(x, kind)
        out[f"targets{name}"] = np.stack([darcy.solve_linear(f, kind, "direct").u for f in x]
                                         ) if count else np.empty((0, grid, grid))
    path = task_dir(context) / DATASET
    np.savez(path, **out)
    return {"dataset": str(path), "n": int(n), "n_val": int(n_val), "grid": int(grid),
            "kind": kind}


def darcy_queries(n: int = 8, grid: int = 16, kind: str = "lognormal",
                  correlation_length: float = 0.2, contrast: float = 10.0, seed: int = 0,
                  context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """n fresh fields (the query stream) as surrogate features into queries.npz
    (`inputs`), with the raw fields (`fields`)."""
    x = _fields(n, grid, kind, correlation_length, contrast, seed, "query")
    path = task_dir(context) / QUERIES
    np.savez(path, inputs=fields_mod.features(x, kind), fields=x)
    return {"queries": str(path), "n": int(n), "grid": int(grid), "kind": kind}
