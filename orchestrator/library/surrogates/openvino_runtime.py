"""Run an exported surrogate (ONNX, `export.export_onnx`) with OpenVINO on the CPU.

NumPy and OpenVINO only, so that it runs in a site's `openvino` environment (a venv with
nothing else: scripts/install-openvino.sh); OpenVINO reads the ONNX file itself.
Inference precision is pinned to f32: on CPUs with bf16 units OpenVINO would otherwise
lower it, and its answers would stop agreeing with torch's to 1e-4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

HINT = ("OpenVINO is not installed in this environment: bash scripts/install-openvino.sh "
        "(the site's `openvino` environment)")


def require_openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise ImportError(f"{HINT} ({exc})") from exc
    return openvino


class Runner:
    """The ONNX graph compiled for the CPU, once per batch size it is called with: the
    graph's batch dimension is free, but OpenVINO's CPU plugin runs a static shape 1.5x
    faster than the dynamic one (2-core development machine, heat-surrogate FNO, one
    thread), and compiling costs ~0.3 s. `threads` > 0 caps its inference threads."""

    def __init__(self, path: str | Path, threads: int = 0, device: str = "CPU"):
        ov = require_openvino()
        self.core, self.path, self.device = ov.Core(), str(path), device
        self.config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads > 0:
            self.config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled: dict[int, Any] = {}

    def for_batch(self, batch: int) -> Any:
        if batch not in self.compiled:
            model = self.core.read_model(self.path)
            grid = list(model.input(0).get_partial_shape())[1:]  # static: (N, N)
            model.reshape([batch, *(d.get_length() for d in grid)])
            self.compiled[batch] = self.core.compile_model(model, self.device, self.config)
        return self.compiled[batch]

    def __call__(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The graph's output for features `x` (n, N, N), float64, in batches."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        parts = [np.asarray(self.for_batch(len(chunk))(chunk)[0])
                 for chunk in (x[s:s + batch_size] for s in range(0, len(x), batch_size))]
        return np.concatenate(parts).astype(np.float64)


def version() -> str:
    return str(require_openvino().__version__)

