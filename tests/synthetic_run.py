"""A synthetic finished run of N tasks, written the way `orch run` writes one, without
running anything: run.json, spec.json, plan.json (the plan's own JSON export) and a
journal written by the journal module's own writer (state/journal.Journal) with the
records and fields the driver journals (backends/driver.py). For status and report at
scale (tests/unit/test_scale_status.py, benchmarks/status_scale.py).

    python tests/synthetic_run.py DIR --tasks 1000000 [--failed 20]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

SPEC = """\
apiVersion: orchestrator/v1
name: scale
params:
  n: 1000
stages:
  work:
    python: m:f
    args: {i: "${sweep.i}"}
    sweep:
      values:
        i: {start: 0, stop: "${params.n}", step: 1}
  gather:
    python: m:g
    needs: [work]
"""


def make_run(run_dir: Path, tasks: int, failed: int = 0, seed: int = 1) -> Path:
    """Write a finished run of `tasks` work tasks (+ the gather task, which fails as
    dep_failed when any work task failed). Returns the run directory."""
    from orchestrator.plan.build import build_plan
    from orchestrator.plan.export import iter_json
    from orchestrator.site.load import load_site
    from orchestrator.spec.load import load_spec
    from orchestrator.state.atomic import atomic_write_text
    from orchestrator.state.journal import Journal
    from orchestrator.state.rundir import RunDir

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_path = run_dir / "workflow.yaml"
    spec_path.write_text(SPEC)
    plan = build_plan(load_spec(spec_path, {"n": str(tasks)}), load_site("laptop"))
    rd = RunDir.create(plan.workflow, path=run_dir)
    rd.write_json("run.json", {"workflow": str(spec_path), "site": "laptop",
                               "sets": {"n": str(tasks)}, "synthetic": True})
    rd.write_json("spec.json", {"workflow": {"name": plan.workflow}, "params": plan.params})
    with open(rd.path / "plan.json", "w", encoding="utf-8") as f:
        f.writelines(iter_json(plan))
    rng = random.Random(seed)
    bad = set(rng.sample(range(tasks), failed)) if failed else set()
    t0 = time.time() - tasks * 0.001 - 10
    with Journal(rd.journal, fsync=False, interval=0) as j:
        j.append("run_started", workflow=plan.workflow, site=plan.site, attempt=1, pid=4242,
                 host="synthetic", resume=False, tasks=plan.task_count)
        for i in range(tasks):
            tid = f"work[{i}]"
            meta = {"task": tid, "stage": "work", "key": f"{i:064x}", "index": i,
                    "iteration": None, "loop": None}
            j.append("task_submitted", **meta)
            start = t0 + i * 0.001
            seconds = 0.0005 + rng.random() * 0.002 * (1 + (i % 7 == 0) * 20)
            if i in bad:
                j.append("task_failed", **meta, error=f"ValueError: point {i} diverged",
                         attempts=1, ended=start + seconds,
                         stdout=str(rd.task_dir(tid) / "stdout"),
                         stderr=str(rd.task_dir(tid) / "stderr"))
            else:
                j.append("task_done", **meta, result=None, started=start,
                         ended=start + seconds, host=f"node{i % 4}", pid=1000 + i % 2,
                         devices=None, attempts=1)
        meta = {"task": "gather", "stage": "gather", "key": "0" * 64, "index": None,
                "iteration": None, "loop": None}
        end = t0 + tasks * 0.001 + 1
        if bad:
            j.append("task_dep_failed", **meta, error="upstream task(s) failed", attempts=None,
                     ended=end, stdout=None, stderr=None)
        else:
            j.append("task_submitted", **meta)
            j.append("task_done", **meta, result=tasks, started=end - 0.5, ended=end,
                     host="node0", pid=1000, devices=None, attempts=1)
        counts = {"done": tasks - len(bad) + (not bad), "failed": len(bad),
                  "dep_failed": int(bool(bad))}
        j.append("run_finished", state="failed" if bad else "succeeded", counts=counts,
                 failed=[f"work[{i}]" for i in sorted(bad)], seconds=round(end - t0, 3))
    atomic_write_text(rd.path / ".synthetic", "tests/synthetic_run.py\n")
    return rd.path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--failed", type=int, default=20)
    args = ap.parse_args()
    t = time.perf_counter()
    path = make_run(args.dir, args.tasks, args.failed)
    print(json.dumps({"run_dir": str(path), "tasks": args.tasks,
                      "seconds": round(time.perf_counter() - t, 1)}), file=sys.stdout)


if __name__ == "__main__":
    main()
