"""Mixed packing: tasks of every shape (cores 1, 2 and all; gpus 1, 2 and 3 of 4; XPU
tiles 1 and 2) in one pool, on the laptop and on the local Slurm cluster. From the records
the workers wrote (when each task held which CPUs and units):

- peak cores and units in use at once, against the node's capacity (must be <= capacity);
- utilisation: busy core-seconds / allocated core-seconds, where allocated is the node's
  cores over the span from the first task's start to the last task's end (goal >= 0.85).

The tasks are busy loops of SECONDS each, so the figure is about packing, not start-up.

    python benchmarks/placement.py [--seconds 1.0] [--sites laptop slurm]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WF = REPO / "tests/integration/wf/mixed.yaml"
SITES = {"laptop": REPO / "tests/fixtures/sites/mixed-local.yaml",
         "slurm": REPO / "tests/fixtures/sites/slurm-mixed.yaml"}
NODE_UNITS = 8  # 4 GPUs + 2 XPUs x 2 tiles in both sites


def figures(run_dir: Path, cores: int) -> dict:
    sys.path.insert(0, str(REPO))
    from orchestrator.state.results import results_by_task

    held = [(r["placement"]["held"], r["placement"]["cpus"], r["placement"]["units"])
            for r in results_by_task(run_dir).values()]
    events = sorted({t for (a, b), _, _ in held for t in (a, b)})
    peak_cores = peak_units = 0
    for t in events:  # what was held at each moment something changed
        now = [(c, u) for (a, b), c, u in held if a <= t < b]
        peak_cores = max(peak_cores, sum(len(c) for c, _ in now))
        peak_units = max(peak_units, sum(len(u) for _, u in now))
    start, end = min(a for (a, _), _, _ in held), max(b for (_, b), _, _ in held)
    busy = sum((b - a) * len(c) for (a, b), c, _ in held)
    return {"tasks": len(held), "peak_cores": peak_cores, "cores": cores,
            "peak_units": peak_units, "units": NODE_UNITS, "span_s": round(end - start, 2),
            "busy_core_s": round(busy, 2),
            "utilisation": round(busy / (cores * (end - start)), 3)}


def measure(site: str, seconds: float, tmp: Path) -> dict:
    run_dir = tmp / f"run-{site}"
    cmd = [sys.executable, "-m", "orchestrator", "run", str(WF), "--site", str(SITES[site]),
           "--set", f"seconds={seconds}", "--run-dir", str(run_dir), "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout)[-600:]}
    cores = len(os.sched_getaffinity(0)) if site == "laptop" else 2
    return figures(run_dir, cores)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--sites", nargs="+", default=["laptop", "slurm"], choices=list(SITES))
    args = ap.parse_args()
    result: dict = {"benchmark": "placement", "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="orch-bench-placement-") as tmp:
        for site in args.sites:
            if site == "slurm" and shutil.which("sbatch") is None:
                result[site] = {"error": "no Slurm here (scripts/local-slurm.sh up)"}
                continue
            result[site] = measure(site, args.seconds, Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
