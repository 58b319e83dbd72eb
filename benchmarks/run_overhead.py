"""Per-task overhead of `orch run` against plain Parsl on the same executor, same run.

Both sides run N no-op tasks on one HighThroughputExecutor with a LocalProvider
and the same worker count; each side is a fresh process, interleaved A/B,
median of REPEATS. `orch` includes everything a user gets: planning, the
journal (fsync'd), per-task directories, captured stdout/stderr and result
files. Prints one JSON line.

    python benchmarks/run_overhead.py [--tasks 2000] [--repeats 3]
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
import time
from pathlib import Path

SPEC = """\
apiVersion: orchestrator/v1
name: noop
params:
  n: 100
stages:
  noop:
    python: noop:noop
    args: {i: "${sweep.i}"}
    sweep: {values: {i: {start: 0, stop: "${params.n}", step: 1}}}
"""

RAW = textwrap.dedent("""
    import sys, time
    t0 = time.perf_counter()
    import parsl
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import LocalProvider
    from parsl.app.app import python_app
    n, workers, run_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    htex = HighThroughputExecutor(label="cpu", address="127.0.0.1", loopback_address="127.0.0.1",
        max_workers_per_node=workers, cores_per_worker=1, heartbeat_period=5,
        heartbeat_threshold=30, provider=LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1))
    dfk = parsl.load(Config(executors=[htex], run_dir=run_dir, strategy="none",
                            strategy_period=0.5, usage_tracking=0))
    def noop(i):
        return {"i": i}
    app = python_app(noop, executors=["cpu"])
    futs = [app(i) for i in range(n)]
    assert [f.result()["i"] for f in futs] == list(range(n))
    dfk.cleanup()
    print(time.perf_counter() - t0)
""")


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {out.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from orchestrator.backends.parsl.executors import workers_per_node
    from orchestrator.site.load import load_site

    workers = workers_per_node(load_site("laptop").site.pools["cpu"])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "noop.yaml").write_text(SPEC)
        (tmp / "noop.py").write_text("def noop(i):\n    return {'i': i}\n")
        (tmp / "raw.py").write_text(RAW)
        orch, raw = [], []
        for k in range(args.repeats):
            orch.append(timed([sys.executable, "-m", "orchestrator", "run", "noop.yaml",
                               "--site", "laptop", "--set", f"n={args.tasks}", "-q",
                               "--run-dir", f"orch-{k}"], tmp))
            raw.append(timed([sys.executable, "raw.py", str(args.tasks), str(workers),
                              f"raw-{k}"], tmp))
    o, r = statistics.median(orch), statistics.median(raw)
    print(json.dumps({
        "benchmark": "run_overhead", "tasks": args.tasks, "workers": workers,
        "repeats": args.repeats, "orch_s": round(o, 2), "parsl_s": round(r, 2),
        "orch_tasks_per_s": round(args.tasks / o, 1), "parsl_tasks_per_s": round(args.tasks / r, 1),
        "ratio_time": round(o / r, 2),
        "orch_ms_per_task_extra": round((o - r) / args.tasks * 1000, 3),
    }))


if __name__ == "__main__":
    main()
