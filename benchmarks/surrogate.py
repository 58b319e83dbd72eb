"""Solver vs surrogate, per sample, at the heat-surrogate demo settings.

Runs the workflow at its defaults on the laptop site (or reuses a finished run with
--run-dir), then, in one process with the same thread count for both sides, on fresh
fields the models never saw (the held-out stream): the Jacobi and CG solves per sample
against the FNO ensemble's inference per sample (batched, and one sample alone) and one
member's, interleaved, median of REPEATS; plus the ensemble's relative L2 error against
the solver. Prints one JSON line.

    python benchmarks/surrogate.py [--run-dir RUN] [--samples 32] [--repeats 3] [--threads 1]
                                   [--set k=v ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "workflows" / "heat-surrogate" / "workflow.yaml"
sys.path.insert(0, str(WORKFLOW.parent))

from heat_surrogate.stages import features  # noqa: E402

from orchestrator.library import fields  # noqa: E402
from orchestrator.library.solvers import darcy as ref  # noqa: E402
from orchestrator.library.surrogates import train as tr  # noqa: E402
from orchestrator.library.surrogates import uncertainty as unc  # noqa: E402


def run_workflow(run_dir: Path, sets: list[str]) -> float:
    cmd = [sys.executable, "-m", "orchestrator", "run", str(WORKFLOW), "--site", "laptop",
           "--run-dir", str(run_dir), "-q"]
    for s in sets:
        cmd += ["--set", s]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def per_sample(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / n


def measure(run_dir: Path, samples: int, repeats: int, threads: int) -> dict:
    p = json.loads((run_dir / "spec.json").read_text())["params"]  # --set values applied
    kind, grid, tol = p["field"], int(p["grid"]), float(p["tolerance"])
    raw = fields.sample_fields(kind, samples, grid, float(p["correlation_length"]),
                               float(p["contrast"]), int(p["seed"]), fields.STREAMS["test"],
                               start=10_000)  # beyond the held-out samples used in training
    tr.set_threads(threads)
    members = [tr.load(m) for m in sorted(run_dir.glob("tasks/train*/model.pt"))]
    x = features(raw, kind)
    for name in ref.SOLVERS:
        ref.warm_up(kind, name)
    tr.predict(members, x)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in
                                     ("jacobi", "cg", "ensemble", "ensemble_single", "member")}
    truth = None
    for _ in range(repeats):
        start = time.perf_counter()
        truth = np.stack([ref.solve(r, kind, "jacobi", tol).u for r in raw])
        times["jacobi"].append((time.perf_counter() - start) / samples)
        times["cg"].append(per_sample(lambda: [ref.solve(r, kind, "cg", tol) for r in raw],
                                      samples))
        times["ensemble"].append(per_sample(lambda: tr.predict(members, x), samples))
        times["ensemble_single"].append(per_sample(
            lambda: [tr.predict(members, x[i:i + 1]) for i in range(samples)], samples))
        times["member"].append(per_sample(lambda: tr.predict(members[:1], x), samples))
    med = {k: statistics.median(v) for k, v in times.items()}
    preds = tr.predict(members, x)
    mean, _ = unc.ensemble_stats(preds)
    err = unc.relative_l2(mean, truth)
    member_err = unc.relative_l2(preds[:, 0], truth)
    return {
        "settings": {k: p[k] for k in ("grid", "field", "n_samples", "n_test", "epochs",
                                       "ensemble_size", "width", "modes", "layers",
                                       "solver", "tolerance")},
        "samples": samples, "repeats": repeats, "threads": threads, "members": len(members),
        "seconds_per_sample": med,
        "ratios": {"jacobi_over_ensemble": med["jacobi"] / med["ensemble"],
                   "cg_over_ensemble": med["cg"] / med["ensemble"],
                   "jacobi_over_ensemble_single": med["jacobi"] / med["ensemble_single"],
                   "jacobi_over_member": med["jacobi"] / med["member"],
                   "cg_over_member": med["cg"] / med["member"]},
        "error": {"ensemble_mean": float(err.mean()), "ensemble_max": float(err.max()),
                  "member_mean": float(member_err.mean())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, help="a finished heat-surrogate run to reuse")
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (solvers use one)")
    ap.add_argument("--set", action="append", default=[], dest="sets",
                    help="workflow param for the run (without --run-dir)")
    args = ap.parse_args()
    out: dict = {"benchmark": "surrogate"}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir
        if run_dir is None:
            run_dir = Path(tmp) / "run"
            out["workflow_seconds"] = run_workflow(run_dir, args.sets)
        out["run_dir"] = str(run_dir)
        out.update(measure(run_dir, args.samples, args.repeats, args.threads))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
