"""DeePMD-kit training: the input of a small se_e2_a model, `dp train` then `dp freeze`
(TensorFlow backend on the CPU or a GPU; docs/decisions.md says why not PyTorch), and
the learning curve it wrote."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.library.atomistic import codes

MODEL = "graph.pb"
LCURVE = "lcurve.out"


def input_json(systems: list[str], seed: int, steps: int, rcut: float,
               neurons: list[int], type_map: Sequence[str] | None = None,
               sel: int = 64) -> dict[str, Any]:
    """A small se_e2_a model (DeePMD-kit's standard descriptor at a quarter of the usual
    widths; smoothing from 0.5 Å as DeePMD-kit's examples do: from rcut - 1 Å one seed in
    four stalled at 0.33 eV/Å force RMSE, from 0.5 Å five of five reached 0.02-0.04 on
    56 EMT Cu frames in 2000-3000 steps; [8, 16] embeddings stalled at 0.46) and the usual
    loss schedule: energy and virial weights rising, force weight falling over training
    (the virial teaches pressure, which NPT exploration follows). `sel`: the most
    neighbours of each type within rcut."""
    n_types = len(type_map) if type_map else 1
    model: dict[str, Any] = {
        "descriptor": {"type": "se_e2_a", "sel": [int(sel)] * n_types, "rcut_smth": 0.5,
                       "rcut": rcut, "neuron": [16, 32, 64], "axis_neuron": 8,
                       "resnet_dt": False, "seed": seed},
        "fitting_net": {"neuron": list(neurons), "resnet_dt": True, "seed": seed},
    }
    if type_map:
        model = {"type_map": list(type_map), **model}
    return {
        "model": model,
        "learning_rate": {"type": "exp", "start_lr": 1e-3, "stop_lr": 3.5e-5,
                          "decay_steps": max(1, steps // 20)},
        "loss": {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1,
                 "start_pref_f": 1000, "limit_pref_f": 1, "start_pref_v": 0.02,
                 "limit_pref_v": 1},
        "training": {"training_data": {"systems": systems, "batch_size": "auto"},
                     "numb_steps": int(steps), "seed": seed, "disp_file": LCURVE,
                     "disp_freq": max(1, steps // 10), "save_freq": int(steps)},
    }


def train_and_freeze(out: Path, config: dict[str, Any], threads: int) -> dict[str, float]:
    """Write input.json in `out`, run `dp --tf train` and `dp --tf freeze` there (logs
    dp-train.out/err, dp-freeze.out/err); the seconds each took."""
    (out / "input.json").write_text(json.dumps(config, indent=1))
    t0 = time.perf_counter()
    codes.run(["dp", "--tf", "train", "input.json", "--skip-neighbor-stat"], out, "dp-train",
              threads)
    t1 = time.perf_counter()
    codes.run(["dp", "--tf", "freeze", "-o", MODEL], out, "dp-freeze", threads)
    return {"train_seconds": t1 - t0, "freeze_seconds": time.perf_counter() - t1}


def last_lcurve(path: Path) -> dict[str, float]:
    """The last row of DeePMD-kit's learning curve, by its header's column names."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    header = next((x for x in lines if x.startswith("#")), "").lstrip("#").split()
    rows = [x.split() for x in lines if x.strip() and not x.startswith("#")]
    if not header or not rows:
        return {}
    return {k: float(v) for k, v in zip(header, rows[-1], strict=False)}
