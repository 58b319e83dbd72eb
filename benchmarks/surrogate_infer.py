"""OpenVINO against torch on this CPU, for the heat-surrogate FNO (width 16, 8 modes,
4 layers, 32 x 32 grid, padding 4: the workflow's defaults), one member and the
4-member ensemble, batched (32 queries per call) and one query alone.

Both sides run the surrogate-infer step's code: torch the saved members
(`surrogates.train.predict`), OpenVINO the ONNX graph that the export stage writes
(`surrogates.export`), in the `openvino` environment's interpreter (a subprocess: that
venv has no torch), with the same thread count; the best of `--repeats` timed calls
after a warm-up, interleaved rounds, median of the rounds. Weights are random (speed does
not depend on them); agreement is checked on the same queries. Prints one JSON line.

    python benchmarks/surrogate_infer.py [--threads 1] [--rounds 5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OPENVINO_PYTHON = REPO / ".envs" / "openvino" / "bin" / "python"
GRID, WIDTH, MODES, LAYERS, PADDING, BATCH = 32, 16, 8, 4, 4, 32

OV_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from orchestrator.library.surrogates import openvino_runtime as ovr
    from orchestrator.library.steps.surrogate_infer import timed
    onnx, queries, threads, repeats, out = sys.argv[1:6]
    x = np.load(queries)
    runner = ovr.Runner(onnx, int(threads))
    np.save(out, runner(x))
    print(json.dumps(timed(runner, x, int(repeats))))
""")


def save_members(torch, folder: Path, count: int) -> list[Path]:
    from orchestrator.library.surrogates import train as tr
    from orchestrator.library.surrogates.fno import build_fno

    rng = np.random.default_rng(0)
    paths = []
    for m in range(count):
        torch.manual_seed(m)
        model = build_fno(modes=MODES, width=WIDTH, layers=LAYERS, padding=PADDING)
        norm = {"x_mean": 1.2, "x_std": 0.6,
                "y_mean": rng.random((GRID, GRID)).astype(np.float32) * 0.05,
                "y_std": rng.random((GRID, GRID)).astype(np.float32) * 0.01 + 0.01}
        paths.append(folder / f"m{m}.pt")
        tr.save({"state_dict": model.state_dict(), "config": model.config,
                 "normaliser": norm}, paths[-1])
    return paths


def measure(members: list[Path], folder: Path, threads: int, rounds: int,
            repeats: int) -> dict:
    from orchestrator.library.steps.surrogate_infer import timed
    from orchestrator.library.surrogates import export as ex
    from orchestrator.library.surrogates import train as tr

    onnx = folder / f"ensemble{len(members)}.onnx"
    exported = ex.export_onnx(members, onnx)
    x = np.log(np.random.default_rng(1).uniform(1, 10, (BATCH, GRID, GRID)))
    np.save(folder / "q.npy", x.astype(np.float32))
    nets = [tr.load(p) for p in members]
    ref = tr.predict(nets, x)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    samples: dict[str, list[float]] = {k: [] for k in (
        "torch_batched", "torch_single", "openvino_batched", "openvino_single")}
    for _ in range(rounds):
        t = timed(lambda q: tr.predict(nets, q), x, repeats)
        samples["torch_batched"].append(t["seconds_per_sample"])
        samples["torch_single"].append(t["seconds_single"])
        proc = subprocess.run([str(OPENVINO_PYTHON), "-c", OV_SIDE, str(onnx),
                               str(folder / "q.npy"), str(threads), str(repeats),
                               str(folder / "ov.npy")], capture_output=True, text=True,
                              env=env, check=True, timeout=600)
        o = json.loads(proc.stdout.strip().splitlines()[-1])
        samples["openvino_batched"].append(o["seconds_per_sample"])
        samples["openvino_single"].append(o["seconds_single"])
    got = np.load(folder / "ov.npy")
    ms = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    return {"members": len(members), "export_seconds": exported["seconds"],
            "onnx_bytes": exported["bytes"],
            "ms_per_sample": {k: round(v, 3) for k, v in ms.items()},
            "openvino_speedup": {
                "batched": round(ms["torch_batched"] / ms["openvino_batched"], 2),
                "single": round(ms["torch_single"] / ms["openvino_single"], 2)},
            "max_relative_difference": float(np.abs(got - ref).max() / np.abs(ref).max())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if not OPENVINO_PYTHON.exists():
        print(f"no {OPENVINO_PYTHON}: bash scripts/install-openvino.sh", file=sys.stderr)
        return 2
    import torch

    from orchestrator.library.surrogates import openvino_runtime  # noqa: F401 (importable)

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        members = save_members(torch, folder, 4)
        out = {"benchmark": "surrogate_infer", "threads": args.threads,
               "torch": torch.__version__, "grid": GRID, "batch": BATCH,
               "model": {"width": WIDTH, "modes": MODES, "layers": LAYERS,
                         "padding": PADDING},
               "results": [measure(members[:n], folder, args.threads, args.rounds,
                                   args.repeats) for n in (1, 4)]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
