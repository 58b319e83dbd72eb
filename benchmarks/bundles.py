"""Bundled small tasks (issue 20): 20k sub-millisecond Python tasks and 20k `true` shell tasks
through `orch run` with `bundle: auto`, against raw Parsl with one app per task on the same
executor (as parsl-perf does) and, for the shell tasks, against one `sh -c` per task through
`xargs -P 2`. Whole-command wall time (start-up included) on each side, each a fresh
process, the order of the sides rotated between repeats, median of REPEATS. Every orch run
is checked: all points journaled done. Prints one JSON line; figures are speed-ups
(baseline time / orch time) measured in the same run.

`--million`: also run 10^6 no-op Python tasks bundled to the end, kill the driver halfway
and resume it (minutes; reported beside the rest, not in the default set).

    python benchmarks/bundles.py [--tasks 20000] [--repeats 3] [--executors htex threads]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

NOOP_SPEC = """\
apiVersion: orchestrator/v1
name: bundled-noop
params:
  n: 100
stages:
  noop:
    python: noop:noop
    args: {i: "${sweep.i}"}
    sweep: {values: {i: {start: 0, stop: "${params.n}", step: 1}}}
    bundle: auto
"""

TRUE_SPEC = """\
apiVersion: orchestrator/v1
name: bundled-true
params:
  n: 100
stages:
  t:
    shell: "true"
    sweep: {values: {i: {start: 0, stop: "${params.n}", step: 1}}}
    bundle: auto
"""

RAW_PY = """\
import sys, parsl
from parsl.app.app import python_app
from common import parsl_config
kind, n, workers, run_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
dfk = parsl.load(parsl_config(kind, workers, run_dir))
def noop(i):
    return {"i": i}
app = python_app(noop, executors=["cpu"])
futs = [app(i) for i in range(n)]
assert [f.result()["i"] for f in futs] == list(range(n))
dfk.cleanup()
"""

RAW_SH = """\
import sys, parsl
from parsl.app.app import bash_app
from common import parsl_config
kind, n, workers, run_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
dfk = parsl.load(parsl_config(kind, workers, run_dir))
def t():
    return "true"
app = bash_app(t, executors=["cpu"])
futs = [app() for i in range(n)]
assert all(f.result() == 0 for f in futs)
dfk.cleanup()
"""


def done_count(run_dir: Path) -> int:
    return sum(1 for e in common.journal(run_dir) if e["ev"] == "task_done")


def orch_side(spec: str, kind: str, tasks: int, run_dir: Path, tmp: Path) -> float:
    wall, _ = common.run(common.orch_cmd(spec, "--site", common.site_for(kind), "--set",
                                         f"n={tasks}", "-q", "--run-dir", str(run_dir)), tmp)
    assert done_count(run_dir) == tasks, f"{run_dir}: not every point done"
    return wall


def xargs_side(tasks: int, workers: int, tmp: Path) -> float:
    t0 = time.perf_counter()
    numbers = "".join(f"{i}\n" for i in range(tasks))  # one `sh -c true` per line
    subprocess.run(["xargs", "-P", str(workers), "-n", "1", "sh", "-c", "true"], input=numbers,
                   text=True, check=True, cwd=tmp)
    return time.perf_counter() - t0


def measure(kind: str, what: str, tasks: int, repeats: int, workers: int, tmp: Path) -> dict:
    orch, raw, xargs = [], [], []
    spec, script = ("noop_bundled.yaml", "raw_py.py") if what == "python" else \
        ("true_bundled.yaml", "raw_sh.py")
    for k in range(repeats):
        sides = [
            lambda k=k: orch.append(orch_side(spec, kind, tasks, tmp / f"o-{what}-{kind}-{k}",
                                              tmp)),
            lambda k=k: raw.append(common.run(
                [sys.executable, script, kind, str(tasks), str(workers),
                 f"raw-{what}-{kind}-{k}"], tmp)[0]),
        ]
        if what == "shell":
            sides.append(lambda: xargs.append(xargs_side(tasks, workers, tmp)))
        shift = k % len(sides)
        for side in sides[shift:] + sides[:shift]:  # rotate who goes first
            side()
    o, r = common.median(orch), common.median(raw)
    out = {"orch_s": round(o, 2), "parsl_s": round(r, 2),
           "orch_tasks_per_s": round(tasks / o, 1), "parsl_tasks_per_s": round(tasks / r, 1),
           "speedup_vs_parsl": round(r / o, 3),
           "orch_all_s": [round(x, 2) for x in orch], "parsl_all_s": [round(x, 2) for x in raw]}
    if xargs:
        x = common.median(xargs)
        out.update(xargs_s=round(x, 2), xargs_tasks_per_s=round(tasks / x, 1),
                   speedup_vs_xargs=round(x / o, 3), xargs_all_s=[round(v, 2) for v in xargs])
    return out


def million(tmp: Path, tasks: int) -> dict:
    """10^6 bundled no-op tasks: killed halfway, resumed to the end."""
    run_dir = tmp / "million"
    cmd = common.orch_cmd("noop_bundled.yaml", "--site", common.site_for("htex"), "--set",
                          f"n={tasks}", "-q", "--run-dir", str(run_dir))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=tmp, env=common.env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = run_dir / "results"
    while proc.poll() is None:
        time.sleep(2)
        size = sum(f.stat().st_size for f in results.glob("*.jsonl")) if results.is_dir() else 0
        if size > 130 * tasks:  # ~ half the points run (a start and a result line each)
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    killed_at = time.perf_counter() - t0
    before = done_count(run_dir)
    wall, _ = common.run([sys.executable, "-m", "orchestrator", "run", "--resume", str(run_dir),
                          "-q"], tmp)
    events = common.journal(run_dir)
    done = [e["task"] for e in events if e["ev"] == "task_done"]
    cached = {e["task"] for e in events if e["ev"] == "task_cached"}
    assert len(set(done) | cached) == tasks, "not every point done"
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return {"tasks": tasks, "killed_after_s": round(killed_at, 1), "done_before_kill": before,
            "resume_s": round(wall, 1), "done_twice": len(done) - len(set(done)),
            "driver_peak_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--executors", nargs="+", choices=common.EXECUTORS,
                    default=list(common.EXECUTORS))
    ap.add_argument("--kinds", nargs="*", choices=("python", "shell"),
                    default=["python", "shell"], help="none: only --million")
    ap.add_argument("--million", type=int, nargs="?", const=1_000_000, default=0,
                    help="also the 10^6-task run killed and resumed")
    args = ap.parse_args()
    workers = common.workers()
    out = {"benchmark": "bundles", "tasks": args.tasks, "workers": workers,
           "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common.prepare(tmp)
        (tmp / "noop_bundled.yaml").write_text(NOOP_SPEC)
        (tmp / "true_bundled.yaml").write_text(TRUE_SPEC)
        (tmp / "raw_py.py").write_text(RAW_PY)
        (tmp / "raw_sh.py").write_text(RAW_SH)
        for what in args.kinds:
            for kind in args.executors:
                out[f"{what}_{kind}"] = measure(kind, what, args.tasks, args.repeats, workers,
                                                tmp)
        if args.million:
            out["million"] = million(tmp, args.million)
        common.emit(out)  # before the clean-up (deleting 10^5 task directories takes a while)


if __name__ == "__main__":
    main()
