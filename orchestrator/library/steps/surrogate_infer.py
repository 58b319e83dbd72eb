"""surrogate-infer: serve trained FNO members on query inputs, with torch on gpu pools
and OpenVINO on cpu pools.

`export` (where torch is) writes the members as one ONNX graph (model.onnx:
orchestrator.library.surrogates.export), a declared output like any other, so its hash
is in the lineage of every prediction made from it. `infer` then answers the queries
with the backend its pool calls for: `auto` is torch when the task is pinned to a GPU
(`device_kinds.pinned_class`: a gpu pool) and its environment has torch, OpenVINO on
the ONNX file otherwise (a cpu pool, a gpu stage that fell back to one, or an
OpenVINO-only environment); `torch` and `openvino` force one. It
writes predictions.npz (`members` (n, members, N, N), their `mean` and relative `spread`)
and returns the time per sample batched and alone.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from orchestrator import device_kinds
from orchestrator.library.stage_io import task_dir

ONNX = "model.onnx"
PREDICTIONS = "predictions.npz"
BACKENDS = ("auto", "torch", "openvino")


def paths(value: str | list[str]) -> list[str]:
    """One path or a fan-in list of them (a swept train stage), as a list."""
    return [value] if isinstance(value, str) else [str(v) for v in value]


def export(models: str | list[str], context: dict[str, Any] | None = None,
           **_: Any) -> dict[str, Any]:
    """Write the members `models` (model.pt files, in member order) as model.onnx."""
    from orchestrator.library.surrogates import export as ex

    info = ex.export_onnx(paths(models), task_dir(context) / ONNX)
    return dict(info, models=paths(models))


def choose(backend: str, environ: dict[str, str] | None = None,
           torch_here: bool | None = None) -> str:
    """The backend that runs: `auto` is torch on a gpu pool where torch is installed in
    the stage's environment, OpenVINO otherwise (a cpu pool, a gpu stage fallen back to
    one, or an environment with OpenVINO only)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if device_kinds.pinned_class(os.environ if environ is None else environ) != "gpu":
        return "openvino"
    if torch_here is None:
        torch_here = importlib.util.find_spec("torch") is not None
    return "torch" if torch_here else "openvino"


def _torch_runner(models: list[str], threads: int, batch_size: int) -> tuple[Callable, str]:
    from orchestrator.library.surrogates import train as tr
    from orchestrator.library.surrogates.fno import require_torch

    try:
        require_torch()
    except ImportError as exc:
        raise ImportError(f"backend torch: {exc} (run this stage in an environment with "
                          "torch, or use backend openvino)") from exc
    tr.set_threads(threads)
    members = [tr.load(m) for m in models]
    return (lambda x: tr.predict(members, x, batch_size)), str(members[0].device)


def _openvino_runner(onnx: str, threads: int, batch_size: int) -> tuple[Callable, str]:
    from orchestrator.library.surrogates import openvino_runtime as ovr

    runner = ovr.Runner(onnx, threads)
    return (lambda x: runner(x, batch_size)), f"OpenVINO {ovr.version().split('-')[0]} on CPU"


def timed(run: Callable, x: np.ndarray, repeats: int = 3) -> dict[str, float]:
    """Seconds per sample of run(x) batched and of run(x[:1]) alone: the best of `repeats`
    each, after a warm-up call of that shape (a runtime with a free batch dimension, like
    OpenVINO, re-plans when the shape changes: alternating them would time that)."""
    out = {}
    for name, batch in (("seconds_per_sample", x), ("seconds_single", x[:1])):
        run(batch)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            run(batch)
            best = min(best, (time.perf_counter() - t) / len(batch))
        out[name] = best
    return out


def infer(models: str | list[str], onnx: str, queries: str, backend: str = "auto",
          threads: int = 1, batch_size: int = 64, input_key: str = "inputs",
          repeats: int = 3, context: dict[str, Any] | None = None,
          **_: Any) -> dict[str, Any]:
    """Predict the queries' `input_key` array with every member; writes predictions.npz."""
    from orchestrator.library.surrogates import uncertainty as unc

    used = choose(backend)
    with np.load(queries) as data:
        x = np.asarray(data[input_key], dtype=np.float64)
    start = time.perf_counter()
    if used == "torch":
        run, device = _torch_runner(paths(models), int(threads), int(batch_size))
    else:
        run, device = _openvino_runner(onnx, int(threads), int(batch_size))
    load_seconds = time.perf_counter() - start
    preds = run(x)
    mean, spread = unc.ensemble_stats(preds)
    out = task_dir(context) / PREDICTIONS
    np.savez(out, members=preds, mean=mean, spread=spread)
    times = timed(run, x, int(repeats)) if repeats > 0 else {}
    return {"backend": used, "asked": backend, "device": device, "queries": len(x),
            "members": int(preds.shape[1]), "predictions": str(out),
            "load_seconds": load_seconds, **times,
            "spread_mean": float(spread.mean()) if len(x) else None}
