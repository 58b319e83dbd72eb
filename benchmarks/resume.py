"""Resume: a complete N-task run resumed (`orch run --resume`) against the run itself.

Each repeat runs N no-op tasks through `orch run` in a fresh run directory, then
resumes it: every task is found done in the journal (same key), nothing is
submitted and Parsl is never started, so what remains is start-up, planning,
key computation and journaling the cached tasks. Median of REPEATS of each; the
ratio resume / original is the figure. Prints one JSON line.

    python benchmarks/resume.py [--tasks 10000] [--repeats 5] [--executor htex]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import common


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--executor", choices=common.EXECUTORS, default="htex")
    args = ap.parse_args()
    first, again = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common.prepare(tmp)
        for k in range(args.repeats):
            run_dir = f"orch-{k}"
            first.append(common.run(common.orch_cmd(
                "noop.yaml", "--site", common.site_for(args.executor), "--set",
                f"n={args.tasks}", "-q", "--run-dir", run_dir), tmp)[0])
            wall, out = common.run(common.orch_cmd("--resume", run_dir, "--format", "json"), tmp)
            counts = json.loads(out)["counts"]
            assert counts == {"cached": args.tasks}, counts
            again.append(wall)
    f, a = common.median(first), common.median(again)
    common.emit({"benchmark": "resume", "tasks": args.tasks, "executor": args.executor,
                 "repeats": args.repeats, "run_s": round(f, 2), "resume_s": round(a, 2),
                 "ratio": round(a / f, 3), "run_all_s": [round(x, 2) for x in first],
                 "resume_all_s": [round(x, 2) for x in again]})


if __name__ == "__main__":
    main()
