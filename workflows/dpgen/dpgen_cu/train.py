"""train[member]: one member of the ensemble, `dp train` then `dp freeze`.

Every member trains on all frames labelled so far (init, plus what `label` added in
earlier iterations through the loop's feedback); members differ only by their seeds, as
in DP-GEN, so that where the data says little they disagree. DeePMD-kit's TensorFlow
backend on the CPU (docs/decisions.md says why not PyTorch)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dpgen_cu import codes, system
from orchestrator.library.stage_io import task_dir

MODEL = "graph.pb"


def data_so_far(results: dict[str, list[Any]] | None,
                feedback: dict[str, list[Any]] | None) -> list[str]:
    """init's frame file, plus every file the previous iteration's label tasks list (they
    carry the earlier iterations' files too), in order, once each."""
    init = ((results or {}).get("init_data") or [None])[0]
    if init is None:
        raise RuntimeError("train needs init's result")
    files = [init["data_file"]]
    for rec in (feedback or {}).get("label") or []:
        files += [f for f in rec["data_files"] if f not in files]
    return files


def history_so_far(feedback: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    """The per-iteration history that select wrote, with the label shards' reference
    calls and seconds added to the last iteration's entry."""
    labels = (feedback or {}).get("label") or []
    return with_labels(list(labels[0].get("history") or []), labels) if labels else []


def with_labels(history: list[dict[str, Any]], labels: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    if not history:
        return history
    last = {**history[-1], "labelled": sum(int(r["labelled"]) for r in labels),
            "label_seconds": sum(float(r["reference_seconds"]) for r in labels)}
    return [*history[:-1], last]


def input_json(systems: list[str], seed: int, steps: int, rcut: float,
               neurons: list[int]) -> dict[str, Any]:
    """A small se_e2_a model (DeePMD-kit's standard descriptor at a quarter of the usual
    widths; smoothing from 0.5 Å as DeePMD-kit's examples do: from rcut - 1 Å one seed in
    four stalled at 0.33 eV/Å force RMSE, from 0.5 Å five of five reached 0.02-0.04 on
    56 EMT frames in 2000-3000 steps; [8, 16] embeddings stalled at 0.46) and the usual loss
    schedule: energy and virial weights rising, force weight falling over training (the
    virial teaches pressure, which NPT exploration follows)."""
    return {
        "model": {
            "type_map": [system.ELEMENT],
            "descriptor": {"type": "se_e2_a", "sel": [64], "rcut_smth": 0.5,
                           "rcut": rcut, "neuron": [16, 32, 64], "axis_neuron": 8,
                           "resnet_dt": False, "seed": seed},
            "fitting_net": {"neuron": list(neurons), "resnet_dt": True, "seed": seed},
        },
        "learning_rate": {"type": "exp", "start_lr": 1e-3, "stop_lr": 3.5e-5,
                          "decay_steps": max(1, steps // 20)},
        "loss": {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1,
                 "start_pref_f": 1000, "limit_pref_f": 1, "start_pref_v": 0.02,
                 "limit_pref_v": 1},
        "training": {"training_data": {"systems": systems, "batch_size": "auto"},
                     "numb_steps": int(steps), "seed": seed, "disp_file": "lcurve.out",
                     "disp_freq": max(1, steps // 10), "save_freq": int(steps)},
    }


def train_member(member: int, steps: int = 2000, rcut: float = 4.5, seed: int = 0,
                 neurons: list[int] | None = None,
                 results: dict[str, list[Any]] | None = None,
                 feedback: dict[str, list[Any]] | None = None,
                 context: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    start = time.perf_counter()
    out = task_dir(context)
    iteration = system.iteration_of(context)
    files = data_so_far(results, feedback)
    init = (results or {})["init_data"][0]
    frames = system.load_many(files)
    data_dir = system.write_deepmd(out / "data", frames)
    s = system.seed_of(seed, member, iteration) % (2**31)
    config = input_json([str(data_dir)], s, int(steps), float(rcut), neurons or [64, 64])
    (out / "input.json").write_text(json.dumps(config, indent=1))
    threads = codes.threads_of(context)
    t0 = time.perf_counter()
    codes.run(["dp", "--tf", "train", "input.json", "--skip-neighbor-stat"], out, "dp-train",
              threads)
    t1 = time.perf_counter()
    codes.run(["dp", "--tf", "freeze", "-o", MODEL], out, "dp-freeze", threads)
    t2 = time.perf_counter()
    lcurve = _last_lcurve(out / "lcurve.out")
    print(f"member {member}, iteration {iteration}: {len(frames['positions'])} frames, "
          f"{steps} steps in {t1 - t0:.1f} s; train force RMSE {lcurve.get('rmse_f_trn')}",
          flush=True)
    return {"member": int(member), "model": str(out / MODEL),
            "train_frames": len(frames["positions"]), "data_files": files,
            "history": history_so_far(feedback), "lattice": init["lattice"],
            "lcurve": lcurve, "train_seconds": t1 - t0, "freeze_seconds": t2 - t1,
            "seconds": time.perf_counter() - start}


def _last_lcurve(path: Path) -> dict[str, float]:
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
