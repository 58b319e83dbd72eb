"""Forecast surrogate vs solver, at equal accuracy, from a finished ns-forecast run.

Runs the workflow at its defaults on the laptop site (or reuses a finished run with
--run-dir), then, in one process with the same threads for both sides, on the held-out
initial fields: the final FNO's rollout to the horizon (batched) against the solver at
the run's grid and step and at every configuration of evaluate's ladder, interleaved,
median of REPEATS each; errors against the finer solve (2x grid, dt/2). Prints one JSON
line: the speedup at the same grid and step and at equal accuracy (the cheapest solver
configuration whose horizon error is at most the surrogate's).

    python benchmarks/forecast.py [--run-dir RUN] [--repeats 3] [--threads 2] [--set k=v ...]
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

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "workflows" / "ns-forecast" / "workflow.yaml"
sys.path.insert(0, str(WORKFLOW.parent))

import numpy as np  # noqa: E402
from ns_forecast import model  # noqa: E402
from ns_forecast.stages import solve  # noqa: E402

from orchestrator.library.solvers import navier_stokes as ns  # noqa: E402
from orchestrator.state.results import results_by_task  # noqa: E402


def finished_run(args: argparse.Namespace) -> Path:
    if args.run_dir:
        return Path(args.run_dir)
    run = Path(tempfile.mkdtemp(prefix="bench-forecast-")) / "run"
    cmd = [sys.executable, "-m", "orchestrator", "run", str(WORKFLOW), "--site", "laptop",
           "--run-dir", str(run), "-q"] + [a for s in args.set for a in ("--set", s)]
    subprocess.run(cmd, check=True)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    run = finished_run(args)
    res = {t: r["result"] for t, r in results_by_task(run).items()}
    ev = res["evaluate"]
    last = max((t for t in res if t.startswith("train@")), key=lambda t: int(t.split("@")[1]))
    stepper = model.load(res[last]["model"], args.threads)
    with np.load(res["dataset"]["dataset"]) as data:
        w0 = data["test"][:, 0]
    grid, steps, mdt, sdt = ev["grid"], ev["steps"], ev["model_dt"], ev["solver_dt"]
    fine = ns.resample(solve(ns.resample(w0, 2 * grid), 2 * grid, sdt / 2, mdt, steps).states,
                       grid)
    configs = [(grid, sdt)] + [(r["grid"], r["dt"]) for r in
                                json.loads((run / "tasks" / "evaluate" / "evaluation.json")
                                           .read_text())["ladder"]]
    configs = list(dict.fromkeys(configs))
    times: dict[object, list[float]] = {"fno": [], **{c: [] for c in configs}}
    errors: dict[object, float] = {}
    for _ in range(args.repeats):  # interleaved: the machine's load hits both sides alike
        t = time.perf_counter()
        pred = stepper.rollout(w0, steps)
        times["fno"].append((time.perf_counter() - t) / len(w0))
        errors["fno"] = float(ns.relative_l2(pred[-1], fine[-1]).mean())
        for g, dt in configs:
            t = time.perf_counter()
            with np.errstate(all="ignore"):
                out = solve(ns.resample(w0, g), g, dt, mdt, steps).states[-1]
            times[(g, dt)].append((time.perf_counter() - t) / len(w0))
            errors[(g, dt)] = float(ns.relative_l2(ns.resample(out, grid), fine[-1]).mean())
    med = {k: statistics.median(v) for k, v in times.items()}
    ok = [c for c in configs if np.isfinite(errors[c]) and errors[c] <= errors["fno"]]
    equal = min(ok, key=lambda c: med[c]) if ok else None
    print(json.dumps({
        "run": str(run), "grid": grid, "steps": steps, "repeats": args.repeats,
        "fno_ms": 1e3 * med["fno"], "fno_error": errors["fno"],
        "solver_ms": 1e3 * med[(grid, sdt)], "solver_error": errors[(grid, sdt)],
        "speedup_same_grid": med[(grid, sdt)] / med["fno"],
        "equal_accuracy": {"grid": equal[0], "dt": equal[1], "ms": 1e3 * med[equal],
                           "error": errors[equal]} if equal else None,
        "speedup_equal_accuracy": med[equal] / med["fno"] if equal else None,
        "target": ">= 100x at <= 5% over >= 10 steps"}))


if __name__ == "__main__":
    main()
