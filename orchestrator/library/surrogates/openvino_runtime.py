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


def compile_model(path: str | Path, threads: int = 0, device: str = "CPU") -> Any:
    """The compiled model; `threads` > 0 caps OpenVINO's inference threads."""
    ov = require_openvino()
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    core = ov.Core()
    return core.compile_model(core.read_model(str(path)), device, config)


def predict(compiled: Any, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The graph's output for features `x` (n, N, N), float64, in batches."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    parts = [np.asarray(compiled(x[s:s + batch_size])[0])
             for s in range(0, len(x), batch_size)]
    return np.concatenate(parts).astype(np.float64)


def version() -> str:
    return str(require_openvino().__version__)

