"""Per-task overhead of `orch run` against plain Parsl on the same executor, same run.

N no-op python tasks through `orch run` (planning, the fsync'd journal, a task
directory each, captured output, result records, progress, the reaper) against
the same function submitted straight to Parsl with the same executor settings
and Parsl's same logging (`common.parsl_config`). Each side is a fresh process,
whole-command wall time (start-up included), interleaved A/B, median of
REPEATS; once per executor (HighThroughputExecutor and ThreadPoolExecutor).
Prints one JSON line.

    python benchmarks/run_overhead.py [--tasks 20000] [--repeats 5] [--executors htex threads]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import common

RAW = """\
import sys, parsl
from parsl.app.app import python_app
from common import load
kind, n, workers, run_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
dfk = load(kind, workers, run_dir)
def noop(i):
    return {"i": i}
app = python_app(noop, executors=["cpu"])
futs = [app(i) for i in range(n)]
assert [f.result()["i"] for f in futs] == list(range(n))
dfk.cleanup()
"""


def measure(kind: str, tasks: int, repeats: int, workers: int, tmp: Path) -> dict:
    """Three sides: orch (Parsl's log at WARNING, its default), raw Parsl as a user gets it
    (its log at DEBUG) and raw Parsl with its log at WARNING (orch's own overhead)."""
    orch, raw, quiet = [], [], []

    def raw_side(into: list, k: int, extra: dict | None = None, tag: str = "raw") -> None:
        into.append(common.run([sys.executable, "raw_noop.py", kind, str(tasks), str(workers),
                                f"{tag}-{kind}-{k}"], tmp, extra)[0])

    for k in range(repeats):
        sides = [
            lambda k=k: orch.append(common.run(common.orch_cmd(
                "noop.yaml", "--site", common.site_for(kind), "--set", f"n={tasks}", "-q",
                "--run-dir", f"orch-{kind}-{k}"), tmp)[0]),
            lambda k=k: raw_side(raw, k),
            lambda k=k: raw_side(quiet, k, common.QUIET_RAW, "quiet"),
        ]
        shift = k % len(sides)
        for f in sides[shift:] + sides[:shift]:  # rotate who goes first
            f()
    o, r, q = common.median(orch), common.median(raw), common.median(quiet)
    return {"orch_s": round(o, 2), "parsl_s": round(r, 2), "parsl_quiet_s": round(q, 2),
            "orch_tasks_per_s": round(tasks / o, 1), "parsl_tasks_per_s": round(tasks / r, 1),
            "ratio": round(o / r, 3), "orch_ms_per_task_extra": round((o - r) / tasks * 1e3, 3),
            "ratio_same_log": round(o / q, 3),
            "orch_ms_per_task_extra_same_log": round((o - q) / tasks * 1e3, 3),
            "orch_all_s": [round(x, 2) for x in orch], "parsl_all_s": [round(x, 2) for x in raw],
            "parsl_quiet_all_s": [round(x, 2) for x in quiet]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--executors", nargs="+", choices=common.EXECUTORS,
                    default=list(common.EXECUTORS))
    args = ap.parse_args()
    workers = common.workers()
    out = {"benchmark": "run_overhead", "tasks": args.tasks, "workers": workers,
           "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common.prepare(tmp)
        (tmp / "raw_noop.py").write_text(RAW)
        for kind in args.executors:
            out[kind] = measure(kind, args.tasks, args.repeats, workers, tmp)
    common.emit(out)


if __name__ == "__main__":
    main()
